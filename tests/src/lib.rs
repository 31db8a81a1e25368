//! Embedded Spin test host: runs the real built `.wasm` components of a Spin app in wasmtime
//! 48.0.8, in-process, with the imports Spin 3.6.3 gives them, so component tests need no Spin
//! install, no ports and no network.
//!
//! ```no_run
//! use connector::{HttpRequest, Method};
//! use integration_tests::SpinApp;
//!
//! let mut app = SpinApp::workspace()?; // /work/main/spin.toml
//! app.set_variable("public_base_url", "https://example.test");
//! let resp = app.http(HttpRequest::new(Method::Post, "http://127.0.0.1:3000/twilio/status"))?;
//! assert_eq!(resp.status, 403);
//! assert!(app.kv("default").keys().iter().any(|k| k.starts_with("audit:")));
//! # Ok::<(), anyhow::Error>(())
//! ```
//!
//! # What is imitated (spin.md §12 "Behaviour to imitate")
//!
//! - **Manifest** ([`manifest`]): `spin.toml` v2 with unknown keys rejected, component ids,
//!   variable names and templates, store labels, `allowed_outbound_hosts` grammar, dependency
//!   keys and sources, http/cron triggers. Relative paths are relative to the manifest.
//! - **A fresh instance per HTTP request and per cron tick**. Compiled components are cached in
//!   memory for the process (keyed by path, size and mtime of the component and its
//!   dependencies) and on disk in `target/<profile>/test-host-cache` (keyed by SHA-256 of the
//!   composed bytes and wasmtime's engine hash; `TEST_HOST_NO_DISK_CACHE=1` disables it).
//! - **Dependencies** are composed with wac-graph 0.12 before instantiation, as `spin-compose`
//!   does: each `[component.<id>.dependencies]` key must match an import (exact
//!   `ns:pkg/iface@ver`, any version, whole package, or plain name), `{ component = "<id>" }`
//!   and `{ path = "…" }` sources, optional `export`; all of the main component's exports are
//!   re-exported.
//! - **HTTP trigger**: routing (exact, `:name`, trailing `/...`, best match wins, private routes
//!   only by chaining), Spin's `spin-*` headers appended after the client's, `404` when nothing
//!   matches, the export `wasi:http/incoming-handler`. The guest's URI is the URL's scheme plus
//!   the `Host` header; `Host` itself (like every forbidden header) never reaches the guest —
//!   wasmtime-wasi-http strips it, which also reorders the header map (values of one name keep
//!   their order).
//! - **Cron trigger**: `handle-cron-event` of `fermyon:spin-cron@2.0.0` with `{timestamp}`.
//! - **Outbound HTTP**: `allowed_outbound_hosts` (denied → `HttpRequestDenied`, the request
//!   never reaches the client), `Host` stripped, service chaining (`http://<id>.spin.internal`)
//!   and `self` requests (relative URLs, `self.alt`) routed in-process — from HTTP-triggered
//!   instances only; from cron a relative URL fails with `HttpRequestUriInvalid` and
//!   `*.spin.internal` with a DNS error, as in Spin. Everything else that is allowed goes to the
//!   [`SpinApp::set_outbound`] client.
//! - **Key-value**: one [`HostStore`] per label shared by all components, reachable through both
//!   `fermyon:spin/key-value@2.0.0` and `wasi:keyvalue@0.2.0-draft2`; `access-denied` for labels
//!   not in `key_value_stores`; `increment` and CAS exactly as Spin's SQLite or Redis backend
//!   ([`KvBackend`], spin.md §4.3).
//! - **Variables**: `fermyon:spin/variables@2.0.0` and `wasi:config/store`: only the component's
//!   own `variables`, templates over application variables, defaults, `required`, overrides via
//!   [`SpinApp::set_variable`]; `undefined` for undeclared names.
//! - **Logs**: guest stdout/stderr are captured per instance ([`SpinApp::logs`]).
//!
//! # Where real Spin differs (known)
//!
//! - Spin plugs a `deny-all` adapter into dependencies (`dependencies_inherit_configuration =
//!   false`); this host does not have that binary, so a dependency gets the main component's
//!   permissions. Library components that import nothing are unaffected.
//! - Only the `default` store exists (no runtime config); Redis mode does not merge labels.
//! - `SPIN_VARIABLE_*` process environment, `.env` and vault providers are not read: tests set
//!   values explicitly. Required variables are checked when an instance is created (Spin checks
//!   them at startup).
//! - A trap in the top-level guest is returned as `Err` (Spin would answer 500); a trap in a
//!   chained or `self`-requested component becomes a 500 for its caller, as in Spin.
//! - The outbound client is a [`connector::HttpClient`]: only GET/POST/PUT/DELETE pass
//!   (others fail with `HttpRequestMethodInvalid`), bodies are buffered, and its errors map to
//!   wasi-http codes (`Denied` → `HttpRequestDenied`, `Connect` → `ConnectionRefused`,
//!   `Timeout` → `ConnectionReadTimeout`, `Transport` → `ConnectionTerminated`).
//! - No `files`, `sqlite_databases`, `ai_models`, url/registry sources or dependencies, inline
//!   trigger components, or trigger types other than http and cron: the manifest loader rejects
//!   them with a message saying so. Imports beyond the ones listed above fail at instantiation.
//! - `spin-client-addr` is the fixed [`CLIENT_ADDR`]; `self` requests go to [`SELF_ORIGIN`].
//!   The scheme of [`SpinApp::http`]'s URL stands for the listener's scheme.
//! - Cron expressions are checked for shape (6–7 fields) only; nothing is scheduled — tests call
//!   [`SpinApp::cron`].
//! - Outbound requests to Spin's own listener address (`http://127.0.0.1:3000/...`) are ordinary
//!   outbound requests here and go to the [`SpinApp::set_outbound`] client; under `spin up` they
//!   would reach the app's HTTP trigger over the network. A test that wants that loop answers
//!   them in its client.
//! - From cron, an allowed `*.spin.internal` URL fails at once with `DnsError(NXDOMAIN)` (Spin
//!   asks real DNS, which fails the same way); chaining to a component without an HTTP trigger
//!   fails with `DestinationNotFound`.
//! - An `increment` beyond `i64` is an error on both backends (Spin's SQLite host would wrap).

