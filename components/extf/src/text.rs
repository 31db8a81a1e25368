//! Text rules shared by the model, the writer and the validator: NFC, character sets, lengths
//! and the Windows-1252 repertoire.

use std::borrow::Cow;

use unicode_normalization::{IsNormalized, UnicodeNormalization, is_nfc_quick};

use crate::columns::Charset;

/// Returns `s` in Unicode Normalization Form C. ASCII and text that the quick check proves to
/// be NFC already is returned borrowed, so the common case costs one scan and no allocation.
pub fn to_nfc(s: &str) -> Cow<'_, str> {
    if s.is_ascii() || is_nfc_quick(s.chars()) == IsNormalized::Yes {
        Cow::Borrowed(s)
    } else {
        Cow::Owned(s.nfc().collect())
    }
}

/// True if `s` is already in NFC (fast path for ASCII).
pub fn is_nfc(s: &str) -> bool {
    if s.is_ascii() {
        return true;
    }
    match is_nfc_quick(s.chars()) {
        IsNormalized::Yes => true,
        IsNormalized::No => false,
        IsNormalized::Maybe => s.nfc().eq(s.chars()),
    }
}

/// Number of characters (Unicode scalar values) of `s`; DATEV's length limits count characters.
pub fn char_len(s: &str) -> usize {
    if s.is_ascii() {
        s.len()
    } else {
        s.chars().count()
    }
}

/// Control characters: C0, DEL and C1. DATEV forbids them (line breaks included) in text (§1.1).
pub const fn is_control(c: char) -> bool {
    matches!(c, '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}')
}

fn is_word(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

/// Outcome of checking one character against a [`Charset`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CharVerdict {
    /// Admitted.
    Ok,
    /// Admitted by one source only (Belegfeld `_ & * +`): a warning in the validator, refused by
    /// the writer.
    Doubtful,
    /// Not admitted.
    Forbidden,
}

/// Checks `c` against `charset`.
pub fn check_char(charset: Charset, c: char) -> CharVerdict {
    if is_control(c) {
        return CharVerdict::Forbidden;
    }
    let ok = match charset {
        Charset::Any => true,
        Charset::Word => is_word(c),
        Charset::WordSpace => is_word(c) || c == ' ',
        Charset::DocumentNumber => {
            if c.is_ascii_alphanumeric() || matches!(c, '$' | '%' | '/' | '-') {
                true
            } else if matches!(c, '_' | '&' | '*' | '+') {
                return CharVerdict::Doubtful;
            } else {
                false
            }
        }
        Charset::Upper => c.is_ascii_uppercase(),
        Charset::Label => is_word(c) || matches!(c, ' ' | '.' | '/'),
        Charset::Digits => c.is_ascii_digit(),
    };
    if ok {
        CharVerdict::Ok
    } else {
        CharVerdict::Forbidden
    }
}

/// [`check_char`] for an ASCII byte, usable in constant tables; must agree with it (tested).
const fn ascii_verdict(charset: Charset, b: u8) -> CharVerdict {
    let c = b as char;
    if b < 0x20 || b == 0x7f {
        return CharVerdict::Forbidden;
    }
    let word = b == b'_' || b.is_ascii_alphanumeric();
    let ok = match charset {
        Charset::Any => true,
        Charset::Word => word,
        Charset::WordSpace => word || b == b' ',
        Charset::DocumentNumber => {
            if b.is_ascii_alphanumeric() || matches!(c, '$' | '%' | '/' | '-') {
                true
            } else if matches!(c, '_' | '&' | '*' | '+') {
                return CharVerdict::Doubtful;
            } else {
                false
            }
        }
        Charset::Upper => b.is_ascii_uppercase(),
        Charset::Label => word || matches!(c, ' ' | '.' | '/'),
        Charset::Digits => b.is_ascii_digit(),
    };
    if ok {
        CharVerdict::Ok
    } else {
        CharVerdict::Forbidden
    }
}

/// The per-byte tables of one charset, built at compile time from [`ascii_verdict`].
struct ByteTables {
    /// The verdict of every ASCII byte (index = byte).
    verdicts: [CharVerdict; 128],
    /// Bytes [`check_text`] passes without a closer look: admitted ASCII (`Doubtful` included,
    /// as there); every non-ASCII byte is `false`.
    plain: [bool; 256],
}

