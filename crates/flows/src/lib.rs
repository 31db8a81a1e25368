//! ml-connector's application flows, host-independent (`ARCHITECTURE.md` flows 1, 3 and 4):
//!
//! - [`api`]: the `api` component's routes — DATEV connect (OAuth2 PKCE), batch intake validated
//!   through the `extf` component ([`extf_port`]), batch status, client configuration.
//! - [`poller`]: one tick of the `datev-poller` cron component — lease, token refresh,
//!   submissions, job polling with backoff, results into the outbox.
//!
//! The components only convert Spin's types and supply the ports (`spin-glue`); everything here
//! is tested natively against the simulator (`crates/sim`) with the in-memory ports.

#![warn(missing_docs)]

pub mod alerts;
pub mod api;
pub mod config;
pub mod credentials;
pub mod extf_port;
pub mod poller;
pub mod registry;
pub mod releases;

pub use api::{Api, ApiRequest, ApiSettings, Body};
pub use config::{ConfigError, DatevSetup};
pub use poller::{Poller, PollerConfig, TickError, TickReport};
