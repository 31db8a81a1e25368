//! The runtime: wasmtime engine and linker, compiled-component cache, per-instance state, the
//! HTTP and cron entry points, and the outbound HTTP policy.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::{Instant, SystemTime};

use anyhow::{Context, anyhow, bail};
use bytes::Bytes;
use http::header::HOST;
use http::{HeaderName, HeaderValue};
use http_body_util::{BodyExt, Full};
use wasmtime::component::{Component, InstancePre, Linker, Resource, ResourceTable};
use wasmtime::{Config, Engine, Store};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::bindings::http::outgoing_handler;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::types::{HostFutureIncomingResponse, HostOutgoingRequest};
use wasmtime_wasi_http::p2::{HttpError, HttpResult};
use wasmtime_wasi_http::{
    Error as HttpHostError, RequestOptions, WasiBody, WasiHttp, WasiHttpCtx, WasiHttpCtxView,
    WasiHttpHooks, WasiHttpView,
};

use connector::HttpClient;

use crate::allowed_hosts::AllowedHosts;
use crate::bindings::{self, VariableLookup};
use crate::compose::{self, LoadedDependency};
use crate::kv::{BackendCell, HostStore};
use crate::manifest::{Component as ManifestComponent, DependencySource, Manifest};
use crate::names::check_variable_name;
use crate::router::{RouteMatch, Router};

/// The peer address the test host reports in `spin-client-addr` for requests sent with
/// [`crate::SpinApp::http`] and for `self` requests (Spin reports the real peer).
pub const CLIENT_ADDR: &str = "127.0.0.1:54321";
/// Where Spin's own listener is (`spin up` default `--listen`): the authority of `self` requests.
pub const SELF_ORIGIN: &str = "127.0.0.1:3000";
/// `spin-client-addr` of service-chained requests (`CHAINED_CLIENT_ADDR` in Spin).
const CHAINED_CLIENT_ADDR: &str = "0.0.0.0:0";
/// Limit of each captured stdout/stderr of one instance (the buffer grows as needed; a guest
/// writing more than this traps on the write).
const LOG_CAPACITY: usize = 64 << 20;

// ---- engine, linker, compiled components ------------------------------------------------------

pub(crate) fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        // Component model and async support are on by default in wasmtime 48; the default
        // `Config` is valid, so `Engine::new` cannot fail here.
        Engine::new(&Config::new()).unwrap_or_else(|e| panic!("wasmtime engine: {e}"))
    })
}

fn linker() -> anyhow::Result<&'static Linker<HostState>> {
    static LINKER: OnceLock<Result<Linker<HostState>, String>> = OnceLock::new();
    LINKER
        .get_or_init(|| build_linker().map_err(|e| format!("{e:#}")))
        .as_ref()
        .map_err(|e| anyhow!("building the test host's linker: {e}"))
}

fn build_linker() -> anyhow::Result<Linker<HostState>> {
    let mut linker = Linker::new(engine());
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    // `wasmtime_wasi_http::p2::add_only_http_to_linker_async` minus its outgoing-handler: ours
    // (below) wraps it to keep relative URLs alive until `send_request`.
    wasmtime_wasi_http::p2::bindings::http::types::add_to_linker::<_, WasiHttp>(
        &mut linker,
        &Default::default(),
        <HostState as WasiHttpView>::http,
    )?;
    linker.instance(OUTGOING_HANDLER)?.func_wrap(
        "handle",
        |mut store, (request, options): OutgoingArgs| {
            let state: &mut HostState = store.data_mut();
            match state.handle_outgoing(request, options) {
                Ok(response) => Ok((Ok(response),)),
                Err(e) => Ok((Err(e.downcast()?),)),
            }
        },
    )?;
    bindings::add_to_linker(&mut linker)?;
    Ok(linker)
}

/// wasmtime-wasi-http 48's WIT version of `wasi:http`; guests importing any 0.2.x match it.
const OUTGOING_HANDLER: &str = "wasi:http/outgoing-handler@0.2.12";

type OutgoingArgs = (
    Resource<HostOutgoingRequest>,
    Option<Resource<wasmtime_wasi_http::RequestOptions>>,
);

/// A compiled (and composed) component, ready to instantiate.
pub(crate) struct Prepared {
    pub(crate) pre: InstancePre<HostState>,
    origin: Origin,
}

