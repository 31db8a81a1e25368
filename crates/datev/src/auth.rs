//! Connecting a DATEV client (OAuth2 Authorization Code + PKCE, RFC 6749 §4.1, RFC 7636) and
//! keeping its access token fresh (RFC 6749 §6) with one refresher at a time.
//!
//! Everything goes through the ports. Coordination uses only `increment` claims
//! (ARCHITECTURE.md "Key-value store", spin.md §4.3):
//! - an authorization attempt's `state` is consumed by the claim `claim:oauth-state:<state>`;
//! - a refresh is done only by the owner of two consecutive lease windows
//!   `lease:datev-refresh:<client>:<w>` and `…:<w+1>`, see [`DatevAuth::refresh_if_due`].

use crate::config::DatevConfig;
use crate::error::ApiError;
use crate::ids::DatevClientId;
use crate::keys;
use crate::pkce::{CodeVerifier, OAuthState};
use crate::token::{AccessToken, Grant, TokenSet, form_body, request_tokens};
use crate::vault::{Keyring, SealedRecord, VaultError};
use connector::{Clock, HttpClient, KeyValue, Rng, Secret, StoreError};
use serde::{Deserialize, Serialize};
use std::fmt;

/// The ports one call needs. All borrowed; cheap to copy.
#[derive(Clone, Copy)]
pub struct Ports<'a> {
    /// Key-value store.
    pub store: &'a dyn KeyValue,
    /// Outbound HTTP.
    pub http: &'a dyn HttpClient,
    /// Wall clock.
    pub clock: &'a dyn Clock,
    /// Randomness (verifiers, states, nonces, jitter, multipart boundaries).
    pub rng: &'a dyn Rng,
}

impl fmt::Debug for Ports<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Ports")
    }
}

/// Version of the connection record under `token:datev:<client>`.
pub const CONNECTION_RECORD_VERSION: u32 = 1;
/// Version of the sealed token plaintext and of the sealed attempt plaintext.
const PLAINTEXT_VERSION: u32 = 1;
/// Longest `error_description` kept from a callback (it comes from the browser, untrusted).
const MAX_DESCRIPTION: usize = 200;

/// The connection record (clear JSON; the tokens inside are sealed).
#[derive(Serialize, Deserialize)]
struct ConnectionRecord {
    version: u32,
    #[serde(flatten)]
    state: RecordState,
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
enum RecordState {
    Connected { since_ms: u64, tokens: SealedRecord },
    NeedsReconsent { since_ms: u64, reason: String },
}

/// Token plaintext inside the sealed record. No `Debug`.
#[derive(Serialize, Deserialize)]
struct TokenPlain {
    version: u32,
    access_token: String,
    refresh_token: String,
    expires_at_ms: u64,
    obtained_at_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    scope: Option<String>,
}

/// Attempt plaintext inside the sealed attempt record. No `Debug`.
#[derive(Serialize, Deserialize)]
struct AttemptPlain {
    version: u32,
    client: String,
    code_verifier: String,
    created_at_ms: u64,
    expires_at_ms: u64,
}

fn token_aad(client: &DatevClientId) -> Vec<u8> {
    format!("ml-connector/datev-token/v{PLAINTEXT_VERSION}/{client}").into_bytes()
}

fn attempt_aad(state: &OAuthState) -> Vec<u8> {
    format!("ml-connector/datev-oauth-attempt/v{PLAINTEXT_VERSION}/{state}").into_bytes()
}

/// Where a DATEV client's connection stands, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectionState {
    /// Never connected (no record).
    NotConnected,
    /// Tokens are stored; `since_ms` is the last time they were written.
    Connected {
        /// Last token write (Unix ms).
        since_ms: u64,
    },
    /// The refresh token was rejected (`invalid_grant`, RFC 6749 §5.2): a person must connect
    /// again. Nothing is submitted for this client until then.
    NeedsReconsent {
        /// When it was marked (Unix ms).
        since_ms: u64,
        /// Why (`invalid_grant`).
        reason: String,
    },
}

/// The authorization request to send the user's browser to (RFC 6749 §4.1.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationRequest {
    /// The full authorization URL.
    pub url: String,
    /// The attempt's `state`.
    pub state: OAuthState,
    /// The DATEV client being connected.
    pub client: DatevClientId,
    /// When the attempt stops being accepted (Unix ms).
    pub expires_at_ms: u64,
}

