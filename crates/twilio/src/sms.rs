//! SMS encoding and segment arithmetic, and a renderer that keeps a text within N segments.
//!
//! Facts (twilio.md §12; <https://www.twilio.com/docs/glossary/what-sms-character-limit>,
//! <https://www.twilio.com/docs/glossary/what-is-ucs-2-character-encoding>; 3GPP TS 23.038 §6.2.1
//! for the GSM 7-bit default alphabet and its extension table):
//! - a whole message is GSM-7 only if every character is in the basic or extension table; a
//!   single other character makes the entire message UCS-2;
//! - basic characters take one septet, extension characters (`€ [ ] { } | ~ ^ \` and form feed)
//!   two (escape + character);
//! - one segment holds 160 septets or 70 UCS-2 code units; in a concatenated message each segment
//!   loses 6 octets to its header and holds 153 septets or 67 code units;
//! - a character is never split across segments: an escape sequence stays together, and (as in
//!   Twilio's segment calculator, SEGCALC) so does a UCS-2 grapheme such as an emoji with its
//!   modifiers, when it fits into one segment at all.

use std::borrow::Cow;
use std::num::NonZeroU32;
use unicode_segmentation::UnicodeSegmentation;

/// The encoding Twilio will pick for a text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// GSM 7-bit default alphabet (3GPP TS 23.038).
    Gsm7,
    /// UCS-2 (UTF-16 code units on the wire).
    Ucs2,
}

impl Encoding {
    /// Units in a single-segment message: 160 septets or 70 code units.
    pub fn single_segment_units(self) -> u32 {
        match self {
            Encoding::Gsm7 => 160,
            Encoding::Ucs2 => 70,
        }
    }

    /// Units per segment of a concatenated message: 153 septets or 67 code units.
    pub fn multi_segment_units(self) -> u32 {
        match self {
            Encoding::Gsm7 => 153,
            Encoding::Ucs2 => 67,
        }
    }
}

/// The GSM 7-bit basic character set, in table order, without ESC (0x1B)
/// (3GPP TS 23.038 §6.2.1, Figure 1 / twilio.md §12).
const GSM7_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?\
¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";

/// The extension table reachable with one escape: form feed and `^ { } \ [ ~ ] | €`
/// (3GPP TS 23.038 §6.2.1.1).
const GSM7_EXTENSION: &str = "\u{000C}^{}\\[~]|€";

/// Septets `c` takes in GSM-7: 1 for basic, 2 for extension characters, `None` when `c` is not
/// in the alphabet.
pub fn gsm7_septets(c: char) -> Option<u32> {
    if c.is_ascii() {
        // Only a few ASCII characters are missing from the basic table: the controls other than
        // LF and CR, and the backtick. Decide those quickly, the rest by table.
        if matches!(c, '\n' | '\r')
            || (c.is_ascii_alphanumeric())
            || " !\"#%&'()*+,-./:;<=>?@_$".contains(c)
        {
            return Some(1);
        }
    }
    if GSM7_BASIC.contains(c) {
        Some(1)
    } else if GSM7_EXTENSION.contains(c) {
        Some(2)
    } else {
        None
    }
}

/// True when every character of `text` is in the GSM-7 basic or extension table.
pub fn is_gsm7(text: &str) -> bool {
    text.chars().all(|c| gsm7_septets(c).is_some())
}

/// Encoding, length and segment count of a text, as Twilio bills it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentInfo {
    /// The encoding of the whole message.
    pub encoding: Encoding,
    /// Length in septets (GSM-7) or UTF-16 code units (UCS-2).
    pub units: u32,
    /// Number of segments; 0 for the empty text (which Twilio refuses to send, 21602).
    pub segments: u32,
}

/// Counts encoding, units and segments of `text` (twilio.md §12).
pub fn segments(text: &str) -> SegmentInfo {
    let encoding = if is_gsm7(text) {
        Encoding::Gsm7
    } else {
        Encoding::Ucs2
    };
    // Indivisible pieces and their sizes: a character in GSM-7 (an extension character's two
    // septets stay together), a grapheme in UCS-2.
    let pieces: Vec<u32> = match encoding {
        Encoding::Gsm7 => text.chars().map(|c| gsm7_septets(c).unwrap_or(1)).collect(),
        Encoding::Ucs2 => text
            .graphemes(true)
            .map(|g| g.encode_utf16().count() as u32)
            .collect(),
    };
    let units: u32 = pieces.iter().sum();
    let segments = if units == 0 {
        0
    } else if units <= encoding.single_segment_units() {
        1
    } else {
        pack(text, encoding, &pieces)
    };
    SegmentInfo {
        encoding,
        units,
        segments,
    }
}