type CacheSlot = Arc<OnceLock<Result<Arc<Prepared>, String>>>;
/// Path, size, mtime and role (dependency name and export) of every input of a composition.
type CacheKey = Vec<(PathBuf, u64, SystemTime, String)>;

/// Compiled components by their inputs (paths, sizes and mtimes of the component and its
/// dependencies), for the whole test process: cranelift takes seconds on a composed component.
fn cache() -> &'static Mutex<HashMap<CacheKey, CacheSlot>> {
    static CACHE: OnceLock<Mutex<HashMap<CacheKey, CacheSlot>>> = OnceLock::new();
    CACHE.get_or_init(Mutex::default)
}

fn stat(path: &Path, missing: impl FnOnce() -> String) -> anyhow::Result<(u64, SystemTime)> {
    let meta = std::fs::metadata(path)
        .map_err(|e| anyhow!("{} not found ({e}); {}", path.display(), missing()))?;
    Ok((meta.len(), meta.modified()?))
}

// ---- the app as the runtime sees it -----------------------------------------------------------

/// Shared state of one [`crate::SpinApp`]; instances reach it through their [`HostState`].
pub(crate) struct AppInner {
    pub(crate) manifest: Manifest,
    pub(crate) router: Router,
    pub(crate) variables: RwLock<BTreeMap<String, String>>,
    pub(crate) outbound: RwLock<Option<Arc<dyn HttpClient + Send + Sync>>>,
    pub(crate) backend: Arc<BackendCell>,
    stores: Mutex<BTreeMap<String, Arc<HostStore>>>,
    logs: Mutex<Vec<String>>,
}

/// An incoming HTTP request as the trigger sees it.
pub(crate) struct Incoming {
    pub(crate) method: http::Method,
    /// Absolute: scheme and authority are what the guest's `incoming-request` reports.
    pub(crate) uri: http::Uri,
    /// Client headers in order (including `host`).
    pub(crate) headers: Vec<(HeaderName, HeaderValue)>,
    pub(crate) body: Bytes,
    pub(crate) client_addr: String,
}

/// Which trigger instantiated a component: only HTTP-triggered instances get service chaining
/// and `self` requests (spin.md §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Trigger {
    Http,
    Cron,
}

impl AppInner {
    pub(crate) fn new(manifest: Manifest) -> anyhow::Result<AppInner> {
        let router = Router::new(&manifest.http_triggers).map_err(|e| anyhow!("{e}"))?;
        Ok(AppInner {
            manifest,
            router,
            variables: RwLock::default(),
            outbound: RwLock::default(),
            backend: Arc::default(),
            stores: Mutex::default(),
            logs: Mutex::default(),
        })
    }

    pub(crate) fn store(&self, label: &str) -> Arc<HostStore> {
        let mut stores = self.stores.lock().unwrap_or_else(|p| p.into_inner());
        stores
            .entry(label.to_owned())
            .or_insert_with(|| Arc::new(HostStore::new(label, self.backend.clone())))
            .clone()
    }

    pub(crate) fn log(&self, line: String) {
        self.logs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(line);
    }

