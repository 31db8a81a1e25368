//! Operator-entered credentials (issue 8, `PUT /settings/twilio`, `PUT /settings/datev`):
//! stored only as AEAD ciphertext with the DATEV tokens' scheme ([`datev::Keyring`],
//! XChaCha20-Poly1305 under `datev_token_keys`), never returned; Spin variables stay the
//! fallback for every field not stored.
//!
//! | key | value |
//! |---|---|
//! | `settings:twilio` | [`StoredRecord`]: version, `updated_at_ms`, the sealed [`TwilioCredentials`] |
//! | `settings:datev` | [`StoredRecord`]: version, `updated_at_ms`, the sealed [`DatevCredentials`] |
//!
//! The record key is the associated data, so a sealed Twilio record copied under the DATEV key
//! (or a token record) fails to open. Readers ([`effective_twilio`], [`apply_datev`]) are used by
//! `api`, `twilio-sender` and `datev-poller`; a record that cannot be opened is an error (fail
//! closed), never a silent fall back to the variables.

use crate::config::{ConfigError, DatevSetup, Lookup};
use connector::{KeyValue, Rng, Secret, StoreError};
use datev::{ClientAuthStyle, ClientCredentials, Keyring, OAuthClientId, SealedRecord, VaultError};
use serde::{Deserialize, Serialize};
use twilio::{AccountSid, ApiKeySid, E164, MessagingServiceSid, TwilioSettings, VerifyServiceSid};

/// Store key of the Twilio credentials.
pub const TWILIO_KEY: &str = "settings:twilio";
/// Store key of the DATEV OAuth client credentials.
pub const DATEV_KEY: &str = "settings:datev";
/// Schema version of [`StoredRecord`].
pub const STORED_VERSION: u32 = 1;
/// Longest accepted secret (Twilio API key secrets are 32 characters; DATEV's are shorter).
const MAX_SECRET_CHARS: usize = 256;

/// What is stored under [`TWILIO_KEY`] / [`DATEV_KEY`].
#[derive(Debug, Serialize, Deserialize)]
pub struct StoredRecord {
    /// [`STORED_VERSION`].
    pub version: u32,
    /// When the operator stored it (Unix ms).
    pub updated_at_ms: u64,
    /// The sealed JSON of the credentials.
    pub sealed: SealedRecord,
}

/// Why stored credentials could not be read or written. Never contains a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialError {
    /// The store failed: nothing done, retry.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Sealing or opening failed (wrong or rotated-out key, tampering).
    #[error("{key}: {source}")]
    Vault {
        /// The record.
        key: &'static str,
        /// Why.
        source: VaultError,
    },
    /// The record is not what this version writes.
    #[error("{key} is corrupt: {reason}")]
    Corrupt {
        /// The record.
        key: &'static str,
        /// Why (never a value).
        reason: String,
    },
    /// A record exists but `datev_token_keys` is not configured, so it cannot be opened.
    #[error("{key} is stored but variable datev_token_keys is not usable: {reason}")]
    NoKeyring {
        /// The record.
        key: &'static str,
        /// Why the keyring is unusable.
        reason: String,
    },
}

/// One bad input field of a `PUT /settings/…` body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct InvalidCredential {
    /// The JSON field.
    pub field: String,
    /// Why (never the value).
    pub reason: String,
}

fn invalid(field: &str, reason: impl Into<String>) -> InvalidCredential {
    InvalidCredential {
        field: field.to_owned(),
        reason: reason.into(),
    }
}

/// The Twilio credentials as stored (inside the ciphertext only).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TwilioCredentials {
    /// `AC…`.
    pub account_sid: String,
    /// `SK…` (an API key; twilio.md §1.1).
    pub api_key_sid: String,
    /// The API key's secret.
    pub api_key_secret: String,
    /// `VA…`, the Verify service of the approval gate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify_service_sid: Option<String>,
    /// SMS sender and default caller ID, E.164.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_number: Option<String>,
    /// `MG…`, preferred over `from_number` for SMS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub messaging_service_sid: Option<String>,
}

impl std::fmt::Debug for TwilioCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TwilioCredentials")
            .field("account_sid", &self.account_sid)
            .field("api_key_sid", &self.api_key_sid)
            .field("api_key_secret", &"[redacted]")
            .finish_non_exhaustive()
    }
}