/// The parameters of the redirect back to us (RFC 6749 §4.1.2, §4.1.2.1).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct CallbackParams {
    /// `state`.
    pub state: Option<String>,
    /// `code` (short-lived credential: never printed).
    pub code: Option<Secret>,
    /// `error` (e.g. `access_denied`).
    pub error: Option<String>,
    /// `error_description` (cut to 200 characters).
    pub error_description: Option<String>,
}

impl fmt::Debug for CallbackParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallbackParams")
            .field("state", &self.state)
            .field("code", &self.code)
            .field("error", &self.error)
            .field("error_description", &self.error_description)
            .finish()
    }
}

impl CallbackParams {
    /// Parses the callback's query string (without `?`). Unknown parameters are ignored; a
    /// repeated parameter is rejected (RFC 6749 §3.1: parameters "MUST NOT be included more
    /// than once").
    pub fn from_query(query: &str) -> Result<Self, ConnectError> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).map_err(|_| {
            ConnectError::MalformedCallback("query is not application/x-www-form-urlencoded".into())
        })?;
        let mut p = CallbackParams::default();
        for (k, v) in pairs {
            let dup = match k.as_str() {
                "state" => p.state.replace(v).is_some(),
                "code" => p.code.replace(Secret::new(v)).is_some(),
                "error" => p.error.replace(v).is_some(),
                "error_description" => p
                    .error_description
                    .replace(v.chars().take(MAX_DESCRIPTION).collect())
                    .is_some(),
                _ => false,
            };
            if dup {
                return Err(ConnectError::MalformedCallback(format!(
                    "parameter {k} appears more than once"
                )));
            }
        }
        Ok(p)
    }
}

/// The result of a completed connect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connected {
    /// The DATEV client now connected.
    pub client: DatevClientId,
    /// When the first access token expires (Unix ms).
    pub expires_at_ms: u64,
    /// Granted scopes as DATEV listed them, if it did.
    pub scope: Option<String>,
}