const fn byte_tables(charset: Charset) -> ByteTables {
    let mut t = ByteTables {
        verdicts: [CharVerdict::Forbidden; 128],
        plain: [false; 256],
    };
    let mut b = 0;
    while b < 128 {
        t.verdicts[b] = ascii_verdict(charset, b as u8);
        t.plain[b] = !matches!(t.verdicts[b], CharVerdict::Forbidden);
        b += 1;
    }
    t
}

static TABLES: [ByteTables; 7] = [
    byte_tables(Charset::Any),
    byte_tables(Charset::Word),
    byte_tables(Charset::WordSpace),
    byte_tables(Charset::DocumentNumber),
    byte_tables(Charset::Upper),
    byte_tables(Charset::Label),
    byte_tables(Charset::Digits),
];

fn tables(charset: Charset) -> &'static ByteTables {
    &TABLES[match charset {
        Charset::Any => 0,
        Charset::Word => 1,
        Charset::WordSpace => 2,
        Charset::DocumentNumber => 3,
        Charset::Upper => 4,
        Charset::Label => 5,
        Charset::Digits => 6,
    }]
}

/// The verdict of every ASCII byte under `charset` (index = byte), so checking a pure-ASCII
/// value is one table lookup per byte instead of the general per-character rules.
pub(crate) fn ascii_verdicts(charset: Charset) -> &'static [CharVerdict; 128] {
    &tables(charset).verdicts
}

/// The ASCII bytes [`check_text`] admits under `charset` (index = byte; non-ASCII: false).
fn plain_bytes(charset: Charset) -> &'static [bool; 256] {
    &tables(charset).plain
}

/// True if every byte of `bytes` is ASCII that [`check_text`] admits under `charset` (so the
/// text is NFC, one byte per character, and valid).
fn all_plain(bytes: &[u8], charset: Charset) -> bool {
    let plain = plain_bytes(charset);
    if charset == Charset::Any {
        // Any text: only controls and non-ASCII need a closer look, eight bytes at a time
        // (a byte below 0x20, equal to 0x7F, or with the high bit set).
        const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
        const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
        const SPACES: u64 = u64::from_ne_bytes([0x20; 8]);
        const DELS: u64 = u64::from_ne_bytes([0x7f; 8]);
        // `as_chunks` yields `[u8; 8]` words: one fixed-size load each.
        let (words, rest) = bytes.as_chunks::<8>();
        for &word in words {
            let x = u64::from_ne_bytes(word);
            let below_space = x.wrapping_sub(SPACES) & !x & HIGHS;
            let d = x ^ DELS;
            let del = d.wrapping_sub(ONES) & !d & HIGHS;
            if below_space | del | (x & HIGHS) != 0 {
                return false;
            }
        }
        return rest.iter().all(|&b| plain[usize::from(b)]);
    }
    bytes.iter().all(|&b| plain[usize::from(b)])
}

/// True if `s` is pure ASCII, at most `max` bytes long and every byte is [`CharVerdict::Ok`]
/// under `charset`: the common case, which then needs neither NFC nor a per-character walk.
pub(crate) fn ascii_fits(s: &str, max: usize, charset: Charset) -> bool {
    let table = ascii_verdicts(charset);
    s.len() <= max
        && s.bytes()
            .all(|b| b < 0x80 && table[usize::from(b)] == CharVerdict::Ok)
}

/// Human description of a charset, used in reasons.
pub const fn charset_description(charset: Charset) -> &'static str {
    match charset {
        Charset::Any => "any character except control characters and line breaks",
        Charset::Word => "letters, digits and _",
        Charset::WordSpace => "letters, digits, _ and space",
        Charset::DocumentNumber => "A-Z a-z 0-9 $ % / -",
        Charset::Upper => "upper-case letters A-Z",
        Charset::Label => "letters, digits, _, space, . and /",
        Charset::Digits => "digits 0-9",
    }
}

