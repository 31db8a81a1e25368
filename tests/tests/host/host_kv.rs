//! Test host: the shared key-value store, access rules, `increment`, and CAS as Spin's SQLite
//! and Redis backends implement it (spin.md §4.3).

use crate::host_support;

use connector::{HttpRequest, KeyValue, Method};
use host_support::{get, probe_app, text};
use integration_tests::KvBackend;

#[test]
fn components_share_one_store_through_both_interfaces() {
    let app = probe_app();
    assert_eq!(
        text(&get(&app, "/probe/?op=kv-set&key=greeting&value=hi")),
        "stored"
    );
    // Another component, the spin API.
    assert_eq!(text(&get(&app, "/b/?op=kv-get&key=greeting")), "hi");
    // The wasi:keyvalue API of a third instance.
    assert_eq!(text(&get(&app, "/b/?op=wasi-get&key=greeting")), "hi");
    // The test sees it too, and writes that guests see.
    let store = app.kv("default");
    assert_eq!(store.get("greeting").unwrap(), Some(b"hi".to_vec()));
    store.set("seeded", b"by test").unwrap();
    assert_eq!(text(&get(&app, "/probe/?op=kv-keys")), "greeting\nseeded");
    assert_eq!(text(&get(&app, "/probe/?op=kv-exists&key=seeded")), "true");
    assert_eq!(
        text(&get(&app, "/probe/?op=kv-delete&key=seeded")),
        "deleted"
    );
    assert_eq!(store.keys(), ["greeting"]);
    let absent = get(&app, "/probe/?op=kv-get&key=seeded");
    assert_eq!((absent.status, text(&absent)), (404, "absent".to_owned()));
    // set, set (test), delete = 3 writes.
    assert_eq!(store.writes(), 3);
}

#[test]
fn labels_not_granted_are_access_denied() {
    let app = probe_app();
    // probe-nokv has no key_value_stores.
    for op in ["kv-get", "wasi-get"] {
        let resp = get(&app, &format!("/exact?op={op}&key=k"));
        assert_eq!(
            (resp.status, text(&resp)),
            (500, "open: access-denied".to_owned()),
            "{op}"
        );
    }
    // probe may open "default" but no other label, whether it exists or not.
    let resp = get(&app, "/probe/?op=kv-get&store=other&key=k");
    assert_eq!(text(&resp), "open: access-denied");
    let resp = get(&app, "/probe/?op=wasi-get&store=other&key=k");
    assert_eq!(text(&resp), "open: access-denied");
}

#[test]
fn list_keys_rejects_a_cursor_like_spin() {
    let app = probe_app();
    app.kv("default").set("a", b"1").unwrap();
    assert_eq!(text(&get(&app, "/probe/?op=wasi-list")), "a\ncursor: None");
    assert_eq!(
        text(&get(&app, "/probe/?op=wasi-list&cursor=x")),
        "other: list_keys: cursor not supported"
    );
}

#[test]
fn sqlite_increment_counts_in_8_byte_little_endian() {
    let app = probe_app();
    assert_eq!(text(&get(&app, "/probe/?op=incr&key=claim")), "1");
    assert_eq!(text(&get(&app, "/b/?op=incr&key=claim&delta=41")), "42");
    let store = app.kv("default");
    assert_eq!(
        store.get("claim").unwrap(),
        Some(42i64.to_le_bytes().to_vec())
    );
    // The test-side port has the same semantics: a claim is "the increment that returned 1".
    assert!(!store.claim("claim").unwrap());
    assert!(store.claim("fresh").unwrap());
    assert_eq!(
        store.get("fresh").unwrap(),
        Some(1i64.to_le_bytes().to_vec())
    );
}

#[test]
fn sqlite_increment_of_a_non_counter_traps_like_spins_host() {
    let app = probe_app();
    app.kv("default").set("text", b"12").unwrap();
    let err = app
        .http(HttpRequest::new(
            Method::Get,
            "http://127.0.0.1:3000/probe/?op=incr&key=text",
        ))
        .expect_err("Spin's SQLite host panics on a non-8-byte counter");
    assert!(
        format!("{err:#}").contains("not an 8-byte little-endian counter"),
        "{err:#}"
    );
    assert_eq!(app.kv("default").get("text").unwrap(), Some(b"12".to_vec()));
}

#[test]
fn redis_increment_counts_in_decimal_strings() {
    let mut app = probe_app();
    app.set_kv_backend(KvBackend::Redis);
    assert_eq!(text(&get(&app, "/probe/?op=incr&key=n&delta=-3")), "-3");
    assert_eq!(app.kv("default").get("n").unwrap(), Some(b"-3".to_vec()));
    app.kv("default").set("bin", &7i64.to_le_bytes()).unwrap();
    assert_eq!(
        text(&get(&app, "/probe/?op=incr&key=bin")),
        "other: increment of \"bin\": ERR value is not an integer or out of range"
    );
}

#[test]
fn cas_race_on_an_existing_key() {
    // SQLite: the stale writer gets cas-failed. Redis: it gets ok, and its write is dropped.
    for (backend, swap_a) in [(KvBackend::Sqlite, "cas-failed"), (KvBackend::Redis, "ok")] {
        let mut app = probe_app();
        app.set_kv_backend(backend);
        app.kv("default").set("k", b"v0").unwrap();
        assert_eq!(
            text(&get(&app, "/probe/?op=cas-race&key=k&a=A&b=B")),
            format!("read a: v0\nread b: v0\nswap b: ok\nswap a: {swap_a}\nfinal: B"),
            "{backend:?}"
        );
    }
}

#[test]
fn cas_race_on_an_absent_key() {
    // SQLite: both "creates" are unconditional upserts, the last writer wins. Redis: both report
    // ok, the watched write is dropped, the first writer's value stays.
    for (backend, final_value) in [(KvBackend::Sqlite, "A"), (KvBackend::Redis, "B")] {
        let mut app = probe_app();
        app.set_kv_backend(backend);
        assert_eq!(
            text(&get(&app, "/probe/?op=cas-race&key=new&a=A&b=B")),
            format!("read a: none\nread b: none\nswap b: ok\nswap a: ok\nfinal: {final_value}"),
            "{backend:?}"
        );
    }
}

#[test]
fn cas_without_current_is_a_blind_write_on_both_backends() {
    for backend in [KvBackend::Sqlite, KvBackend::Redis] {
        let mut app = probe_app();
        app.set_kv_backend(backend);
        app.kv("default").set("k", b"old").unwrap();
        assert_eq!(
            text(&get(&app, "/probe/?op=cas-one&key=k&value=new")),
            "swap: ok\nfinal: new",
            "{backend:?}"
        );
        assert_eq!(
            text(&get(&app, "/probe/?op=cas-one&key=k&value=newer&read=1")),
            "current: new\nswap: ok\nfinal: newer",
            "{backend:?}"
        );
    }
}