/// Greedy packing into concatenated segments without splitting a piece; a UCS-2 grapheme longer
/// than a whole segment (pathological stacks of combining marks) is split between its scalar
/// values, never inside a surrogate pair.
fn pack(text: &str, encoding: Encoding, pieces: &[u32]) -> u32 {
    let cap = encoding.multi_segment_units();
    let mut count = 1;
    let mut used = 0;
    let mut place = |size: u32, count: &mut u32| {
        if used + size > cap {
            *count += 1;
            used = 0;
        }
        used += size;
    };
    match encoding {
        Encoding::Gsm7 => pieces.iter().for_each(|&p| place(p, &mut count)),
        Encoding::Ucs2 => {
            for g in text.graphemes(true) {
                let size = g.encode_utf16().count() as u32;
                if size <= cap {
                    place(size, &mut count);
                } else {
                    g.chars()
                        .for_each(|c| place(c.len_utf16() as u32, &mut count));
                }
            }
        }
    }
    count
}

/// A text made to fit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fitted<'a> {
    /// The text to send.
    pub text: Cow<'a, str>,
    /// True when the input was shortened.
    pub truncated: bool,
    /// Its encoding, length and segments.
    pub info: SegmentInfo,
}

/// How far back from the hard cut a word boundary may be to be preferred, as a fraction of the
/// kept text (in characters): cutting at a space loses at most a fifth of the text.
const WORD_BOUNDARY_SLACK_DIVISOR: usize = 5;

/// Keeps `text` within `max_segments`: unchanged when it fits, otherwise cut and ended with an
/// ellipsis.
///
/// The cut is at a grapheme boundary (never inside a surrogate pair, an emoji sequence or a
/// letter with its combining marks), preferably at the last whitespace when that keeps at least
/// four fifths of the text. Trailing whitespace and `,;:-` before the ellipsis are dropped. The
/// ellipsis is `...` when the kept text is GSM-7 (so a GSM-7 text never turns UCS-2 by being
/// shortened) and `…` (one code unit) otherwise.
pub fn fit_to_segments(text: &str, max_segments: NonZeroU32) -> Fitted<'_> {
    let max = max_segments.get();
    let info = segments(text);
    if info.segments <= max {
        return Fitted {
            text: Cow::Borrowed(text),
            truncated: false,
            info,
        };
    }
    let boundaries: Vec<usize> = text.grapheme_indices(true).map(|(i, _)| i).collect();
    let fits = |end: usize| segments(&candidate(&text[..end])).segments <= max;
    // Segment counts only grow with the prefix (a switch to UCS-2 only ever costs more), so the
    // longest fitting prefix is a partition point; the walk back covers any exception.
    let mut k = boundaries.partition_point(|&end| fits(end));
    while k > 0 && !fits(boundaries[k - 1]) {
        k -= 1;
    }
    let hard_end = if k == 0 { 0 } else { boundaries[k - 1] };
    let kept = &text[..hard_end];
    let end = match kept.rfind(char::is_whitespace) {
        Some(ws)
            if kept[..ws].chars().count() * WORD_BOUNDARY_SLACK_DIVISOR
                >= kept.chars().count() * (WORD_BOUNDARY_SLACK_DIVISOR - 1) =>
        {
            ws
        }
        _ => hard_end,
    };
    let out = candidate(&text[..end]);
    let info = segments(&out);
    Fitted {
        text: Cow::Owned(out),
        truncated: true,
        info,
    }
}

fn candidate(prefix: &str) -> String {
    let kept =
        prefix.trim_end_matches(|c: char| c.is_whitespace() || matches!(c, ',' | ';' | ':' | '-'));
    let ellipsis = if is_gsm7(kept) { "..." } else { "\u{2026}" };
    let mut s = String::with_capacity(kept.len() + 3);
    s.push_str(kept);
    s.push_str(ellipsis);
    s
}