/// Why a text value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    /// Longer than allowed after NFC normalization.
    #[error("{actual} characters after NFC normalization, at most {max} allowed")]
    TooLong {
        /// Maximum number of characters.
        max: usize,
        /// Actual number of characters (after NFC).
        actual: usize,
    },
    /// Shorter than required.
    #[error("{actual} characters, exactly/at least {min} required")]
    TooShort {
        /// Minimum number of characters.
        min: usize,
        /// Actual number of characters.
        actual: usize,
    },
    /// A character outside the admitted set.
    #[error("character {ch:?} (U+{code:04X}) at position {position} is not allowed (allowed: {allowed})", code = u32::from(*ch))]
    ForbiddenChar {
        /// The character.
        ch: char,
        /// 1-based character position.
        position: usize,
        /// Description of the admitted set.
        allowed: &'static str,
    },
}

/// NFC-normalizes `raw`, then checks length and characters ([`CharVerdict::Doubtful`] ones are
/// admitted: the validator only warns about them). Returns the normalized text.
pub fn check_text(raw: &str, max: usize, charset: Charset) -> Result<Cow<'_, str>, TextError> {
    // The usual value: short, ASCII, every byte admitted. One pass, no per-character rules.
    if raw.len() <= max && all_plain(raw.as_bytes(), charset) {
        return Ok(Cow::Borrowed(raw));
    }
    if let Some(checked) = check_below_combining(raw, max, charset) {
        return checked.map(|()| Cow::Borrowed(raw));
    }
    let s = to_nfc(raw);
    let len = char_len(&s);
    if len > max {
        return Err(TextError::TooLong { max, actual: len });
    }
    if let Some((position, ch)) = s
        .chars()
        .enumerate()
        .find(|&(_, c)| check_char(charset, c) == CharVerdict::Forbidden)
    {
        return Err(TextError::ForbiddenChar {
            ch,
            position: position + 1,
            allowed: charset_description(charset),
        });
    }
    Ok(s)
}

/// [`check_text`] in one pass for the usual non-ASCII text (umlauts), or `None` if it holds
/// a character at or above U+0300 and NFC must be computed first.
///
/// U+0300 (COMBINING GRAVE ACCENT) is the first code point whose NFC quick-check property is
/// not "Yes" or whose canonical combining class is not 0 (Unicode Standard Annex #15 §9,
/// DerivedNormalizationProps.txt): a text made only of characters below it (Latin-1 with the
/// German umlauts and ß, Latin Extended-A/B) is NFC as it stands. Works on the UTF-8 bytes:
/// below U+0300 a character is one ASCII byte or a lead byte 0xC2-0xCB and one continuation
/// byte (RFC 3629 §3), so no general decoding is needed.
fn check_below_combining(raw: &str, max: usize, charset: Charset) -> Option<Result<(), TextError>> {
    let bytes = raw.as_bytes();
    let plain = plain_bytes(charset);
    let mut len = 0;
    let mut forbidden = None;
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        len += 1;
        if b < 0x80 {
            if forbidden.is_none() && !plain[usize::from(b)] {
                forbidden = Some((len, char::from(b)));
            }
            i += 1;
        } else if (0xC2..=0xCB).contains(&b) {
            let next = bytes.get(i + 1).copied().unwrap_or(0x80);
            let c = char::from_u32((u32::from(b & 0x1F) << 6) | u32::from(next & 0x3F))
                .unwrap_or(char::REPLACEMENT_CHARACTER);
            if forbidden.is_none() && check_char(charset, c) == CharVerdict::Forbidden {
                forbidden = Some((len, c));
            }
            i += 2;
        } else {
            return None;
        }
    }
    Some(if len > max {
        Err(TextError::TooLong { max, actual: len })
    } else if let Some((position, ch)) = forbidden {
        Err(TextError::ForbiddenChar {
            ch,
            position,
            allowed: charset_description(charset),
        })
    } else {
        Ok(())
    })
}

