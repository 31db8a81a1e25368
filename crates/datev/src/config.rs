//! Configuration: endpoints (production, sandbox or custom), the registered OAuth client, scopes
//! and timings.

use crate::{InvalidInput, OAuthClientId, Scope};
use connector::Secret;

/// Which DATEV environment the default endpoints point to (datev.md §5.1 table, §4 servers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    /// `login.datev.de/openid`, `api.datev.de/token`, `…/platform/v<n>` API servers.
    Production,
    /// `login.datev.de/openidsandbox`, `sandbox-api.datev.de/token`, `…/platform-sandbox/v<n>`.
    Sandbox,
}

/// Base URLs, without trailing slash. Configurable so tests and the offline sandbox can point
/// elsewhere and so the `datev_idp_next` identity provider (datev.md §5.1) can be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    /// OAuth2 authorization endpoint (RFC 6749 §3.1).
    pub authorize: String,
    /// OAuth2 token endpoint (RFC 6749 §3.2).
    pub token: String,
    /// Server URL of `accounting:extf-files` 3.0.1 (datev.md §4.1), including `/platform/v3`.
    pub extf_files: String,
    /// Server URL of `accounting-clients` 2.0 (datev.md §4.2), including `/platform/v2`.
    pub accounting_clients: String,
    /// Server URL of `accounting:dxso-jobs` 2.1.7 (datev.md §4.3), including `/platform/v2`.
    pub dxso_jobs: String,
}

impl Endpoints {
    /// DATEV's published endpoints for `env` (datev.md §5.1, §4.1–§4.3).
    pub fn for_environment(env: Environment) -> Self {
        match env {
            Environment::Production => Self {
                authorize: "https://login.datev.de/openid/authorize".into(),
                token: "https://api.datev.de/token".into(),
                extf_files: "https://accounting-extf-files.api.datev.de/platform/v3".into(),
                accounting_clients: "https://accounting-clients.api.datev.de/platform/v2".into(),
                dxso_jobs: "https://accounting-dxso-jobs.api.datev.de/platform/v2".into(),
            },
            Environment::Sandbox => Self {
                authorize: "https://login.datev.de/openidsandbox/authorize".into(),
                token: "https://sandbox-api.datev.de/token".into(),
                extf_files: "https://accounting-extf-files.api.datev.de/platform-sandbox/v3".into(),
                accounting_clients: "https://accounting-clients.api.datev.de/platform-sandbox/v2"
                    .into(),
                dxso_jobs: "https://accounting-dxso-jobs.api.datev.de/platform-sandbox/v2".into(),
            },
        }
    }

    /// Custom endpoints, each checked by [`check_base_url`] (trailing `/` removed).
    pub fn custom(
        authorize: &str,
        token: &str,
        extf_files: &str,
        accounting_clients: &str,
        dxso_jobs: &str,
    ) -> Result<Self, InvalidInput> {
        Ok(Self {
            authorize: check_base_url("authorize_url", authorize)?,
            token: check_base_url("token_url", token)?,
            extf_files: check_base_url("extf_files_url", extf_files)?,
            accounting_clients: check_base_url("accounting_clients_url", accounting_clients)?,
            dxso_jobs: check_base_url("dxso_jobs_url", dxso_jobs)?,
        })
    }
}

/// Checks an absolute `https://` (or `http://` for local test servers) URL without query,
/// fragment, credentials or whitespace, and strips one trailing `/`.
pub fn check_base_url(field: &'static str, url: &str) -> Result<String, InvalidInput> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| InvalidInput::new(field, "must start with https:// or http://"))?;
    let host = rest.split('/').next().unwrap_or("");
    if host.is_empty() {
        return Err(InvalidInput::new(field, "has no host"));
    }
    if host.contains('@') {
        return Err(InvalidInput::new(field, "must not contain credentials"));
    }
    if url.contains(['?', '#']) {
        return Err(InvalidInput::new(
            field,
            "must not contain a query or fragment",
        ));
    }
    if !url.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(InvalidInput::new(
            field,
            "must be visible ASCII without spaces",
        ));
    }
    Ok(url.strip_suffix('/').unwrap_or(url).to_owned())
}

/// The `redirect_uri` registered with DATEV (RFC 6749 §3.1.2): absolute, no fragment. DATEV's
/// sandbox apps register e.g. `http://localhost` (datev.md §5.2, S15), so `http` is accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedirectUri(String);

impl RedirectUri {
    /// Validates a redirect URI.
    pub fn parse(s: &str) -> Result<Self, InvalidInput> {
        const FIELD: &str = "redirect_uri";
        let rest = s
            .strip_prefix("https://")
            .or_else(|| s.strip_prefix("http://"))
            .ok_or_else(|| InvalidInput::new(FIELD, "must be an absolute http(s) URI"))?;
        if rest.split(['/', '?']).next().unwrap_or("").is_empty() {
            return Err(InvalidInput::new(FIELD, "has no host"));
        }
        if s.contains('#') {
            return Err(InvalidInput::new(
                FIELD,
                "must not contain a fragment (RFC 6749 §3.1.2)",
            ));
        }
        if !s.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(InvalidInput::new(
                FIELD,
                "must be visible ASCII without spaces",
            ));
        }
        Ok(Self(s.to_owned()))
    }

    /// The URI, exactly as registered.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// How a confidential client authenticates at the token endpoint (RFC 6749 §2.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuthStyle {
    /// `Authorization: Basic base64(urlencode(client_id) ":" urlencode(client_secret))`. What
    /// every source shows DATEV using (datev.md §5.2, S13–S15); the default.
    Basic,
    /// `client_id` and `client_secret` as form parameters in the body (`client_secret_post`).
    /// S14 reports DATEV rejecting it with 401 `invalid_client`; kept for other providers.
    Body,
}

