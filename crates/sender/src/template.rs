//! The words of an alert: an SMS body and a spoken call, rendered from an outbox item's
//! [`AlertText`] in the contact's language.
//!
//! What goes in is only what [`AlertText`] holds (client, batch or document reference, DATEV job
//! id, result, a short reason): never ledger data. Rendering is a pure function of the item and
//! [`SmsLimits`], so the body of an attempt can be rebuilt exactly when an ambiguous send is
//! reconciled by body (twilio.md §13).
//!
//! SMS (twilio.md §12; <https://www.twilio.com/docs/glossary/what-sms-character-limit>): the
//! fixed words are GSM-7 in both languages (German umlauts and `ß` are GSM-7 basic characters);
//! free text (client name, reference, reason) has control characters removed, whitespace
//! collapsed and common Unicode look-alikes replaced by GSM-7 characters
//! ([`twilio::to_gsm7_lookalikes`]), so one curly quote does not turn the whole alert into UCS-2;
//! the result is kept within [`SmsLimits::max_segments`] ([`twilio::fit_to_segments`]), cutting the
//! reason first because it comes last.
//!
//! Calls (twilio.md §5.1; <https://www.twilio.com/docs/voice/twiml/say>): one `<Say>` in the
//! contact's language with its default Polly voice, spoken twice; the DATEV job id (a GUID) is not
//! read out, the SMS carries it.

use connector::client_config::Language;
use connector::outbox::{AlertResult, AlertText};
use std::num::NonZeroU32;
use twilio::{Say, TwilioError, Twiml, fit_to_segments, to_gsm7_lookalikes};

/// Longest client name, reference and reason kept in a text (characters, after cleaning).
const MAX_NAME_CHARS: usize = 60;
const MAX_REFERENCE_CHARS: usize = 40;
const MAX_REASON_CHARS: usize = 120;

/// How long an SMS may get.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SmsLimits {
    /// At most this many segments (Twilio recommends at most 320 characters, i.e. 2 GSM-7
    /// segments, twilio.md §12).
    pub max_segments: NonZeroU32,
}

impl Default for SmsLimits {
    fn default() -> Self {
        Self {
            max_segments: NonZeroU32::MIN.saturating_add(1),
        }
    }
}

/// The language of Twilio's `<Say>` for a contact's language.
pub fn say_language(language: Language) -> twilio::Language {
    match language {
        Language::De => twilio::Language::German,
        Language::En => twilio::Language::English,
    }
}

/// Control characters become spaces, runs of whitespace one space, look-alikes GSM-7; at most
/// `max` characters.
fn clean(text: &str, max: usize) -> String {
    let gsm = to_gsm7_lookalikes(text);
    let mut out = String::with_capacity(gsm.len());
    let mut space = false;
    for c in gsm.chars() {
        if c.is_whitespace() || c.is_control() {
            space = !out.is_empty();
        } else {
            if space {
                out.push(' ');
                space = false;
            }
            out.push(c);
        }
    }
    out.chars().take(max).collect()
}

fn result_words(result: AlertResult, language: Language) -> &'static str {
    match (language, result) {
        (Language::De, AlertResult::Succeeded) => "erfolgreich verarbeitet",
        (Language::De, AlertResult::PartiallySucceeded) => "nur teilweise verarbeitet",
        (Language::De, AlertResult::Failed) => "fehlgeschlagen",
        (Language::De, AlertResult::Cancelled) => "abgebrochen",
        (Language::De, AlertResult::Stuck) => "ohne Ergebnis (Zeit abgelaufen)",
        (Language::De, AlertResult::UploadRefused) => "von DATEV abgelehnt",
        (Language::De, AlertResult::NeedsReconsent) => "muss neu verbunden werden",
        (Language::En, AlertResult::Succeeded) => "processed successfully",
        (Language::En, AlertResult::PartiallySucceeded) => "only partly processed",
        (Language::En, AlertResult::Failed) => "failed",
        (Language::En, AlertResult::Cancelled) => "cancelled",
        (Language::En, AlertResult::Stuck) => "without a result (timed out)",
        (Language::En, AlertResult::UploadRefused) => "refused by DATEV",
        (Language::En, AlertResult::NeedsReconsent) => "must be reconnected",
        (Language::De, AlertResult::ApprovalRequested) => "wartet auf Ihre Freigabe",
        (Language::En, AlertResult::ApprovalRequested) => "awaits your approval",
        (Language::De, AlertResult::HoldExpired) => {
            "Freigabefrist abgelaufen, nicht an DATEV übermittelt"
        }
        (Language::En, AlertResult::HoldExpired) => "approval expired, not sent to DATEV",
        (Language::De, AlertResult::ReplyUnrecognized) => "Antwort nicht erkannt",
        (Language::En, AlertResult::ReplyUnrecognized) => "reply not understood",
    }
}

