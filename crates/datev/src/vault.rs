//! Authenticated encryption of stored secrets: XChaCha20-Poly1305 (RustCrypto
//! `chacha20poly1305`; draft-irtf-cfrg-xchacha §2) with rotating keys.
//!
//! A sealed record is versioned JSON carrying the key id, so a key can be rotated: records are
//! opened with whichever configured key their id names and always written with the current key.
//! The caller binds context (the DATEV client id) as associated data, so a record copied to
//! another client's key fails to open.

use crate::InvalidInput;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use connector::Rng;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Version of the sealed-record layout written by [`Keyring::seal`].
pub const SEALED_RECORD_VERSION: u32 = 1;

/// XChaCha20-Poly1305 nonce length: 192 bits, large enough to pick at random per write.
const NONCE_LEN: usize = 24;

/// Why a record could not be sealed or opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VaultError {
    /// The key configuration (Spin secret variable) is malformed.
    #[error("token key configuration: {0}")]
    KeyConfig(InvalidInput),
    /// The record names a key id that is not configured (rotated out too early?).
    #[error("no configured key has id {0:?}")]
    UnknownKeyId(String),
    /// The AEAD tag did not verify: wrong key material, tampered ciphertext or nonce, or the
    /// record belongs to a different context (associated data).
    #[error("sealed record failed authentication (wrong key, tampered data or wrong context)")]
    Authentication,
    /// The record is not a sealed record at all.
    #[error("sealed record is malformed: {0}")]
    Malformed(String),
    /// The record was written by a newer layout.
    #[error("sealed record version {0} is not supported")]
    UnsupportedVersion(u32),
}

/// Identifier of an encryption key: 1–32 characters of `A-Z a-z 0-9 _ -`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KeyId(String);

impl KeyId {
    /// Validates a key id.
    pub fn parse(s: &str) -> Result<Self, InvalidInput> {
        if s.is_empty() || s.len() > 32 {
            return Err(InvalidInput::new("key_id", "must be 1 to 32 characters"));
        }
        if !s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'))
        {
            return Err(InvalidInput::new(
                "key_id",
                "may contain only A-Z a-z 0-9 _ -",
            ));
        }
        Ok(Self(s.to_owned()))
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One 256-bit key with its id. `Debug` never shows the key bytes.
#[derive(Clone)]
pub struct TokenKey {
    id: KeyId,
    key: [u8; 32],
}

impl TokenKey {
    /// A key from raw bytes.
    pub fn new(id: KeyId, key: [u8; 32]) -> Self {
        Self { id, key }
    }

    /// The key id.
    pub fn id(&self) -> &KeyId {
        &self.id
    }
}

impl fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenKey")
            .field("id", &self.id)
            .field("key", &"[redacted]")
            .finish()
    }
}

/// The configured keys: one current key (used to seal) and older keys (still accepted to open).
#[derive(Debug, Clone)]
pub struct Keyring {
    current: TokenKey,
    older: Vec<TokenKey>,
}

/// A sealed record as stored: versioned JSON
/// `{"version":1,"alg":"XChaCha20-Poly1305","kid":…,"nonce":…,"ciphertext":…}` with `nonce` and
/// `ciphertext` (which ends in the 16-byte Poly1305 tag) in base64url without padding.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedRecord {
    version: u32,
    alg: String,
    kid: String,
    nonce: String,
    ciphertext: String,
}

impl SealedRecord {
    /// Reads a record from its JSON bytes.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, VaultError> {
        serde_json::from_slice(bytes)
            .map_err(|e| VaultError::Malformed(format!("not a sealed record: {e}")))
    }

    /// The JSON bytes to store.
    pub fn to_vec(&self) -> Result<Vec<u8>, VaultError> {
        serde_json::to_vec(self).map_err(|e| VaultError::Malformed(e.to_string()))
    }

    /// The id of the key that sealed it.
    pub fn key_id(&self) -> &str {
        &self.kid
    }
}

// Ciphertext is not secret, but it is noise in logs.
impl fmt::Debug for SealedRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealedRecord")
            .field("version", &self.version)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

const ALG: &str = "XChaCha20-Poly1305";

impl Keyring {
    /// A keyring from a current key and older ones; key ids must be unique.
    pub fn new(current: TokenKey, older: Vec<TokenKey>) -> Result<Self, VaultError> {
        let mut seen = vec![current.id.as_str()];
        for k in &older {
            if seen.contains(&k.id.as_str()) {
                return Err(VaultError::KeyConfig(InvalidInput::new(
                    "datev_token_keys",
                    format!("key id {:?} appears twice", k.id.as_str()),
                )));
            }
            seen.push(k.id.as_str());
        }
        Ok(Self { current, older })
    }

