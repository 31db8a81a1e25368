//! Inline voice TwiML for alert calls: `<Response><Say …>…</Say></Response>`.
//!
//! Facts (twilio.md §4.1, §5.1; <https://www.twilio.com/docs/voice/twiml/say>,
//! <https://www.twilio.com/docs/voice/api/call-resource>): element and attribute names are
//! case-sensitive; `language` defaults to `en-US` and a voice/language mismatch can fail the call;
//! all DATEV-derived text is XML-escaped; the `Twiml` parameter is at most 4000 characters,
//! counted after escaping.

use crate::error::{InputReason, TwilioError};
use std::fmt;

/// Largest `Twiml` parameter Twilio accepts, in characters (twilio.md §4.1).
pub const MAX_TWIML_CHARS: usize = 4000;

/// The language of a contact: spoken alerts, and the Verify SMS `Locale` (twilio.md §5.1, §6.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Language {
    /// German: `<Say language="de-DE">`, Verify `Locale=de`.
    #[default]
    German,
    /// English: `<Say language="en-US">`, Verify `Locale=en`.
    English,
}

impl Language {
    /// Reads a language tag: `de`, `de-DE`, `en`, `en-US` (case-insensitive, `_` accepted for
    /// `-`). Other tags are refused rather than silently spoken in the wrong language.
    pub fn parse(tag: &str, field: &'static str) -> Result<Self, TwilioError> {
        match tag.trim().to_ascii_lowercase().replace('_', "-").as_str() {
            "de" | "de-de" => Ok(Self::German),
            "en" | "en-us" => Ok(Self::English),
            _ => Err(TwilioError::input(field, InputReason::Unsupported)),
        }
    }

    /// The `<Say language>` value.
    pub fn say_language(self) -> &'static str {
        match self {
            Self::German => "de-DE",
            Self::English => "en-US",
        }
    }

    /// The default voice: Amazon Polly standard voices that speak this locale
    /// (twilio.md §5.1 table: `Polly.Vicki` for `de-DE`, `Polly.Joanna` for `en-US`).
    pub fn default_voice(self) -> Voice {
        match self {
            Self::German => Voice("Polly.Vicki".to_owned()),
            Self::English => Voice("Polly.Joanna".to_owned()),
        }
    }

    /// The Verify `Locale` value (twilio.md §6.2; <https://www.twilio.com/docs/verify/supported-languages>).
    pub fn verify_locale(self) -> &'static str {
        match self {
            Self::German => "de",
            Self::English => "en",
        }
    }
}

/// A `<Say voice>` value: `man`, `woman`, `Polly.<Name>[-Neural|-Generative]` or
/// `Google.<locale>-<Type>-<X>` (twilio.md §5.1). The name must suit the language; Twilio may
/// fail the call otherwise.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Voice(String);

impl Voice {
    /// Validates the shape of a voice name.
    pub fn parse(name: &str, field: &'static str) -> Result<Self, TwilioError> {
        let name = name.trim();
        let family_ok = name == "man"
            || name == "woman"
            || name
                .strip_prefix("Polly.")
                .is_some_and(|rest| !rest.is_empty())
            || name
                .strip_prefix("Google.")
                .is_some_and(|rest| !rest.is_empty());
        if !family_ok {
            return Err(TwilioError::input(field, InputReason::Unsupported));
        }
        if let Some(c) = name
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-')))
        {
            return Err(TwilioError::input(field, InputReason::InvalidCharacter(c)));
        }
        Ok(Self(name.to_owned()))
    }

    /// The name as written into TwiML.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Voice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Voice({})", self.0)
    }
}

/// One `<Say>` element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Say {
    text: String,
    language: Language,
    voice: Voice,
    loops: u32,
}

impl Say {
    /// Speaks `text` in `language` with its default voice, once.
    pub fn new(text: impl Into<String>, language: Language) -> Self {
        Self {
            text: text.into(),
            language,
            voice: language.default_voice(),
            loops: 1,
        }
    }

    /// Uses another voice.
    pub fn voice(mut self, voice: Voice) -> Self {
        self.voice = voice;
        self
    }

    /// Repeats the text `n` times (`loop`; 1 is the default and is not written).
    pub fn loops(mut self, n: u32) -> Self {
        self.loops = n;
        self
    }
}

/// A rendered TwiML document for the `Twiml` parameter, at most [`MAX_TWIML_CHARS`].
#[derive(Clone, PartialEq, Eq)]
pub struct Twiml(String);

impl Twiml {
    /// `<Response><Say language="…" voice="…">text</Say></Response>` for one contact.
    pub fn say(text: &str, language: Language) -> Result<Self, TwilioError> {
        Self::from_says(&[Say::new(text, language)])
    }