/// The credentials of the registered app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientCredentials {
    /// A public client (RFC 6749 §2.1): `client_id` in the token request body, no secret. No
    /// source confirms DATEV supports this (datev.md §7, §8).
    Public,
    /// A confidential client with its secret and authentication style.
    Confidential {
        /// `client_secret` (a Spin secret variable). Never printed.
        secret: Secret,
        /// How to present it.
        style: ClientAuthStyle,
    },
}

/// The OAuth client as registered with DATEV.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthConfig {
    /// `client_id`; also the `X-DATEV-Client-Id` header value (datev.md §3).
    pub client_id: OAuthClientId,
    /// Public or confidential.
    pub credentials: ClientCredentials,
    /// The registered redirect URI.
    pub redirect_uri: RedirectUri,
    /// Requested scopes (datev.md §5.3).
    pub scopes: Vec<Scope>,
    /// Adds `enableWindowsSso=true` to the authorization URL, which "Login mit DATEV" lists as
    /// mandatory (datev.md §5.2, S11 node/40368).
    pub enable_windows_sso: bool,
}

impl OAuthConfig {
    /// The scopes the connector needs (datev.md §5.3): `openid`, `offline_access` (long-lived
    /// refresh token), `datev:accounting:extf-files-import` (EXTF upload and status),
    /// `datev:accounting:clients` (accounting-clients), and `accounting:clients:read` plus
    /// `accounting:dxso-jobs` (dxso-jobs).
    pub fn default_scopes() -> Vec<Scope> {
        [
            "openid",
            "offline_access",
            "datev:accounting:extf-files-import",
            "datev:accounting:clients",
            "accounting:clients:read",
            "accounting:dxso-jobs",
        ]
        .into_iter()
        .filter_map(|s| Scope::parse(s).ok())
        .collect()
    }

    /// A configuration with [`OAuthConfig::default_scopes`] and `enableWindowsSso=true`.
    pub fn new(
        client_id: OAuthClientId,
        credentials: ClientCredentials,
        redirect_uri: RedirectUri,
    ) -> Self {
        Self {
            client_id,
            credentials,
            redirect_uri,
            scopes: Self::default_scopes(),
            enable_windows_sso: true,
        }
    }
}

/// Everything the client needs besides the ports and the keyring.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatevConfig {
    /// Endpoints.
    pub endpoints: Endpoints,
    /// The OAuth client.
    pub oauth: OAuthConfig,
    /// Refresh when less than this is left of the access token (default 120 s of DATEV's 900 s,
    /// datev.md §5.4).
    pub refresh_margin_ms: u64,
    /// Length of one refresh-lease window (default 30 s). A refresher holds two consecutive
    /// windows, so a failed refresh is retried at most two windows later; keep `2 × window`
    /// well below the margin.
    pub refresh_lease_window_ms: u64,
    /// How long an authorization attempt stays valid (default 10 min).
    pub attempt_ttl_ms: u64,
    /// Assumed `expires_in` when the token response has none (DATEV: 900 s, datev.md §5.4).
    pub default_expires_in_s: u64,
}

impl DatevConfig {
    /// Default timings for `endpoints` and `oauth`.
    pub fn new(endpoints: Endpoints, oauth: OAuthConfig) -> Self {
        Self {
            endpoints,
            oauth,
            refresh_margin_ms: 120_000,
            refresh_lease_window_ms: 30_000,
            attempt_ttl_ms: 600_000,
            default_expires_in_s: 900,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls() {
        assert_eq!(
            check_base_url("f", "https://a.example/x/").unwrap(),
            "https://a.example/x"
        );
        assert_eq!(
            check_base_url("f", "http://127.0.0.1:8080").unwrap(),
            "http://127.0.0.1:8080"
        );
        for bad in [
            "ftp://x",
            "https://",
            "https://u:p@x",
            "https://x/?q",
            "https://x/a b",
        ] {
            assert_eq!(
                check_base_url("token_url", bad).unwrap_err().field,
                "token_url",
                "{bad}"
            );
        }
    }

    #[test]
    fn redirect_uri() {
        assert!(RedirectUri::parse("http://localhost").is_ok());
        assert!(RedirectUri::parse("https://connector.example/datev/callback").is_ok());
        assert!(RedirectUri::parse("https://x/cb#frag").is_err());
        assert!(RedirectUri::parse("/relative").is_err());
        assert!(RedirectUri::parse("https:///path").is_err());
    }

    #[test]
    fn default_scopes_all_parse() {
        assert_eq!(OAuthConfig::default_scopes().len(), 6);
    }

    #[test]
    fn sandbox_endpoints() {
        let e = Endpoints::for_environment(Environment::Sandbox);
        assert_eq!(e.token, "https://sandbox-api.datev.de/token");
        assert_eq!(
            e.extf_files,
            "https://accounting-extf-files.api.datev.de/platform-sandbox/v3"
        );
    }
}