mod allowed_hosts;
mod bindings;
mod compose;
mod host;
mod kv;
pub mod manifest;
mod names;
mod router;

use std::future::Future;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, anyhow};
use http::{HeaderName, HeaderValue};

use connector::{HttpClient, HttpRequest, HttpResponse};

pub use compose::component_imports;
pub use host::{CLIENT_ADDR, SELF_ORIGIN};
pub use kv::{HostStore, KvBackend};
pub use manifest::Manifest;
pub use names::Template;

use host::{AppInner, Incoming};

/// A Spin application loaded from its manifest, ready to receive HTTP requests and cron ticks.
///
/// Every call instantiates a fresh instance (as Spin does); state lives only in the key-value
/// stores, which all components of the app share. Calls block on an internal tokio runtime and
/// may be made from any thread (also from inside another tokio runtime).
pub struct SpinApp {
    inner: Arc<AppInner>,
    runtime: tokio::runtime::Runtime,
}

impl std::fmt::Debug for SpinApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpinApp")
            .field("manifest", &self.inner.manifest.path)
            .finish()
    }
}

impl SpinApp {
    /// Loads the workspace's `spin.toml` (the directory above this crate).
    pub fn workspace() -> anyhow::Result<SpinApp> {
        Self::load(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("..")
                .join("spin.toml"),
        )
    }

    /// Loads and validates a manifest. Fails on a manifest Spin would reject (and on features
    /// the test host does not support, saying so). Components are compiled lazily, on first use
    /// or [`SpinApp::prepare`].
    pub fn load(manifest_path: impl AsRef<Path>) -> anyhow::Result<SpinApp> {
        let manifest = Manifest::load(manifest_path.as_ref())?;
        let inner = Arc::new(AppInner::new(manifest)?);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("starting the test host's tokio runtime")?;
        Ok(SpinApp { inner, runtime })
    }

