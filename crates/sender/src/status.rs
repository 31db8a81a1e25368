//! What a Twilio status means for an outbox item, and the rule that states only move forward.
//!
//! Callbacks are at least once and unordered (twilio.md §7.4): `sent` can arrive after
//! `delivered`, and a retry repeats an event. An item therefore moves only to a higher rank —
//! `pending`/`sending` (0) < `sent` (1) < `delivered`/`failed` (2) — and a final state never
//! changes again, so applying any sequence of callbacks, in any order and any number of times,
//! ends in the same state.

use connector::outbox::OutboxState;
use twilio::{CallStatus, MessageStatus};

/// The rank of a state (see the module docs).
pub fn rank(state: OutboxState) -> u8 {
    match state {
        OutboxState::Pending | OutboxState::Sending => 0,
        OutboxState::Sent => 1,
        OutboxState::Delivered | OutboxState::Failed => 2,
    }
}

/// A status Twilio reported for a message or call, in outbox terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    /// The state it implies.
    pub target: OutboxState,
    /// The status word as Twilio sent it (`delivered`, `no-answer`, …).
    pub status: String,
    /// Twilio's error code (`ErrorCode`, e.g. 30003 on `undelivered`).
    pub error_code: Option<u32>,
}

impl Observed {
    /// A message status (twilio.md §3.3): `accepted` … `sent` → sent; `delivered`, `read` (and the
    /// deprecated `partially_delivered`) → delivered; `undelivered`, `failed`, `canceled` →
    /// failed. Inbound and unknown values say nothing about an outbound alert: `None`.
    pub fn message(status: &MessageStatus, error_code: Option<u32>) -> Option<Self> {
        let target = match status {
            MessageStatus::Accepted
            | MessageStatus::Scheduled
            | MessageStatus::Queued
            | MessageStatus::Sending
            | MessageStatus::Sent => OutboxState::Sent,
            MessageStatus::Delivered | MessageStatus::Read | MessageStatus::PartiallyDelivered => {
                OutboxState::Delivered
            }
            MessageStatus::Undelivered | MessageStatus::Failed | MessageStatus::Canceled => {
                OutboxState::Failed
            }
            MessageStatus::Receiving | MessageStatus::Received | MessageStatus::Unknown(_) => {
                return None;
            }
        };
        Some(Self {
            target,
            status: status.as_str().to_owned(),
            error_code,
        })
    }

    /// A call status (twilio.md §4.2, §7.3): `queued` … `in-progress` → sent; `completed` (the
    /// controller picked up and the alert was spoken) → delivered; `busy`, `no-answer`, `failed`,
    /// `canceled` → failed.
    pub fn call(status: &CallStatus, error_code: Option<u32>) -> Option<Self> {
        let target = match status {
            CallStatus::Queued
            | CallStatus::Initiated
            | CallStatus::Ringing
            | CallStatus::InProgress => OutboxState::Sent,
            CallStatus::Completed => OutboxState::Delivered,
            CallStatus::Busy | CallStatus::Failed | CallStatus::NoAnswer | CallStatus::Canceled => {
                OutboxState::Failed
            }
            CallStatus::Unknown(_) => return None,
        };
        Some(Self {
            target,
            status: status.as_str().to_owned(),
            error_code,
        })
    }

    /// True when it moves an item in `current` forward.
    pub fn advances(&self, current: OutboxState) -> bool {
        rank(self.target) > rank(current)
    }

    /// The reason kept on a failed item, e.g. `Twilio status undelivered (error 30003)`.
    pub fn reason(&self) -> String {
        match self.error_code {
            Some(code) => format!("Twilio status {} (error {code})", self.status),
            None => format!("Twilio status {}", self.status),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_statuses() {
        let t = |s: &str| Observed::message(&MessageStatus::parse(s), None).map(|o| o.target);
        assert_eq!(t("queued"), Some(OutboxState::Sent));
        assert_eq!(t("accepted"), Some(OutboxState::Sent));
        assert_eq!(t("sent"), Some(OutboxState::Sent));
        assert_eq!(t("delivered"), Some(OutboxState::Delivered));
        assert_eq!(t("read"), Some(OutboxState::Delivered));
        assert_eq!(t("undelivered"), Some(OutboxState::Failed));
        assert_eq!(t("failed"), Some(OutboxState::Failed));
        assert_eq!(t("canceled"), Some(OutboxState::Failed));
        assert_eq!(t("received"), None);
        assert_eq!(t("teleported"), None);
    }

    #[test]
    fn call_statuses() {
        let t = |s: &str| Observed::call(&CallStatus::parse(s), None).map(|o| o.target);
        assert_eq!(t("initiated"), Some(OutboxState::Sent));
        assert_eq!(t("in-progress"), Some(OutboxState::Sent));
        assert_eq!(t("completed"), Some(OutboxState::Delivered));
        assert_eq!(t("no-answer"), Some(OutboxState::Failed));
        assert_eq!(t("busy"), Some(OutboxState::Failed));
        assert_eq!(t("weird"), None);
    }

    #[test]
    fn only_forward_and_final_is_final() {
        let delivered = Observed::message(&MessageStatus::Delivered, None).unwrap();
        let sent = Observed::message(&MessageStatus::Sent, None).unwrap();
        let undelivered = Observed::message(&MessageStatus::Undelivered, Some(30003)).unwrap();
        assert!(sent.advances(OutboxState::Pending));
        assert!(sent.advances(OutboxState::Sending));
        assert!(!sent.advances(OutboxState::Sent));
        assert!(delivered.advances(OutboxState::Sent));
        assert!(!sent.advances(OutboxState::Delivered));
        assert!(!undelivered.advances(OutboxState::Delivered));
        assert!(!delivered.advances(OutboxState::Failed));
        assert_eq!(
            undelivered.reason(),
            "Twilio status undelivered (error 30003)"
        );
        assert_eq!(delivered.reason(), "Twilio status delivered");
    }
}