/// Why a connect attempt failed. Every variant is safe to show and audit (no secrets).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectError {
    /// The callback lacks a required parameter.
    #[error("the callback has no {0} parameter")]
    MissingParameter(&'static str),
    /// The callback query could not be read.
    #[error("the callback is malformed: {0}")]
    MalformedCallback(String),
    /// No attempt with this `state` exists (forged, or from another installation).
    #[error("unknown state: no connect attempt was started with it")]
    UnknownState,
    /// The attempt's `state` was already consumed (replayed callback, reused code).
    #[error("this connect attempt was already used; start again")]
    StateAlreadyUsed {
        /// The client of the attempt.
        client: DatevClientId,
    },
    /// The attempt is older than its time to live.
    #[error("this connect attempt expired; start again")]
    AttemptExpired {
        /// The client of the attempt.
        client: DatevClientId,
    },
    /// The user declined (`error=access_denied`, RFC 6749 §4.1.2.1).
    #[error("consent was denied at DATEV")]
    ConsentDenied {
        /// The client of the attempt.
        client: DatevClientId,
        /// DATEV's `error_description`.
        description: Option<String>,
    },
    /// DATEV redirected with another `error` (RFC 6749 §4.1.2.1).
    #[error("DATEV refused the authorization: {error}")]
    AuthorizationFailed {
        /// The client of the attempt.
        client: DatevClientId,
        /// The `error` code.
        error: String,
        /// DATEV's `error_description`.
        description: Option<String>,
    },
    /// The code exchange at the token endpoint failed (e.g. `invalid_grant` for a reused code).
    #[error("token exchange failed: {source}")]
    TokenExchange {
        /// The client of the attempt.
        client: DatevClientId,
        /// The token endpoint's error (secrets removed).
        source: ApiError,
    },
    /// A key-value call failed: nothing was completed, retry.
    #[error("key-value store: {0}")]
    Store(#[from] StoreError),
    /// A sealed record could not be sealed or opened.
    #[error("{0}")]
    Vault(#[from] VaultError),
    /// A stored record does not have the expected shape.
    #[error("stored record is corrupt: {0}")]
    CorruptRecord(String),
}

/// Why no usable access token could be produced.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// The client was never connected.
    #[error("DATEV client is not connected")]
    NotConnected,
    /// The grant is dead; a person must connect again. `newly_marked` is true for exactly the
    /// one call that observed `invalid_grant` and stored the state: that caller alerts and
    /// audits; every later call gets `false` and does not call DATEV.
    #[error("DATEV connection needs re-consent")]
    NeedsReconsent {
        /// When it was marked (Unix ms).
        since_ms: u64,
        /// True for the call that marked it.
        newly_marked: bool,
    },
    /// Another instance holds the refresh lease and the stored token has expired: retry soon.
    #[error("another instance is refreshing the DATEV token")]
    RefreshInProgress,
    /// The refresh request failed (not `invalid_grant`) and the stored token has expired.
    #[error("token refresh failed: {0}")]
    Refresh(ApiError),
    /// A key-value call failed: nothing was completed, retry.
    #[error("key-value store: {0}")]
    Store(#[from] StoreError),
    /// A sealed record could not be sealed or opened.
    #[error("{0}")]
    Vault(#[from] VaultError),
    /// A stored record does not have the expected shape.
    #[error("stored record is corrupt: {0}")]
    CorruptRecord(String),
}

/// What [`DatevAuth::refresh_if_due`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshOutcome {
    /// At least the margin is left; nothing done.
    Fresh {
        /// Expiry of the stored token (Unix ms).
        expires_at_ms: u64,
    },
    /// This call refreshed and stored the rotated pair.
    Refreshed {
        /// Expiry of the new token (Unix ms).
        expires_at_ms: u64,
    },
    /// Another caller holds the lease; the stored token is still valid and is reused.
    HeldByOther {
        /// Expiry of the stored token (Unix ms).
        expires_at_ms: u64,
    },
    /// The refresh failed for a reason other than `invalid_grant`; the stored token is still
    /// valid and is reused. The lease is retried at most two windows later.
    FailedStillValid {
        /// Expiry of the stored token (Unix ms).
        expires_at_ms: u64,
        /// The failure (secrets removed).
        error: ApiError,
    },
}

/// OAuth for DATEV: connect (begin + callback), token storage, refresh.
#[derive(Debug)]
pub struct DatevAuth<'a> {
    config: &'a DatevConfig,
    keyring: &'a Keyring,
    ports: Ports<'a>,
}

impl<'a> DatevAuth<'a> {
    /// Binds configuration, keys and ports.
    pub fn new(config: &'a DatevConfig, keyring: &'a Keyring, ports: Ports<'a>) -> Self {
        Self {
            config,
            keyring,
            ports,
        }
    }

    /// Starts a connect attempt for `client`: a fresh PKCE verifier (RFC 7636 §4.1) and `state`
    /// (RFC 6749 §10.12), stored sealed under `oauth:datev:<state>` with an expiry, and the
    /// authorization URL (RFC 6749 §4.1.1, RFC 7636 §4.3; DATEV's `enableWindowsSso=true`,
    /// datev.md §5.2). One store write.
    pub fn begin_connect(
        &self,
        client: &DatevClientId,
    ) -> Result<AuthorizationRequest, ConnectError> {
        let now = self.ports.clock.now_ms();
        let verifier = CodeVerifier::generate(self.ports.rng);
        let state = OAuthState::generate(self.ports.rng);
        let expires_at_ms = now.saturating_add(self.config.attempt_ttl_ms);
        let plain = AttemptPlain {
            version: PLAINTEXT_VERSION,
            client: client.to_string(),
            code_verifier: verifier.expose().to_owned(),
            created_at_ms: now,
            expires_at_ms,
        };
        let bytes =
            serde_json::to_vec(&plain).map_err(|e| ConnectError::CorruptRecord(e.to_string()))?;
        let sealed = self
            .keyring
            .seal(self.ports.rng, &attempt_aad(&state), &bytes)?;
        self.ports
            .store
            .set(&keys::oauth_attempt(state.as_str()), &sealed.to_vec()?)?;
        let url = self.authorization_url(&state, &verifier);
        Ok(AuthorizationRequest {
            url,
            state,
            client: *client,
            expires_at_ms,
        })
    }

    fn authorization_url(&self, state: &OAuthState, verifier: &CodeVerifier) -> String {
        let oauth = &self.config.oauth;
        let scope = oauth
            .scopes
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(" ");
        let challenge = verifier.challenge_s256();
        let mut pairs: Vec<(&str, &str)> = vec![
            ("response_type", "code"),
            ("client_id", oauth.client_id.as_str()),
            ("redirect_uri", oauth.redirect_uri.as_str()),
            ("scope", &scope),
            ("state", state.as_str()),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ];
        if oauth.enable_windows_sso {
            pairs.push(("enableWindowsSso", "true"));
        }
        format!("{}?{}", self.config.endpoints.authorize, form_body(&pairs))
    }

    /// Handles the redirect back (RFC 6749 §4.1.2): looks the `state` up, consumes it exactly
    /// once (a claim), checks the expiry, maps `error=access_denied` to
    /// [`ConnectError::ConsentDenied`], exchanges the code with the verifier (RFC 7636 §4.5) and
    /// stores the tokens sealed. An unknown state costs no store write.
    pub fn complete_connect(&self, params: &CallbackParams) -> Result<Connected, ConnectError> {
        let raw_state = params
            .state
            .as_deref()
            .ok_or(ConnectError::MissingParameter("state"))?;
        let state = OAuthState::parse(raw_state).map_err(|_| ConnectError::UnknownState)?;
        let Some(bytes) = self.ports.store.get(&keys::oauth_attempt(state.as_str()))? else {
            return Err(ConnectError::UnknownState);
        };
        let sealed = SealedRecord::from_slice(&bytes)?;
        let plain = self.keyring.open(&attempt_aad(&state), &sealed)?;
        let attempt: AttemptPlain = serde_json::from_slice(&plain)
            .map_err(|e| ConnectError::CorruptRecord(format!("attempt record: {e}")))?;
        let client = DatevClientId::parse(&attempt.client)
            .map_err(|e| ConnectError::CorruptRecord(format!("attempt record: {e}")))?;
        if !self
            .ports
            .store
            .claim(&keys::oauth_state_claim(state.as_str()))?
        {
            return Err(ConnectError::StateAlreadyUsed { client });
        }
        let now = self.ports.clock.now_ms();
        if now >= attempt.expires_at_ms {
            return Err(ConnectError::AttemptExpired { client });
        }
        if let Some(error) = &params.error {
            let description = params.error_description.clone();
            return Err(if error == "access_denied" {
                ConnectError::ConsentDenied {
                    client,
                    description,
                }
            } else {
                ConnectError::AuthorizationFailed {
                    client,
                    error: error.chars().take(MAX_DESCRIPTION).collect(),
                    description,
                }
            });
        }
        let code = params
            .code
            .as_ref()
            .filter(|c| !c.is_empty())
            .ok_or(ConnectError::MissingParameter("code"))?;
        let verifier = CodeVerifier::parse(&attempt.code_verifier)
            .map_err(|e| ConnectError::CorruptRecord(format!("attempt record: {e}")))?;
        let grant = Grant::AuthorizationCode {
            code: code.expose(),
            verifier: &verifier,
        };
        let tokens = request_tokens(self.config, self.ports.http, self.ports.clock, &grant)
            .map_err(|source| ConnectError::TokenExchange { client, source })?;
        self.store_tokens(&client, &tokens).map_err(|e| match e {
            TokenError::Store(s) => ConnectError::Store(s),
            TokenError::Vault(v) => ConnectError::Vault(v),
            other => ConnectError::CorruptRecord(other.to_string()),
        })?;
        Ok(Connected {
            client,
            expires_at_ms: tokens.expires_at_ms,
            scope: tokens.scope,
        })
    }

    /// Reads the connection state (no decryption, no HTTP).
    pub fn connection_state(&self, client: &DatevClientId) -> Result<ConnectionState, TokenError> {
        Ok(match self.read_record(client)? {
            None => ConnectionState::NotConnected,
            Some(RecordState::Connected { since_ms, .. }) => {
                ConnectionState::Connected { since_ms }
            }
            Some(RecordState::NeedsReconsent { since_ms, reason }) => {
                ConnectionState::NeedsReconsent { since_ms, reason }
            }
        })
    }

    /// A usable access token for `client`, refreshing first when less than the margin is left
    /// (see [`DatevAuth::refresh_if_due`]). Returns the stored token while another instance
    /// refreshes or after a failed refresh, as long as it has not expired.
    pub fn access_token(&self, client: &DatevClientId) -> Result<AccessToken, TokenError> {
        let (tokens, _) = self.ensure(client, None)?;
        Ok(tokens.access())
    }

    /// Refreshes the token of `client` if less than the margin is left (default 120 s of 900 s,
    /// datev.md §5.4), with one refresher at a time:
    ///
    /// 1. A refresher must win the claims on two consecutive lease windows `w = now / window`
    ///    and `w + 1` (`lease:datev-refresh:<client>:<w>`). Holding two windows means two
    ///    refreshers could only overlap if a refresh took longer than a whole window; with one
    ///    window a refresh in flight at a window boundary would meet a second refresher, and
    ///    since refresh tokens rotate (datev.md §5.4) the loser would see `invalid_grant`.
    /// 2. The winner re-reads the record (the previous owner may just have stored a new pair),
    ///    refreshes (RFC 6749 §6), and stores the rotated pair **before** the new access token
    ///    is returned; a store error is returned as such (not done).
    /// 3. A loser re-reads and reuses the stored token while it is valid, else gets
    ///    [`TokenError::RefreshInProgress`].
    /// 4. `invalid_grant` marks the connection [`ConnectionState::NeedsReconsent`] (unless a
    ///    new connect replaced the grant meanwhile) and returns
    ///    [`TokenError::NeedsReconsent`] with `newly_marked = true`; later calls return it
    ///    without calling DATEV.
    pub fn refresh_if_due(&self, client: &DatevClientId) -> Result<RefreshOutcome, TokenError> {
        Ok(self.ensure(client, None)?.1)
    }

    /// After DATEV answered 401 to `rejected` (RFC 6750 §3.1 `invalid_token`; e.g. a revoked
    /// grant): refreshes now, ignoring the margin, under the same lease rules as
    /// [`DatevAuth::refresh_if_due`]. If the stored token is no longer `rejected` (someone
    /// refreshed meanwhile) it is returned as is. A dead grant thus becomes
    /// [`TokenError::NeedsReconsent`] at once instead of at the next due refresh.
    pub fn refresh_after_unauthorized(
        &self,
        client: &DatevClientId,
        rejected: &AccessToken,
    ) -> Result<AccessToken, TokenError> {
        Ok(self.ensure(client, Some(rejected.secret()))?.0.access())
    }

    fn ensure(
        &self,
        client: &DatevClientId,
        rejected: Option<&Secret>,
    ) -> Result<(TokenSet, RefreshOutcome), TokenError> {
        let now = self.ports.clock.now_ms();
        let margin = self.config.refresh_margin_ms;
        let accepted = |t: &TokenSet| rejected != Some(&t.access_token);
        let is_fresh = |t: &TokenSet| t.expires_at_ms >= now.saturating_add(margin) && accepted(t);
        let still_valid = |t: &TokenSet| now < t.expires_at_ms && accepted(t);
        let tokens = self.load_connected(client)?;
        if is_fresh(&tokens) {
            let expires_at_ms = tokens.expires_at_ms;
            return Ok((tokens, RefreshOutcome::Fresh { expires_at_ms }));
        }
        let window = now / self.config.refresh_lease_window_ms.max(1);
        let store = self.ports.store;
        let won = store.claim(&keys::refresh_lease(client, window))?
            && store.claim(&keys::refresh_lease(client, window + 1))?;
        let current = self.load_connected(client)?;
        let expires_at_ms = current.expires_at_ms;
        if is_fresh(&current) {
            // Someone refreshed between our first read and now.
            let outcome = if won {
                RefreshOutcome::Fresh { expires_at_ms }
            } else {
                RefreshOutcome::HeldByOther { expires_at_ms }
            };
            return Ok((current, outcome));
        }
        if !won {
            return if still_valid(&current) {
                Ok((current, RefreshOutcome::HeldByOther { expires_at_ms }))
            } else {
                Err(TokenError::RefreshInProgress)
            };
        }
        let grant = Grant::RefreshToken(&current.refresh_token);
        match request_tokens(self.config, self.ports.http, self.ports.clock, &grant) {
            Ok(new) => {
                self.store_tokens(client, &new)?;
                let expires_at_ms = new.expires_at_ms;
                Ok((new, RefreshOutcome::Refreshed { expires_at_ms }))
            }
            Err(e) if e.oauth_error() == Some("invalid_grant") => {
                Err(self.mark_needs_reconsent(client, &current, now)?)
            }
            Err(error) if still_valid(&current) => Ok((
                current,
                RefreshOutcome::FailedStillValid {
                    expires_at_ms,
                    error,
                },
            )),
            Err(e) => Err(TokenError::Refresh(e)),
        }
    }

    /// Marks the connection as needing re-consent, unless the stored grant changed since
    /// `used` was read (a new connect raced the failing refresh). Returns the error to hand out.
    fn mark_needs_reconsent(
        &self,
        client: &DatevClientId,
        used: &TokenSet,
        now: u64,
    ) -> Result<TokenError, TokenError> {
        match self.read_record(client)? {
            Some(RecordState::NeedsReconsent { since_ms, .. }) => {
                return Ok(TokenError::NeedsReconsent {
                    since_ms,
                    newly_marked: false,
                });
            }
            Some(RecordState::Connected { tokens, .. }) => {
                let stored = self.open_tokens(client, &tokens)?;
                if stored.refresh_token != used.refresh_token {
                    // A new grant replaced the dead one: nothing to mark.
                    return Ok(TokenError::RefreshInProgress);
                }
            }
            None => return Ok(TokenError::NotConnected),
        }
        let record = ConnectionRecord {
            version: CONNECTION_RECORD_VERSION,
            state: RecordState::NeedsReconsent {
                since_ms: now,
                reason: "invalid_grant".into(),
            },
        };
        let bytes =
            serde_json::to_vec(&record).map_err(|e| TokenError::CorruptRecord(e.to_string()))?;
        self.ports.store.set(&keys::token(client), &bytes)?;
        Ok(TokenError::NeedsReconsent {
            since_ms: now,
            newly_marked: true,
        })
    }

    fn read_record(&self, client: &DatevClientId) -> Result<Option<RecordState>, TokenError> {
        let Some(bytes) = self.ports.store.get(&keys::token(client))? else {
            return Ok(None);
        };
        let record: ConnectionRecord = serde_json::from_slice(&bytes)
            .map_err(|e| TokenError::CorruptRecord(format!("connection record: {e}")))?;
        if record.version != CONNECTION_RECORD_VERSION {
            return Err(TokenError::CorruptRecord(format!(
                "connection record version {} is not supported",
                record.version
            )));
        }
        Ok(Some(record.state))
    }

    fn load_connected(&self, client: &DatevClientId) -> Result<TokenSet, TokenError> {
        match self.read_record(client)? {
            None => Err(TokenError::NotConnected),
            Some(RecordState::NeedsReconsent { since_ms, .. }) => Err(TokenError::NeedsReconsent {
                since_ms,
                newly_marked: false,
            }),
            Some(RecordState::Connected { tokens, .. }) => self.open_tokens(client, &tokens),
        }
    }

    fn open_tokens(
        &self,
        client: &DatevClientId,
        sealed: &SealedRecord,
    ) -> Result<TokenSet, TokenError> {
        let plain = self.keyring.open(&token_aad(client), sealed)?;
        let p: TokenPlain = serde_json::from_slice(&plain)
            .map_err(|e| TokenError::CorruptRecord(format!("token plaintext: {e}")))?;
        if p.version != PLAINTEXT_VERSION {
            return Err(TokenError::CorruptRecord(format!(
                "token plaintext version {} is not supported",
                p.version
            )));
        }
        Ok(TokenSet {
            access_token: Secret::new(p.access_token),
            refresh_token: Secret::new(p.refresh_token),
            expires_at_ms: p.expires_at_ms,
            obtained_at_ms: p.obtained_at_ms,
            scope: p.scope,
        })
    }

    /// Seals `tokens` under the current key, bound to `client`, and writes the connection
    /// record (one store write).
    fn store_tokens(&self, client: &DatevClientId, tokens: &TokenSet) -> Result<(), TokenError> {
        let plain = TokenPlain {
            version: PLAINTEXT_VERSION,
            access_token: tokens.access_token.expose().to_owned(),
            refresh_token: tokens.refresh_token.expose().to_owned(),
            expires_at_ms: tokens.expires_at_ms,
            obtained_at_ms: tokens.obtained_at_ms,
            scope: tokens.scope.clone(),
        };
        let bytes =
            serde_json::to_vec(&plain).map_err(|e| TokenError::CorruptRecord(e.to_string()))?;
        let sealed = self
            .keyring
            .seal(self.ports.rng, &token_aad(client), &bytes)?;
        let record = ConnectionRecord {
            version: CONNECTION_RECORD_VERSION,
            state: RecordState::Connected {
                since_ms: tokens.obtained_at_ms,
                tokens: sealed,
            },
        };
        let bytes =
            serde_json::to_vec(&record).map_err(|e| TokenError::CorruptRecord(e.to_string()))?;
        self.ports.store.set(&keys::token(client), &bytes)?;
        Ok(())
    }
}
