//! `spin.toml` (manifest version 2), read and validated as far as Spin 3.6.3 would before
//! running anything (spin.md §3, §5, §6, §9; `spin@v3.6.3:crates/manifest/src/schema/v2.rs`).
//!
//! Checks that need the built `.wasm` (a dependency name matching no import, an export of the
//! wrong type) happen when a component is first prepared, see [`crate::SpinApp::prepare`].

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow, bail};
use serde::Deserialize;

use crate::allowed_hosts::{AllowedHost, AllowedHosts};
use crate::names::{Template, check_component_id, check_label, check_variable_name};

/// Store labels that exist: `spin up` without a runtime config knows only `default` (spin.md
/// §4.2), and the test host takes no runtime config.
pub const KNOWN_STORES: &[&str] = &["default"];

/// A loaded, validated manifest.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// The manifest file.
    pub path: PathBuf,
    /// Its directory: relative paths in the manifest are relative to it.
    pub dir: PathBuf,
    /// `[application] name`.
    pub name: String,
    /// `[variables]`.
    pub variables: BTreeMap<String, AppVariable>,
    /// `[component.<id>]`, by id.
    pub components: BTreeMap<String, Component>,
    /// `[[trigger.http]]`, in manifest order.
    pub http_triggers: Vec<HttpTrigger>,
    /// `[[trigger.cron]]`, in manifest order.
    pub cron_triggers: Vec<CronTrigger>,
}

/// An application variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppVariable {
    /// `required = true`: there is no default and a value must be supplied.
    pub required: bool,
    /// `default = "…"`.
    pub default: Option<String>,
    /// `secret = true` (Spin's runtime does not act on it; kept for assertions).
    pub secret: bool,
}

/// A component.
#[derive(Debug, Clone)]
pub struct Component {
    /// The id (`[component.<id>]`).
    pub id: String,
    /// `source`, resolved against the manifest directory.
    pub source: PathBuf,
    /// `variables`: component variable name → template over application variables.
    pub variables: BTreeMap<String, Template>,
    /// `environment`.
    pub environment: BTreeMap<String, String>,
    /// `key_value_stores`.
    pub key_value_stores: Vec<String>,
    /// `allowed_outbound_hosts`, unresolved (entries may contain `{{ var }}`).
    pub allowed_outbound_hosts: Vec<Template>,
    /// `dependencies`, sorted by name.
    pub dependencies: Vec<Dependency>,
    /// `dependencies_inherit_configuration`.
    pub dependencies_inherit_configuration: bool,
    /// `build.command` (one or several commands), if any.
    pub build_commands: Vec<String>,
    /// `build.workdir`, resolved against the manifest directory (default: the manifest directory).
    pub build_workdir: PathBuf,
}

impl Component {
    /// A sentence telling how to build this component, for "missing `.wasm`" errors.
    pub fn build_hint(&self) -> String {
        if self.build_commands.is_empty() {
            format!(
                "component {:?} has no [component.{}.build] command",
                self.id, self.id
            )
        } else {
            format!(
                "build it first: `{}` (in {}), the build command of component {:?}",
                self.build_commands.join(" && "),
                self.build_workdir.display(),
                self.id
            )
        }
    }
}

/// A `[component.<id>.dependencies]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dependency {
    /// The key as written.
    pub name: DependencyName,
    /// Where the implementation comes from.
    pub source: DependencySource,
    /// `export = "…"`: the dependency's export to use instead of the import's own name.
    pub export: Option<String>,
}

/// Source of a dependency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DependencySource {
    /// `{ path = "…" }`, resolved against the manifest directory.
    Path(PathBuf),
    /// `{ component = "<id>" }` (Spin 3.5+).
    Component(String),
}

/// A dependency key (`crates/serde/src/dependencies.rs`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum DependencyName {
    /// `foo-bar`: matches only the import `foo-bar`.
    Plain(String),
    /// `ns:pkg[/iface][@version]`.
    Package {
        /// `ns:pkg`.
        package: String,
        /// `iface`, if given.
        interface: Option<String>,
        /// `version`, if given (exact match).
        version: Option<semver::Version>,
    },
}

