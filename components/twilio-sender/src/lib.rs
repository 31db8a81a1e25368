//! Spin cron component `twilio-sender`: one [`sender::Sender::tick`] per cron event.
//!
//! Exports `handle-cron-event` of `fermyon:spin-cron@2.0.0` (trigger-cron 0.4.2, `spin.md` §7),
//! generated with wit-bindgen from the vendored `wit/deps/spin-cron`. A cron component gets
//! neither service chaining nor `self` (`spin.md` §6): Twilio (or the sandbox on Spin's own
//! listener) is reached by the full URLs in `twilio_api_base_url`, which
//! `allowed_outbound_hosts` lists. Everything else is `crates/sender`; this file only reads the
//! variables and supplies the ports.

use sender::{Ports, Sender, SenderConfig, SenderSettings, Sleep};
use spin_glue::{SpinHttp, SpinStore, WasiClock, WasiRng, variable};

/// Bindings for the cron world. The generated export glue is `unsafe`; it is allowed in this
/// module only.
#[allow(unsafe_code, missing_docs)]
mod bindings {
    wit_bindgen::generate!({
        world: "ml-connector:twilio-sender/twilio-sender",
        path: ["../../wit/deps/spin-cron", "wit"],
        generate_all,
    });

    use super::Cron;
    export!(Cron);
}

use bindings::Guest;
use bindings::fermyon::spin_cron::cron_types::{Error, Metadata};

/// Waits with `std::thread::sleep`, which WASI 0.2 implements with
/// `monotonic-clock.subscribe-duration` and a blocking poll.
struct ThreadSleep;

impl Sleep for ThreadSleep {
    fn sleep_ms(&self, ms: u64) {
        std::thread::sleep(std::time::Duration::from_millis(ms));
    }
}

fn lookup(name: &'static str) -> Result<Option<String>, String> {
    variable(name)
        .map(|v| v.filter(|v| !v.trim().is_empty()))
        .map_err(|e| e.to_string())
}

/// The cron entry point.
struct Cron;

impl Guest for Cron {
    /// One tick. An `Err` is logged by the trigger (nothing retries it); the next tick continues
    /// where this one stopped.
    fn handle_cron_event(metadata: Metadata) -> Result<(), Error> {
        let fail = |what: String| {
            eprintln!("twilio-sender: {what}");
            Error::Other(what)
        };
        let settings =
            SenderSettings::from_lookup(lookup).map_err(|e| fail(format!("configuration: {e}")))?;
        let config = SenderConfig::from_settings(&settings)
            .map_err(|e| fail(format!("configuration: {e}")))?;
        let store = SpinStore::open_default().map_err(|e| fail(format!("key-value store: {e}")))?;
        let twilio = flows::credentials::twilio_config(&store, &lookup)
            .map_err(|e| fail(format!("configuration: {e}")))?;
        let http = SpinHttp::new();
        let ports = Ports {
            store: &store,
            http: &http,
            clock: &WasiClock,
            rng: &WasiRng,
            sleep: &ThreadSleep,
        };
        let result = Sender::new(ports, twilio, config).tick(metadata.timestamp);
        let report = result.map_err(|e| fail(format!("tick stopped: {e}")))?;
        for lost in &report.audit_lost {
            eprintln!("twilio-sender: {lost}");
        }
        if report.lease {
            println!(
                "twilio-sender: tick {}: events {} (applied {}), entries {}, sms {}, calls {}, verify {}, \
                 429s {}, waited {} ms, retries {}, ambiguous {}, reconciled {}/{}, given up {}, \
                 escalated {}, status checks {}, deferred {}, {} ms",
                metadata.timestamp,
                report.events_read,
                report.statuses_applied,
                report.entries,
                report.sms_sent,
                report.calls_placed,
                report.verifications,
                report.rate_limited,
                report.waited_ms,
                report.retries,
                report.ambiguous,
                report.reconciled_sent,
                report.reconciled_unsent,
                report.given_up,
                report.escalated,
                report.status_checks,
                report.deferred,
                report.elapsed_ms,
            );
        }
        Ok(())
    }
}
