//! The `twilio-sender` tick, host-independent (`ARCHITECTURE.md` flow 4; issue 7).
//!
//! Alerts in the outbox (`connector::outbox`, produced by `datev-poller`) become SMS and voice
//! calls through Twilio ([`twilio::TwilioClient`]): paced against Twilio's concurrency limit,
//! backed off on 429 for the whole tick, retried on 5xx and transport errors, reconciled after
//! ambiguous failures instead of resent blindly, each alert sent at most once, and moved forward
//! by the status callbacks the webhook queued. The `twilio-sender` cron component only supplies
//! the ports and the settings.
//!
//! - [`tick`]: one tick — lease, status callbacks, outbox entries ([`Sender::tick`]).
//! - [`template`]: the words (SMS body, spoken call) from an alert's inputs.
//! - [`pace`]: start-rate bound and the tick-wide 429 gate; the [`Sleep`] port.
//! - [`journal`]: the sender's own records (attempt journal and claims, SID index, cursor).
//! - [`status`]: Twilio statuses in outbox terms; states only move forward.
//! - [`config`]: settings with defaults; errors name the Spin variable.
//! - [`replay`]: an operator puts a failed alert back in line.

pub mod config;
pub mod journal;
pub mod pace;
pub mod replay;
pub mod status;
pub mod template;
pub mod tick;

pub use config::{SenderConfig, SenderSettings, SettingError};
pub use pace::Sleep;
pub use replay::{ReplayError, recheck, replay};
pub use tick::{Ports, Sender, TickError, TickReport};