    /// A response with several `<Say>` elements in order (e.g. a German and an English one).
    ///
    /// Refused: no element, empty text, characters XML 1.0 cannot carry (controls other than
    /// tab, LF, CR; U+FFFE/U+FFFF), `loop` above 1000 (Twilio's maximum; 0 means "up to 1000"),
    /// and a result over 4000 characters.
    pub fn from_says(says: &[Say]) -> Result<Self, TwilioError> {
        if says.is_empty() {
            return Err(TwilioError::input("twiml", InputReason::Empty));
        }
        let mut out = String::from("<Response>");
        for say in says {
            if say.text.trim().is_empty() {
                return Err(TwilioError::input("twiml.say.text", InputReason::Empty));
            }
            if let Some(c) = say.text.chars().find(|&c| !is_xml_char(c)) {
                return Err(TwilioError::input(
                    "twiml.say.text",
                    InputReason::InvalidCharacter(c),
                ));
            }
            if say.loops > 1000 {
                return Err(TwilioError::input(
                    "twiml.say.loop",
                    InputReason::OutOfRange { min: 0, max: 1000 },
                ));
            }
            out.push_str("<Say language=\"");
            escape_into(&mut out, say.language.say_language());
            out.push_str("\" voice=\"");
            escape_into(&mut out, say.voice.as_str());
            out.push('"');
            if say.loops != 1 {
                out.push_str(&format!(" loop=\"{}\"", say.loops));
            }
            out.push('>');
            escape_into(&mut out, &say.text);
            out.push_str("</Say>");
        }
        out.push_str("</Response>");
        let len = out.chars().count();
        if len > MAX_TWIML_CHARS {
            return Err(TwilioError::input(
                "twiml",
                InputReason::TooLong {
                    max: MAX_TWIML_CHARS,
                    actual: len,
                },
            ));
        }
        Ok(Self(out))
    }

    /// The document as sent.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Twiml {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Twiml({})", self.0)
    }
}

/// XML 1.0 §2.2 `Char`.
fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..='\u{10FFFF}')
}

/// Escapes the five XML special characters, valid in text and in double-quoted attributes
/// (twilio.md §5.1).
fn escape_into(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn german_and_english_say() {
        let de = Twiml::say("Stapel 42 fehlgeschlagen.", Language::German).unwrap();
        assert_eq!(
            de.as_str(),
            r#"<Response><Say language="de-DE" voice="Polly.Vicki">Stapel 42 fehlgeschlagen.</Say></Response>"#
        );
        let en = Twiml::say("Batch 42 failed.", Language::English).unwrap();
        assert_eq!(
            en.as_str(),
            r#"<Response><Say language="en-US" voice="Polly.Joanna">Batch 42 failed.</Say></Response>"#
        );
    }

    #[test]
    fn escapes_datev_text() {
        let t = Twiml::say(r#"Müller & Söhne <GmbH> "Q1" 'ok'"#, Language::German).unwrap();
        assert_eq!(
            t.as_str(),
            "<Response><Say language=\"de-DE\" voice=\"Polly.Vicki\">Müller &amp; Söhne &lt;GmbH&gt; &quot;Q1&quot; &apos;ok&apos;</Say></Response>"
        );
    }

    #[test]
    fn voice_loop_and_several_says() {
        let t = Twiml::from_says(&[
            Say::new("Achtung.", Language::German)
                .voice(Voice::parse("Polly.Hans", "voice").unwrap())
                .loops(2),
            Say::new("Attention.", Language::English)
                .voice(Voice::parse("Google.en-US-Neural2-F", "voice").unwrap()),
        ])
        .unwrap();
        assert_eq!(
            t.as_str(),
            "<Response><Say language=\"de-DE\" voice=\"Polly.Hans\" loop=\"2\">Achtung.</Say>\
             <Say language=\"en-US\" voice=\"Google.en-US-Neural2-F\">Attention.</Say></Response>"
        );
    }

    #[test]
    fn limit_counts_escaped_characters() {
        let overhead = Twiml::say("x", Language::German)
            .unwrap()
            .as_str()
            .chars()
            .count()
            - 1;
        let fits = "x".repeat(MAX_TWIML_CHARS - overhead);
        assert_eq!(
            Twiml::say(&fits, Language::German)
                .unwrap()
                .as_str()
                .chars()
                .count(),
            4000
        );
        // The same number of characters, but one `&` becomes five.
        let over = format!("&{}", "x".repeat(MAX_TWIML_CHARS - overhead - 1));
        assert_eq!(
            Twiml::say(&over, Language::German).unwrap_err(),
            TwilioError::input(
                "twiml",
                InputReason::TooLong {
                    max: 4000,
                    actual: 4004
                }
            )
        );
    }

    #[test]
    fn refusals() {
        assert_eq!(
            Twiml::say("  ", Language::German).unwrap_err(),
            TwilioError::input("twiml.say.text", InputReason::Empty)
        );
        assert_eq!(
            Twiml::say("a\u{0}b", Language::German).unwrap_err(),
            TwilioError::input("twiml.say.text", InputReason::InvalidCharacter('\u{0}'))
        );
        assert_eq!(
            Twiml::from_says(&[]).unwrap_err(),
            TwilioError::input("twiml", InputReason::Empty)
        );
        assert!(Twiml::from_says(&[Say::new("x", Language::German).loops(1001)]).is_err());
        assert_eq!(
            Voice::parse("Polly.Vicki\"><Play>", "contacts[0].voice").unwrap_err(),
            TwilioError::input("contacts[0].voice", InputReason::InvalidCharacter('"'))
        );
        assert_eq!(
            Voice::parse("Alexa", "v").unwrap_err(),
            TwilioError::input("v", InputReason::Unsupported)
        );
    }

    #[test]
    fn language_tags() {
        for (tag, want) in [
            ("de", Language::German),
            ("DE-de", Language::German),
            ("de_DE", Language::German),
            ("en", Language::English),
            ("en-US", Language::English),
        ] {
            assert_eq!(Language::parse(tag, "lang").unwrap(), want, "{tag}");
        }
        assert_eq!(
            Language::parse("fr", "contacts[1].language")
                .unwrap_err()
                .to_string(),
            "contacts[1].language: is not a supported value"
        );
        assert_eq!(
            (
                Language::German.verify_locale(),
                Language::English.verify_locale()
            ),
            ("de", "en")
        );
    }
}