    /// The loaded manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.inner.manifest
    }

    /// Sets an application variable, like `SPIN_VARIABLE_<NAME>` or `spin up --variable`.
    /// A name the manifest does not declare is ignored, as Spin ignores such providers' values
    /// (a line in [`SpinApp::logs`] says so).
    pub fn set_variable(&mut self, name: &str, value: &str) {
        if !self.inner.manifest.variables.contains_key(name) {
            self.inner.log(format!(
                "[test-host] set_variable({name:?}): not an application variable of {}; ignored",
                self.inner.manifest.path.display()
            ));
        }
        self.inner
            .variables
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name.to_owned(), value.to_owned());
    }

    /// Where allowed outbound HTTP goes (everything but service chaining and `self`). Without a
    /// client, allowed requests fail with `ConnectionRefused`.
    pub fn set_outbound(&mut self, client: Arc<dyn HttpClient + Send + Sync>) {
        *self
            .inner
            .outbound
            .write()
            .unwrap_or_else(|p| p.into_inner()) = Some(client);
    }

    /// The store with this label, shared by every component (and by the test).
    pub fn kv(&self, label: &str) -> Arc<HostStore> {
        self.inner.store(label)
    }

    /// Which backend's `increment`/CAS semantics all stores imitate (default
    /// [`KvBackend::Sqlite`]). Set it before storing counters: existing values are not
    /// converted between the two counter encodings.
    pub fn set_kv_backend(&mut self, backend: KvBackend) {
        self.inner.backend.set(backend);
    }

    /// Compiles (and composes) a component without running it: fails if its `.wasm` is missing
    /// (naming the build command), a dependency matches no import, an export has the wrong
    /// type, or it imports something the host does not provide.
    pub fn prepare(&self, component_id: &str) -> anyhow::Result<()> {
        self.inner.prepare(component_id).map(|_| ())
    }

    /// Sends one request to the HTTP trigger. `req.url` is absolute
    /// (`http://127.0.0.1:3000/twilio/status?x=1`); its authority becomes the `Host` header
    /// unless `req` has one. No matching route → `404` with an empty body, as Spin.
    /// `Err` when the guest trapped, answered with an error, or never answered.
    pub fn http(&self, req: HttpRequest) -> anyhow::Result<HttpResponse> {
        let uri: http::Uri = req
            .url
            .parse()
            .with_context(|| format!("req.url {:?} is not a valid URL", req.url))?;
        let (Some(_), Some(authority)) = (uri.scheme(), uri.authority()) else {
            return Err(anyhow!(
                "req.url {:?} must be absolute (scheme://host/path)",
                req.url
            ));
        };
        let mut headers = Vec::new();
        let host = match req
            .headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("host"))
        {
            Some((_, h)) => h.clone(),
            None => {
                headers.push((
                    http::header::HOST,
                    HeaderValue::from_str(authority.as_str())?,
                ));
                authority.to_string()
            }
        };
        // Spin builds the guest's URI from its listener scheme and the Host header.
        let path_and_query = uri.path_and_query().map_or("/", |p| p.as_str());
        let scheme = uri.scheme_str().unwrap_or("http");
        let uri: http::Uri = format!("{scheme}://{host}{path_and_query}")
            .parse()
            .with_context(|| format!("Host header {host:?} is not a valid authority"))?;
        for (name, value) in &req.headers {
            let n = HeaderName::from_bytes(name.as_bytes())
                .with_context(|| format!("request header name {name:?}"))?;
            let v = HeaderValue::from_str(value)
                .with_context(|| format!("request header {name:?} value"))?;
            headers.push((n, v));
        }
        let method = http::Method::from_bytes(req.method.as_str().as_bytes())?;
        let incoming = Incoming {
            method,
            uri,
            headers,
            body: req.body.into(),
            client_addr: CLIENT_ADDR.into(),
        };
        let inner = self.inner.clone();
        let response = self.block_on(inner.handle_incoming(incoming))??;
        let mut headers = Vec::new();
        for (name, value) in response.headers() {
            let value = value
                .to_str()
                .with_context(|| format!("response header {name} is not UTF-8"))?;
            headers.push((name.as_str().to_owned(), value.to_owned()));
        }
        Ok(HttpResponse {
            status: response.status().as_u16(),
            headers,
            body: response.into_body().to_vec(),
        })
    }

    /// Runs one cron tick of `component_id` (which needs a `[[trigger.cron]]` entry): calls
    /// `handle-cron-event` with `{ timestamp }` (Unix seconds). `Ok(Err(msg))` when the guest
    /// returned `error::other(msg)`; `Err` on a trap.
    pub fn cron(&self, component_id: &str, timestamp: u64) -> anyhow::Result<Result<(), String>> {
        let inner = self.inner.clone();
        let id = component_id.to_owned();
        self.block_on(async move { inner.run_cron(&id, timestamp).await })?
    }

    /// Everything guests printed (`[<component> stdout] line`, `[<component> stderr] line`) and
    /// the host's own notes (`[test-host] …`: compile times, denied requests), in order.
    pub fn logs(&self) -> Vec<String> {
        self.inner.logs()
    }

    fn block_on<F>(&self, future: F) -> anyhow::Result<F::Output>
    where
        F: Future + Send,
        F::Output: Send,
    {
        if tokio::runtime::Handle::try_current().is_err() {
            return Ok(self.runtime.block_on(future));
        }
        // Called from inside another runtime (an async test, or an outbound client that calls
        // back into the app): blocking this thread there is not allowed, so drive the call on
        // a helper thread.
        std::thread::scope(|s| {
            s.spawn(|| self.runtime.block_on(future))
                .join()
                .map_err(|_| anyhow!("the test host's worker thread panicked"))
        })
    }
}