/// The Windows-1252 byte for `c`, or `None` if code page 1252 cannot hold it.
///
/// 0x00-0x7F and 0xA0-0xFF map to the same code points; 0x80-0x9F hold the typographic
/// characters below (the five unassigned bytes 0x81, 0x8D, 0x8F, 0x90, 0x9D map to nothing).
pub const fn to_windows_1252(c: char) -> Option<u8> {
    let cp = c as u32;
    if cp < 0x80 || (cp >= 0xA0 && cp <= 0xFF) {
        return Some(cp as u8);
    }
    Some(match cp {
        0x20AC => 0x80,
        0x201A => 0x82,
        0x0192 => 0x83,
        0x201E => 0x84,
        0x2026 => 0x85,
        0x2020 => 0x86,
        0x2021 => 0x87,
        0x02C6 => 0x88,
        0x2030 => 0x89,
        0x0160 => 0x8A,
        0x2039 => 0x8B,
        0x0152 => 0x8C,
        0x017D => 0x8E,
        0x2018 => 0x91,
        0x2019 => 0x92,
        0x201C => 0x93,
        0x201D => 0x94,
        0x2022 => 0x95,
        0x2013 => 0x96,
        0x2014 => 0x97,
        0x02DC => 0x98,
        0x2122 => 0x99,
        0x0161 => 0x9A,
        0x203A => 0x9B,
        0x0153 => 0x9C,
        0x017E => 0x9E,
        0x0178 => 0x9F,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The premise of [`check_below_combining`]: below U+0300 every character is NFC_QC=Yes
    /// with combining class 0, so such a text is NFC without normalizing it.
    #[test]
    fn characters_below_u0300_never_normalize() {
        for c in (0u32..0x300).filter_map(char::from_u32) {
            assert_eq!(
                is_nfc_quick(std::iter::once(c)),
                IsNormalized::Yes,
                "U+{:04X}",
                u32::from(c)
            );
            assert_eq!(
                unicode_normalization::char::canonical_combining_class(c),
                0,
                "U+{:04X}",
                u32::from(c)
            );
        }
        // U+0300 is where it starts: "e" + U+0300 composes to "è".
        assert_eq!(to_nfc("e\u{300}"), "\u{e8}");
    }

    /// The eight-bytes-at-a-time test for `Any` and the tables agree with [`check_char`] for
    /// every byte at every position of a word.
    #[test]
    fn plain_bytes_agree_with_check_char() {
        let charsets = [
            Charset::Any,
            Charset::Word,
            Charset::WordSpace,
            Charset::DocumentNumber,
            Charset::Upper,
            Charset::Label,
            Charset::Digits,
        ];
        for charset in charsets {
            for b in 0u8..=255 {
                let expected =
                    b < 0x80 && check_char(charset, char::from(b)) != CharVerdict::Forbidden;
                for len in [1, 7, 8, 9, 16, 17] {
                    for at in 0..len {
                        let mut bytes = vec![b'a'; len];
                        if charset == Charset::Digits {
                            bytes.fill(b'7');
                        } else if charset == Charset::Upper {
                            bytes.fill(b'Q');
                        }
                        bytes[at] = b;
                        assert_eq!(
                            all_plain(&bytes, charset),
                            expected,
                            "{charset:?} byte {b:#04x} at {at} of {len}"
                        );
                    }
                }
            }
        }
    }

    /// The one-pass check and the general NFC path agree on every verdict.
    #[test]
    fn one_pass_check_agrees_with_the_nfc_path() {
        let general = |raw: &str, max: usize, charset: Charset| {
            let s = to_nfc(raw);
            let len = char_len(&s);
            if len > max {
                return Err(TextError::TooLong { max, actual: len });
            }
            match s
                .chars()
                .enumerate()
                .find(|&(_, c)| check_char(charset, c) == CharVerdict::Forbidden)
            {
                Some((p, ch)) => Err(TextError::ForbiddenChar {
                    ch,
                    position: p + 1,
                    allowed: charset_description(charset),
                }),
                None => Ok(s.into_owned()),
            }
        };
        let texts = [
            "Büromaterial Müller & Söhne GmbH",
            "Straße\u{7f}",
            "ÄÖÜäöüß",
            "Bewirtung Geschäftspartner",
            "Tab\there ü",
            "Zoë Œuvre ſ ǅ ʼ ˙",
            "a\u{300}",
            "Gebühr €",
            "ü_ü",
            "\u{a0}\u{ad}\u{85}",
            "\u{2ff}\u{300}x",
            "Ā\u{7d0}Ω€",
            "ÄBC",
            "12\u{b2}",
            "x\u{9f}ÿ\u{c0}",
        ];
        let charsets = [
            Charset::Any,
            Charset::Word,
            Charset::WordSpace,
            Charset::DocumentNumber,
            Charset::Upper,
            Charset::Label,
            Charset::Digits,
        ];
        for t in texts {
            for charset in charsets {
                for max in [3, 7, 26, 60] {
                    assert_eq!(
                        check_text(t, max, charset).map(Cow::into_owned),
                        general(t, max, charset),
                        "{t:?} {charset:?} {max}"
                    );
                }
            }
        }
    }

    #[test]
    fn windows_1252_table_agrees_with_encoding_rs() {
        for b in 0u8..=255 {
            let byte = [b];
            let (decoded, _, _) = encoding_rs::WINDOWS_1252.decode(&byte);
            let c = decoded.chars().next().unwrap_or('\u{fffd}');
            if (0x80..=0x9f).contains(&(c as u32)) {
                // WHATWG maps the five unassigned bytes to C1 controls, which DATEV text may
                // not hold anyway: they have no byte here.
                assert!([0x81, 0x8D, 0x8F, 0x90, 0x9D].contains(&b), "{b:#04x}");
                assert_eq!(to_windows_1252(c), None);
                continue;
            }
            assert_eq!(to_windows_1252(c), Some(b), "byte {b:#04x} -> {c:?}");
        }
        assert_eq!(to_windows_1252('€'), Some(0x80));
        assert_eq!(to_windows_1252('ä'), Some(0xE4));
        assert_eq!(to_windows_1252('😀'), None);
        assert_eq!(to_windows_1252('\u{0308}'), None);
    }

    #[test]
    fn nfc_composes_decomposed_umlaut() {
        let decomposed = "Gebu\u{0308}hr";
        assert!(!is_nfc(decomposed));
        assert_eq!(to_nfc(decomposed), "Gebühr");
        assert!(matches!(to_nfc("Gebühr"), Cow::Borrowed(_)));
    }

    #[test]
    fn length_counts_characters_after_nfc() {
        // 60 decomposed umlauts are 120 code points but 60 characters after NFC.
        let s = "a\u{0308}".repeat(60);
        assert_eq!(
            check_text(&s, 60, Charset::Any).map(|t| char_len(&t)),
            Ok(60)
        );
        let s = "a\u{0308}".repeat(61);
        assert_eq!(
            check_text(&s, 60, Charset::Any),
            Err(TextError::TooLong {
                max: 60,
                actual: 61
            })
        );
    }

    #[test]
    fn ascii_tables_agree_with_check_char() {
        for charset in [
            Charset::Any,
            Charset::Word,
            Charset::WordSpace,
            Charset::DocumentNumber,
            Charset::Upper,
            Charset::Label,
            Charset::Digits,
        ] {
            for b in 0u8..128 {
                assert_eq!(
                    ascii_verdicts(charset)[usize::from(b)],
                    check_char(charset, char::from(b)),
                    "{charset:?} {b:#04x}"
                );
            }
        }
        assert!(ascii_fits("RE-2024/01", 36, Charset::DocumentNumber));
        assert!(!ascii_fits("RE_1", 36, Charset::DocumentNumber));
        assert!(!ascii_fits("RE-1", 3, Charset::DocumentNumber));
        assert!(!ascii_fits("Gebühr", 60, Charset::Any));
        assert_eq!(
            check_text("RE 1", 36, Charset::DocumentNumber),
            Err(TextError::ForbiddenChar {
                ch: ' ',
                position: 3,
                allowed: charset_description(Charset::DocumentNumber)
            })
        );
    }

    #[test]
    fn document_number_charset() {
        assert_eq!(check_char(Charset::DocumentNumber, 'A'), CharVerdict::Ok);
        assert_eq!(check_char(Charset::DocumentNumber, '/'), CharVerdict::Ok);
        assert_eq!(
            check_char(Charset::DocumentNumber, '_'),
            CharVerdict::Doubtful
        );
        assert_eq!(
            check_char(Charset::DocumentNumber, ' '),
            CharVerdict::Forbidden
        );
        assert_eq!(
            check_char(Charset::DocumentNumber, 'ä'),
            CharVerdict::Forbidden
        );
        assert_eq!(
            check_char(Charset::DocumentNumber, '.'),
            CharVerdict::Forbidden
        );
    }
}
