//! `cargo bench -p extf`: rows/s and MB/s writing 100,000 and 1,000,000 realistic bookings
//! (umlauts in 1 of 5 texts) natively and inside wasmtime (the built component), validation
//! rows/s, and peak memory (VmHWM) for 100k versus 1M written rows. Prints figures; asserts
//! nothing about time. Targets (issue 4): >= 2,000,000 rows/s native writing with NFC and field
//! validation, >= 1,000,000 rows/s in wasmtime, >= 1,000,000 rows/s validation.
//!
//! The component must be built first (spin.toml's build command for extf); without it the
//! wasmtime figures are skipped with a note.

use std::io::{self, Write};
use std::time::{Duration, Instant};

use extf::*;

struct Counting(u64);

impl Write for Counting {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0 += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn ok<T, E: std::fmt::Display>(r: Result<T, E>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}

fn header() -> Header {
    let d = |y, m, day| ok(Date::new(y, m, day));
    let mut h = Header::new(
        ok(Timestamp::new(d(2024, 2, 1), 8, 0, 0, 0)),
        ok(ConsultantNumber::new(29098)),
        ok(ClientNumber::new(55003)),
        d(2024, 1, 1),
        ok(AccountLength::new(4)),
        d(2024, 1, 1),
        d(2024, 1, 31),
    );
    h.label = ok(BatchLabel::new("Bench 01/2024"));
    h
}

/// Raw input of booking `i`, as a caller would hand it over (strings, integers).
struct Raw<'a> {
    cents: u64,
    soll: bool,
    account: u32,
    contra: u32,
    day: u8,
    bu: Option<u16>,
    belegfeld: &'a str,
    text: &'a str,
}

const TEXTS: [&str; 5] = [
    "Wareneingang Lieferant 4711",
    "Ausgangsrechnung Kunde 10023",
    "Büromaterial Müller & Söhne GmbH",
    "Miete Januar Lager Nord",
    "Bewirtung Geschäftspartner",
];

fn raw(i: u64, belegfeld: &mut String) -> Raw<'_> {
    // "RE-2024-{:06}" by hand: the input generator should not cost more than the writer.
    belegfeld.clear();
    belegfeld.push_str("RE-2024-");
    let n = i % 1_000_000;
    for d in [100_000, 10_000, 1000, 100, 10, 1] {
        belegfeld.push(char::from(b'0' + (n / d % 10) as u8));
    }
    // Umlauts in 1 of 5 texts (index 2); index 4 has one too but only every 25th row uses it.
    let t = match i % 5 {
        2 => 2,
        4 if i % 25 == 4 => 4,
        4 => 3,
        k => k as usize,
    };
    Raw {
        cents: 1 + (i * 7919) % 5_000_000,
        soll: i.is_multiple_of(2),
        account: 10_000 + (i % 5000) as u32,
        contra: [8400, 8300, 4930, 3400, 1200][(i % 5) as usize],
        day: 1 + (i % 31) as u8,
        bu: if i.is_multiple_of(7) { Some(9) } else { None },
        belegfeld: belegfeld.as_str(),
        text: TEXTS[t],
    }
}

/// Builds the typed booking: every newtype checks its value, texts are NFC-normalized.
fn typed(r: &Raw<'_>) -> Booking {
    let mut b = Booking::new(
        ok(Amount::new(r.cents)),
        if r.soll { Side::Soll } else { Side::Haben },
        ok(AccountNumber::new(r.account)),
        ok(AccountNumber::new(r.contra)),
        ok(Date::new(2024, 1, r.day)),
    );
    b.bu_key = r.bu.map(|k| ok(BuKey::new(k)));
    b.document_field_1 = ok(DocumentField1::new(r.belegfeld));
    b.text = ok(BookingText::new(r.text));
    b
}

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Time this thread spent on a CPU (Linux schedstat), so figures stay comparable on a loaded
/// machine where wall time includes waiting for a core.
fn on_cpu() -> Option<Duration> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: u64 = s.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}

/// Wall-clock and on-CPU timer of one measurement.
struct Timer(Instant, Option<Duration>);

impl Timer {
    fn start() -> Self {
        Timer(Instant::now(), on_cpu())
    }
}

fn report(what: &str, rows: u64, bytes: u64, t: Timer) {
    let s = t.0.elapsed().as_secs_f64();
    let cpu = match (t.1, on_cpu()) {
        (Some(a), Some(b)) if b > a => (b - a).as_secs_f64(),
        _ => s,
    };
    println!(
        "{what:<42} {rows:>8} rows  wall {:>6.3} s {:>9.0} rows/s {:>6.1} MB/s | on-CPU {:>6.3} s {:>9.0} rows/s {:>6.1} MB/s",
        s,
        rows as f64 / s,
        bytes as f64 / s / 1e6,
        cpu,
        rows as f64 / cpu,
        bytes as f64 / cpu / 1e6
    );
}

