//! The operator half of issue 8: the audit trail, replay of failed downstream calls, stored
//! credentials and the connection check. A child module of [`crate::api`], so it answers
//! through the same admin check, error shapes and audit entry as every other route.
//!
//! | route | answer |
//! |---|---|
//! | `GET /audit?from=&to=&subject=&batch=&datev_job=&action=&limit=&cursor=` | a page of entries, oldest first, and `next_cursor` |
//! | `GET /audit/{id}` | one entry (`id` = `yyyymmdd-seq`) |
//! | `POST /audit/{id}/replay` | 200/202 replayed, 409 refused with the reason, 422 not a downstream call |
//! | `GET /settings` | credentials masked, each with its source (`store`, `variable`, `unset`) |
//! | `PUT /settings/twilio`, `PUT /settings/datev` | 200; stored sealed, never returned |
//! | `POST /settings/ping` | per side `ok` or the precise reason, with the latency |
//!
//! # Paging the audit trail
//! The log is one counter per UTC day plus one key per entry ([`connector::audit`]), so a
//! listing walks days from `from` to `to` and sequence numbers within each day. One request reads
//! at most [`SCAN_BUDGET`] entry keys plus one counter per day (at most [`MAX_RANGE_DAYS`]):
//! filters are applied to what was read, and `next_cursor` (`yyyymmdd-seq` of the last key read)
//! continues exactly there. A page may thus hold fewer than `limit` entries and still have a
//! cursor; the listing is complete when `next_cursor` is `null`.

use super::{
    Api, ApiRequest, Body, Fail, Served, error, field_error, internal, json_response, reject,
};
use crate::config::{ConfigError, Lookup};
use crate::credentials::{
    self, CredentialError, DatevInput, Source, TwilioInput, TwilioVariables, mask_id,
};
use crate::poller::{Poller, PollerConfig, ReplayDone, ReplayRefusal, TickError};
use crate::registry;
use connector::audit::{self, Actor, AuditEntry, AuditError, AuditId, Outcome as AuditOutcome};
use connector::batch::BatchId;
use connector::client_config::{self, ClientId};
use connector::outbox::{self, OutboxItem};
use connector::time::Day;
use datev::{
    ApiError, ClientCredentials, ClientsQuery, DatevApi, DatevAuth, DatevClientId, Keyring,
    TokenError,
};
use serde::Serialize;
use serde_json::{Value, json};
use twilio::{TwilioClient, TwilioError};

/// Entry keys read by one `GET /audit` at most.
pub const SCAN_BUDGET: u64 = 500;
/// Longest time range of one listing (one counter read per day).
pub const MAX_RANGE_DAYS: u64 = 31;
/// Default and largest page size.
const DEFAULT_LIMIT: usize = 50;
const MAX_LIMIT: usize = 200;
const DAY_MS: u64 = 86_400_000;

/// What the operator routes need beyond [`super::ApiSettings`]; read from variables by the
/// component ([`AdminSettings::from_lookup`]).
#[derive(Debug)]
pub struct AdminSettings {
    /// `datev_token_keys`: seals stored credentials (the DATEV tokens' scheme).
    pub keyring: Result<Keyring, ConfigError>,
    /// The Twilio variables (fallback of stored credentials).
    pub twilio: Result<TwilioVariables, ConfigError>,
    /// The poller's settings, for replays of DATEV calls through the poller's own path.
    pub poller: PollerConfig,
}

impl AdminSettings {
    /// Reads `datev_token_keys`, the `twilio_*` variables and the poller settings.
    pub fn from_lookup(lookup: Lookup<'_>) -> Self {
        Self {
            keyring: crate::config::keyring(lookup),
            twilio: TwilioVariables::from_lookup(lookup),
            poller: crate::config::poller(lookup).unwrap_or_default(),
        }
    }
}