/// Replaces common Unicode look-alikes with GSM-7 characters, so one curly quote does not turn
/// a whole alert into UCS-2 (the idea of Twilio's Smart Encoding, twilio.md §12; this is a
/// deliberate subset: quotes, dashes, spaces, ellipsis, bullet). Text without such characters
/// is returned unchanged.
pub fn to_gsm7_lookalikes(text: &str) -> Cow<'_, str> {
    fn replacement(c: char) -> Option<&'static str> {
        Some(match c {
            '\u{2018}' | '\u{2019}' | '\u{201A}' | '\u{201B}' | '\u{2032}' | '\u{00B4}' | '`' => {
                "'"
            }
            '\u{201C}' | '\u{201D}' | '\u{201E}' | '\u{201F}' | '\u{2033}' | '\u{00AB}'
            | '\u{00BB}' => "\"",
            '\u{2010}' | '\u{2011}' | '\u{2012}' | '\u{2013}' | '\u{2014}' | '\u{2015}'
            | '\u{2212}' => "-",
            '\u{00A0}' | '\u{2002}' | '\u{2003}' | '\u{2009}' | '\u{200A}' | '\u{202F}' | '\t' => {
                " "
            }
            '\u{2026}' => "...",
            '\u{2022}' | '\u{00B7}' => "-",
            _ => return None,
        })
    }
    if !text.chars().any(|c| replacement(c).is_some()) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match replacement(c) {
            Some(r) => out.push_str(r),
            None => out.push(c),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nz(n: u32) -> NonZeroU32 {
        NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN)
    }

    fn info(encoding: Encoding, units: u32, segments: u32) -> SegmentInfo {
        SegmentInfo {
            encoding,
            units,
            segments,
        }
    }

    #[test]
    fn alphabet_tables() {
        assert_eq!(GSM7_BASIC.chars().count(), 127, "128 code points minus ESC");
        assert_eq!(GSM7_EXTENSION.chars().count(), 10);
        for c in "äöüÄÖÜßé@£$_\n\r".chars() {
            assert_eq!(gsm7_septets(c), Some(1), "{c:?}");
        }
        for c in "€[]{}|~^\\\u{000C}".chars() {
            assert_eq!(gsm7_septets(c), Some(2), "{c:?}");
        }
        for c in "`\t\u{1B}ç’…—😀\u{0}".chars() {
            assert_eq!(gsm7_septets(c), None, "{c:?}");
        }
        // Every ASCII character takes the fast path consistently with the tables.
        for b in 0u8..128 {
            let c = char::from(b);
            let by_table = if GSM7_BASIC.contains(c) {
                Some(1)
            } else if GSM7_EXTENSION.contains(c) {
                Some(2)
            } else {
                None
            };
            assert_eq!(gsm7_septets(c), by_table, "{c:?}");
        }
    }

    #[test]
    fn gsm7_segment_figures() {
        assert_eq!(segments(""), info(Encoding::Gsm7, 0, 0));
        assert_eq!(segments("Hallo"), info(Encoding::Gsm7, 5, 1));
        assert_eq!(segments(&"a".repeat(160)), info(Encoding::Gsm7, 160, 1));
        assert_eq!(segments(&"a".repeat(161)), info(Encoding::Gsm7, 161, 2));
        assert_eq!(segments(&"a".repeat(306)), info(Encoding::Gsm7, 306, 2));
        assert_eq!(segments(&"a".repeat(307)), info(Encoding::Gsm7, 307, 3));
        assert_eq!(segments(&"ä".repeat(160)), info(Encoding::Gsm7, 160, 1));
        // 80 euro signs are 160 septets: one segment; 81 are two.
        assert_eq!(segments(&"€".repeat(80)), info(Encoding::Gsm7, 160, 1));
        assert_eq!(segments(&"€".repeat(81)), info(Encoding::Gsm7, 162, 2));
        // 152 septets then an escape pair: the pair does not fit the 153rd septet and moves on,
        // so 152 + 2 + 152 = 306 septets need three segments, not two.
        let s = format!("{}€{}", "a".repeat(152), "a".repeat(152));
        assert_eq!(segments(&s), info(Encoding::Gsm7, 306, 3));
        let s = format!("{}€{}", "a".repeat(151), "a".repeat(153));
        assert_eq!(segments(&s), info(Encoding::Gsm7, 306, 2));
    }

    #[test]
    fn ucs2_segment_figures() {
        assert_eq!(segments(&"ç".repeat(70)), info(Encoding::Ucs2, 70, 1));
        assert_eq!(segments(&"ç".repeat(71)), info(Encoding::Ucs2, 71, 2));
        assert_eq!(segments(&"ç".repeat(134)), info(Encoding::Ucs2, 134, 2));
        assert_eq!(segments(&"ç".repeat(135)), info(Encoding::Ucs2, 135, 3));
        // One curly apostrophe turns 100 ASCII characters into UCS-2: 101 units, 2 segments.
        let s = format!("{}’", "a".repeat(100));
        assert_eq!(segments(&s), info(Encoding::Ucs2, 101, 2));
        // An emoji is a surrogate pair (2 units) and is never split: after 66 units it moves to
        // the next segment, so 134 units need three segments instead of two.
        let s = format!("{}😀{}", "a".repeat(66), "a".repeat(66));
        assert_eq!(segments(&s), info(Encoding::Ucs2, 134, 3));
        let s = format!("{}😀{}", "a".repeat(65), "a".repeat(67));
        assert_eq!(segments(&s), info(Encoding::Ucs2, 134, 2));
        // A family emoji (7 scalars, 11 units) stays in one segment.
        let family = "👨\u{200D}👩\u{200D}👧\u{200D}👦";
        assert_eq!(family.encode_utf16().count(), 11);
        let s = format!("{}{family}", "a".repeat(60));
        assert_eq!(segments(&s), info(Encoding::Ucs2, 71, 2));
    }

    #[test]
    fn fitting_text_is_returned_unchanged() {
        let f = fit_to_segments("Stapel 42 gebucht.", nz(1));
        assert_eq!(
            f,
            Fitted {
                text: Cow::Borrowed("Stapel 42 gebucht."),
                truncated: false,
                info: info(Encoding::Gsm7, 18, 1)
            }
        );
        assert!(matches!(f.text, Cow::Borrowed(_)));
    }

    #[test]
    fn gsm7_truncation_at_word_boundary_with_ascii_ellipsis() {
        // 40 words of "wort " = 200 characters.
        let text = "wort ".repeat(40);
        let f = fit_to_segments(&text, nz(1));
        // The hard cut keeps 157 characters ("wort " * 31 + "wo"); the word boundary is at 155.
        assert_eq!(f.text, format!("{}...", ["wort"; 31].join(" ")));
        assert_eq!(f.info, info(Encoding::Gsm7, 157, 1));
        assert!(f.truncated);
        let long = "x".repeat(400);
        let f = fit_to_segments(&long, nz(2));
        assert_eq!(f.text, format!("{}...", "x".repeat(303)));
        assert_eq!(f.info, info(Encoding::Gsm7, 306, 2));
    }

    #[test]
    fn extension_characters_count_double_when_fitting() {
        let euros = "€".repeat(100);
        let f = fit_to_segments(&euros, nz(1));
        // 78 euro signs (156 septets) + "..." = 159; a 79th would need 161.
        assert_eq!(f.text, format!("{}...", "€".repeat(78)));
        assert_eq!(f.info, info(Encoding::Gsm7, 159, 1));
    }

    #[test]
    fn ucs2_truncation_never_splits_graphemes() {
        // 69 units of ASCII, then emoji: the hard cut may not land inside the surrogate pair.
        let text = format!("{}😀😀😀", "a".repeat(67));
        let f = fit_to_segments(&text, nz(1));
        assert_eq!(f.text, format!("{}😀…", "a".repeat(67)));
        assert_eq!(f.info, info(Encoding::Ucs2, 70, 1));
        // Skin-tone modifier stays with its emoji: 👍🏽 is 4 units and one grapheme.
        let text = format!("{}👍🏽👍🏽", "b".repeat(64));
        let f = fit_to_segments(&text, nz(1));
        assert_eq!(f.text, format!("{}👍🏽…", "b".repeat(64)));
        assert_eq!(f.info, info(Encoding::Ucs2, 69, 1));
        // A combining accent stays on its letter.
        let text = format!("{}e\u{0301}e\u{0301}", "c".repeat(67));
        let f = fit_to_segments(&text, nz(1));
        assert_eq!(f.text, format!("{}e\u{0301}…", "c".repeat(67)));
    }

    #[test]
    fn cutting_away_the_only_non_gsm_character_gives_gsm7() {
        let text = format!("{} Ende ✓", "a".repeat(200));
        let f = fit_to_segments(&text, nz(1));
        assert_eq!(f.text, format!("{}...", "a".repeat(157)));
        assert_eq!(f.info.encoding, Encoding::Gsm7);
    }

    #[test]
    fn lookalikes_become_gsm7() {
        let s = "„Stapel“ – ‘42’ fehlgeschlagen…";
        let out = to_gsm7_lookalikes(s);
        assert_eq!(out, "\"Stapel\" - '42' fehlgeschlagen...");
        assert!(is_gsm7(&out));
        assert!(matches!(
            to_gsm7_lookalikes("plain"),
            Cow::Borrowed("plain")
        ));
    }
}
