//! Test host: component variables over application variables (spin.md §5).

use crate::host_support;

use connector::{HttpRequest, Method};
use host_support::{get, probe_app, probe_manifest, text};
use integration_tests::SpinApp;

#[test]
fn templates_resolve_defaults_and_overrides() {
    let mut app = probe_app();
    assert_eq!(
        text(&get(&app, "/probe/?op=var&name=greeting")),
        "ok: hello world"
    );
    assert_eq!(text(&get(&app, "/probe/?op=var&name=token")), "ok: t0ken");
    app.set_variable("who", "Spin");
    assert_eq!(
        text(&get(&app, "/probe/?op=var&name=greeting")),
        "ok: hello Spin"
    );
}

#[test]
fn names_a_component_did_not_declare_are_undefined() {
    let app = probe_app();
    // An application variable is not a component variable.
    assert_eq!(
        text(&get(&app, "/probe/?op=var&name=who")),
        "err: Error::Undefined(\"no variable for \\\"probe\\\".\\\"who\\\"\")"
    );
    // probe-b declares no variables at all.
    assert_eq!(
        text(&get(&app, "/b/?op=var&name=greeting")),
        "err: Error::Undefined(\"no variable for \\\"probe-b\\\".\\\"greeting\\\"\")"
    );
    let invalid = text(&get(&app, "/probe/?op=var&name=Bad-Name"));
    assert!(invalid.starts_with("err: Error::InvalidName("), "{invalid}");
}

#[test]
fn wasi_config_sees_the_same_variables() {
    let app = probe_app();
    assert_eq!(
        text(&get(&app, "/probe/?op=config&name=greeting")),
        "some: hello world"
    );
    assert_eq!(text(&get(&app, "/probe/?op=config&name=who")), "none");
    assert_eq!(text(&get(&app, "/probe/?op=config&name=Bad")), "none");
    assert_eq!(
        text(&get(&app, "/probe/?op=config-all")),
        "greeting=hello world\ntoken=t0ken"
    );
}

#[test]
fn a_required_variable_without_value_stops_the_app() {
    let app = SpinApp::load(probe_manifest()).expect("loads");
    let err = app
        .http(HttpRequest::new(
            Method::Get,
            "http://127.0.0.1:3000/probe/?op=var&name=greeting",
        ))
        .expect_err("token is required");
    assert!(
        format!("{err:#}").contains("\"token\" is required and has no value"),
        "{err:#}"
    );
}

#[test]
fn overriding_an_undeclared_variable_is_ignored_and_noted() {
    let mut app = probe_app();
    app.set_variable("nope", "x");
    assert_eq!(
        text(&get(&app, "/probe/?op=var&name=greeting")),
        "ok: hello world"
    );
    assert!(
        app.logs()
            .iter()
            .any(|l| l.contains("set_variable(\"nope\"): not an application variable")),
        "{:#?}",
        app.logs()
    );
}