/// Parses a time bound: Unix milliseconds, `YYYY-MM-DD` (start of that UTC day) or RFC 3339
/// `YYYY-MM-DDTHH:MM:SS[.fff]Z` (RFC 3339 §5.6, UTC only).
pub fn parse_time(raw: &str) -> Option<u64> {
    let s = raw.trim();
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse().ok();
    }
    let b = s.as_bytes();
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u64> {
        let part = s.get(r)?;
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    // Validates the calendar date (month lengths, leap years).
    Day::from_ymd(
        u16::try_from(y).ok()?,
        u8::try_from(m).ok()?,
        u8::try_from(d).ok()?,
    )?;
    let days = days_from_civil(y, m, d)?;
    let mut ms = days.checked_mul(DAY_MS)?;
    if b.len() == 10 {
        return Some(ms);
    }
    if b.len() < 20 || b[10] != b'T' || b[13] != b':' || b[16] != b':' || !s.ends_with('Z') {
        return None;
    }
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if h > 23 || mi > 59 || sec > 59 {
        return None;
    }
    ms += (h * 3600 + mi * 60 + sec) * 1000;
    let rest = &s[19..s.len() - 1];
    if !rest.is_empty() {
        let frac = rest.strip_prefix('.')?;
        if frac.is_empty() || frac.len() > 9 || !frac.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        let padded = format!("{frac:0<3}");
        ms += padded[..3].parse::<u64>().ok()?;
    }
    Some(ms)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
fn days_from_civil(y: u64, m: u64, d: u64) -> Option<u64> {
    let y = i64::try_from(y).ok()? - i64::from(m <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::try_from(m).ok()?;
    let d = i64::try_from(d).ok()?;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    u64::try_from(era * 146_097 + doe - 719_468).ok()
}

/// The filters of `GET /audit`.
#[derive(Debug, Default)]
struct Filter {
    subject: Option<String>,
    batch: Option<String>,
    datev_job: Option<String>,
    action: Option<String>,
}

impl Filter {
    fn matches(&self, e: &AuditEntry) -> bool {
        let corr = |name: &str, v: &str| e.correlation.get(name).is_some_and(|c| c == v);
        self.subject.as_ref().is_none_or(|s| &e.subject == s)
            && self
                .batch
                .as_ref()
                .is_none_or(|b| e.subject == format!("batch:{b}") || corr("batch", b))
            && self
                .datev_job
                .as_ref()
                .is_none_or(|j| e.subject == format!("job:{j}") || corr("datev_job", j))
            && self
                .action
                .as_ref()
                .is_none_or(|a| e.action == *a || e.action.starts_with(&format!("{a}.")))
    }
}

#[derive(Serialize)]
struct Listed<'a> {
    id: String,
    #[serde(flatten)]
    entry: &'a AuditEntry,
}

fn audit_fail(e: AuditError) -> Fail {
    match e {
        AuditError::Store(s) => Fail::Store(s),
        other => internal(&other.to_string()),
    }
}

fn credential_fail(e: CredentialError) -> Fail {
    match e {
        CredentialError::Store(s) => Fail::Store(s),
        other => internal(&other.to_string()),
    }
}

fn bad_param(field: &str, reason: &str) -> Fail {
    reject(
        422,
        field_error(422, field, reason),
        format!("{field}: {reason}"),
    )
}

/// One side of the connection check.
#[derive(Debug, Serialize)]
struct Check {
    ok: bool,
    /// `ok`, `bad_credentials`, `missing_scope`, `no_consent`, `grant_revoked`,
    /// `unknown_verify_service`, `account_inactive`, `unreachable`, `misconfigured`, `error`.
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    latency_ms: u64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    checked: Vec<String>,
}

impl Check {
    fn ok(latency_ms: u64, checked: Vec<String>) -> Self {
        Self {
            ok: true,
            status: "ok",
            reason: None,
            latency_ms,
            checked,
        }
    }

    fn failing(
        status: &'static str,
        reason: String,
        latency_ms: u64,
        checked: Vec<String>,
    ) -> Self {
        Self {
            ok: false,
            status,
            reason: Some(reason),
            latency_ms,
            checked,
        }
    }
}

fn twilio_reason(what: &str, e: &TwilioError) -> (&'static str, String) {
    match e {
        TwilioError::Api(api) if api.status == 401 || api.code == Some(20003) => (
            "bad_credentials",
            format!(
                "{what}: Twilio refused the credentials (HTTP {}, code 20003): check account_sid, api_key_sid and api_key_secret",
                api.status
            ),
        ),
        TwilioError::Api(api) if api.status == 403 => (
            "missing_scope",
            format!(
                "{what}: Twilio answered 403{}: the API key lacks the permission",
                api.code.map(|c| format!(" (code {c})")).unwrap_or_default()
            ),
        ),
        TwilioError::Http { source, .. } => ("unreachable", format!("{what}: {source}")),
        other => ("error", format!("{what}: {other}")),
    }
}

fn datev_reason(e: &ApiError) -> (&'static str, String) {
    match e.status() {
        Some(401) => (
            "bad_credentials",
            format!("DATEV refused the access token: {e}"),
        ),
        Some(403) => (
            "missing_scope",
            format!(
                "DATEV refused the call (403): the consent lacks scope datev:accounting:clients or the client does not book the service: {e}"
            ),
        ),
        None if matches!(e, ApiError::Transport { .. }) => ("unreachable", e.to_string()),
        _ => ("error", e.to_string()),
    }
}

impl<'a> Api<'a> {
    fn admin_settings(&self) -> Result<&'a AdminSettings, Fail> {
        self.admin_settings
            .ok_or_else(|| internal("the operator routes are not configured in this component"))
    }

    // ----- audit ------------------------------------------------------------------------------

    /// `GET /audit`.
    pub(super) fn list_audit(&self, req: &ApiRequest) -> Served {
        let now = self.now();
        let time = |name: &str| -> Result<Option<u64>, Fail> {
            match req.param(name) {
                None => Ok(None),
                Some(v) => parse_time(&v).map(Some).ok_or_else(|| {
                    bad_param(
                        name,
                        "must be Unix milliseconds, YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ",
                    )
                }),
            }
        };
        let to = time("to")?.unwrap_or(now);
        let from = time("from")?.unwrap_or_else(|| to.saturating_sub(DAY_MS - 1));
        if from > to {
            return Err(bad_param("from", "must not be after to"));
        }
        let first_day = from / DAY_MS;
        let last_day = to / DAY_MS;
        if last_day - first_day >= MAX_RANGE_DAYS {
            return Err(bad_param(
                "from",
                &format!("the range may span at most {MAX_RANGE_DAYS} days"),
            ));
        }
        let limit = match req.param("limit") {
            None => DEFAULT_LIMIT,
            Some(v) => v
                .trim()
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=MAX_LIMIT).contains(n))
                .ok_or_else(|| bad_param("limit", &format!("must be 1 to {MAX_LIMIT}")))?,
        };
        let cursor = match req.param("cursor") {
            None => None,
            Some(c) => Some(AuditId::parse(c.trim()).ok_or_else(|| {
                bad_param(
                    "cursor",
                    "must be a next_cursor of an earlier page (yyyymmdd-seq)",
                )
            })?),
        };
        let nonempty = |name: &str| {
            req.param(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let filter = Filter {
            subject: nonempty("subject"),
            batch: nonempty("batch"),
            datev_job: nonempty("datev_job"),
            action: nonempty("action"),
        };
        let mut entries: Vec<(AuditId, AuditEntry)> = Vec::new();
        let mut budget = SCAN_BUDGET;
        let mut next_cursor: Option<AuditId> = None;
        let mut last_read: Option<AuditId> = None;
        'days: for d in first_day..=last_day {
            let day = Day::from_unix_ms(d * DAY_MS);
            let mut after = 0;
            if let Some(c) = cursor {
                if c.day > day {
                    continue;
                }
                if c.day == day {
                    after = c.seq;
                }
            }
            let last = u64::try_from(
                connector::keys::read_counter(self.store(), &connector::keys::audit_seq(day))
                    .map_err(|e| internal(&e.to_string()))?,
            )
            .unwrap_or(0);
            let mut seq = after;
            while seq < last {
                if budget == 0 || entries.len() >= limit {
                    // The last key read (a day's first unread key has no id of its own).
                    next_cursor = if seq > 0 {
                        Some(AuditId { day, seq })
                    } else {
                        last_read.or(cursor)
                    };
                    break 'days;
                }
                seq += 1;
                budget -= 1;
                let id = AuditId { day, seq };
                last_read = Some(id);
                if let Some(e) = audit::get(self.store(), id).map_err(audit_fail)?
                    && (from..=to).contains(&e.at_ms)
                    && filter.matches(&e)
                {
                    entries.push((id, e));
                }
            }
        }
        let listed: Vec<Listed<'_>> = entries
            .iter()
            .map(|(id, entry)| Listed {
                id: id.to_string(),
                entry,
            })
            .collect();
        let body = json!({
            "entries": listed,
            "next_cursor": next_cursor.map(|c| c.to_string()),
            "scanned": SCAN_BUDGET - budget,
            "from_ms": from,
            "to_ms": to,
        });
        Ok((
            json_response(200, &body),
            vec![("entries", entries.len().to_string())],
        ))
    }

    /// `GET /audit/{id}`.
    pub(super) fn read_audit(&self, raw: &str) -> Served {
        let id = AuditId::parse(raw)
            .ok_or_else(|| reject(404, error(404, "no such audit entry"), "not an audit id"))?;
        match audit::get(self.store(), id).map_err(audit_fail)? {
            Some(entry) => Ok((
                json_response(
                    200,
                    &Listed {
                        id: id.to_string(),
                        entry: &entry,
                    },
                ),
                Vec::new(),
            )),
            None => Err(reject(
                404,
                error(404, "no such audit entry"),
                "unknown entry",
            )),
        }
    }

    // ----- replay -----------------------------------------------------------------------------

    /// `POST /audit/{id}/replay`: re-executes the failed downstream call the entry records
    /// through the component's own idempotent path.
    ///
    /// - `twilio-sender.*` entries of an outbox item: [`sender::replay`] puts a `failed` alert
    ///   back in line (fresh failure count, old SID unlinked); the sender's next tick sends it
    ///   under the next attempt claim. A pending, sending, sent or delivered alert is refused, so
    ///   an alert is never sent twice (202).
    /// - `datev-poller.submit` of a batch: [`Poller::replay_submit`] now (200, or 502 if the call
    ///   failed again).
    /// - `datev-poller.poll` of a job: [`Poller::replay_poll`] now.
    ///
    /// An entry whose outcome is `ok` or `duplicate` is refused with 409.
    pub(super) fn replay(&self, raw: &str) -> Served {
        let id = AuditId::parse(raw)
            .ok_or_else(|| reject(404, error(404, "no such audit entry"), "not an audit id"))?;
        let entry = audit::get(self.store(), id)
            .map_err(audit_fail)?
            .ok_or_else(|| reject(404, error(404, "no such audit entry"), "unknown entry"))?;
        let refuse = |reason: String| {
            reject(
                409,
                json_response(
                    409,
                    &json!({"error": "not replayed", "reason": reason, "entry": id.to_string()}),
                ),
                reason.clone(),
            )
        };
        let outcome_word = match &entry.outcome {
            AuditOutcome::Ok => Some("ok"),
            AuditOutcome::Duplicate => Some("duplicate"),
            _ => None,
        };
        // A status callback applied fine (`ok`) can still record that the send ended failed
        // (undelivered): that alert is replayable.
        let send_failed = entry
            .action
            .starts_with(&format!("{}.", sender::journal::SENDER))
            && entry.correlation.get("to_state").map(String::as_str) == Some("failed");
        if let Some(word) = outcome_word.filter(|_| !send_failed) {
            return Err(refuse(format!(
                "the entry records a successful action (outcome {word}); there is nothing to replay"
            )));
        }
        let mut corr = vec![
            ("entry", id.to_string()),
            ("replayed_action", entry.action.clone()),
        ];
        let (component, action) = entry.action.split_once('.').unwrap_or(("", ""));
        match (component, action) {
            (sender::journal::SENDER, _) if entry.subject.starts_with("outbox:") => {
                let item = self.resolve_outbox(&entry)?.ok_or_else(|| {
                    reject(
                        409,
                        json_response(
                            409,
                            &json!({"error": "not replayed", "reason": "the alert this entry names no longer exists or cannot be identified", "entry": id.to_string()}),
                        ),
                        "outbox item not found",
                    )
                })?;
                let actor = Actor::Operator { id: "admin".into() };
                // A failed status lookup is replayed as a new lookup; anything else as a send.
                let check = action == "status" && !send_failed;
                let done = if check {
                    sender::recheck(
                        self.store(),
                        &self.settings.schedule,
                        &item.dedup_key,
                        self.now(),
                        actor,
                    )
                } else {
                    sender::replay(
                        self.store(),
                        &self.settings.schedule,
                        &item.dedup_key,
                        self.now(),
                        actor,
                    )
                };
                match done {
                    Ok(()) => {
                        corr.push(("outbox", entry.subject.clone()));
                        let (state, note) = if check {
                            (
                                "sent",
                                "due again: the twilio-sender's next tick looks its status up",
                            )
                        } else {
                            (
                                "pending",
                                "queued again: the twilio-sender's next tick sends it under a new attempt claim",
                            )
                        };
                        Ok((
                            json_response(
                                202,
                                &json!({
                                    "replayed": id.to_string(),
                                    "outbox": entry.subject,
                                    "state": state,
                                    "note": note,
                                }),
                            ),
                            corr,
                        ))
                    }
                    Err(sender::ReplayError::Store(s)) => Err(Fail::Store(s)),
                    Err(e @ sender::ReplayError::Corrupt { .. }) => Err(internal(&e.to_string())),
                    Err(e) => Err(refuse(e.to_string())),
                }
            }
            (crate::poller::NAME, "submit") => {
                let batch = entry
                    .subject
                    .strip_prefix("batch:")
                    .and_then(BatchId::parse)
                    .ok_or_else(|| refuse("the entry names no batch".into()))?;
                corr.push(("batch", batch.to_string()));
                let done = self.poller_for_replay()?.replay_submit(batch);
                self.replay_answer(id, done, corr)
            }
            (crate::poller::NAME, "poll") => {
                let job = entry
                    .subject
                    .strip_prefix("job:")
                    .filter(|j| !j.is_empty())
                    .ok_or_else(|| refuse("the entry names no DATEV job".into()))?
                    .to_owned();
                corr.push(("datev_job", job.clone()));
                let done = self.poller_for_replay()?.replay_poll(&job);
                self.replay_answer(id, done, corr)
            }
            _ => {
                let msg = format!(
                    "entry {id} ({}) is not a DATEV submit or poll or a Twilio send; only those downstream calls can be replayed",
                    entry.action
                );
                Err(reject(422, field_error(422, "id", &msg), msg))
            }
        }
    }

    fn poller_for_replay(&self) -> Result<Poller<'a>, Fail> {
        let admin = self.admin_settings()?;
        let setup = self.datev()?;
        Ok(Poller::new(&admin.poller, setup, self.ports))
    }

    fn replay_answer(
        &self,
        id: AuditId,
        done: Result<ReplayDone, ReplayRefusal>,
        corr: Vec<(&'static str, String)>,
    ) -> Served {
        match done {
            Ok(d) => {
                let status = if d.succeeded { 200 } else { 502 };
                let body = json!({
                    "replayed": id.to_string(),
                    "succeeded": d.succeeded,
                    "state": d.state,
                    "error": d.error,
                });
                if d.succeeded {
                    Ok((json_response(status, &body), corr))
                } else {
                    Err(Fail::Answer(
                        json_response(status, &body),
                        AuditOutcome::Failed {
                            status: Some(status),
                            reason: format!(
                                "replayed call failed again: {}",
                                d.error.unwrap_or_default()
                            ),
                        },
                    ))
                }
            }
            Err(ReplayRefusal::NotFound(reason)) => Err(reject(
                404,
                json_response(404, &json!({"error": "not replayed", "reason": reason})),
                reason.clone(),
            )),
            Err(ReplayRefusal::NotReplayable(reason)) => Err(reject(
                409,
                json_response(
                    409,
                    &json!({"error": "not replayed", "reason": reason, "entry": id.to_string()}),
                ),
                reason.clone(),
            )),
            Err(ReplayRefusal::Tick(TickError::Store(s))) => Err(Fail::Store(s)),
            Err(ReplayRefusal::Tick(e)) => Err(internal(&e.to_string())),
        }
    }

    /// Finds the outbox item a sender entry names. Its subject masks the number
    /// (`outbox:sms-J1-+49151*****678`): an unmasked subject is the key itself; a masked one is
    /// matched against the client's configured numbers; failing that, the entry's `sid`
    /// correlation is looked up in the sender's SID index.
    fn resolve_outbox(&self, entry: &AuditEntry) -> Result<Option<OutboxItem>, Fail> {
        let outbox_fail = |e: outbox::OutboxError| match e {
            outbox::OutboxError::Store(s) => Fail::Store(s),
            other => internal(&other.to_string()),
        };
        let raw = entry.subject.strip_prefix("outbox:").unwrap_or_default();
        if !raw.contains('*') {
            return outbox::load_key(self.store(), &connector::keys::outbox(raw))
                .map_err(outbox_fail);
        }
        if let Some((prefix, masked)) = raw.rsplit_once('+')
            && let Some(client) = entry
                .correlation
                .get("client")
                .and_then(|c| ClientId::parse(c).ok())
            && let Some(config) = client_config::load(self.store(), &client)?
        {
            let numbers = config
                .finance_contacts
                .iter()
                .chain(config.controller.iter())
                .chain(config.approver.iter())
                .map(|c| &c.phone);
            for n in numbers {
                if n.masked() == format!("+{masked}") {
                    let key = connector::keys::outbox(&format!("{prefix}{}", n.as_str()));
                    if let Some(item) = outbox::load_key(self.store(), &key).map_err(outbox_fail)? {
                        return Ok(Some(item));
                    }
                }
            }
        }
        if let Some(sid) = entry.correlation.get("sid")
            && let Some(bytes) = self.store().get(&sender::journal::sid_key(sid))?
            && let Ok(link) = serde_json::from_slice::<sender::journal::SidLink>(&bytes)
        {
            return outbox::load(self.store(), &link.dedup_key).map_err(outbox_fail);
        }
        Ok(None)
    }

    // ----- settings ---------------------------------------------------------------------------

    fn keyring(&self) -> Result<&'a Keyring, Fail> {
        self.admin_settings()?.keyring.as_ref().map_err(|e| {
            internal(&format!(
                "credentials cannot be stored: {e} (the key that seals them)"
            ))
        })
    }

    fn twilio_vars(&self) -> Result<&'a TwilioVariables, Fail> {
        self.admin_settings()?
            .twilio
            .as_ref()
            .map_err(|e| internal(&format!("the Twilio variables are unreadable: {e}")))
    }

    fn body_json<T: for<'de> serde::Deserialize<'de>>(&self, req: &ApiRequest) -> Result<T, Fail> {
        let Body::Complete(body) = &req.body else {
            return Err(reject(
                400,
                error(400, "the request body could not be read"),
                "body",
            ));
        };
        serde_json::from_slice(body).map_err(|e| {
            // serde names the field (unknown, missing, wrong type) and the position; for a
            // string it may quote the value, so only the category and position are kept.
            let status = if e.is_data() { 422 } else { 400 };
            let msg = if e.is_data() {
                let text = e.to_string();
                match text.split_once(" at line") {
                    Some((what, _))
                        if !what.contains('"')
                            || what.starts_with("unknown field")
                            || what.starts_with("missing field") =>
                    {
                        format!("the request is not valid: {what}")
                    }
                    _ => "the request is not valid: a field has the wrong type".into(),
                }
            } else {
                format!(
                    "the request body is not JSON (line {}, column {})",
                    e.line(),
                    e.column()
                )
            };
            reject(status, error(status, &msg), msg)
        })
    }

    /// `PUT /settings/twilio`.
    pub(super) fn put_twilio(&self, req: &ApiRequest) -> Served {
        let keyring = self.keyring()?;
        let input: TwilioInput = self.body_json(req)?;
        let creds = input
            .validate()
            .map_err(|e| reject(422, field_error(422, &e.field, &e.reason), e.to_string()))?;
        credentials::save_twilio(self.store(), keyring, self.ports.rng, &creds, self.now())
            .map_err(credential_fail)?;
        let mut fields = vec!["account_sid", "api_key_sid", "api_key_secret"];
        if creds.verify_service_sid.is_some() {
            fields.push("verify_service_sid");
        }
        if creds.from_number.is_some() {
            fields.push("from_number");
        }
        if creds.messaging_service_sid.is_some() {
            fields.push("messaging_service_sid");
        }
        let body = self.settings_view()?;
        Ok((
            json_response(200, &body),
            vec![
                ("settings", "twilio".into()),
                ("fields", fields.join(",")),
                ("key_id", keyring.current_key_id().as_str().to_owned()),
            ],
        ))
    }

    /// `PUT /settings/datev`.
    pub(super) fn put_datev(&self, req: &ApiRequest) -> Served {
        let keyring = self.keyring()?;
        let input: DatevInput = self.body_json(req)?;
        let creds = input
            .validate()
            .map_err(|e| reject(422, field_error(422, &e.field, &e.reason), e.to_string()))?;
        credentials::save_datev(self.store(), keyring, self.ports.rng, &creds, self.now())
            .map_err(credential_fail)?;
        let fields = if creds.client_secret.is_some() {
            "client_id,client_secret"
        } else {
            "client_id"
        };
        let body = self.settings_view()?;
        Ok((
            json_response(200, &body),
            vec![
                ("settings", "datev".into()),
                ("fields", fields.into()),
                ("key_id", keyring.current_key_id().as_str().to_owned()),
            ],
        ))
    }

    /// `GET /settings`.
    pub(super) fn get_settings(&self) -> Served {
        Ok((json_response(200, &self.settings_view()?), Vec::new()))
    }

    fn settings_view(&self) -> Result<Value, Fail> {
        let admin = self.admin_settings()?;
        let keyring = admin.keyring.as_ref();
        let vars = self.twilio_vars()?;
        let stored_twilio =
            credentials::load_twilio(self.store(), keyring).map_err(credential_fail)?;
        let (t, src) = credentials::merge_twilio(vars, stored_twilio.as_ref().map(|(c, _)| c));
        let shown =
            |v: &str, s: Source| json!({"value": (!v.is_empty()).then(|| mask_id(v)), "source": s});
        let secret =
            |set: bool, s: Source| json!({"value": set.then_some("********"), "source": s});
        let twilio = json!({
            "account_sid": shown(&t.account_sid, src.account_sid),
            "api_key_sid": shown(&t.api_key_sid, src.api_key_sid),
            "api_key_secret": secret(!t.api_key_secret.is_empty(), src.api_key_secret),
            "verify_service_sid": shown(t.verify_service_sid.as_deref().unwrap_or(""), src.verify_service_sid),
            "from_number": json!({
                "value": t.from_number.as_deref().and_then(|n| client_config::PhoneNumber::parse(n, "from_number").ok()).map(|n| n.masked()),
                "source": src.from_number,
            }),
            "messaging_service_sid": shown(t.messaging_service_sid.as_deref().unwrap_or(""), src.messaging_service_sid),
            "updated_at_ms": stored_twilio.as_ref().map(|(_, at)| *at),
        });
        let stored_datev =
            credentials::load_datev(self.store(), keyring).map_err(credential_fail)?;
        let datev = match (&stored_datev, &self.settings.datev) {
            (Some((c, at)), _) => json!({
                "client_id": {"value": mask_id(&c.client_id), "source": Source::Store},
                "client_secret": {"value": c.client_secret.as_ref().map(|_| "********"), "source": if c.client_secret.is_some() { Source::Store } else { Source::Unset }},
                "updated_at_ms": at,
            }),
            (None, Ok(setup)) => {
                let secret_set = matches!(
                    setup.config.oauth.credentials,
                    ClientCredentials::Confidential { .. }
                );
                json!({
                    "client_id": {"value": mask_id(setup.config.oauth.client_id.as_str()), "source": Source::Variable},
                    "client_secret": {"value": secret_set.then_some("********"), "source": if secret_set { Source::Variable } else { Source::Unset }},
                    "updated_at_ms": null,
                })
            }
            (None, Err(e)) => json!({
                "client_id": {"value": null, "source": Source::Unset},
                "client_secret": {"value": null, "source": Source::Unset},
                "error": e.to_string(),
            }),
        };
        Ok(json!({"twilio": twilio, "datev": datev}))
    }

    // ----- connection check -------------------------------------------------------------------

    /// `POST /settings/ping[?client=<consultant>-<client>]`.
    pub(super) fn ping(&self, req: &ApiRequest) -> Served {
        let datev = self.ping_datev(req)?;
        let twilio = self.ping_twilio()?;
        let corr = vec![
            ("datev", datev.status.to_owned()),
            ("twilio", twilio.status.to_owned()),
        ];
        Ok((
            json_response(
                200,
                &json!({"ok": datev.ok && twilio.ok, "datev": datev, "twilio": twilio}),
            ),
            corr,
        ))
    }

    fn ping_twilio(&self) -> Result<Check, Fail> {
        let vars = self.twilio_vars()?;
        let keyring = self.admin_settings()?.keyring.as_ref();
        let settings = match credentials::effective_twilio(self.store(), keyring, vars) {
            Ok(s) => s,
            Err(CredentialError::Store(s)) => return Err(Fail::Store(s)),
            Err(e) => {
                return Ok(Check::failing(
                    "misconfigured",
                    e.to_string(),
                    0,
                    Vec::new(),
                ));
            }
        };
        let config = match sender::config::twilio_config(&settings) {
            Ok(c) => c,
            Err(e) => {
                return Ok(Check::failing(
                    "misconfigured",
                    e.to_string(),
                    0,
                    Vec::new(),
                ));
            }
        };
        let verify = config.verify_service_sid.clone();
        let client = TwilioClient::new(self.ports.http, config);
        let started = self.now();
        let elapsed = |s: &Self| s.now().saturating_sub(started);
        let mut checked = vec!["GET Account".to_owned()];
        match client.fetch_account() {
            Ok(a) if a.status != "active" => {
                return Ok(Check::failing(
                    "account_inactive",
                    format!("the Twilio account is {}", a.status),
                    elapsed(self),
                    checked,
                ));
            }
            Ok(_) => {}
            Err(e) => {
                let (status, reason) = twilio_reason("account", &e);
                return Ok(Check::failing(status, reason, elapsed(self), checked));
            }
        }
        if let Some(va) = verify {
            checked.push("GET Verify service".into());
            match client.fetch_verify_service() {
                Ok(_) => {}
                Err(TwilioError::Api(api)) if api.status == 404 => {
                    return Ok(Check::failing(
                        "unknown_verify_service",
                        format!(
                            "Twilio knows no Verify service {} in this account (HTTP 404{}): check verify_service_sid",
                            mask_id(va.as_str()),
                            api.code.map(|c| format!(", code {c}")).unwrap_or_default()
                        ),
                        elapsed(self),
                        checked,
                    ));
                }
                Err(e) => {
                    let (status, reason) = twilio_reason("Verify service", &e);
                    return Ok(Check::failing(status, reason, elapsed(self), checked));
                }
            }
        }
        Ok(Check::ok(elapsed(self), checked))
    }

    fn ping_datev(&self, req: &ApiRequest) -> Result<Check, Fail> {
        let setup = match &self.settings.datev {
            Ok(s) => s,
            Err(e) => {
                return Ok(Check::failing(
                    "misconfigured",
                    e.to_string(),
                    0,
                    Vec::new(),
                ));
            }
        };
        let client = match req.param("client") {
            Some(raw) => DatevClientId::parse(raw.trim())
                .map_err(|e| reject(422, field_error(422, "client", &e.reason), e.to_string()))?,
            None => {
                let first = registry::list(self.store(), 1)?.into_iter().next();
                match first.and_then(|c| DatevClientId::parse(c.as_str()).ok()) {
                    Some(c) => c,
                    None => {
                        return Ok(Check::failing(
                            "no_consent",
                            "no DATEV client is connected yet: connect one with GET /datev/connect?client=<consultant>-<client>".into(),
                            0,
                            Vec::new(),
                        ));
                    }
                }
            }
        };
        let auth = DatevAuth::new(&setup.config, &setup.keyring, self.ports);
        let started = self.now();
        let elapsed = |s: &Self| s.now().saturating_sub(started);
        let checked = vec![format!("GET clients ({client})")];
        let token_problem = |e: TokenError, s: &Self| -> Result<Check, Fail> {
            Ok(match e {
                TokenError::Store(st) => return Err(Fail::Store(st)),
                TokenError::NotConnected => Check::failing(
                    "no_consent",
                    format!(
                        "DATEV client {client} has not been connected (no consent yet): GET /datev/connect?client={client}"
                    ),
                    elapsed(s),
                    checked.clone(),
                ),
                TokenError::NeedsReconsent { .. } => Check::failing(
                    "grant_revoked",
                    format!(
                        "the DATEV grant of {client} was revoked or has expired (invalid_grant): connect again with GET /datev/connect?client={client}"
                    ),
                    elapsed(s),
                    checked.clone(),
                ),
                TokenError::Refresh(api) => {
                    let (status, reason) = datev_reason(&api);
                    Check::failing(
                        status,
                        format!("token refresh: {reason}"),
                        elapsed(s),
                        checked.clone(),
                    )
                }
                other => Check::failing("error", other.to_string(), elapsed(s), checked.clone()),
            })
        };
        let token = match auth.access_token(&client) {
            Ok(t) => t,
            Err(e) => return token_problem(e, self),
        };
        let api = DatevApi::new(&setup.config, self.ports);
        let query = ClientsQuery {
            only: Some(client),
            skip: 0,
            top: Some(1),
        };
        match api.list_clients(&token, &query) {
            Ok(_) => Ok(Check::ok(elapsed(self), checked)),
            Err(e) if e.is_unauthorized() => {
                // A revoked grant shows as 401 first; the refresh tells revoked from a glitch.
                match auth.refresh_after_unauthorized(&client, &token) {
                    Ok(fresh) => match api.list_clients(&fresh, &query) {
                        Ok(_) => Ok(Check::ok(elapsed(self), checked)),
                        Err(e) => {
                            let (status, reason) = datev_reason(&e);
                            Ok(Check::failing(status, reason, elapsed(self), checked))
                        }
                    },
                    Err(e) => token_problem(e, self),
                }
            }
            Err(e) => {
                let (status, reason) = datev_reason(&e);
                Ok(Check::failing(status, reason, elapsed(self), checked))
            }
        }
    }
}