/// The body of `PUT /settings/twilio`.
#[derive(Deserialize)]
#[allow(missing_debug_implementations)]
#[serde(deny_unknown_fields)]
pub struct TwilioInput {
    account_sid: Option<String>,
    api_key_sid: Option<String>,
    api_key_secret: Option<String>,
    #[serde(default)]
    verify_service_sid: Option<String>,
    #[serde(default)]
    from_number: Option<String>,
    #[serde(default)]
    messaging_service_sid: Option<String>,
}

fn present(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

fn required(v: Option<String>, field: &str) -> Result<String, InvalidCredential> {
    present(v).ok_or_else(|| invalid(field, "is required"))
}

fn check_secret(v: Option<String>, field: &str) -> Result<String, InvalidCredential> {
    // Not trimmed inside: a secret is taken as typed, only surrounding blanks are dropped.
    let s = required(v, field)?;
    let n = s.chars().count();
    if n > MAX_SECRET_CHARS {
        return Err(invalid(
            field,
            format!("must be at most {MAX_SECRET_CHARS} characters"),
        ));
    }
    if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid(
            field,
            "must not contain blanks or control characters",
        ));
    }
    Ok(s)
}

impl TwilioInput {
    /// Validates every field; errors name the JSON field and never echo a secret. The number is
    /// normalized to E.164 (default region DE, as for client contacts).
    pub fn validate(self) -> Result<TwilioCredentials, InvalidCredential> {
        let sid_error = |field: &str, e: twilio::SidError| {
            invalid(
                field,
                format!("expected {} followed by 32 hexadecimal digits", e.expected),
            )
        };
        let account_sid = required(self.account_sid, "account_sid")?;
        AccountSid::parse(&account_sid, "account_sid").map_err(|e| sid_error("account_sid", e))?;
        let api_key_sid = required(self.api_key_sid, "api_key_sid")?;
        ApiKeySid::parse(&api_key_sid, "api_key_sid").map_err(|e| sid_error("api_key_sid", e))?;
        let api_key_secret = check_secret(self.api_key_secret, "api_key_secret")?;
        let verify_service_sid = present(self.verify_service_sid)
            .map(|v| {
                VerifyServiceSid::parse(&v, "verify_service_sid")
                    .map(|_| v)
                    .map_err(|e| sid_error("verify_service_sid", e))
            })
            .transpose()?;
        let messaging_service_sid = present(self.messaging_service_sid)
            .map(|v| {
                MessagingServiceSid::parse(&v, "messaging_service_sid")
                    .map(|_| v)
                    .map_err(|e| sid_error("messaging_service_sid", e))
            })
            .transpose()?;
        let from_number = present(self.from_number)
            .map(|v| {
                E164::parse(&v, "from_number")
                    .map(|n| n.as_str().to_owned())
                    .map_err(|e| invalid("from_number", format!("phone number {}", e.reason)))
            })
            .transpose()?;
        Ok(TwilioCredentials {
            account_sid,
            api_key_sid,
            api_key_secret,
            verify_service_sid,
            from_number,
            messaging_service_sid,
        })
    }
}

/// The DATEV OAuth client credentials as stored (inside the ciphertext only).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatevCredentials {
    /// OAuth `client_id` (also `X-DATEV-Client-Id`, datev.md §3).
    pub client_id: String,
    /// OAuth `client_secret`; `None`: a public client (datev.md §5.2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
}

impl std::fmt::Debug for DatevCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatevCredentials")
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "[redacted]"),
            )
            .finish()
    }
}

/// The body of `PUT /settings/datev`.
#[derive(Deserialize)]
#[allow(missing_debug_implementations)]
#[serde(deny_unknown_fields)]
pub struct DatevInput {
    client_id: Option<String>,
    #[serde(default)]
    client_secret: Option<String>,
}

impl DatevInput {
    /// Validates; errors name the JSON field.
    pub fn validate(self) -> Result<DatevCredentials, InvalidCredential> {
        let client_id = required(self.client_id, "client_id")?;
        OAuthClientId::parse(&client_id).map_err(|e| invalid("client_id", e.reason))?;
        let client_secret = match present(self.client_secret) {
            None => None,
            Some(s) => Some(check_secret(Some(s), "client_secret")?),
        };
        Ok(DatevCredentials {
            client_id,
            client_secret,
        })
    }
}