fn write_native(rows: u64, encoding: Encoding) -> (u64, Timer) {
    let h = header();
    let start = Timer::start();
    let mut w = ok(Writer::new(Counting(0), &h, encoding));
    let mut belegfeld = String::new();
    for i in 0..rows {
        let b = typed(&raw(i, &mut belegfeld));
        ok(w.write_booking(&b));
    }
    let out = ok(w.finish());
    (out.0, start)
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing and wants a quick run.
    let quick = !std::env::args().any(|a| a == "--bench");
    // EXTF_BENCH_ROWS=n measures one batch of n rows (e.g. a small one under valgrind).
    let chosen: Option<u64> = std::env::var("EXTF_BENCH_ROWS")
        .ok()
        .and_then(|v| v.parse().ok());
    let sizes: &[u64] = if let Some(n) = &chosen {
        std::slice::from_ref(n)
    } else if quick {
        &[1_000]
    } else {
        &[100_000, 1_000_000]
    };

    println!("extf throughput (NFC + field validation on; umlauts in 1 of 5 texts)");
    // EXTF_BENCH_ONLY=wasm runs the wasmtime figures only (e.g. under a profiler).
    if std::env::var("EXTF_BENCH_ONLY").is_ok_and(|v| v == "wasm") {
        wasm::run(sizes);
        return;
    }
    let base = peak_rss_kib();
    for &n in sizes {
        let (bytes, t) = write_native(n, Encoding::Utf8Bom);
        report("native write, UTF-8 with BOM", n, bytes, t);
        println!(
            "    peak RSS after {n} rows: {:?} KiB (process start: {:?} KiB)",
            peak_rss_kib(),
            base
        );
    }
    for &n in sizes {
        let (bytes, t) = write_native(n, Encoding::Windows1252);
        report("native write, Windows-1252", n, bytes, t);
    }
    println!(
        "    peak RSS is flat from 100k to 1M rows when the two figures above match: the writer streams"
    );

    for &n in sizes {
        let h = header();
        let mut belegfeld = String::new();
        let mut w = ok(Writer::new(
            Vec::with_capacity((n as usize) * 330),
            &h,
            Encoding::Utf8Bom,
        ));
        for i in 0..n {
            ok(w.write_booking(&typed(&raw(i, &mut belegfeld))));
        }
        let file = ok(w.finish());
        let start = Timer::start();
        let r = validate(&file, &Options::default());
        assert!(r.is_valid() || n > u64::from(MAX_POSTINGS));
        report("native validate", n, file.len() as u64, start);
        let start = Timer::start();
        let p = ok(parse(&file, &Options::default()));
        report(
            "native parse (into the typed model)",
            p.bookings.len() as u64,
            file.len() as u64,
            start,
        );
    }

    wasm::run(sizes);
}

mod wasm {
    use super::*;
    use wasmtime::component::{Component, Linker};
    use wasmtime::{Config, Engine, Store};

    wasmtime::component::bindgen!({
        path: "../../wit/datev-extf",
        world: "datev-extf",
    });

    use exports::ml_connector::datev_extf::extf as w;

    fn to_wit(r: &Raw<'_>) -> w::Booking {
        w::Booking {
            amount_cents: r.cents,
            side: if r.soll {
                w::Side::Soll
            } else {
                w::Side::Haben
            },
            currency: None,
            exchange_rate: None,
            base_amount_cents: None,
            base_currency: None,
            account: r.account,
            contra_account: r.contra,
            bu_key: r.bu,
            document_date: w::Date {
                year: 2024,
                month: 1,
                day: r.day,
            },
            document_field1: r.belegfeld.to_owned(),
            document_field2: None,
            discount_cents: None,
            text: r.text.to_owned(),
            extras: None,
        }
    }

    fn header() -> w::Header {
        let d = |year, month, day| w::Date { year, month, day };
        w::Header {
            created_at: w::Timestamp {
                date: d(2024, 2, 1),
                hour: 8,
                minute: 0,
                second: 0,
                millisecond: 0,
            },
            origin: String::new(),
            exported_by: String::new(),
            imported_by: String::new(),
            consultant: 29098,
            client: 55003,
            fiscal_year_start: d(2024, 1, 1),
            account_length: 4,
            period_from: d(2024, 1, 1),
            period_to: d(2024, 1, 31),
            label: "Bench 01/2024".into(),
            initials: String::new(),
            booking_type: w::BookingType::FinancialAccounting,
            purpose: w::AccountingPurpose::Independent,
            festschreibung: false,
            currency: "EUR".into(),
            chart_of_accounts: String::new(),
            industry_solution: None,
            application_info: String::new(),
        }
    }