/// The SMS an approver gets when a batch is held and may be released by reply (flow 2), e.g.
/// `ml-connector: Stapel 4711 für Musterholz GmbH (29098-55003) "Zahllauf": wartet auf Ihre
/// Freigabe. Antworten Sie YES 4711 zum Freigeben oder NO 4711 zum Ablehnen.`
fn approval_request(text: &AlertText, language: Language) -> String {
    let id = text.batch.map(|b| b.to_string()).unwrap_or_default();
    let how = match language {
        Language::De => format!("Antworten Sie YES {id} zum Freigeben oder NO {id} zum Ablehnen."),
        Language::En => format!("Reply YES {id} to approve or NO {id} to reject."),
    };
    format!(
        "ml-connector: {}: {}. {how}",
        subject(text, language, true),
        result_words(text.result, language)
    )
}

/// The answer to an approver's SMS that is not `YES <id>` / `NO <id>`: says what is understood.
fn reply_unrecognized(language: Language) -> String {
    match language {
        Language::De => {
            "ml-connector: Antwort nicht erkannt. Bitte antworten Sie mit YES <Stapelnummer> zum \
                         Freigeben oder NO <Stapelnummer> zum Ablehnen, z. B. YES 4711."
                .to_owned()
        }
        Language::En => {
            "ml-connector: reply not understood. Please answer YES <batch number> to approve \
                         or NO <batch number> to reject, e.g. YES 4711."
                .to_owned()
        }
    }
}

/// What the alert is about, e.g. `DATEV-Job J-1 für Musterholz (29098-55003), Stapel 4711
/// "RE 02/2024"`.
fn subject(text: &AlertText, language: Language, with_job: bool) -> String {
    let name = clean(&text.client_name, MAX_NAME_CHARS);
    let client = text.client.as_str();
    let batch = text.batch.map(|b| b.to_string());
    let reference = text
        .reference
        .as_deref()
        .map(|r| clean(r, MAX_REFERENCE_CHARS))
        .filter(|r| !r.is_empty());
    let (job_word, for_word, batch_word, connection) = match language {
        Language::De => ("DATEV-Job", "für", "Stapel", "Die DATEV-Verbindung"),
        Language::En => ("DATEV job", "for", "batch", "The DATEV connection"),
    };
    let mut s = String::new();
    if text.result == AlertResult::NeedsReconsent {
        s.push_str(connection);
    } else if let (true, Some(job)) = (with_job, text.datev_job.as_deref()) {
        s.push_str(job_word);
        s.push(' ');
        s.push_str(&clean(job, MAX_REFERENCE_CHARS));
    } else if text.datev_job.is_some() {
        s.push_str(job_word);
    } else {
        s.push_str(&capitalised(batch_word));
        if let Some(b) = &batch {
            s.push(' ');
            s.push_str(b);
        }
    }
    s.push(' ');
    s.push_str(for_word);
    s.push(' ');
    if name.is_empty() {
        s.push_str(client);
    } else {
        s.push_str(&format!("{name} ({client})"));
    }
    if (text.datev_job.is_some() || text.result == AlertResult::NeedsReconsent)
        && let Some(b) = &batch
    {
        s.push_str(&format!(", {batch_word} {b}"));
    }
    if let Some(r) = reference {
        s.push_str(&format!(" \"{r}\""));
    }
    s
}