impl std::fmt::Display for DependencyName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DependencyName::Plain(p) => f.write_str(p),
            DependencyName::Package {
                package,
                interface,
                version,
            } => {
                f.write_str(package)?;
                if let Some(i) = interface {
                    write!(f, "/{i}")?;
                }
                if let Some(v) = version {
                    write!(f, "@{v}")?;
                }
                Ok(())
            }
        }
    }
}

impl DependencyName {
    fn parse(s: &str) -> Result<DependencyName, String> {
        if !s.contains([':', '/']) {
            check_component_id(s).map_err(|e| format!("plain dependency name {s:?}: {e}"))?;
            return Ok(DependencyName::Plain(s.to_owned()));
        }
        let (name, version) = match s.split_once('@') {
            Some((n, v)) => (
                n,
                Some(semver::Version::parse(v).map_err(|e| format!("{s:?}: version {v:?}: {e}"))?),
            ),
            None => (s, None),
        };
        let (package, interface) = match name.split_once('/') {
            Some((p, i)) => {
                check_component_id(i).map_err(|e| format!("{s:?}: interface {i:?}: {e}"))?;
                (p, Some(i.to_owned()))
            }
            None => (name, None),
        };
        let Some((ns, pkg)) = package.split_once(':') else {
            return Err(format!("{s:?}: package {package:?} must be namespace:name"));
        };
        check_component_id(ns).map_err(|e| format!("{s:?}: namespace {ns:?}: {e}"))?;
        check_component_id(pkg).map_err(|e| format!("{s:?}: package name {pkg:?}: {e}"))?;
        Ok(DependencyName::Package {
            package: package.to_owned(),
            interface,
            version,
        })
    }

    /// Whether this key satisfies the component import `import` (`crates/compose/src/lib.rs`
    /// `matches_import`: same package, same interface if given, exactly the version if given).
    pub fn matches_import(&self, import: &str) -> bool {
        match self {
            DependencyName::Plain(p) => p == import,
            DependencyName::Package {
                package,
                interface,
                version,
            } => {
                let Some((pkg, rest)) = import.split_once('/') else {
                    return false;
                };
                if !import.contains(':') || pkg != package {
                    return false;
                }
                let (iface, ver) = match rest.split_once('@') {
                    Some((i, v)) => (i, semver::Version::parse(v).ok()),
                    None => (rest, None),
                };
                interface.as_deref().is_none_or(|i| i == iface)
                    && version.as_ref().is_none_or(|v| ver.as_ref() == Some(v))
            }
        }
    }
}

/// An `[[trigger.http]]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpTrigger {
    /// `component`.
    pub component: String,
    /// `route = "…"`, or `None` for `route = { private = true }` (reachable only by service
    /// chaining).
    pub route: Option<String>,
}

/// A `[[trigger.cron]]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CronTrigger {
    /// `component`.
    pub component: String,
    /// `cron_expression` (6 or 7 fields, seconds first, UTC).
    pub cron_expression: String,
}

// ---- raw TOML shapes (unknown keys rejected, as Spin's schema does) ---------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    spin_manifest_version: toml::Value,
    application: RawApplication,
    #[serde(default)]
    variables: BTreeMap<String, RawVariable>,
    #[serde(default, rename = "trigger")]
    triggers: BTreeMap<String, Vec<toml::Table>>,
    #[serde(default, rename = "component")]
    components: BTreeMap<String, RawComponent>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // fields are read by serde for validation only