    pub(crate) fn logs(&self) -> Vec<String> {
        self.logs.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Compiles (and composes) a component once per process.
    pub(crate) fn prepare(&self, component_id: &str) -> anyhow::Result<Arc<Prepared>> {
        let component = self.manifest.component(component_id)?;
        let mut key = Vec::new();
        let (len, mtime) = stat(&component.source, || component.build_hint())?;
        key.push((component.source.clone(), len, mtime, String::new()));
        let mut deps = Vec::new();
        for dep in &component.dependencies {
            let path = match &dep.source {
                DependencySource::Path(p) => {
                    let (len, mtime) = stat(p, || {
                        format!(
                            "dependency '{}' of component {component_id:?} ({{ path = ... }})",
                            dep.name
                        )
                    })?;
                    key.push((
                        p.clone(),
                        len,
                        mtime,
                        format!("{}>{:?}", dep.name, dep.export),
                    ));
                    p.clone()
                }
                DependencySource::Component(target) => {
                    let target = self.manifest.component(target)?;
                    let (len, mtime) = stat(&target.source, || {
                        format!(
                            "dependency '{}' of {component_id:?}: {}",
                            dep.name,
                            target.build_hint()
                        )
                    })?;
                    key.push((
                        target.source.clone(),
                        len,
                        mtime,
                        format!("{}>{:?}", dep.name, dep.export),
                    ));
                    target.source.clone()
                }
            };
            deps.push((dep, path));
        }

        let slot = {
            let mut cache = cache().lock().unwrap_or_else(|p| p.into_inner());
            cache.entry(key).or_default().clone()
        };
        let mut compiled_now = None;
        let prepared = slot.get_or_init(|| {
            let started = Instant::now();
            let result = compile(component, &deps).map_err(|e| format!("{e:#}"));
            compiled_now = Some(started.elapsed());
            result
        });
        if let (Some(took), Ok(p)) = (compiled_now, prepared) {
            let how = match p.origin {
                Origin::Compiled => "compiled",
                Origin::DiskCache => "loaded from the compile cache",
            };
            self.log(format!(
                "[test-host] component {component_id:?} {how} in {:.2}s",
                took.as_secs_f64()
            ));
        }
        prepared.clone().map_err(|e| anyhow!("{e}"))
    }

    fn instance_values(&self) -> anyhow::Result<BTreeMap<String, String>> {
        let overrides = self.variables.read().unwrap_or_else(|p| p.into_inner());
        let mut values = BTreeMap::new();
        for (name, var) in &self.manifest.variables {
            match overrides.get(name).or(var.default.as_ref()) {
                Some(v) => {
                    values.insert(name.clone(), v.clone());
                }
                None => bail!(
                    "application variable {name:?} is required and has no value (Spin refuses to \
                     start); call SpinApp::set_variable({name:?}, …)"
                ),
            }
        }
        Ok(values)
    }

    /// Per-instance configuration, resolved now (Spin resolves variables on each `get`; nothing
    /// can change them while one call runs here).
    fn instance_config(&self, component: &ManifestComponent) -> anyhow::Result<InstanceConfig> {
        let values = self.instance_values()?;
        let mut variables = BTreeMap::new();
        for (name, template) in &component.variables {
            let v = template.resolve(&values).map_err(|missing| {
                anyhow!(
                    "variable {name:?} of {:?}: no value for {missing:?}",
                    component.id
                )
            })?;
            variables.insert(name.clone(), v);
        }
        let mut hosts = Vec::new();
        for entry in &component.allowed_outbound_hosts {
            hosts.push(entry.resolve(&values).map_err(|missing| {
                anyhow!(
                    "allowed_outbound_hosts of {:?}: no value for {missing:?}",
                    component.id
                )
            })?);
        }
        let allowed = AllowedHosts::parse(&hosts)
            .map_err(|e| anyhow!("allowed_outbound_hosts of {:?}: {e}", component.id))?;
        Ok(InstanceConfig {
            id: component.id.clone(),
            key_value_stores: component.key_value_stores.clone(),
            variables,
            environment: component.environment.clone(),
            allowed,
        })
    }

    fn new_store(
        self: &Arc<Self>,
        component_id: &str,
        trigger: Trigger,
    ) -> anyhow::Result<(Store<HostState>, InstanceLogs)> {
        let component = self.manifest.component(component_id)?;
        let config = self.instance_config(component)?;
        let logs = InstanceLogs {
            component: component_id.to_owned(),
            stdout: MemoryOutputPipe::new(LOG_CAPACITY),
            stderr: MemoryOutputPipe::new(LOG_CAPACITY),
        };
        let env: Vec<(&String, &String)> = config.environment.iter().collect();
        let wasi = WasiCtxBuilder::new()
            .stdout(logs.stdout.clone())
            .stderr(logs.stderr.clone())
            .envs(&env)
            .build();
        let hooks = Hooks {
            app: self.clone(),
            component: component_id.to_owned(),
            allowed: config.allowed.clone(),
            trigger,
        };
        let state = HostState {
            app: self.clone(),
            component: Arc::new(config),
            table: ResourceTable::new(),
            wasi,
            http: WasiHttpCtx::new(),
            hooks,
        };
        Ok((Store::new(engine(), state), logs))
    }

    /// Routes and serves one request as Spin's HTTP trigger does; `Ok(404)` when no route
    /// matches. `Err` when the guest trapped or never answered.
    pub(crate) async fn handle_incoming(
        self: Arc<Self>,
        req: Incoming,
    ) -> anyhow::Result<http::Response<Bytes>> {
        let Some(route) = self.router.route(req.uri.path()) else {
            return Ok(http::Response::builder().status(404).body(Bytes::new())?);
        };
        let host = req
            .headers
            .iter()
            .find(|(n, _)| *n == HOST)
            .map(|(_, v)| v.to_str().map(str::to_owned))
            .transpose()?;
        let client_addr = req.client_addr.clone();
        self.run_http(route, req, host, &client_addr).await
    }

    /// Runs component `route.component` on `req` with Spin's headers appended.
    async fn run_http(
        self: Arc<Self>,
        route: RouteMatch,
        req: Incoming,
        host_header: Option<String>,
        client_addr: &str,
    ) -> anyhow::Result<http::Response<Bytes>> {
        let component_id = route.component.clone();
        let prepared = self.prepare(&component_id)?;
        let proxy_pre = ProxyPre::new(prepared.pre.clone())
            .map_err(anyhow::Error::from)
            .with_context(|| {
                format!("component {component_id:?} does not export wasi:http/incoming-handler")
            })?;
        let (mut store, logs) = self.new_store(&component_id, Trigger::Http)?;

        let path_and_query = req.uri.path_and_query().map_or("/", |p| p.as_str());
        let full_url = format!(
            "{}://{}{path_and_query}",
            req.uri.scheme_str().unwrap_or("http"),
            host_header.as_deref().unwrap_or("localhost")
        );
        let scheme = if req.uri.scheme() == Some(&http::uri::Scheme::HTTPS) {
            Scheme::Https
        } else {
            Scheme::Http
        };
        let mut builder = http::Request::builder()
            .method(req.method)
            .uri(req.uri.clone());
        let headers = builder
            .headers_mut()
            .ok_or_else(|| anyhow!("invalid request"))?;
        for (name, value) in req.headers {
            headers.append(name, value);
        }
        // Spin keeps the client's headers and appends its own (spin.md §8).
        for (name, value) in route.spin_headers(&full_url, client_addr) {
            headers.append(
                HeaderName::from_bytes(name.as_bytes())?,
                HeaderValue::from_str(&value)?,
            );
        }
        let request = builder.body(Full::new(req.body))?;

        let wasi_req = store
            .data_mut()
            .http()
            .new_incoming_request(scheme, request)?;
        let (tx, rx) = tokio::sync::oneshot::channel();
        let out = store.data_mut().http().new_response_outparam(tx)?;
        let proxy = proxy_pre.instantiate_async(&mut store).await.map_err(|e| {
            logs.flush(&self);
            anyhow::Error::from(e).context(format!("instantiating component {component_id:?}"))
        })?;
        let task = tokio::spawn(async move {
            proxy
                .wasi_http_incoming_handler()
                .call_handle(&mut store, wasi_req, out)
                .await
        });

        let outcome = async {
            match rx.await {
                Ok(Ok(response)) => {
                    let (parts, body) = response.into_parts();
                    let body = body
                        .collect()
                        .await
                        .map_err(|e| anyhow!("reading the response body: {e:?}"));
                    let finished = task.await.map_err(|e| anyhow!("guest task failed: {e}"))?;
                    finished
                        .map_err(anyhow::Error::from)
                        .context("the guest trapped after answering")?;
                    Ok(http::Response::from_parts(parts, body?.to_bytes()))
                }
                Ok(Err(code)) => {
                    let _ = task.await;
                    Err(anyhow!("the guest answered with error code {code:?}"))
                }
                Err(_) => match task.await.map_err(|e| anyhow!("guest task failed: {e}"))? {
                    Ok(()) => Err(anyhow!("the guest returned without setting a response")),
                    Err(trap) => Err(anyhow::Error::from(trap).context("the guest trapped")),
                },
            }
        }
        .await;
        let stderr = logs.flush(&self);
        outcome.map_err(|e| {
            e.context(format!(
                "component {component_id:?} failed on {full_url}; its stderr:\n{stderr}"
            ))
        })
    }

    /// One cron tick of `component_id`.
    pub(crate) async fn run_cron(
        self: Arc<Self>,
        component_id: &str,
        timestamp: u64,
    ) -> anyhow::Result<Result<(), String>> {
        if !self
            .manifest
            .cron_triggers
            .iter()
            .any(|t| t.component == component_id)
        {
            bail!(
                "component {component_id:?} has no [[trigger.cron]] entry, so the cron plugin would never call it"
            );
        }
        let prepared = self.prepare(component_id)?;
        let cron_pre = bindings::cron::SpinCronPre::new(prepared.pre.clone()).map_err(anyhow::Error::from).with_context(|| {
            format!("component {component_id:?} does not export handle-cron-event (fermyon:spin-cron@2.0.0)")
        })?;
        let (mut store, logs) = self.new_store(component_id, Trigger::Cron)?;
        let outcome = async {
            let cron = cron_pre.instantiate_async(&mut store).await?;
            let metadata = bindings::cron::fermyon::spin_cron::cron_types::Metadata { timestamp };
            cron.call_handle_cron_event(&mut store, metadata).await
        }
        .await;
        let stderr = logs.flush(&self);
        match outcome {
            Ok(Ok(())) => Ok(Ok(())),
            Ok(Err(bindings::cron::fermyon::spin_cron::cron_types::Error::Other(msg))) => {
                Ok(Err(msg))
            }
            Err(trap) => Err(anyhow::Error::from(trap).context(format!(
                "cron tick of {component_id:?} trapped; its stderr:\n{stderr}"
            ))),
        }
    }

    async fn chain(
        self: Arc<Self>,
        component_id: String,
        parts: http::request::Parts,
        body: Bytes,
    ) -> Result<http::Response<Bytes>, HttpHostError> {
        let route = RouteMatch::synthetic(&component_id, parts.uri.path());
        let req = Incoming {
            method: parts.method,
            uri: parts.uri,
            headers: header_list(&parts.headers),
            body,
            client_addr: CHAINED_CLIENT_ADDR.into(),
        };
        // Spin removed Host before the chaining interceptor, so spin-full-url says `localhost`.
        let app = self.clone();
        match app.run_http(route, req, None, CHAINED_CLIENT_ADDR).await {
            Ok(r) => Ok(r),
            Err(e) => {
                self.log(format!("[test-host] chained request to {component_id:?} failed (Spin answers 500): {e:#}"));
                Ok(status_only(500))
            }
        }
    }

    async fn self_request(
        self: Arc<Self>,
        parts: http::request::Parts,
        body: Bytes,
    ) -> Result<http::Response<Bytes>, HttpHostError> {
        let path_and_query = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        let uri: http::Uri = format!("http://{SELF_ORIGIN}{path_and_query}")
            .parse()
            .map_err(|_| HttpHostError::HttpRequestUriInvalid)?;
        let mut headers = header_list(&parts.headers);
        headers.insert(0, (HOST, HeaderValue::from_static(SELF_ORIGIN)));
        let req = Incoming {
            method: parts.method,
            uri,
            headers,
            body,
            client_addr: CLIENT_ADDR.into(),
        };
        match self.clone().handle_incoming(req).await {
            Ok(r) => Ok(r),
            Err(e) => {
                self.log(format!(
                    "[test-host] self request failed (Spin answers 500): {e:#}"
                ));
                Ok(status_only(500))
            }
        }
    }

    async fn outbound(
        self: Arc<Self>,
        component: String,
        parts: http::request::Parts,
        body: Bytes,
    ) -> Result<http::Response<Bytes>, HttpHostError> {
        let client = self
            .outbound
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let Some(client) = client else {
            self.log(format!(
                "[test-host] {component}: {} {} allowed, but no outbound client is set (SpinApp::set_outbound): connection refused",
                parts.method, parts.uri
            ));
            return Err(HttpHostError::ConnectionRefused);
        };
        let method = match parts.method {
            http::Method::GET => connector::Method::Get,
            http::Method::POST => connector::Method::Post,
            http::Method::PUT => connector::Method::Put,
            http::Method::DELETE => connector::Method::Delete,
            other => {
                self.log(format!("[test-host] {component}: method {other} cannot be expressed through connector::HttpClient"));
                return Err(HttpHostError::HttpRequestMethodInvalid);
            }
        };
        let mut headers = Vec::new();
        for (name, value) in &parts.headers {
            let value = value.to_str().map_err(|_| {
                HttpHostError::InternalError(Some(format!("header {name} is not UTF-8")))
            })?;
            headers.push((name.as_str().to_owned(), value.to_owned()));
        }
        let request = connector::HttpRequest {
            method,
            url: parts.uri.to_string(),
            headers,
            body: body.to_vec(),
        };
        let sent = tokio::task::spawn_blocking(move || client.send(request))
            .await
            .map_err(|e| {
                HttpHostError::InternalError(Some(format!("outbound client panicked: {e}")))
            })?;
        let response = match sent {
            Ok(r) => r,
            Err(e) => {
                self.log(format!(
                    "[test-host] {component}: outbound {} {} failed: {e}",
                    parts.method, parts.uri
                ));
                return Err(match e {
                    connector::HttpError::Denied(_) => HttpHostError::HttpRequestDenied,
                    connector::HttpError::Connect(_) => HttpHostError::ConnectionRefused,
                    connector::HttpError::Timeout => HttpHostError::ConnectionReadTimeout,
                    connector::HttpError::Transport(_) => HttpHostError::ConnectionTerminated,
                });
            }
        };
        let mut builder = http::Response::builder().status(response.status);
        for (name, value) in &response.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        builder.body(Bytes::from(response.body)).map_err(|e| {
            self.log(format!(
                "[test-host] {component}: the outbound client's response is not valid HTTP: {e}"
            ));
            HttpHostError::HttpProtocolError
        })
    }
}

fn header_list(map: &http::HeaderMap) -> Vec<(HeaderName, HeaderValue)> {
    map.iter().map(|(n, v)| (n.clone(), v.clone())).collect()
}

fn status_only(status: u16) -> http::Response<Bytes> {
    let mut r = http::Response::new(Bytes::new());
    *r.status_mut() =
        http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    r
}

fn compile(
    component: &ManifestComponent,
    deps: &[(&crate::manifest::Dependency, PathBuf)],
) -> anyhow::Result<Arc<Prepared>> {
    let main = std::fs::read(&component.source)
        .with_context(|| format!("reading {}", component.source.display()))?;
    let mut loaded = Vec::new();
    for (dep, path) in deps {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        loaded.push(LoadedDependency {
            dependency: dep,
            bytes,
        });
    }
    let bytes = compose::compose(&component.id, main, loaded)
        .with_context(|| format!("composing the dependencies of component {:?}", component.id))?;
    let (compiled, origin) = load_or_compile(&component.id, &bytes)
        .with_context(|| format!("compiling component {:?}", component.id))?;
    let pre = linker()?
        .instantiate_pre(&compiled)
        .map_err(anyhow::Error::from)
        .with_context(|| {
            format!(
                "component {:?} imports something the test host does not provide (it provides WASI \
             0.2, wasi:http, fermyon:spin/key-value and variables @2.0.0, wasi:keyvalue \
             store/atomics/batch, wasi:config/store)",
                component.id
            )
        })?;
    Ok(Arc::new(Prepared { pre, origin }))
}

/// `<target>/<profile>/test-host-cache`, next to the test executables: compiled components
/// outlive one test process there (every `tests/*.rs` is its own process, and cranelift needs
/// seconds to tens of seconds for a composed app component on a loaded machine). Set
/// `TEST_HOST_NO_DISK_CACHE` to compile from scratch.
fn disk_cache_dir() -> Option<PathBuf> {
    if std::env::var_os("TEST_HOST_NO_DISK_CACHE").is_some() {
        return None;
    }
    let exe = std::env::current_exe().ok()?;
    let profile_dir = exe.parent()?.parent()?;
    let dir = profile_dir.join("test-host-cache");
    std::fs::create_dir_all(&dir).ok()?;
    Some(dir)
}

/// Compiles `bytes`, or loads the machine code this host compiled for exactly these bytes and
/// this engine configuration before.
fn load_or_compile(id: &str, bytes: &[u8]) -> anyhow::Result<(Component, Origin)> {
    use sha2::{Digest, Sha256};
    use std::hash::{Hash, Hasher};

    let Some(dir) = disk_cache_dir() else {
        return Ok((Component::from_binary(engine(), bytes)?, Origin::Compiled));
    };
    let mut engine_hash = std::hash::DefaultHasher::new();
    engine()
        .precompile_compatibility_hash()
        .hash(&mut engine_hash);
    let digest = Sha256::new()
        .chain_update(bytes)
        .chain_update(engine_hash.finish().to_le_bytes())
        .finalize();
    let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
    let path = dir.join(format!("{id}-{hex}.cwasm"));
    if path.exists() {
        // SAFETY: `deserialize_file` trusts the file to be the output of `Component::serialize`
        // for a compatible engine. Files of this name are only ever written below, by this
        // host, from `serialize` of the same engine configuration (the name includes the
        // engine's compatibility hash and the SHA-256 of the input), into the build directory,
        // and only by atomic rename of a complete file. wasmtime additionally checks the
        // header and the engine compatibility and errors (no UB) on a mismatch.
        #[allow(unsafe_code)]
        let loaded = unsafe { Component::deserialize_file(engine(), &path) };
        match loaded {
            Ok(component) => return Ok((component, Origin::DiskCache)),
            Err(_) => {
                let _ = std::fs::remove_file(&path);
            }
        }
    }
    let component = Component::from_binary(engine(), bytes)?;
    if let Ok(serialized) = component.serialize() {
        let tmp = dir.join(format!("{id}-{hex}.{}.tmp", std::process::id()));
        if std::fs::write(&tmp, serialized).is_ok() && std::fs::rename(&tmp, &path).is_ok() {
            // Keep one compiled version per component id: older builds are dead weight.
            if let Ok(entries) = std::fs::read_dir(&dir) {
                for entry in entries.flatten() {
                    let name = entry.file_name().to_string_lossy().into_owned();
                    let same_id = name
                        .strip_prefix(&format!("{id}-"))
                        .is_some_and(|rest| rest.len() == 32 + ".cwasm".len());
                    if same_id && entry.path() != path {
                        let _ = std::fs::remove_file(entry.path());
                    }
                }
            }
        } else {
            let _ = std::fs::remove_file(&tmp);
        }
    }
    Ok((component, Origin::Compiled))
}

/// Where [`load_or_compile`] got the machine code from.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Origin {
    Compiled,
    DiskCache,
}

