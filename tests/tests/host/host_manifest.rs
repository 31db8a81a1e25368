//! Test host: the real `spin.toml` is valid, broken manifests fail as Spin would, composition
//! errors name the dependency, and `component_imports` reads a component's imports.

use crate::host_support;

use std::path::{Path, PathBuf};

use host_support::probe_manifest;
use integration_tests::{SpinApp, component_imports};

fn target_release(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../target/wasm32-wasip2/release")
        .join(file)
}

/// Writes `spin.toml` with `body` into a fresh directory of this test and loads it.
fn load(test: &str, body: &str) -> anyhow::Result<SpinApp> {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("host_manifest")
        .join(test);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("spin.toml");
    let text = format!(
        "spin_manifest_version = 2\n[application]\nname = \"{test}\"\n{}",
        body.replace("PROBE", &target_release("probe.wasm").display().to_string())
            .replace(
                "LIB",
                &target_release("probe_lib.wasm").display().to_string()
            )
    );
    std::fs::write(&path, text).expect("write manifest");
    SpinApp::load(&path)
}

#[test]
fn the_workspace_manifest_is_valid() {
    let app = SpinApp::workspace().unwrap_or_else(|e| panic!("spin.toml: {e:#}"));
    let m = app.manifest();
    assert_eq!(m.name, "ml-connector");
    assert!(!m.components.is_empty());
    for (id, c) in &m.components {
        assert!(
            !c.build_commands.is_empty(),
            "component {id} has no build command"
        );
        for (name, template) in &c.variables {
            for var in template.references() {
                assert!(
                    m.variables.contains_key(var),
                    "{id}.{name} uses undefined {var}"
                );
            }
        }
    }
    for t in &m.http_triggers {
        assert!(m.components.contains_key(&t.component), "{t:?}");
    }
    for t in &m.cron_triggers {
        assert!(m.components.contains_key(&t.component), "{t:?}");
    }
    // Built components (and their dependencies) must compose and link; unbuilt ones are left to
    // the component tests, which fail with the build command to run.
    let mut prepared = Vec::new();
    for (id, c) in &m.components {
        let deps_built = c.dependencies.iter().all(|d| match &d.source {
            integration_tests::manifest::DependencySource::Path(p) => p.exists(),
            integration_tests::manifest::DependencySource::Component(t) => {
                m.components[t].source.exists()
            }
        });
        if c.source.exists() && deps_built {
            app.prepare(id)
                .unwrap_or_else(|e| panic!("component {id}: {e:#}"));
            prepared.push(id.clone());
        }
    }
    eprintln!("prepared: {prepared:?}\n{}", app.logs().join("\n"));
}

#[test]
fn the_probe_manifest_composes_every_component() {
    let app = SpinApp::load(probe_manifest()).expect("probe manifest");
    for id in [
        "probe",
        "probe-b",
        "probe-nokv",
        "probe-private",
        "probe-cron",
        "probe-lib",
    ] {
        app.prepare(id).unwrap_or_else(|e| panic!("{id}: {e:#}"));
    }
}

#[test]
fn a_missing_wasm_names_its_build_command() {
    let app = load(
        "missing",
        "[component.gone]\nsource = \"gone.wasm\"\nbuild = { command = \"cargo build -p gone\" }\n",
    )
    .expect("loads: the file is only needed to run");
    let err = format!("{:#}", app.prepare("gone").expect_err("no gone.wasm"));
    assert!(err.contains("gone.wasm not found"), "{err}");
    assert!(err.contains("`cargo build -p gone`"), "{err}");
}

#[test]
fn a_dependency_matching_no_import_is_an_error() {
    let app = load(
        "unmatched",
        "[component.p]\nsource = \"PROBE\"\n\
         [component.p.dependencies]\n\
         \"ml-connector:probe-lib/math@0.1.0\" = { path = \"LIB\" }\n\
         \"ml-connector:other/thing@1.0.0\" = { path = \"LIB\" }\n",
    )
    .expect("loads");
    let err = format!("{:#}", app.prepare("p").expect_err("unmatched dependency"));
    assert!(
        err.contains(
            "dependency 'ml-connector:other/thing@1.0.0' doesn't match any imports of component 'p'"
        ),
        "{err}"
    );
}

