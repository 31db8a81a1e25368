//! Figures of the embedded Spin test host: compile/compose time of the probe component, and
//! requests per second through it (fresh instance each, as Spin). Prints, asserts nothing.
//!
//! `cargo build --release --target wasm32-wasip2 -p probe -p probe-lib` first, then
//! `cargo bench -p integration-tests --bench host`.
//! `TEST_HOST_NO_DISK_CACHE=1` makes the first figure a real cranelift compile.

use std::path::PathBuf;
use std::time::Instant;

use connector::{HttpRequest, Method};
use integration_tests::SpinApp;

fn main() -> anyhow::Result<()> {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/probe/spin.toml");
    let mut app = SpinApp::load(&manifest)?;
    app.set_variable("token", "bench");

    let started = Instant::now();
    app.prepare("probe")?;
    println!(
        "prepare probe (compose + compile or cache load): {:.2} s",
        started.elapsed().as_secs_f64()
    );
    for line in app.logs() {
        println!("  {line}");
    }

    for (what, path, n) in [
        (
            "trivial request (op=add, composed dependency call)",
            "/probe/?op=add&a=1&b=2",
            300,
        ),
        ("header echo", "/probe/x?op=headers", 300),
        ("key-value increment", "/probe/?op=incr&key=bench", 300),
        (
            "service-chained request (two instances)",
            "/probe/?op=fetch&url=http%3A%2F%2Fprobe-b.spin.internal%2F%3Fop%3Dadd%26a%3D1%26b%3D2",
            100,
        ),
    ] {
        let req = || HttpRequest::new(Method::Get, format!("http://127.0.0.1:3000{path}"));
        // Warm up (first instantiation of this component in this process).
        app.http(req())?;
        let started = Instant::now();
        for _ in 0..n {
            let resp = app.http(req())?;
            if resp.status != 200 {
                anyhow::bail!("{what}: status {}", resp.status);
            }
        }
        let per = started.elapsed().as_secs_f64() / f64::from(n);
        println!(
            "{what}: {:.0} requests/s ({:.2} ms each, {n} requests)",
            1.0 / per,
            per * 1e3
        );
    }

    let started = Instant::now();
    for t in 0..100 {
        app.cron("probe-cron", t)?.map_err(|e| anyhow::anyhow!(e))?;
    }
    let per = started.elapsed().as_secs_f64() / 100.0;
    println!(
        "cron tick: {:.0} ticks/s ({:.2} ms each)",
        1.0 / per,
        per * 1e3
    );
    Ok(())
}