fn capitalised(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn reason_sentence(text: &AlertText, language: Language) -> Option<String> {
    let reason = clean(text.reason.as_deref()?, MAX_REASON_CHARS);
    if reason.is_empty() {
        return None;
    }
    Some(match language {
        Language::De => format!("Grund: {reason}"),
        Language::En => format!("Reason: {reason}"),
    })
}

/// The SMS body of an alert, e.g. `ml-connector: DATEV-Job J-1 für Musterholz (29098-55003),
/// Stapel 4711 "RE 02/2024": fehlgeschlagen. Grund: 1008834 Invalid EXTF-header`.
pub fn sms_body(text: &AlertText, language: Language, limits: SmsLimits) -> String {
    let special = match text.result {
        AlertResult::ApprovalRequested => Some(approval_request(text, language)),
        AlertResult::ReplyUnrecognized => Some(reply_unrecognized(language)),
        _ => None,
    };
    if let Some(body) = special {
        return fit_to_segments(&body, limits.max_segments)
            .text
            .into_owned();
    }
    let mut body = format!(
        "ml-connector: {}: {}.",
        subject(text, language, true),
        result_words(text.result, language)
    );
    if let Some(reason) = reason_sentence(text, language) {
        body.push(' ');
        body.push_str(&reason);
    }
    fit_to_segments(&body, limits.max_segments)
        .text
        .into_owned()
}

/// How often the spoken alert is repeated (`<Say loop>`): a person who picks up late still
/// hears it once in full.
pub const CALL_REPETITIONS: u32 = 2;

/// The spoken text of an alert call.
pub fn call_text(text: &AlertText, language: Language) -> String {
    let intro = match language {
        Language::De => "Hier ist ml-connector mit einer Warnung.",
        Language::En => "This is ml-connector with an alert.",
    };
    let mut s = format!(
        "{intro} {}: {}.",
        subject(text, language, false),
        result_words(text.result, language)
    );
    if let Some(reason) = reason_sentence(text, language) {
        s.push(' ');
        s.push_str(&reason);
        s.push('.');
    }
    let outro = match language {
        Language::De => "Details stehen in der SMS.",
        Language::En => "Details follow by SMS.",
    };
    s.push(' ');
    s.push_str(outro);
    s
}

/// The inline TwiML of an alert call (`Twiml=`, escaped, at most 4000 characters).
pub fn call_twiml(text: &AlertText, language: Language) -> Result<Twiml, TwilioError> {
    Twiml::from_says(&[
        Say::new(call_text(text, language), say_language(language)).loops(CALL_REPETITIONS)
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use connector::batch::BatchId;
    use connector::client_config::ClientId;
    use twilio::{Encoding, segments};

    fn failed() -> AlertText {
        AlertText {
            client: ClientId::parse("29098-55003").unwrap(),
            client_name: "Musterholz GmbH".into(),
            batch: BatchId::new(4711),
            reference: Some("RE 02/2024".into()),
            datev_job: Some("3fa85f64-5717-4562-b3fc-2c963f66afa6".into()),
            result: AlertResult::Failed,
            reason: Some("1008834 Invalid EXTF-header".into()),
        }
    }

    #[test]
    fn failed_job_sms_in_both_languages() {
        let t = failed();
        assert_eq!(
            sms_body(&t, Language::De, SmsLimits::default()),
            "ml-connector: DATEV-Job 3fa85f64-5717-4562-b3fc-2c963f66afa6 für Musterholz GmbH \
             (29098-55003), Stapel 4711 \"RE 02/2024\": fehlgeschlagen. Grund: 1008834 Invalid \
             EXTF-header"
        );
        assert_eq!(
            sms_body(&t, Language::En, SmsLimits::default()),
            "ml-connector: DATEV job 3fa85f64-5717-4562-b3fc-2c963f66afa6 for Musterholz GmbH \
             (29098-55003), batch 4711 \"RE 02/2024\": failed. Reason: 1008834 Invalid EXTF-header"
        );
        let info = segments(&sms_body(&t, Language::De, SmsLimits::default()));
        // The DATEV job id is a GUID: a failed-job alert takes two GSM-7 segments.
        assert_eq!((info.encoding, info.segments), (Encoding::Gsm7, 2));
    }

    #[test]
    fn other_results() {
        let mut t = failed();
        t.result = AlertResult::Succeeded;
        t.reason = None;
        assert_eq!(
            sms_body(&t, Language::De, SmsLimits::default()),
            "ml-connector: DATEV-Job 3fa85f64-5717-4562-b3fc-2c963f66afa6 für Musterholz GmbH \
             (29098-55003), Stapel 4711 \"RE 02/2024\": erfolgreich verarbeitet."
        );
        let mut refused = failed();
        refused.datev_job = None;
        refused.result = AlertResult::UploadRefused;
        refused.reason = Some("EXTF header: Formatversion 9".into());
        assert_eq!(
            sms_body(&refused, Language::En, SmsLimits::default()),
            "ml-connector: Batch 4711 for Musterholz GmbH (29098-55003) \"RE 02/2024\": refused \
             by DATEV. Reason: EXTF header: Formatversion 9"
        );
        let reconsent = AlertText {
            batch: None,
            reference: None,
            datev_job: None,
            result: AlertResult::NeedsReconsent,
            reason: Some("invalid_grant".into()),
            ..failed()
        };
        assert_eq!(
            sms_body(&reconsent, Language::De, SmsLimits::default()),
            "ml-connector: Die DATEV-Verbindung für Musterholz GmbH (29098-55003): muss neu \
             verbunden werden. Grund: invalid_grant"
        );
    }

    #[test]
    fn approval_texts() {
        let request = AlertText {
            datev_job: None,
            reason: None,
            reference: Some("Zahllauf 03".into()),
            result: AlertResult::ApprovalRequested,
            ..failed()
        };
        assert_eq!(
            sms_body(&request, Language::De, SmsLimits::default()),
            "ml-connector: Stapel 4711 für Musterholz GmbH (29098-55003) \"Zahllauf 03\": wartet \
             auf Ihre Freigabe. Antworten Sie YES 4711 zum Freigeben oder NO 4711 zum Ablehnen."
        );
        assert_eq!(
            sms_body(&request, Language::En, SmsLimits::default()),
            "ml-connector: Batch 4711 for Musterholz GmbH (29098-55003) \"Zahllauf 03\": awaits \
             your approval. Reply YES 4711 to approve or NO 4711 to reject."
        );
        let expired = AlertText {
            result: AlertResult::HoldExpired,
            ..request.clone()
        };
        assert_eq!(
            sms_body(&expired, Language::En, SmsLimits::default()),
            "ml-connector: Batch 4711 for Musterholz GmbH (29098-55003) \"Zahllauf 03\": \
             approval expired, not sent to DATEV."
        );
        let unrecognized = AlertText {
            batch: None,
            reference: None,
            result: AlertResult::ReplyUnrecognized,
            ..request
        };
        assert_eq!(
            sms_body(&unrecognized, Language::En, SmsLimits::default()),
            "ml-connector: reply not understood. Please answer YES <batch number> to approve or \
             NO <batch number> to reject, e.g. YES 4711."
        );
    }

    #[test]
    fn free_text_is_cleaned_to_gsm7_and_the_whole_stays_within_the_segments() {
        let mut t = failed();
        t.client_name = "„Müller\u{00A0}&\tSöhne“ KG\u{0007}".into();
        t.reason = Some(format!("Konto 1200 – gesperrt … {}", "x".repeat(200)));
        let body = sms_body(&t, Language::De, SmsLimits::default());
        // Look-alikes replaced, controls and runs of whitespace collapsed, the reason cut to
        // 120 characters.
        assert_eq!(
            body,
            format!(
                "ml-connector: DATEV-Job 3fa85f64-5717-4562-b3fc-2c963f66afa6 für \"Müller & \
                 Söhne\" KG (29098-55003), Stapel 4711 \"RE 02/2024\": fehlgeschlagen. Grund: \
                 Konto 1200 - gesperrt ... {}",
                "x".repeat(94)
            )
        );
        let info = segments(&body);
        assert_eq!((info.encoding, info.segments), (Encoding::Gsm7, 2));
        let one = SmsLimits {
            max_segments: NonZeroU32::MIN,
        };
        let short = sms_body(&t, Language::De, one);
        assert_eq!(
            short,
            "ml-connector: DATEV-Job 3fa85f64-5717-4562-b3fc-2c963f66afa6 für \"Müller & Söhne\" \
             KG (29098-55003), Stapel 4711 \"RE 02/2024\": fehlgeschlagen. Grund: Konto..."
        );
        assert_eq!(segments(&short).segments, 1);
    }

    #[test]
    fn an_emoji_keeps_the_text_ucs2_but_within_the_limit() {
        let mut t = failed();
        t.client_name = "Holz 🌲 AG".into();
        let body = sms_body(&t, Language::En, SmsLimits::default());
        let info = segments(&body);
        assert_eq!(info.encoding, Encoding::Ucs2);
        assert!(info.segments <= 2, "{info:?}");
    }

    #[test]
    fn rendering_is_deterministic() {
        let t = failed();
        assert_eq!(
            sms_body(&t, Language::De, SmsLimits::default()),
            sms_body(&t.clone(), Language::De, SmsLimits::default())
        );
    }

    #[test]
    fn call_twiml_speaks_escaped_text_twice_without_the_job_id() {
        let mut t = failed();
        t.client_name = "Müller & <Co>".into();
        assert_eq!(
            call_twiml(&t, Language::De).unwrap().as_str(),
            "<Response><Say language=\"de-DE\" voice=\"Polly.Vicki\" loop=\"2\">Hier ist \
             ml-connector mit einer Warnung. DATEV-Job für Müller &amp; &lt;Co&gt; (29098-55003), \
             Stapel 4711 &quot;RE 02/2024&quot;: fehlgeschlagen. Grund: 1008834 Invalid \
             EXTF-header. Details stehen in der SMS.</Say></Response>"
        );
        let en = call_twiml(&failed(), Language::En).unwrap();
        assert!(
            en.as_str().starts_with(
                "<Response><Say language=\"en-US\" voice=\"Polly.Joanna\" loop=\"2\">This is"
            ),
            "{}",
            en.as_str()
        );
    }
}