/// Captured stdout/stderr of one instance.
struct InstanceLogs {
    component: String,
    stdout: MemoryOutputPipe,
    stderr: MemoryOutputPipe,
}

impl InstanceLogs {
    /// Appends the captured lines to the app's log (stdout first, then stderr, each prefixed
    /// with the component id and stream) and returns stderr.
    fn flush(&self, app: &AppInner) -> String {
        let stderr = String::from_utf8_lossy(&self.stderr.contents()).into_owned();
        for (stream, text) in [
            (
                "stdout",
                String::from_utf8_lossy(&self.stdout.contents()).into_owned(),
            ),
            ("stderr", stderr.clone()),
        ] {
            for line in text.lines() {
                app.log(format!("[{} {stream}] {line}", self.component));
            }
        }
        stderr
    }
}

// ---- per-instance state ----------------------------------------------------------------------

/// What one instance may do, resolved from the manifest and the current variables.
pub(crate) struct InstanceConfig {
    pub(crate) id: String,
    pub(crate) key_value_stores: Vec<String>,
    /// Component variables, resolved.
    pub(crate) variables: BTreeMap<String, String>,
    environment: BTreeMap<String, String>,
    allowed: AllowedHosts,
}

/// The `T` of `Store<T>`: WASI, wasi:http and the Spin interfaces of one instance.
pub(crate) struct HostState {
    pub(crate) app: Arc<AppInner>,
    pub(crate) component: Arc<InstanceConfig>,
    pub(crate) table: ResourceTable,
    wasi: WasiCtx,
    http: WasiHttpCtx,
    hooks: Hooks,
}