fn save<T: Serialize>(
    store: &dyn KeyValue,
    keyring: &Keyring,
    rng: &dyn Rng,
    key: &'static str,
    value: &T,
    now_ms: u64,
) -> Result<(), CredentialError> {
    let plain = serde_json::to_vec(value).map_err(|e| CredentialError::Corrupt {
        key,
        reason: e.to_string(),
    })?;
    let sealed = keyring
        .seal(rng, key.as_bytes(), &plain)
        .map_err(|source| CredentialError::Vault { key, source })?;
    let record = StoredRecord {
        version: STORED_VERSION,
        updated_at_ms: now_ms,
        sealed,
    };
    let bytes = serde_json::to_vec(&record).map_err(|e| CredentialError::Corrupt {
        key,
        reason: e.to_string(),
    })?;
    store.set(key, &bytes)?;
    Ok(())
}

fn load<T: for<'de> Deserialize<'de>>(
    store: &dyn KeyValue,
    keyring: Result<&Keyring, &ConfigError>,
    key: &'static str,
) -> Result<Option<(T, u64)>, CredentialError> {
    let Some(bytes) = store.get(key)? else {
        return Ok(None);
    };
    let record: StoredRecord =
        serde_json::from_slice(&bytes).map_err(|e| CredentialError::Corrupt {
            key,
            reason: format!("not a stored credentials record: {e}"),
        })?;
    if record.version != STORED_VERSION {
        return Err(CredentialError::Corrupt {
            key,
            reason: format!("version {} is not supported", record.version),
        });
    }
    let keyring = keyring.map_err(|e| CredentialError::NoKeyring {
        key,
        reason: e.to_string(),
    })?;
    let plain = keyring
        .open(key.as_bytes(), &record.sealed)
        .map_err(|source| CredentialError::Vault { key, source })?;
    // The serde error could quote the plaintext: report only that it does not parse.
    let value = serde_json::from_slice(&plain).map_err(|_| CredentialError::Corrupt {
        key,
        reason: "the opened record is not the expected JSON".into(),
    })?;
    Ok(Some((value, record.updated_at_ms)))
}

/// Stores the Twilio credentials sealed (one write).
pub fn save_twilio(
    store: &dyn KeyValue,
    keyring: &Keyring,
    rng: &dyn Rng,
    value: &TwilioCredentials,
    now_ms: u64,
) -> Result<(), CredentialError> {
    save(store, keyring, rng, TWILIO_KEY, value, now_ms)
}

/// Stores the DATEV credentials sealed (one write).
pub fn save_datev(
    store: &dyn KeyValue,
    keyring: &Keyring,
    rng: &dyn Rng,
    value: &DatevCredentials,
    now_ms: u64,
) -> Result<(), CredentialError> {
    save(store, keyring, rng, DATEV_KEY, value, now_ms)
}

/// Reads the stored Twilio credentials and when they were stored.
pub fn load_twilio(
    store: &dyn KeyValue,
    keyring: Result<&Keyring, &ConfigError>,
) -> Result<Option<(TwilioCredentials, u64)>, CredentialError> {
    load(store, keyring, TWILIO_KEY)
}

/// Reads the stored DATEV credentials and when they were stored.
pub fn load_datev(
    store: &dyn KeyValue,
    keyring: Result<&Keyring, &ConfigError>,
) -> Result<Option<(DatevCredentials, u64)>, CredentialError> {
    load(store, keyring, DATEV_KEY)
}

/// The Twilio variables (`spin.toml`), every field optional so that stored credentials can
/// fill what is missing. Secrets are [`Secret`]s.
#[derive(Debug, Clone, Default)]
pub struct TwilioVariables {
    /// `twilio_account_sid`.
    pub account_sid: Option<String>,
    /// `twilio_api_key_sid`.
    pub api_key_sid: Option<String>,
    /// `twilio_api_key_secret`.
    pub api_key_secret: Option<Secret>,
    /// `twilio_api_base_url`.
    pub api_base_url: Option<String>,
    /// `twilio_verify_base_url`.
    pub verify_base_url: Option<String>,
    /// `twilio_verify_service_sid`.
    pub verify_service_sid: Option<String>,
    /// `twilio_from_number`.
    pub from_number: Option<String>,
    /// `twilio_messaging_service_sid`.
    pub messaging_service_sid: Option<String>,
    /// `twilio_voice_from_number`.
    pub voice_from_number: Option<String>,
}

