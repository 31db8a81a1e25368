//! Which outbox items a result produces (`ARCHITECTURE.md` flow 4; `connector::outbox`).
//!
//! - A finished or stuck job: one SMS per finance contact (`sms-<datev-job-id>-<e164>`), and
//!   unless it fully succeeded a call to the controller (`call-<datev-job-id>`).
//! - An upload DATEV refused (no job): the same, keyed by the batch (`sms-batch<id>-…`,
//!   `call-batch<id>`).
//! - A DATEV connection that needs re-consent: one SMS to the controller per episode.

use connector::batch::Batch;
use connector::client_config::ClientConfig;
use connector::job::{JobRecord, Outcome};
use connector::outbox::{AlertResult, AlertText, Channel, DedupKey, OutboxItem};

/// The items for a job's final result (empty without a result).
pub fn for_job(
    config: &ClientConfig,
    job: &JobRecord,
    reference: Option<&str>,
    now_ms: u64,
) -> Vec<OutboxItem> {
    let Some(result) = &job.result else {
        return Vec::new();
    };
    let text = AlertText {
        client: config.client.clone(),
        client_name: config.name.clone(),
        batch: Some(job.batch),
        reference: reference.map(str::to_owned),
        datev_job: Some(job.id.clone()),
        result: result.outcome.into(),
        reason: (result.outcome != Outcome::Succeeded).then(|| result.reason.clone()),
    };
    let mut items: Vec<OutboxItem> = config
        .finance_contacts
        .iter()
        .map(|c| {
            OutboxItem::new(
                DedupKey::job_sms(&job.id, &c.phone),
                Channel::Sms,
                c.phone.clone(),
                config.language_of(c),
                text.clone(),
                now_ms,
            )
        })
        .collect();
    if result.outcome.is_failure()
        && let Some(c) = &config.controller
    {
        items.push(OutboxItem::new(
            DedupKey::job_call(&job.id),
            Channel::Call,
            c.phone.clone(),
            config.language_of(c),
            text,
            now_ms,
        ));
    }
    items
}

/// The items for a batch whose upload DATEV refused.
pub fn for_refused_upload(
    config: &ClientConfig,
    batch: &Batch,
    reason: &str,
    now_ms: u64,
) -> Vec<OutboxItem> {
    let text = AlertText {
        client: config.client.clone(),
        client_name: config.name.clone(),
        batch: Some(batch.id),
        reference: Some(batch.reference.clone()),
        datev_job: None,
        result: AlertResult::UploadRefused,
        reason: Some(reason.to_owned()),
    };
    let mut items: Vec<OutboxItem> = config
        .finance_contacts
        .iter()
        .map(|c| {
            OutboxItem::new(
                DedupKey::batch_sms(batch.id, &c.phone),
                Channel::Sms,
                c.phone.clone(),
                config.language_of(c),
                text.clone(),
                now_ms,
            )
        })
        .collect();
    if let Some(c) = &config.controller {
        items.push(OutboxItem::new(
            DedupKey::batch_call(batch.id),
            Channel::Call,
            c.phone.clone(),
            config.language_of(c),
            text,
            now_ms,
        ));
    }
    items
}

/// The item telling the controller that the DATEV connection must be renewed.
pub fn for_reconsent(config: &ClientConfig, since_ms: u64, now_ms: u64) -> Option<OutboxItem> {
    let c = config.controller.as_ref()?;
    let text = AlertText {
        client: config.client.clone(),
        client_name: config.name.clone(),
        batch: None,
        reference: None,
        datev_job: None,
        result: AlertResult::NeedsReconsent,
        reason: Some("DATEV refused the stored grant (invalid_grant); connect again".into()),
    };
    Some(OutboxItem::new(
        DedupKey::reconsent_sms(&config.client, since_ms, &c.phone),
        Channel::Sms,
        c.phone.clone(),
        config.language_of(c),
        text,
        now_ms,
    ))
}