impl HostState {
    pub(crate) fn lookup_variable(&self, name: &str) -> VariableLookup {
        if let Err(e) = check_variable_name(name) {
            return VariableLookup::InvalidName(e);
        }
        match self.component.variables.get(name) {
            Some(v) => VariableLookup::Value(v.clone()),
            None => VariableLookup::Undefined(format!(
                "no variable for {:?}.{name:?}",
                self.component.id
            )),
        }
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for HostState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}

impl HostState {
    /// `wasi:http/outgoing-handler.handle`, defined by hand instead of through
    /// `add_only_http_to_linker_async`: wasmtime 48 rejects an outgoing request without authority before `send_request` sees it.
    /// The wasmtime Spin 3.6 uses filled in `:443`/`:80` instead (Spin undoes that in
    /// `prepare_request`), and spin-sdk's own `Request` type sends `:80` itself; do the same so a
    /// relative URL reaches the `self` logic in [`Hooks::send_request`].
    fn handle_outgoing(
        &mut self,
        request: Resource<HostOutgoingRequest>,
        options: Option<Resource<wasmtime_wasi_http::RequestOptions>>,
    ) -> HttpResult<Resource<HostFutureIncomingResponse>> {
        let req = self.table.get_mut(&request).map_err(HttpError::trap)?;
        if req.authority.is_none() {
            let port = if matches!(req.scheme, Some(Scheme::Http)) {
                ":80"
            } else {
                ":443"
            };
            req.authority = Some(port.to_owned());
        }
        outgoing_handler::Host::handle(&mut self.http(), request, options)
    }
}

/// Where an allowed outgoing request goes.
enum Destination {
    /// Relative URL or `self.alt`: back into the HTTP trigger, as a request to Spin's listener.
    SelfRequest,
    /// `http://<id>.spin.internal`: straight to component `<id>`.
    Chain(String),
    /// Anything else: the [`crate::SpinApp::set_outbound`] client.
    Outbound,
}

/// Outbound HTTP policy of one instance (spin.md §6 and
/// `spin@v3.6.3:crates/factor-outbound-http/src/wasi.rs`).
struct Hooks {
    app: Arc<AppInner>,
    component: String,
    allowed: AllowedHosts,
    trigger: Trigger,
}

impl Hooks {
    fn destination(&self, uri: &http::Uri) -> Result<Destination, HttpHostError> {
        let host = uri.host().unwrap_or("").to_ascii_lowercase();
        if host.is_empty() || host == "self.alt" {
            if !self.allowed.allows_relative() {
                self.app.log(format!(
                    "[test-host] {}: self request {uri} denied: no `http://self` in allowed_outbound_hosts",
                    self.component
                ));
                return Err(HttpHostError::HttpRequestDenied);
            }
            if self.trigger != Trigger::Http {
                // No self origin outside the HTTP trigger.
                self.app.log(format!(
                    "[test-host] {}: relative URL {uri} outside the HTTP trigger: HttpRequestUriInvalid",
                    self.component
                ));
                return Err(HttpHostError::HttpRequestUriInvalid);
            }
            return Ok(Destination::SelfRequest);
        }
        let scheme = uri.scheme_str().unwrap_or("https");
        if !self.allowed.allows(scheme, &host, uri.port_u16()) {
            self.app.log(format!(
                "[test-host] {}: {uri} denied by allowed_outbound_hosts",
                self.component
            ));
            return Err(HttpHostError::HttpRequestDenied);
        }
        if let Some((id, "spin.internal")) = host.split_once('.') {
            if self.trigger != Trigger::Http {
                // Only the HTTP trigger installs the chaining interceptor; elsewhere the name
                // goes to DNS, which does not know `.spin.internal`.
                self.app.log(format!(
                    "[test-host] {}: {uri} outside the HTTP trigger goes to DNS: NXDOMAIN",
                    self.component
                ));
                return Err(HttpHostError::DnsError {
                    rcode: Some("NXDOMAIN".into()),
                    info_code: None,
                });
            }
            let is_http_component = self
                .app
                .manifest
                .http_triggers
                .iter()
                .any(|t| t.component == id);
            if !is_http_component {
                self.app.log(format!(
                    "[test-host] {}: {uri}: no HTTP-triggered component {id:?} to chain to",
                    self.component
                ));
                return Err(HttpHostError::DestinationNotFound);
            }
            return Ok(Destination::Chain(id.to_owned()));
        }
        Ok(Destination::Outbound)
    }
}

type IoFuture = Box<dyn Future<Output = Result<(), HttpHostError>> + Send>;

impl WasiHttpHooks for Hooks {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        _options: Option<RequestOptions>,
        _fut: IoFuture,
    ) -> Box<dyn Future<Output = Result<(http::Response<WasiBody>, IoFuture), HttpHostError>> + Send>
    {
        let destination = self.destination(request.uri());
        let app = self.app.clone();
        let component = self.component.clone();
        Box::new(async move {
            let destination = destination?;
            let (mut parts, body) = request.into_parts();
            // Guests cannot set Host, and Spin drops the one wasmtime adds.
            parts.headers.remove(HOST);
            let body = body.collect().await?.to_bytes();
            let response = match destination {
                Destination::SelfRequest => app.self_request(parts, body).await?,
                Destination::Chain(id) => app.chain(id, parts, body).await?,
                Destination::Outbound => app.outbound(component, parts, body).await?,
            };
            let response =
                response.map(|b| Full::new(b).map_err(HttpHostError::from).boxed_unsync());
            Ok((response, Box::new(async { Ok(()) }) as IoFuture))
        })
    }
}