impl TwilioVariables {
    /// Reads the variables; unset and empty are `None`.
    pub fn from_lookup(lookup: Lookup<'_>) -> Result<Self, ConfigError> {
        let get = |name: &'static str| -> Result<Option<String>, ConfigError> {
            lookup(name)
                .map(|v| v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()))
                .map_err(|reason| ConfigError::Unreadable { name, reason })
        };
        Ok(Self {
            account_sid: get("twilio_account_sid")?,
            api_key_sid: get("twilio_api_key_sid")?,
            api_key_secret: get("twilio_api_key_secret")?.map(Secret::new),
            api_base_url: get("twilio_api_base_url")?,
            verify_base_url: get("twilio_verify_base_url")?,
            verify_service_sid: get("twilio_verify_service_sid")?,
            from_number: get("twilio_from_number")?,
            messaging_service_sid: get("twilio_messaging_service_sid")?,
            voice_from_number: get("twilio_voice_from_number")?,
        })
    }
}

/// Where a setting's value comes from (`GET /settings`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// Entered through `PUT /settings/…`, stored sealed.
    Store,
    /// A Spin variable.
    Variable,
    /// Neither.
    Unset,
}

/// The Twilio settings in effect: stored credentials where present, else the variables; with
/// the source of each credential field.
pub fn merge_twilio(
    vars: &TwilioVariables,
    stored: Option<&TwilioCredentials>,
) -> (TwilioSettings, TwilioSources) {
    let pick = |s: Option<&String>, v: &Option<String>| match (s, v) {
        (Some(s), _) => (Some(s.clone()), Source::Store),
        (None, Some(v)) => (Some(v.clone()), Source::Variable),
        (None, None) => (None, Source::Unset),
    };
    let (account_sid, account_src) = pick(stored.map(|s| &s.account_sid), &vars.account_sid);
    let (api_key_sid, key_src) = pick(stored.map(|s| &s.api_key_sid), &vars.api_key_sid);
    let (secret, secret_src) = match (stored, &vars.api_key_secret) {
        (Some(s), _) => (Secret::new(s.api_key_secret.clone()), Source::Store),
        (None, Some(v)) => (v.clone(), Source::Variable),
        (None, None) => (Secret::default(), Source::Unset),
    };
    let (verify, verify_src) = pick(
        stored.and_then(|s| s.verify_service_sid.as_ref()),
        &vars.verify_service_sid,
    );
    let (from, from_src) = pick(
        stored.and_then(|s| s.from_number.as_ref()),
        &vars.from_number,
    );
    let (mg, mg_src) = pick(
        stored.and_then(|s| s.messaging_service_sid.as_ref()),
        &vars.messaging_service_sid,
    );
    (
        TwilioSettings {
            account_sid: account_sid.unwrap_or_default(),
            api_key_sid: api_key_sid.unwrap_or_default(),
            api_key_secret: secret,
            api_base_url: vars.api_base_url.clone(),
            verify_base_url: vars.verify_base_url.clone(),
            messaging_service_sid: mg,
            from_number: from,
            voice_from_number: vars.voice_from_number.clone(),
            verify_service_sid: verify,
        },
        TwilioSources {
            account_sid: account_src,
            api_key_sid: key_src,
            api_key_secret: secret_src,
            verify_service_sid: verify_src,
            from_number: from_src,
            messaging_service_sid: mg_src,
        },
    )
}

/// The source of each Twilio credential field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TwilioSources {
    /// `account_sid`.
    pub account_sid: Source,
    /// `api_key_sid`.
    pub api_key_sid: Source,
    /// `api_key_secret`.
    pub api_key_secret: Source,
    /// `verify_service_sid`.
    pub verify_service_sid: Source,
    /// `from_number`.
    pub from_number: Source,
    /// `messaging_service_sid`.
    pub messaging_service_sid: Source,
}

/// The Twilio settings the sender and the api use: stored credentials over the variables.
/// `keyring` is only needed when a record is stored.
pub fn effective_twilio(
    store: &dyn KeyValue,
    keyring: Result<&Keyring, &ConfigError>,
    vars: &TwilioVariables,
) -> Result<TwilioSettings, CredentialError> {
    let stored = load_twilio(store, keyring)?;
    Ok(merge_twilio(vars, stored.as_ref().map(|(c, _)| c)).0)
}