struct RawApplication {
    name: String,
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    authors: Vec<String>,
    #[serde(default)]
    targets: Vec<toml::Value>,
    #[serde(default)]
    trigger: BTreeMap<String, toml::Table>,
    #[serde(default)]
    tool: BTreeMap<String, toml::Table>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVariable {
    #[serde(default)]
    #[allow(dead_code)]
    description: Option<String>,
    #[serde(default)]
    required: bool,
    #[serde(default)]
    default: Option<String>,
    #[serde(default)]
    secret: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct RawComponent {
    source: toml::Value,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    files: Vec<toml::Value>,
    #[serde(default)]
    exclude_files: Vec<String>,
    #[serde(default)]
    allowed_outbound_hosts: Vec<String>,
    #[serde(default)]
    key_value_stores: Vec<String>,
    #[serde(default)]
    sqlite_databases: Vec<String>,
    #[serde(default)]
    ai_models: Vec<String>,
    #[serde(default)]
    environment: BTreeMap<String, String>,
    #[serde(default)]
    variables: BTreeMap<String, String>,
    #[serde(default)]
    build: Option<RawBuild>,
    #[serde(default)]
    targets: Vec<toml::Value>,
    #[serde(default)]
    dependencies_inherit_configuration: bool,
    #[serde(default)]
    dependencies: BTreeMap<String, toml::Value>,
    #[serde(default)]
    tool: BTreeMap<String, toml::Table>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct RawBuild {
    command: toml::Value,
    #[serde(default)]
    workdir: Option<String>,
    #[serde(default)]
    watch: Vec<String>,
}

impl Manifest {
    /// Reads and validates `path`.
    pub fn load(path: &Path) -> anyhow::Result<Manifest> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading manifest {}", path.display()))?;
        Self::parse(&text, path).with_context(|| format!("invalid manifest {}", path.display()))
    }

    fn parse(text: &str, path: &Path) -> anyhow::Result<Manifest> {
        let raw: RawManifest = toml::from_str(text)?;
        if raw.spin_manifest_version.as_integer() != Some(2) {
            bail!(
                "spin_manifest_version must be 2, got {}",
                raw.spin_manifest_version
            );
        }
        if raw.application.name.trim().is_empty() {
            bail!("[application] name must not be empty");
        }
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();

        let mut variables = BTreeMap::new();
        for (name, v) in raw.variables {
            check_variable_name(&name).map_err(|e| anyhow!("[variables] {name:?}: {e}"))?;
            match (v.required, &v.default) {
                (true, Some(_)) => bail!("[variables] {name}: required and default are exclusive"),
                (false, None) => {
                    bail!("[variables] {name}: give either `default = \"…\"` or `required = true`")
                }
                _ => {}
            }
            variables.insert(
                name,
                AppVariable {
                    required: v.required,
                    default: v.default,
                    secret: v.secret,
                },
            );
        }

        let mut components = BTreeMap::new();
        let mut raw_components = BTreeMap::new();
        for (id, c) in raw.components {
            check_component_id(&id).map_err(|e| anyhow!("[component.{id}]: invalid id: {e}"))?;
            let component = parse_component(&id, &c, &dir, &variables)
                .with_context(|| format!("[component.{id}]"))?;
            components.insert(id.clone(), component);
            raw_components.insert(id, c);
        }

        // Dependencies by component: the target must exist and carry no runtime configuration
        // (Spin 3.5+, spin.md §9).
        for component in components.values() {
            for dep in &component.dependencies {
                if let DependencySource::Component(target) = &dep.source {
                    let Some(raw) = raw_components.get(target) else {
                        bail!(
                            "[component.{}.dependencies] {:?}: no component {target:?}",
                            component.id,
                            dep.name.to_string()
                        );
                    };
                    let configured = [
                        (
                            "allowed_outbound_hosts",
                            !raw.allowed_outbound_hosts.is_empty(),
                        ),
                        ("key_value_stores", !raw.key_value_stores.is_empty()),
                        ("sqlite_databases", !raw.sqlite_databases.is_empty()),
                        ("ai_models", !raw.ai_models.is_empty()),
                        ("variables", !raw.variables.is_empty()),
                        ("environment", !raw.environment.is_empty()),
                        ("files", !raw.files.is_empty()),
                        ("dependencies", !raw.dependencies.is_empty()),
                    ];
                    if let Some((key, _)) = configured.iter().find(|(_, set)| *set) {
                        bail!(
                            "[component.{}.dependencies] {:?}: component {target:?} is used as a \
                             dependency and must not have runtime configuration, but sets `{key}`",
                            component.id,
                            dep.name.to_string()
                        );
                    }
                }
            }
        }

        let mut http_triggers = Vec::new();
        let mut cron_triggers = Vec::new();
        for (kind, entries) in raw.triggers {
            for (i, entry) in entries.into_iter().enumerate() {
                let here = format!("[[trigger.{kind}]] #{}", i + 1);
                match kind.as_str() {
                    "http" => http_triggers.push(parse_http_trigger(entry, &components, &here)?),
                    "cron" => cron_triggers.push(parse_cron_trigger(entry, &components, &here)?),
                    other => bail!(
                        "{here}: trigger type {other:?} is not supported by the test host \
                         (it runs http and cron)"
                    ),
                }
            }
        }

        Ok(Manifest {
            path: path.to_path_buf(),
            dir,
            name: raw.application.name,
            variables,
            components,
            http_triggers,
            cron_triggers,
        })
    }

    /// The component `id`, or an error naming the known ones.
    pub fn component(&self, id: &str) -> anyhow::Result<&Component> {
        self.components.get(id).ok_or_else(|| {
            anyhow!(
                "no component {id:?} in {} (known: {})",
                self.path.display(),
                self.components
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })
    }
}

fn parse_component(
    id: &str,
    c: &RawComponent,
    dir: &Path,
    app_vars: &BTreeMap<String, AppVariable>,
) -> anyhow::Result<Component> {
    let source = match &c.source {
        toml::Value::String(s) => dir.join(s),
        other => bail!(
            "source {other}: only local file sources are supported by the test host \
             (url/registry sources need a download)"
        ),
    };

    let check_refs = |what: &str, t: &Template| -> anyhow::Result<()> {
        for r in t.references() {
            if !app_vars.contains_key(r) {
                bail!("{what} references undefined application variable {r:?}");
            }
        }
        Ok(())
    };

    let mut variables = BTreeMap::new();
    for (name, value) in &c.variables {
        check_variable_name(name).map_err(|e| anyhow!("variables: {name:?}: {e}"))?;
        let t = Template::parse(value).map_err(|e| anyhow!("variables.{name}: {e}"))?;
        check_refs(&format!("variables.{name}"), &t)?;
        variables.insert(name.clone(), t);
    }

    for label in &c.key_value_stores {
        check_label(label).map_err(|e| anyhow!("key_value_stores: {e}"))?;
        if !KNOWN_STORES.contains(&label.as_str()) {
            bail!(
                "key_value_stores: no store labelled {label:?} (without a runtime config Spin, and \
                 this test host, know only \"default\")"
            );
        }
    }
    for (key, list) in [
        ("sqlite_databases", &c.sqlite_databases),
        ("ai_models", &c.ai_models),
    ] {
        if !list.is_empty() {
            bail!("{key}: not supported by the test host");
        }
    }
    if !c.files.is_empty() {
        bail!("files: mounting files is not supported by the test host");
    }

    let mut allowed_outbound_hosts = Vec::new();
    for entry in &c.allowed_outbound_hosts {
        let t = Template::parse(entry).map_err(|e| anyhow!("allowed_outbound_hosts: {e}"))?;
        check_refs(&format!("allowed_outbound_hosts entry {entry:?}"), &t)?;
        if t.is_literal() {
            AllowedHost::parse(entry).map_err(|e| anyhow!("allowed_outbound_hosts: {e}"))?;
        }
        allowed_outbound_hosts.push(t);
    }
    if c.allowed_outbound_hosts
        .iter()
        .any(|e| e == "insecure:allow-all")
    {
        AllowedHosts::parse(&c.allowed_outbound_hosts)
            .map_err(|e| anyhow!("allowed_outbound_hosts: {e}"))?;
    }

    let mut dependencies = Vec::new();
    for (key, value) in &c.dependencies {
        let name = DependencyName::parse(key).map_err(|e| anyhow!("dependencies: {e}"))?;
        let (source, export) = parse_dependency_source(key, &name, value, dir)?;
        dependencies.push(Dependency {
            name,
            source,
            export,
        });
    }
    check_disjoint(&dependencies)?;

    let (build_commands, build_workdir) = match &c.build {
        None => (Vec::new(), dir.to_path_buf()),
        Some(b) => {
            let commands = match &b.command {
                toml::Value::String(s) => vec![s.clone()],
                toml::Value::Array(a) => a
                    .iter()
                    .map(|v| {
                        v.as_str()
                            .map(str::to_owned)
                            .ok_or_else(|| anyhow!("build.command: entries must be strings"))
                    })
                    .collect::<anyhow::Result<_>>()?,
                other => bail!("build.command must be a string or a list of strings, got {other}"),
            };
            let workdir = b
                .workdir
                .as_ref()
                .map_or_else(|| dir.to_path_buf(), |w| dir.join(w));
            (commands, workdir)
        }
    };

    Ok(Component {
        id: id.to_owned(),
        source,
        variables,
        environment: c.environment.clone(),
        key_value_stores: c.key_value_stores.clone(),
        allowed_outbound_hosts,
        dependencies,
        dependencies_inherit_configuration: c.dependencies_inherit_configuration,
        build_commands,
        build_workdir,
    })
}

fn parse_dependency_source(
    key: &str,
    name: &DependencyName,
    value: &toml::Value,
    dir: &Path,
) -> anyhow::Result<(DependencySource, Option<String>)> {
    let here = format!("dependencies.{key:?}");
    let table = match value {
        toml::Value::String(v) => bail!(
            "{here}: registry dependency {v:?} is not supported by the test host (use `path` or \
             `component`)"
        ),
        toml::Value::Table(t) => t,
        other => bail!("{here}: expected a version string or a table, got {other}"),
    };
    let keys: BTreeSet<&str> = table.keys().map(String::as_str).collect();
    let string = |k: &str| -> anyhow::Result<Option<String>> {
        match table.get(k) {
            None => Ok(None),
            Some(toml::Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => bail!("{here}: `{k}` must be a string, got {other}"),
        }
    };
    let export = string("export")?;
    let allowed_with = |allowed: &[&str]| -> anyhow::Result<()> {
        if let Some(k) = keys.iter().find(|k| !allowed.contains(k)) {
            bail!("{here}: unknown key `{k}`");
        }
        Ok(())
    };
    let source = if keys.contains("component") {
        allowed_with(&["component", "export"])?;
        let target = string("component")?.unwrap_or_default();
        check_component_id(&target).map_err(|e| anyhow!("{here}: component {target:?}: {e}"))?;
        DependencySource::Component(target)
    } else if keys.contains("path") {
        allowed_with(&["path", "export"])?;
        DependencySource::Path(dir.join(string("path")?.unwrap_or_default()))
    } else if keys.contains("url") {
        allowed_with(&["url", "digest", "export"])?;
        bail!("{here}: url dependencies are not supported by the test host")
    } else if keys.contains("version") {
        allowed_with(&["version", "registry", "package", "export"])?;
        bail!("{here}: registry dependencies are not supported by the test host")
    } else {
        bail!("{here}: expected one of `component`, `path`, `url` or `version`");
    };
    // Package-form keys may not pick an export (`ensure_package_names_no_export`).
    if let DependencyName::Package {
        interface: None, ..
    } = name
        && export.is_some()
    {
        bail!("{here}: a package dependency may not name an `export`");
    }
    Ok((source, export))
}

/// Two keys of one package must differ in interface or in (compatible) version
/// (`ensure_disjoint`).
fn check_disjoint(deps: &[Dependency]) -> anyhow::Result<()> {
    fn compatible(v: &semver::Version) -> (u64, u64, u64, String) {
        if !v.pre.is_empty() {
            return (v.major, v.minor, v.patch, v.pre.to_string());
        }
        match (v.major, v.minor) {
            (0, 0) => (0, 0, v.patch, String::new()),
            (0, m) => (0, m, 0, String::new()),
            (major, _) => (major, 0, 0, String::new()),
        }
    }
    for (i, a) in deps.iter().enumerate() {
        for b in &deps[i + 1..] {
            let (
                DependencyName::Package {
                    package: pa,
                    interface: ia,
                    version: va,
                },
                DependencyName::Package {
                    package: pb,
                    interface: ib,
                    version: vb,
                },
            ) = (&a.name, &b.name)
            else {
                continue;
            };
            if pa != pb {
                continue;
            }
            if let (Some(va), Some(vb)) = (va, vb)
                && compatible(va) != compatible(vb)
            {
                continue;
            }
            if let (Some(ia), Some(ib)) = (ia, ib)
                && ia != ib
            {
                continue;
            }
            bail!("dependencies: {} conflicts with {}", a.name, b.name);
        }
    }
    Ok(())
}

fn parse_http_trigger(
    mut entry: toml::Table,
    components: &BTreeMap<String, Component>,
    here: &str,
) -> anyhow::Result<HttpTrigger> {
    let component = take_component(&mut entry, components, here)?;
    let route = match entry.remove("route") {
        Some(toml::Value::String(r)) => {
            if r.contains("/.well-known/spin/") || r.trim_end_matches("/...") == "/.well-known/spin"
            {
                bail!("{here}: routes under /.well-known/spin/ are reserved by Spin");
            }
            crate::router::check_route(&r).map_err(|e| anyhow!("{here}: route {r:?}: {e}"))?;
            Some(r)
        }
        Some(toml::Value::Table(t)) => {
            if t.len() == 1 && t.get("private") == Some(&toml::Value::Boolean(true)) {
                None
            } else {
                bail!(
                    "{here}: route must be a string pattern or {{ private = true }}, got {}",
                    toml::Value::Table(t)
                )
            }
        }
        Some(other) => bail!("{here}: route must be a string, got {other}"),
        None => bail!("{here}: missing `route`"),
    };
    entry.remove("id");
    entry.remove("executor");
    entry.remove("static_response");
    if let Some(k) = entry.keys().next() {
        bail!("{here}: unknown key `{k}`");
    }
    Ok(HttpTrigger { component, route })
}

fn parse_cron_trigger(
    mut entry: toml::Table,
    components: &BTreeMap<String, Component>,
    here: &str,
) -> anyhow::Result<CronTrigger> {
    let component = take_component(&mut entry, components, here)?;
    let cron_expression = match entry.remove("cron_expression") {
        Some(toml::Value::String(e)) => e,
        Some(other) => bail!("{here}: cron_expression must be a string, got {other}"),
        None => bail!("{here}: missing `cron_expression`"),
    };
    check_cron_expression(&cron_expression)
        .map_err(|e| anyhow!("{here}: cron_expression {cron_expression:?}: {e}"))?;
    entry.remove("id");
    if let Some(k) = entry.keys().next() {
        bail!("{here}: unknown key `{k}` (cron triggers take only component and cron_expression)");
    }
    Ok(CronTrigger {
        component,
        cron_expression,
    })
}

fn take_component(
    entry: &mut toml::Table,
    components: &BTreeMap<String, Component>,
    here: &str,
) -> anyhow::Result<String> {
    match entry.remove("component") {
        Some(toml::Value::String(id)) => {
            if !components.contains_key(&id) {
                bail!("{here}: component {id:?} is not defined");
            }
            Ok(id)
        }
        Some(toml::Value::Table(_)) => {
            bail!("{here}: inline components are not supported by the test host; use an id")
        }
        Some(other) => bail!("{here}: component must be an id, got {other}"),
        None => bail!("{here}: missing `component`"),
    }
}

/// The scheduler (tokio-cron-scheduler 0.13 / croner 2) needs 6 fields (seconds first) or 7
/// (plus year). This checks the shape and the characters, not every range.
fn check_cron_expression(expr: &str) -> Result<(), String> {
    let fields: Vec<&str> = expr.split_whitespace().collect();
    if !(6..=7).contains(&fields.len()) {
        return Err(format!(
            "{} fields; Spin's cron trigger needs 6 (sec min hour day month weekday) or 7 (+ year)",
            fields.len()
        ));
    }
    for f in fields {
        if !f
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "*/,-?#L".contains(c))
        {
            return Err(format!(
                "field {f:?} has characters a cron field cannot have"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = r#"
spin_manifest_version = 2
[application]
name = "t"
[variables]
host = { default = "api.example.com" }
token = { required = true, secret = true }
[[trigger.http]]
route = "/a/..."
component = "a"
[component.a]
source = "a.wasm"
key_value_stores = ["default"]
allowed_outbound_hosts = ["https://{{ host }}", "http://*.spin.internal"]
variables = { token = "{{ token }}", url = "https://{{host}}/x" }
dependencies = { "ns:lib/iface@0.1.0" = { component = "lib" }, "ns:other" = { path = "o.wasm" } }
build = { command = "cargo build -p a" }
[component.lib]
source = "lib.wasm"
"#;

    fn parse(text: &str) -> anyhow::Result<Manifest> {
        Manifest::parse(text, Path::new("/app/spin.toml"))
    }

    fn err(text: &str) -> String {
        format!("{:#}", parse(text).expect_err("manifest must be rejected"))
    }

    #[test]
    fn parses_a_valid_manifest() {
        let m = parse(BASE).unwrap();
        let a = &m.components["a"];
        assert_eq!(a.source, Path::new("/app/a.wasm"));
        assert_eq!(a.build_commands, ["cargo build -p a"]);
        assert_eq!(a.dependencies.len(), 2);
        assert_eq!(
            a.dependencies[0].source,
            DependencySource::Component("lib".into())
        );
        assert_eq!(
            a.dependencies[1].source,
            DependencySource::Path("/app/o.wasm".into())
        );
        assert_eq!(
            m.http_triggers,
            [HttpTrigger {
                component: "a".into(),
                route: Some("/a/...".into())
            }]
        );
        assert!(m.variables["token"].secret);
    }

    #[test]
    fn rejects_what_spin_rejects() {
        let cases = [
            (
                BASE.replace("source = \"lib.wasm\"", "source = \"lib.wasm\"\nfoo = 1"),
                "unknown field `foo`",
            ),
            (
                BASE.replace("[component.lib]", "[component.Lib_x]"),
                "invalid id",
            ),
            (
                BASE.replace("\"https://{{ host }}\"", "\"api.example.com\""),
                "must be <scheme>://<host>",
            ),
            (
                BASE.replace("{{ token }}", "{{ nope }}"),
                "undefined application variable \"nope\"",
            ),
            (
                BASE.replace("[\"default\"]", "[\"cache\"]"),
                "no store labelled \"cache\"",
            ),
            (
                BASE.replace("component = \"lib\" }", "component = \"nope\" }"),
                "no component \"nope\"",
            ),
            (
                BASE.replace(
                    "source = \"lib.wasm\"",
                    "source = \"lib.wasm\"\nkey_value_stores = [\"default\"]",
                ),
                "must not have runtime configuration",
            ),
            (
                BASE.replace("route = \"/a/...\"", "route = \"/a/...\"\nfoo = 1"),
                "unknown key `foo`",
            ),
            (
                BASE.replace("component = \"a\"", "component = \"b\""),
                "component \"b\" is not defined",
            ),
            (
                BASE.replace(
                    "required = true, secret",
                    "required = true, default = \"x\", secret",
                ),
                "exclusive",
            ),
            (
                BASE.replace("spin_manifest_version = 2", "spin_manifest_version = 1"),
                "must be 2",
            ),
            (
                format!(
                    "{BASE}[[trigger.cron]]\ncomponent = \"a\"\ncron_expression = \"* * * * *\"\n"
                ),
                "5 fields",
            ),
            (
                format!("{BASE}[[trigger.redis]]\ncomponent = \"a\"\nchannel = \"x\"\n"),
                "not supported",
            ),
            (
                BASE.replace(
                    "\"ns:other\" = { path = \"o.wasm\" }",
                    "\"ns:other\" = { path = \"o.wasm\", export = \"x\" }",
                ),
                "may not name an `export`",
            ),
            (BASE.replace("\"ns:other\"", "\"ns:lib\""), "conflicts"),
        ];
        for (text, needle) in cases {
            let e = err(&text);
            assert!(e.contains(needle), "expected {needle:?} in: {e}");
        }
    }

    #[test]
    fn dependency_names_match_imports_like_spin_compose() {
        let yes = [
            ("foo:bar/baz@0.1.0", "foo:bar/baz@0.1.0"),
            ("foo:bar/baz", "foo:bar/baz@0.1.0"),
            ("foo:bar/baz", "foo:bar/baz"),
            ("foo:bar", "foo:bar/baz@0.1.0"),
            ("foo:bar@0.1.0", "foo:bar/baz@0.1.0"),
            ("foo-bar", "foo-bar"),
        ];
        for (dep, import) in yes {
            assert!(
                DependencyName::parse(dep).unwrap().matches_import(import),
                "{dep} ~ {import}"
            );
        }
        let no = [
            ("foo:bar/baz@0.1.0", "foo:bar/baz"),
            ("foo:bar/baz", "foo:bar/bub@0.1.0"),
            ("foo:bar", "foo:bub/bib"),
            ("foo:bar@0.1.0", "foo:bar/baz"),
            ("foo:bar/baz", "foo-bar"),
        ];
        for (dep, import) in no {
            assert!(
                !DependencyName::parse(dep).unwrap().matches_import(import),
                "{dep} !~ {import}"
            );
        }
    }
}
