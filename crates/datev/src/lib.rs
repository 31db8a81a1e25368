//! DATEV online API client for ml-connector (host-independent; HTTP, storage, time and
//! randomness only through the `connector` ports).
//!
//! - [`DatevAuth`]: connect a DATEV client with OAuth2 Authorization Code + PKCE S256
//!   (RFC 6749 §4.1, RFC 7636), store the tokens sealed with XChaCha20-Poly1305 ([`Keyring`]),
//!   refresh before expiry with one refresher at a time (RFC 6749 §6; rotating refresh tokens,
//!   datev.md §5.4), mark `invalid_grant` as [`ConnectionState::NeedsReconsent`].
//! - [`DatevApi`]: `importExtfFile` and `getJob` (extf-files 3.0.1), `getClients`
//!   (accounting-clients 2.0), DXSO job create / upload / start / status / protocol / delete
//!   (dxso-jobs 2.1.7), each with `Authorization: Bearer` and `X-DATEV-Client-Id` (datev.md §3).
//! - [`ApiError`]: one error type keeping DATEV's error body (secrets removed), `Retry-After`
//!   and a [`Retryability`].
//! - [`backoff`]: when to poll a job next (exponential, full jitter, cap, `Retry-After`,
//!   deadline → stuck).
//!
//! Facts and their sources: `shared/reference/datev.md` §3–§7 and the OpenAPI files in
//! `shared/reference/samples/openapi/`.

#![warn(missing_docs)]

mod api;
mod auth;
pub mod backoff;
mod config;
mod error;
mod ids;
pub mod keys;
mod pkce;
mod token;
mod vault;

pub use api::{
    Client, ClientService, ClientsPage, ClientsQuery, DXSO_MAX_BYTES, DatevApi, DxsoFile,
    DxsoImportType, DxsoJobCreated, DxsoJobParams, DxsoJobState, DxsoJobStatus, EXTF_MAX_BYTES,
    ExtfImportAccepted, ExtfJob, ExtfJobResult, ExtfJobsPage, ExtfUpload, JobProgress,
    ProtocolEntry, ValidationDetails,
};
pub use auth::{
    AuthorizationRequest, CONNECTION_RECORD_VERSION, CallbackParams, ConnectError, Connected,
    ConnectionState, DatevAuth, Ports, RefreshOutcome, TokenError,
};
pub use config::{
    ClientAuthStyle, ClientCredentials, DatevConfig, Endpoints, Environment, OAuthConfig,
    RedirectUri, check_base_url,
};
pub use error::{
    AffectedElement, ApiError, DatevErrorBody, ErrorMessage, GatewayError, MAX_TEXT_BODY,
    Operation, ProblemDetails, Retryability, parse_retry_after,
};
pub use ids::{
    AccountingMonth, DatevClientId, DxsoFilename, DxsoJobId, ExtfFilename, ExtfJobId, HeaderText,
    InvalidInput, OAuthClientId, Scope,
};
pub use pkce::{CodeChallenge, CodeVerifier, OAuthState};
pub use token::{AccessToken, TokenSet};
pub use vault::{KeyId, Keyring, SEALED_RECORD_VERSION, SealedRecord, TokenKey, VaultError};