    /// Parses the value of the secret variable holding the keys:
    /// `<key-id>:<base64 key>[,<key-id>:<base64 key>…]`, the **first entry being the current
    /// key**. Each key is 32 random bytes in standard base64 with padding (RFC 4648 §4; 44
    /// characters, e.g. the output of `openssl rand -base64 32`). Whitespace around entries is
    /// ignored. To rotate: put a new entry first, keep the old one until every record has been
    /// rewritten (each token refresh rewrites its record).
    pub fn parse(spec: &str) -> Result<Self, VaultError> {
        let bad =
            |reason: String| VaultError::KeyConfig(InvalidInput::new("datev_token_keys", reason));
        let mut keys = Vec::new();
        for (i, entry) in spec.split(',').map(str::trim).enumerate() {
            if entry.is_empty() {
                return Err(bad(format!("entry {} is empty", i + 1)));
            }
            let (id, b64) = entry
                .split_once(':')
                .ok_or_else(|| bad(format!("entry {} must be <key-id>:<base64 key>", i + 1)))?;
            let id = KeyId::parse(id.trim())
                .map_err(|e| bad(format!("entry {}: key id {}", i + 1, e.reason)))?;
            // The decode error text could echo key characters: report only the position.
            let bytes = STANDARD
                .decode(b64.trim())
                .map_err(|_| bad(format!("entry {}: key is not valid standard base64", i + 1)))?;
            let key: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
                bad(format!(
                    "entry {}: key must decode to 32 bytes, got {}",
                    i + 1,
                    bytes.len()
                ))
            })?;
            keys.push(TokenKey::new(id, key));
        }
        let mut it = keys.into_iter();
        let current = it.next().ok_or_else(|| bad("no key configured".into()))?;
        Self::new(current, it.collect())
    }

    /// The id new records are sealed with.
    pub fn current_key_id(&self) -> &KeyId {
        &self.current.id
    }

    fn find(&self, kid: &str) -> Option<&TokenKey> {
        std::iter::once(&self.current)
            .chain(self.older.iter())
            .find(|k| k.id.as_str() == kid)
    }

    /// Encrypts `plaintext` under the current key with a fresh random 192-bit nonce from `rng`,
    /// authenticating `aad` (which is not stored: the reader supplies it again).
    pub fn seal(
        &self,
        rng: &dyn Rng,
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<SealedRecord, VaultError> {
        let mut nonce = [0u8; NONCE_LEN];
        rng.fill(&mut nonce);
        let cipher = XChaCha20Poly1305::new((&self.current.key).into());
        let ciphertext = cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .map_err(|_| VaultError::Malformed("plaintext too large to seal".into()))?;
        Ok(SealedRecord {
            version: SEALED_RECORD_VERSION,
            alg: ALG.into(),
            kid: self.current.id.as_str().to_owned(),
            nonce: URL_SAFE_NO_PAD.encode(nonce),
            ciphertext: URL_SAFE_NO_PAD.encode(ciphertext),
        })
    }

    /// Decrypts a record written by [`Keyring::seal`] with the key its id names, checking `aad`.
    pub fn open(&self, aad: &[u8], rec: &SealedRecord) -> Result<Vec<u8>, VaultError> {
        if rec.version != SEALED_RECORD_VERSION {
            return Err(VaultError::UnsupportedVersion(rec.version));
        }
        if rec.alg != ALG {
            return Err(VaultError::Malformed(format!(
                "unknown algorithm {:?}",
                rec.alg
            )));
        }
        let key = self
            .find(&rec.kid)
            .ok_or_else(|| VaultError::UnknownKeyId(rec.kid.clone()))?;
        let nonce = URL_SAFE_NO_PAD
            .decode(&rec.nonce)
            .map_err(|_| VaultError::Malformed("nonce is not base64url".into()))?;
        if nonce.len() != NONCE_LEN {
            return Err(VaultError::Malformed(format!(
                "nonce must be {NONCE_LEN} bytes"
            )));
        }
        let ciphertext = URL_SAFE_NO_PAD
            .decode(&rec.ciphertext)
            .map_err(|_| VaultError::Malformed("ciphertext is not base64url".into()))?;
        XChaCha20Poly1305::new((&key.key).into())
            .decrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: &ciphertext,
                    aad,
                },
            )
            .map_err(|_| VaultError::Authentication)
    }

    /// True when `record` was sealed with another than the current key and should be rewritten.
    pub fn needs_reseal(&self, record: &SealedRecord) -> bool {
        record.kid != self.current.id.as_str()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use connector::memory::SeededRng;

    const K1: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    const K2: &str = "HxwdHhscGhkYFxYVFBMSERAPDg0MCwoJCAcGBQQDAgE=";

    #[test]
    fn round_trip_and_rotation() {
        let rng = SeededRng::new(3);
        let old = Keyring::parse(&format!("k1:{K1}")).unwrap();
        let rec = old.seal(&rng, b"ctx", b"hello").unwrap();
        assert_eq!(old.open(b"ctx", &rec).unwrap(), b"hello");
        // Rotated: k2 current, k1 still accepted.
        let rotated = Keyring::parse(&format!(" k2:{K2} , k1:{K1} ")).unwrap();
        assert_eq!(rotated.current_key_id().as_str(), "k2");
        assert_eq!(rotated.open(b"ctx", &rec).unwrap(), b"hello");
        assert!(rotated.needs_reseal(&rec));
        let rec2 = rotated.seal(&rng, b"ctx", b"hello").unwrap();
        assert!(!rotated.needs_reseal(&rec2));
        assert_eq!(
            old.open(b"ctx", &rec2),
            Err(VaultError::UnknownKeyId("k2".into()))
        );
    }

    #[test]
    fn nonce_is_fresh_per_write() {
        let rng = SeededRng::new(3);
        let ring = Keyring::parse(&format!("k1:{K1}")).unwrap();
        let (a, b) = (
            ring.seal(&rng, b"c", b"x").unwrap(),
            ring.seal(&rng, b"c", b"x").unwrap(),
        );
        assert_ne!(a.nonce, b.nonce);
        assert_ne!(a.ciphertext, b.ciphertext);
        assert_eq!(
            ring.open(
                b"c",
                &SealedRecord::from_slice(&a.to_vec().unwrap()).unwrap()
            )
            .unwrap(),
            b"x"
        );
    }

    #[test]
    fn key_config_errors() {
        let cases = [
            ("", "datev_token_keys"),
            ("k1", "datev_token_keys"),
            ("k1:abc", "datev_token_keys"),
            ("k1:AAAA", "datev_token_keys"),
            ("k 1:AAAA", "datev_token_keys"),
        ];
        for (spec, field) in cases {
            match Keyring::parse(spec) {
                Err(VaultError::KeyConfig(e)) => assert_eq!(e.field, field, "{spec}"),
                other => panic!("{spec}: {other:?}"),
            }
        }
        match Keyring::parse(&format!("k1:{K1},k1:{K2}")) {
            Err(VaultError::KeyConfig(e)) => assert_eq!(e.reason, "key id \"k1\" appears twice"),
            other => panic!("{other:?}"),
        }
        let ring = Keyring::parse(&format!("k1:{K1}")).unwrap();
        assert_eq!(format!("{ring:?}").matches("[redacted]").count(), 1);
        assert!(!format!("{ring:?}").contains("[0, 1, 2"));
    }

    #[test]
    fn malformed_records() {
        let ring = Keyring::parse(&format!("k1:{K1}")).unwrap();
        assert!(matches!(
            SealedRecord::from_slice(b"nope"),
            Err(VaultError::Malformed(_))
        ));
        let v2 =
            br#"{"version":2,"alg":"XChaCha20-Poly1305","kid":"k1","nonce":"","ciphertext":""}"#;
        assert_eq!(
            ring.open(b"c", &SealedRecord::from_slice(v2).unwrap()),
            Err(VaultError::UnsupportedVersion(2))
        );
        let short = br#"{"version":1,"alg":"XChaCha20-Poly1305","kid":"k1","nonce":"AAAA","ciphertext":""}"#;
        assert_eq!(
            ring.open(b"c", &SealedRecord::from_slice(short).unwrap()),
            Err(VaultError::Malformed("nonce must be 24 bytes".into()))
        );
        let alg = br#"{"version":1,"alg":"AES","kid":"k1","nonce":"","ciphertext":""}"#;
        assert!(matches!(
            ring.open(b"c", &SealedRecord::from_slice(alg).unwrap()),
            Err(VaultError::Malformed(_))
        ));
    }
}
