//! Host-independent domain of ml-connector.
//!
//! Everything here talks to the outside world only through the [`ports`] traits, so the same code
//! runs inside a Spin component (where the glue implements the ports over Spin's imports) and in
//! native tests (where [`memory`] and fixed clocks stand in). See `ARCHITECTURE.md`, "Ports, not
//! globals".

pub mod approval;
pub mod audit;
pub mod batch;
pub mod client_config;
pub mod form;
pub mod inbound;
pub mod job;
pub mod keys;
pub mod memory;
pub mod outbox;
pub mod ports;
pub mod schedule;
pub mod secret;
pub mod time;
pub mod webhook;

pub use ports::{
    Clock, HttpClient, HttpError, HttpRequest, HttpResponse, KeyValue, Method, Rng, StoreError,
};
pub use secret::Secret;