    /// One streamed file, in a function of its own so that an instruction counter can be
    /// limited to it (`valgrind --tool=callgrind --toggle-collect='*streaming_write*'`, with
    /// EXTF_BENCH_ROWS for a smaller batch): a figure that does not depend on machine load.
    #[inline(never)]
    fn streaming_write(
        store: &mut Store<()>,
        inst: &DatevExtf,
        bookings: &[w::Booking],
        chunk: usize,
    ) -> u64 {
        let api = inst.ml_connector_datev_extf_extf().writer();
        let writer = ok(api.call_start(&mut *store, &header(), w::Encoding::Utf8Bom))
            .unwrap_or_else(|e| panic!("{e:?}"));
        let mut streamed = 0u64;
        for part in bookings.chunks(chunk) {
            let bytes =
                ok(api.call_push(&mut *store, writer, part)).unwrap_or_else(|e| panic!("{e:?}"));
            streamed += bytes.len() as u64;
        }
        streamed + ok(api.call_finish(&mut *store, writer)).len() as u64
    }

    pub fn run(sizes: &[u64]) {
        // EXTF_WASM points at another build (e.g. one in a separate CARGO_TARGET_DIR).
        let path = std::env::var("EXTF_WASM").unwrap_or_else(|_| {
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../target/components/extf.wasm"
            )
            .to_owned()
        });
        let Ok(bytes) = std::fs::read(&path) else {
            println!(
                "wasmtime: {path} not built; skipped (cargo build --release --target wasm32-unknown-unknown -p extf && cargo xtask componentize extf)"
            );
            return;
        };
        println!("wasmtime 48 ({} byte component, empty linker)", bytes.len());
        let mut config = Config::new();
        // EXTF_PERFMAP=1 writes /tmp/perf-<pid>.map so `perf report` names the guest's functions.
        if std::env::var_os("EXTF_PERFMAP").is_some() {
            config.profiler(wasmtime::ProfilingStrategy::PerfMap);
        }
        let engine = ok(Engine::new(&config));
        let start = Instant::now();
        let component = ok(Component::new(&engine, &bytes));
        println!("    compile: {:.2} s", start.elapsed().as_secs_f64());
        let linker: Linker<()> = Linker::new(&engine);
        for &n in sizes {
            let mut store = Store::new(&engine, ());
            // A 1M-row file is ~330 MB returned by one call: above wasmtime's default limit on
            // guest-to-host data per call, so a host writing such batches must raise it.
            store.set_hostcall_fuel(usize::MAX);
            let inst = ok(DatevExtf::instantiate(&mut store, &component, &linker));
            let mut belegfeld = String::new();
            let bookings: Vec<w::Booking> =
                (0..n).map(|i| to_wit(&raw(i, &mut belegfeld))).collect();
            let start = Timer::start();
            let out = ok(inst.ml_connector_datev_extf_extf().call_write(
                &mut store,
                &header(),
                &bookings,
                w::Encoding::Utf8Bom,
            ));
            let file = out.unwrap_or_else(|e| panic!("{e:?}"));
            report(
                "wasmtime write (one call, list<booking>)",
                n,
                file.len() as u64,
                start,
            );
            // The streaming writer: the same file in chunks, each chunk's bytes handed to the
            // host (and dropped here, as the native figures write into a byte counter).
            for chunk in [1_000usize, 10_000] {
                let start = Timer::start();
                let streamed = streaming_write(&mut store, &inst, &bookings, chunk);
                report(
                    &format!("wasmtime write (writer, pushes of {chunk})"),
                    n,
                    streamed,
                    start,
                );
                assert_eq!(streamed, file.len() as u64);
            }
            let opts = w::ValidateOptions {
                encoding: w::InputEncoding::Auto,
                max_findings: 10_000,
            };
            let start = Timer::start();
            let r = ok(inst
                .ml_connector_datev_extf_extf()
                .call_validate(&mut store, &file, opts));
            report(
                "wasmtime validate",
                u64::from(r.rows),
                file.len() as u64,
                start,
            );
            // The native writer must agree byte for byte.
            if n <= 100_000 {
                let (native_len, _) = write_native(n, Encoding::Utf8Bom);
                assert_eq!(native_len, file.len() as u64);
            }
        }
    }
}