/// The Twilio client configuration of every component that calls Twilio (the sender's sends,
/// the api's Verify checks): [`effective_twilio`] checked by [`sender::config::twilio_config`].
/// One place, so a credential stored with `PUT /settings/twilio` reaches all of them.
pub fn twilio_config(
    store: &dyn KeyValue,
    lookup: Lookup<'_>,
) -> Result<twilio::TwilioConfig, String> {
    let vars = TwilioVariables::from_lookup(lookup).map_err(|e| e.to_string())?;
    let keyring = crate::config::keyring(lookup);
    let settings = effective_twilio(store, keyring.as_ref(), &vars)
        .map_err(|e| format!("stored Twilio credentials: {e}"))?;
    sender::config::twilio_config(&settings).map_err(|e| e.to_string())
}

/// Replaces the OAuth client of `setup` with the stored DATEV credentials, if any. Returns
/// whether a stored record was applied.
pub fn apply_datev(store: &dyn KeyValue, setup: &mut DatevSetup) -> Result<bool, CredentialError> {
    let Some((stored, _)) = load_datev(store, Ok(&setup.keyring))? else {
        return Ok(false);
    };
    apply_datev_credentials(setup, &stored)?;
    Ok(true)
}

/// Puts `stored` into `setup`'s OAuth client.
pub fn apply_datev_credentials(
    setup: &mut DatevSetup,
    stored: &DatevCredentials,
) -> Result<(), CredentialError> {
    let client_id =
        OAuthClientId::parse(&stored.client_id).map_err(|e| CredentialError::Corrupt {
            key: DATEV_KEY,
            reason: format!("client_id: {}", e.reason),
        })?;
    setup.config.oauth.client_id = client_id;
    setup.config.oauth.credentials = match &stored.client_secret {
        None => ClientCredentials::Public,
        Some(secret) => ClientCredentials::Confidential {
            secret: Secret::new(secret.clone()),
            style: ClientAuthStyle::Basic,
        },
    };
    Ok(())
}

