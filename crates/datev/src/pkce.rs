//! PKCE (RFC 7636) and the OAuth `state` value.

use crate::InvalidInput;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use connector::Rng;
use sha2::{Digest, Sha256};
use std::fmt;

/// Random bytes behind a generated verifier or state: 32 octets give 43 base64url characters,
/// the size RFC 7636 §4.1 recommends (256 bits of entropy).
const RANDOM_OCTETS: usize = 32;

fn random_b64url(rng: &dyn Rng) -> String {
    let mut bytes = [0u8; RANDOM_OCTETS];
    rng.fill(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The PKCE `code_verifier` (RFC 7636 §4.1): 43–128 characters from the unreserved set
/// `A-Z a-z 0-9 - . _ ~`. A secret of one attempt: `Debug` prints `[redacted]`.
#[derive(Clone, PartialEq, Eq)]
pub struct CodeVerifier(String);

impl CodeVerifier {
    /// A fresh verifier: 32 random octets from `rng`, base64url-encoded without padding
    /// (43 characters), as RFC 7636 §4.1 recommends.
    pub fn generate(rng: &dyn Rng) -> Self {
        Self(random_b64url(rng))
    }

    /// Validates a given verifier (RFC 7636 §4.1 `code-verifier = 43*128unreserved`).
    pub fn parse(s: &str) -> Result<Self, InvalidInput> {
        if !(43..=128).contains(&s.len()) {
            return Err(InvalidInput::new(
                "code_verifier",
                "must be 43 to 128 characters (RFC 7636 §4.1)",
            ));
        }
        if !s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
        {
            return Err(InvalidInput::new(
                "code_verifier",
                "may contain only A-Z a-z 0-9 - . _ ~ (RFC 7636 §4.1)",
            ));
        }
        Ok(Self(s.to_owned()))
    }

    /// The verifier, for the token request (RFC 7636 §4.5).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The `S256` challenge: `BASE64URL-ENCODE(SHA256(ASCII(code_verifier)))` (RFC 7636 §4.2).
    pub fn challenge_s256(&self) -> CodeChallenge {
        CodeChallenge(URL_SAFE_NO_PAD.encode(Sha256::digest(self.0.as_bytes())))
    }
}

impl fmt::Debug for CodeVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// The `code_challenge` sent with `code_challenge_method=S256` (RFC 7636 §4.3). Public.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeChallenge(String);

impl CodeChallenge {
    /// The challenge text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The OAuth `state` of one authorization attempt (RFC 6749 §4.1.1, §10.12): 32 random octets,
/// base64url (43 characters; DATEV rejects short states, datev.md §5.2 / S15). Single use.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OAuthState(String);

impl OAuthState {
    /// A fresh state from `rng`.
    pub fn generate(rng: &dyn Rng) -> Self {
        Self(random_b64url(rng))
    }

    /// Checks a `state` from a callback: exactly the shape [`OAuthState::generate`] produces
    /// (43 base64url characters), so it is safe inside a key-value key.
    pub fn parse(s: &str) -> Result<Self, InvalidInput> {
        if s.len() != 43
            || !s
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
        {
            return Err(InvalidInput::new(
                "state",
                "is not a state this connector issued",
            ));
        }
        Ok(Self(s.to_owned()))
    }

    /// The state text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for OAuthState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use connector::memory::SeededRng;

    #[test]
    fn rfc7636_appendix_b() {
        let v = CodeVerifier::parse("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk").unwrap();
        assert_eq!(
            v.challenge_s256().as_str(),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn appendix_b_octets_encode_to_the_verifier() {
        // RFC 7636 Appendix B: these 32 octets base64url-encode to the example verifier, the
        // same construction as `generate`.
        let octets: [u8; 32] = [
            116, 24, 223, 180, 151, 153, 224, 37, 79, 250, 96, 125, 216, 173, 187, 186, 22, 212,
            37, 77, 105, 214, 191, 240, 91, 88, 5, 88, 83, 132, 141, 121,
        ];
        assert_eq!(
            URL_SAFE_NO_PAD.encode(octets),
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
        );
    }

    #[test]
    fn generated_values_are_valid_fresh_and_redacted() {
        let rng = SeededRng::new(1);
        let a = CodeVerifier::generate(&rng);
        let b = CodeVerifier::generate(&rng);
        assert_eq!(a.expose().len(), 43);
        assert!(CodeVerifier::parse(a.expose()).is_ok());
        assert_ne!(a, b);
        assert_eq!(format!("{a:?}"), "[redacted]");
        let s = OAuthState::generate(&rng);
        assert!(OAuthState::parse(s.as_str()).is_ok());
        assert_ne!(s, OAuthState::generate(&rng));
    }

    #[test]
    fn verifier_bounds() {
        assert!(CodeVerifier::parse(&"a".repeat(42)).is_err());
        assert!(CodeVerifier::parse(&"a".repeat(128)).is_ok());
        assert!(CodeVerifier::parse(&"a".repeat(129)).is_err());
        assert!(CodeVerifier::parse(&format!("{}~.", "a".repeat(41))).is_ok());
        assert_eq!(
            CodeVerifier::parse(&format!("{}+", "a".repeat(43)))
                .unwrap_err()
                .field,
            "code_verifier"
        );
        assert!(OAuthState::parse("short").is_err());
        assert!(OAuthState::parse(&format!("{}:", "a".repeat(42))).is_err());
    }
}
