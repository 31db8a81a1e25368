//! Figures for the per-request work of the client's pure parts. Spin starts a fresh instance
//! per request, so the first E.164 parse (libphonenumber metadata is deserialised lazily) is
//! paid on every cron tick or API call that parses a number: it is printed separately.

use criterion::{Criterion, criterion_group};
use std::hint::black_box;
use std::num::NonZeroU32;
use std::time::Instant;
use twilio::{E164, Language, Twiml, fit_to_segments, segments};

fn cold_first_parse() {
    let t = Instant::now();
    let n = E164::parse("0151 23456789", "bench");
    println!(
        "e164 first parse (metadata load included): {:?} -> {:?}",
        t.elapsed(),
        n.map(|n| n.to_string())
    );
}

fn benches(c: &mut Criterion) {
    c.bench_function("e164_parse_national_de", |b| {
        b.iter(|| E164::parse(black_box("0151 23456789"), "p"))
    });
    c.bench_function("e164_parse_international", |b| {
        b.iter(|| E164::parse(black_box("+1 415 867 5309"), "p"))
    });
    c.bench_function("e164_from_canonical", |b| {
        b.iter(|| E164::from_canonical(black_box("+4915123456789"), "p"))
    });
    let gsm = "Stapel 42 für Mandant 55003 (Müller & Söhne GmbH) ist fehlgeschlagen: Konto 1200 gesperrt. ".repeat(4);
    let ucs = format!("{gsm} ✓");
    c.bench_function("segments_gsm7_372", |b| {
        b.iter(|| segments(black_box(&gsm)))
    });
    c.bench_function("segments_ucs2_374", |b| {
        b.iter(|| segments(black_box(&ucs)))
    });
    let two = NonZeroU32::new(2).unwrap_or(NonZeroU32::MIN);
    c.bench_function("fit_gsm7_372_into_2", |b| {
        b.iter(|| fit_to_segments(black_box(&gsm), two))
    });
    c.bench_function("fit_ucs2_374_into_2", |b| {
        b.iter(|| fit_to_segments(black_box(&ucs), two))
    });
    c.bench_function("twiml_say", |b| {
        b.iter(|| Twiml::say(black_box(&gsm), Language::German))
    });
}

criterion_group!(group, benches);

fn main() {
    cold_first_parse();
    group();
    Criterion::default().configure_from_args().final_summary();
}