/// A SID or id shown masked: its first 2 and last 4 characters (`AC…1234`).
pub fn mask_id(value: &str) -> String {
    let chars: Vec<char> = value.chars().collect();
    if chars.len() <= 8 {
        return "…".into();
    }
    let head: String = chars[..2].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}…{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use connector::memory::{MemoryStore, SeededRng};

    const KEYS: &str = "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    const SECRET: &str = "tw-secret-0123456789abcdef01234";

    fn input(json: &str) -> Result<TwilioCredentials, InvalidCredential> {
        serde_json::from_str::<TwilioInput>(json)
            .unwrap()
            .validate()
    }

    #[test]
    fn twilio_input_is_validated_field_by_field() {
        let ok = input(&format!(
            r#"{{"account_sid":"AC00000000000000000000000000000000","api_key_sid":"SK00000000000000000000000000000000","api_key_secret":"{SECRET}","from_number":"0151 12345678","verify_service_sid":"VA00000000000000000000000000000000"}}"#
        ))
        .unwrap();
        assert_eq!(ok.from_number.as_deref(), Some("+4915112345678"));
        assert!(!format!("{ok:?}").contains(SECRET));
        let cases = [
            (
                r#"{"api_key_sid":"SK00000000000000000000000000000000","api_key_secret":"x"}"#,
                "account_sid",
                "is required",
            ),
            (
                r#"{"account_sid":"AC1","api_key_sid":"SK00000000000000000000000000000000","api_key_secret":"x"}"#,
                "account_sid",
                "",
            ),
            (
                r#"{"account_sid":"AC00000000000000000000000000000000","api_key_sid":"AC00000000000000000000000000000000","api_key_secret":"x"}"#,
                "api_key_sid",
                "",
            ),
            (
                r#"{"account_sid":"AC00000000000000000000000000000000","api_key_sid":"SK00000000000000000000000000000000","api_key_secret":"a b"}"#,
                "api_key_secret",
                "must not contain blanks or control characters",
            ),
            (
                r#"{"account_sid":"AC00000000000000000000000000000000","api_key_sid":"SK00000000000000000000000000000000","api_key_secret":"x","from_number":"12"}"#,
                "from_number",
                "",
            ),
            (
                r#"{"account_sid":"AC00000000000000000000000000000000","api_key_sid":"SK00000000000000000000000000000000","api_key_secret":"x","verify_service_sid":"VB00000000000000000000000000000000"}"#,
                "verify_service_sid",
                "",
            ),
        ];
        for (json, field, reason) in cases {
            let e = input(json).unwrap_err();
            assert_eq!(e.field, field, "{json}");
            if !reason.is_empty() {
                assert_eq!(e.reason, reason, "{json}");
            }
            assert!(!e.to_string().contains("a b"));
        }
    }

    #[test]
    fn sealed_round_trip_never_stores_plaintext() {
        let store = MemoryStore::new();
        let ring = Keyring::parse(KEYS).unwrap();
        let rng = SeededRng::new(1);
        let creds = input(&format!(
            r#"{{"account_sid":"AC00000000000000000000000000000000","api_key_sid":"SK00000000000000000000000000000000","api_key_secret":"{SECRET}"}}"#
        ))
        .unwrap();
        save_twilio(&store, &ring, &rng, &creds, 42).unwrap();
        let raw = store.get(TWILIO_KEY).unwrap().unwrap();
        let raw = String::from_utf8(raw).unwrap();
        assert!(!raw.contains(SECRET), "{raw}");
        assert!(!raw.contains("SK000"), "{raw}");
        let (back, at) = load_twilio(&store, Ok(&ring)).unwrap().unwrap();
        assert_eq!((back == creds, at), (true, 42));
        // Copied under the DATEV key, it does not open (the key is the associated data).
        store.set(DATEV_KEY, raw.as_bytes()).unwrap();
        assert!(matches!(
            load_datev(&store, Ok(&ring)),
            Err(CredentialError::Vault {
                key: DATEV_KEY,
                source: VaultError::Authentication
            })
        ));
        // Without the keyring a stored record is an error, not a silent fallback.
        let missing = ConfigError::Missing("datev_token_keys");
        assert!(matches!(
            load_twilio(&store, Err(&missing)),
            Err(CredentialError::NoKeyring { .. })
        ));
    }

    #[test]
    fn stored_fields_win_over_variables() {
        let vars = TwilioVariables {
            account_sid: Some("AC11111111111111111111111111111111".into()),
            api_key_secret: Some(Secret::new("var-secret")),
            from_number: Some("+15005550006".into()),
            ..TwilioVariables::default()
        };
        let (s, src) = merge_twilio(&vars, None);
        assert_eq!(s.account_sid, "AC11111111111111111111111111111111");
        assert_eq!(
            (src.account_sid, src.api_key_sid, src.api_key_secret),
            (Source::Variable, Source::Unset, Source::Variable)
        );
        let stored = TwilioCredentials {
            account_sid: "AC00000000000000000000000000000000".into(),
            api_key_sid: "SK00000000000000000000000000000000".into(),
            api_key_secret: "stored".into(),
            verify_service_sid: None,
            from_number: None,
            messaging_service_sid: None,
        };
        let (s, src) = merge_twilio(&vars, Some(&stored));
        assert_eq!(s.account_sid, "AC00000000000000000000000000000000");
        assert_eq!(s.api_key_secret, Secret::new("stored"));
        assert_eq!(s.from_number.as_deref(), Some("+15005550006"));
        assert_eq!(
            (src.api_key_secret, src.from_number),
            (Source::Store, Source::Variable)
        );
        assert_eq!(mask_id("AC00000000000000000000000000001234"), "AC…1234");
        assert_eq!(mask_id("short"), "…");
    }

    #[test]
    fn datev_input_and_apply() {
        let e = serde_json::from_str::<DatevInput>(r#"{"client_secret":"x"}"#)
            .unwrap()
            .validate()
            .unwrap_err();
        assert_eq!(
            (e.field.as_str(), e.reason.as_str()),
            ("client_id", "is required")
        );
        assert!(serde_json::from_str::<DatevInput>(r#"{"client_id":"a","other":1}"#).is_err());
        let ok = serde_json::from_str::<DatevInput>(
            r#"{"client_id":"stored-app","client_secret":"s3"}"#,
        )
        .unwrap()
        .validate()
        .unwrap();
        assert!(!format!("{ok:?}").contains("s3\""));
    }
}
