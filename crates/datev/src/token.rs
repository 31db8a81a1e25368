//! The token endpoint (RFC 6749 §3.2, §4.1.3, §5, §6) and the token values.

use crate::config::{ClientAuthStyle, ClientCredentials, DatevConfig};
use crate::error::{ApiError, Operation};
use crate::pkce::CodeVerifier;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use connector::{Clock, HttpClient, HttpRequest, Method, Secret};
use serde::Deserialize;
use std::fmt;

/// A bearer access token (RFC 6750) with its expiry. `Debug` prints `[redacted]` for the token.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken {
    token: Secret,
    expires_at_ms: u64,
}

impl AccessToken {
    /// A token valid until `expires_at_ms` (Unix milliseconds).
    pub fn new(token: Secret, expires_at_ms: u64) -> Self {
        Self {
            token,
            expires_at_ms,
        }
    }

    /// The token, for the `Authorization: Bearer` header (RFC 6750 §2.1).
    pub fn secret(&self) -> &Secret {
        &self.token
    }

    /// When it expires (Unix milliseconds).
    pub fn expires_at_ms(&self) -> u64 {
        self.expires_at_ms
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessToken")
            .field("token", &self.token)
            .field("expires_at_ms", &self.expires_at_ms)
            .finish()
    }
}

/// What a successful token response (RFC 6749 §5.1) yields. Tokens are [`Secret`]s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenSet {
    /// `access_token`.
    pub access_token: Secret,
    /// `refresh_token`; DATEV rotates it on every refresh (datev.md §5.4).
    pub refresh_token: Secret,
    /// `now + expires_in` (Unix milliseconds).
    pub expires_at_ms: u64,
    /// When the response arrived (Unix milliseconds).
    pub obtained_at_ms: u64,
    /// Granted `scope`, when the server lists it (RFC 6749 §5.1).
    pub scope: Option<String>,
}

impl TokenSet {
    /// The access token with its expiry.
    pub fn access(&self) -> AccessToken {
        AccessToken::new(self.access_token.clone(), self.expires_at_ms)
    }
}

/// The grant of one token request.
pub(crate) enum Grant<'a> {
    /// RFC 6749 §4.1.3 with the PKCE verifier (RFC 7636 §4.5).
    AuthorizationCode {
        code: &'a str,
        verifier: &'a CodeVerifier,
    },
    /// RFC 6749 §6.
    RefreshToken(&'a Secret),
}

/// `application/x-www-form-urlencoded` encoding of one component (WHATWG URL §5.2, as RFC 6749
/// Appendix B uses it): `A-Z a-z 0-9 * - . _` kept, space as `+`, every other byte `%XX`.
pub(crate) fn form_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'*' | b'-' | b'.' | b'_' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

pub(crate) fn form_body(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", form_encode(k), form_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Builds the token request (RFC 6749 §4.1.3 / §6) with the client authentication the
/// configuration asks for (RFC 6749 §2.3.1).
pub(crate) fn token_request(config: &DatevConfig, grant: &Grant<'_>) -> HttpRequest {
    let oauth = &config.oauth;
    let mut pairs: Vec<(&str, &str)> = Vec::new();
    match grant {
        Grant::AuthorizationCode { code, verifier } => {
            pairs.push(("grant_type", "authorization_code"));
            pairs.push(("code", code));
            pairs.push(("redirect_uri", oauth.redirect_uri.as_str()));
            pairs.push(("code_verifier", verifier.expose()));
        }
        Grant::RefreshToken(rt) => {
            pairs.push(("grant_type", "refresh_token"));
            pairs.push(("refresh_token", rt.expose()));
        }
    }
    let mut basic = None;
    match &oauth.credentials {
        ClientCredentials::Public => pairs.push(("client_id", oauth.client_id.as_str())),
        ClientCredentials::Confidential {
            secret,
            style: ClientAuthStyle::Body,
        } => {
            pairs.push(("client_id", oauth.client_id.as_str()));
            pairs.push(("client_secret", secret.expose()));
        }
        ClientCredentials::Confidential {
            secret,
            style: ClientAuthStyle::Basic,
        } => {
            let user_pass = format!(
                "{}:{}",
                form_encode(oauth.client_id.as_str()),
                form_encode(secret.expose())
            );
            basic = Some(format!("Basic {}", STANDARD.encode(user_pass)));
        }
    }
    let mut req = HttpRequest::new(Method::Post, config.endpoints.token.clone())
        .header("Content-Type", "application/x-www-form-urlencoded")
        .header("Accept", "application/json");
    if let Some(b) = basic {
        req = req.header("Authorization", b);
    }
    req.body(form_body(&pairs))
}

/// The secrets a token request carries, to scrub from any error body.
fn request_secrets<'a>(config: &'a DatevConfig, grant: &'a Grant<'a>) -> Vec<&'a str> {
    let mut s = Vec::new();
    match grant {
        Grant::AuthorizationCode { code, verifier } => {
            s.push(*code);
            s.push(verifier.expose());
        }
        Grant::RefreshToken(rt) => s.push(rt.expose()),
    }
    if let ClientCredentials::Confidential { secret, .. } = &config.oauth.credentials {
        s.push(secret.expose());
    }
    s
}