#[test]
fn a_dependency_without_the_export_is_an_error() {
    let app = load(
        "noexport",
        "[component.p]\nsource = \"PROBE\"\n\
         [component.p.dependencies]\n\
         \"ml-connector:probe-lib/math@0.1.0\" = { path = \"LIB\", export = \"ml-connector:probe-lib/nope@0.1.0\" }\n",
    )
    .expect("loads");
    let err = format!("{:#}", app.prepare("p").expect_err("missing export"));
    assert!(
        err.contains("doesn't export 'ml-connector:probe-lib/nope@0.1.0'"),
        "{err}"
    );
}

#[test]
fn an_unsatisfied_import_fails_at_instantiation() {
    // No dependencies: the probe's library import stays open and the host does not provide it.
    let app = load("open-import", "[component.p]\nsource = \"PROBE\"\n").expect("loads");
    let err = format!("{:#}", app.prepare("p").expect_err("open import"));
    assert!(
        err.contains("imports something the test host does not provide"),
        "{err}"
    );
    assert!(err.contains("ml-connector:probe-lib/math"), "{err}");
}

#[test]
fn manifests_spin_rejects_are_rejected() {
    let cases = [
        (
            "[component.p]\nsource = \"PROBE\"\nallowed_outbound_hosts = [\"api.example.com\"]\n",
            "allowed outbound host",
        ),
        (
            "[component.p]\nsource = \"PROBE\"\nkey_value_stores = [\"cache\"]\n",
            "no store labelled \"cache\"",
        ),
        ("[component.P_x]\nsource = \"PROBE\"\n", "invalid id"),
        (
            "[component.p]\nsource = \"PROBE\"\nunknown = true\n",
            "unknown field `unknown`",
        ),
        (
            "[component.p]\nsource = \"PROBE\"\nvariables = { a = \"{{ nope }}\" }\n",
            "undefined application variable \"nope\"",
        ),
        (
            "[[trigger.http]]\nroute = \"/x\"\ncomponent = \"q\"\n[component.p]\nsource = \"PROBE\"\n",
            "component \"q\" is not defined",
        ),
        (
            "[[trigger.http]]\nroute = \"/.well-known/spin/health\"\ncomponent = \"p\"\n[component.p]\nsource = \"PROBE\"\n",
            "reserved",
        ),
    ];
    for (i, (body, needle)) in cases.iter().enumerate() {
        let err = format!(
            "{:#}",
            load(&format!("reject-{i}"), body).expect_err(needle)
        );
        assert!(err.contains(needle), "expected {needle:?} in: {err}");
    }
}

#[test]
fn component_imports_lists_what_a_component_needs() {
    let lib = std::fs::read(target_release("probe_lib.wasm")).expect("probe-lib built");
    let lib_imports = component_imports(&lib).expect("a component");
    assert!(!lib_imports.is_empty());
    assert!(
        lib_imports.iter().all(|i| i.starts_with("wasi:")),
        "{lib_imports:?}"
    );

    let probe = std::fs::read(target_release("probe.wasm")).expect("probe built");
    let imports = component_imports(&probe).expect("a component");
    for needed in [
        "ml-connector:probe-lib/math@0.1.0",
        "fermyon:spin/key-value@2.0.0",
        "fermyon:spin/variables@2.0.0",
        "wasi:keyvalue/store@0.2.0-draft2",
        "wasi:keyvalue/atomics@0.2.0-draft2",
        "wasi:config/store@0.2.0-draft-2024-09-27",
        "fermyon:spin-cron/cron-types@2.0.0",
    ] {
        assert!(
            imports.iter().any(|i| i == needed),
            "{needed} not in {imports:?}"
        );
    }
    assert!(
        !imports.iter().any(|i| i.starts_with("wasi:keyvalue/batch")),
        "{imports:?}"
    );
    assert!(
        component_imports(b"\0asm\x01\0\0\0").is_err(),
        "a core module is not a component"
    );
}
