//! Spin cron component `datev-poller`: one [`flows::poller::Poller::tick`] per cron event.
//!
//! Exports `handle-cron-event` of `fermyon:spin-cron@2.0.0` (trigger-cron 0.4.2, `spin.md` §7),
//! generated with wit-bindgen from the vendored `wit/deps/spin-cron`. A cron component gets
//! neither service chaining nor `self` (`spin.md` §6): DATEV (or the sandbox) is reached by the
//! full URLs in its variables, which `allowed_outbound_hosts` lists.

use flows::poller::Poller;
use spin_glue::{SpinHttp, SpinStore, WasiClock, WasiRng, variable};

/// Bindings for the cron world. The generated export glue is `unsafe`; it is allowed in this
/// module only.
#[allow(unsafe_code, missing_docs)]
mod bindings {
    wit_bindgen::generate!({
        world: "ml-connector:datev-poller/datev-poller",
        path: ["../../wit/deps/spin-cron", "wit"],
        generate_all,
    });

    use super::Cron;
    export!(Cron);
}

use bindings::Guest;
use bindings::fermyon::spin_cron::cron_types::{Error, Metadata};

fn lookup(name: &'static str) -> Result<Option<String>, String> {
    variable(name).map_err(|e| e.to_string())
}

/// The cron entry point.
struct Cron;

impl Guest for Cron {
    /// One tick. An `Err` is logged by the trigger (nothing retries it); the next tick continues
    /// where this one stopped.
    fn handle_cron_event(metadata: Metadata) -> Result<(), Error> {
        let fail = |what: String| {
            eprintln!("datev-poller: {what}");
            Error::Other(what)
        };
        let mut datev =
            flows::config::datev(&lookup).map_err(|e| fail(format!("configuration: {e}")))?;
        let config =
            flows::config::poller(&lookup).map_err(|e| fail(format!("configuration: {e}")))?;
        let store = SpinStore::open_default().map_err(|e| fail(format!("key-value store: {e}")))?;
        // Credentials an operator stored (PUT /settings/datev) win over the variables.
        flows::credentials::apply_datev(&store, &mut datev)
            .map_err(|e| fail(format!("stored DATEV credentials: {e}")))?;
        let http = SpinHttp::new();
        let ports = datev::Ports {
            store: &store,
            http: &http,
            clock: &WasiClock,
            rng: &WasiRng,
        };
        let report = Poller::new(&config, &datev, ports)
            .tick(metadata.timestamp)
            .map_err(|e| fail(format!("tick stopped: {e}")))?;
        if report.lease {
            println!(
                "datev-poller: tick {}: inbound applied {} (failed {}), released/rejected {}, \
                 expired {}, refreshed {}, submitted {}, retries {}, refused {}, polls {}, \
                 finished {}, alerts {}{}",
                metadata.timestamp,
                report.releases.applied,
                report.releases.failed,
                report.releases.decided,
                report.releases.expired,
                report.refreshed,
                report.submitted,
                report.submit_retries,
                report.refused,
                report.polls,
                report.finished,
                report.alerts,
                if report.budget_exhausted {
                    " (time budget used up)"
                } else {
                    ""
                }
            );
        }
        Ok(())
    }
}