/// RFC 6749 §5.1 response. No `Debug`: it holds tokens in clear for a moment.
#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    token_type: String,
    #[serde(default)]
    expires_in: Option<serde_json::Value>,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default)]
    scope: Option<String>,
}

/// Sends one token request and decodes the answer. A response without `refresh_token` keeps
/// `previous_refresh` (RFC 6749 §6 lets the server keep the old one); a code exchange without
/// one is an error, because the connection could never be refreshed.
pub(crate) fn request_tokens(
    config: &DatevConfig,
    http: &dyn HttpClient,
    clock: &dyn Clock,
    grant: &Grant<'_>,
) -> Result<TokenSet, ApiError> {
    let operation = match grant {
        Grant::AuthorizationCode { .. } => Operation::TokenExchange,
        Grant::RefreshToken(_) => Operation::TokenRefresh,
    };
    let req = token_request(config, grant);
    let resp = http
        .send(req)
        .map_err(|source| ApiError::Transport { operation, source })?;
    let now = clock.now_ms();
    let secrets = request_secrets(config, grant);
    if resp.status != 200 {
        return Err(ApiError::from_response(operation, &resp, now, &secrets));
    }
    let unexpected = |reason: String| ApiError::UnexpectedResponse {
        operation,
        status: resp.status,
        reason,
    };
    // The serde error names the field and position, never the token text.
    let body: TokenResponse = serde_json::from_slice(&resp.body)
        .map_err(|e| unexpected(format!("token response is not RFC 6749 §5.1 JSON: {e}")))?;
    if !body.token_type.eq_ignore_ascii_case("bearer") {
        return Err(unexpected(format!(
            "token_type {:?} is not Bearer (RFC 6750)",
            body.token_type
        )));
    }
    if body.access_token.is_empty() {
        return Err(unexpected("access_token is empty".into()));
    }
    let expires_in = match body.expires_in {
        None | Some(serde_json::Value::Null) => config.default_expires_in_s,
        Some(serde_json::Value::Number(n)) => n
            .as_u64()
            .ok_or_else(|| unexpected("expires_in is not a non-negative integer".into()))?,
        // Some servers send the number as a string.
        Some(serde_json::Value::String(s)) => s
            .parse()
            .map_err(|_| unexpected("expires_in is not a non-negative integer".into()))?,
        Some(_) => {
            return Err(unexpected(
                "expires_in is not a non-negative integer".into(),
            ));
        }
    };
    let refresh_token = match (body.refresh_token, grant) {
        (Some(rt), _) if !rt.is_empty() => Secret::new(rt),
        (_, Grant::RefreshToken(previous)) => (*previous).clone(),
        (_, Grant::AuthorizationCode { .. }) => {
            return Err(unexpected(
                "the code exchange returned no refresh_token".into(),
            ));
        }
    };
    Ok(TokenSet {
        access_token: Secret::new(body.access_token),
        refresh_token,
        expires_at_ms: now.saturating_add(expires_in.saturating_mul(1000)),
        obtained_at_ms: now,
        scope: body.scope,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_encoding() {
        assert_eq!(form_encode("a b+c/d:é*~"), "a+b%2Bc%2Fd%3A%C3%A9*%7E");
        assert_eq!(form_body(&[("k", "v 1"), ("x", "")]), "k=v+1&x=");
    }

    #[test]
    fn access_token_debug_is_redacted() {
        let t = AccessToken::new(Secret::new("AT-12345678"), 7);
        assert_eq!(
            format!("{t:?}"),
            "AccessToken { token: [redacted], expires_at_ms: 7 }"
        );
    }
}
