//! Key-value keys this crate reads and writes, in one place.
//!
//! Namespaces follow `ARCHITECTURE.md` ("Key-value store"): `token:datev:<client>`, `claim:…`,
//! `lease:<name>:<window>`. These functions are candidates for the store-schema module of
//! `connector` once it exists; until then they live here so the layout is visible at a glance.
//!
//! Every argument is a validated newtype or a state string that [`crate::OAuthState`] checked to
//! be `[A-Za-z0-9_-]`, so no key can smuggle a `:` separator.

use crate::DatevClientId;

/// The connection record of a DATEV client (`token:datev:<client>`, ARCHITECTURE.md): its state
/// (connected / needs re-consent) in clear and, while connected, the tokens sealed.
pub fn token(client: &DatevClientId) -> String {
    format!("token:datev:{client}")
}

/// The encrypted record of one OAuth authorization attempt, addressed by its `state`
/// (`oauth:datev:<state>`).
pub fn oauth_attempt(state: &str) -> String {
    format!("oauth:datev:{state}")
}

/// The single-use claim on an attempt's `state` (`claim:oauth-state:<state>`; a counter key,
/// never written with `set`).
pub fn oauth_state_claim(state: &str) -> String {
    format!("claim:oauth-state:{state}")
}

/// The refresh lease of a DATEV client for one time window
/// (`lease:datev-refresh:<client>:<window>`; a counter key).
pub fn refresh_lease(client: &DatevClientId, window: u64) -> String {
    format!("lease:datev-refresh:{client}:{window}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout() {
        let c = DatevClientId::parse("455148-1").unwrap();
        assert_eq!(token(&c), "token:datev:455148-1");
        assert_eq!(oauth_attempt("abc"), "oauth:datev:abc");
        assert_eq!(oauth_state_claim("abc"), "claim:oauth-state:abc");
        assert_eq!(refresh_lease(&c, 7), "lease:datev-refresh:455148-1:7");
    }
}
