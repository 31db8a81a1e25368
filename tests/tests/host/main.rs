//! Every host and component test of the embedded Spin test host, in ONE test binary.
//!
//! Each former `tests/tests/<name>.rs` is the module `<name>` here, so a test is addressed as
//! `cargo test -p integration-tests --test host <name>::` (e.g. `webhook_component::`). One
//! binary instead of seventeen because each of them linked all of wasmtime (~127 MB per binary,
//! the larger part of the CI test build), and because the tests of all modules now share the
//! in-process cache of compiled components.

mod datev_common;
mod host_support;

mod admin_component;
mod api_component;
mod e2e_approval;
mod e2e_failure_alerts;
mod extf_component;
mod host_cron;
mod host_http;
mod host_kv;
mod host_manifest;
mod host_outbound;
mod host_variables;
mod poller_component;
mod sandbox_component;
mod sender_component;
mod signature_component;
mod webhook_component;
