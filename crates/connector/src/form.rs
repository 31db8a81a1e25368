//! Strict `application/x-www-form-urlencoded` parsing (WHATWG URL Standard §5.1
//! "application/x-www-form-urlencoded parsing", minus its lossy decoding).
//!
//! Twilio posts its callbacks form-encoded and signs the decoded values (`twilio.md` §8.1), so
//! the parser must neither drop nor alter anything: order and repeated names are kept, `+` is a
//! space, and where the WHATWG parser would silently replace bytes (a bad `%` escape kept as is,
//! invalid UTF-8 turned into U+FFFD) this one returns an error naming the pair.

/// Why a form body was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormError {
    /// A `%` not followed by two hexadecimal digits.
    #[error("form pair {pair}: invalid percent-escape")]
    BadEscape {
        /// 1-based position among the non-empty `&`-separated pairs.
        pair: usize,
    },
    /// The decoded name or value is not UTF-8.
    #[error("form pair {pair}: not UTF-8 after decoding")]
    NotUtf8 {
        /// 1-based position among the non-empty `&`-separated pairs.
        pair: usize,
    },
}

/// Parses a form body into `(name, value)` pairs in order. Empty pieces (`a=1&&b=2`, a trailing
/// `&`) are skipped and a piece without `=` is a name with an empty value, as in WHATWG.
pub fn parse_form(body: &[u8]) -> Result<Vec<(String, String)>, FormError> {
    let mut out = Vec::new();
    let mut pair = 0;
    for piece in body.split(|b| *b == b'&') {
        if piece.is_empty() {
            continue;
        }
        pair += 1;
        let (name, value) = match piece.iter().position(|b| *b == b'=') {
            Some(eq) => (&piece[..eq], &piece[eq + 1..]),
            None => (piece, &[][..]),
        };
        out.push((decode(name, pair)?, decode(value, pair)?));
    }
    Ok(out)
}

fn decode(raw: &[u8], pair: usize) -> Result<String, FormError> {
    let mut bytes = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'+' => bytes.push(b' '),
            b'%' => {
                let hi = raw.get(i + 1).and_then(|b| hex(*b));
                let lo = raw.get(i + 2).and_then(|b| hex(*b));
                match (hi, lo) {
                    (Some(h), Some(l)) => bytes.push((h << 4) | l),
                    _ => return Err(FormError::BadEscape { pair }),
                }
                i += 2;
            }
            b => bytes.push(b),
        }
        i += 1;
    }
    String::from_utf8(bytes).map_err(|_| FormError::NotUtf8 { pair })
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn decodes_in_order_keeping_repeats() {
        assert_eq!(
            parse_form(b"To=%2B4915112345678&Body=YES+4711&Body=x%26y%3Dz&Empty=&NoEq&&").unwrap(),
            pairs(&[
                ("To", "+4915112345678"),
                ("Body", "YES 4711"),
                ("Body", "x&y=z"),
                ("Empty", ""),
                ("NoEq", "")
            ])
        );
        assert_eq!(parse_form(b"").unwrap(), pairs(&[]));
        assert_eq!(
            parse_form("Body=Gr%C3%BC%C3%9Fe+%F0%9F%91%8D".as_bytes()).unwrap(),
            pairs(&[("Body", "Grüße 👍")])
        );
        // A raw UTF-8 byte sequence (not escaped) is kept too.
        assert_eq!(
            parse_form("Body=Grüße".as_bytes()).unwrap(),
            pairs(&[("Body", "Grüße")])
        );
        assert_eq!(parse_form(b"a=b=c").unwrap(), pairs(&[("a", "b=c")]));
    }

    #[test]
    fn rejects_what_whatwg_would_alter() {
        assert_eq!(
            parse_form(b"a=1&b=%zz"),
            Err(FormError::BadEscape { pair: 2 })
        );
        assert_eq!(parse_form(b"a=%4"), Err(FormError::BadEscape { pair: 1 }));
        assert_eq!(parse_form(b"a=%"), Err(FormError::BadEscape { pair: 1 }));
        assert_eq!(
            parse_form(b"x=1&&a=%C3%28"),
            Err(FormError::NotUtf8 { pair: 2 })
        );
        assert_eq!(parse_form(b"%FF=1"), Err(FormError::NotUtf8 { pair: 1 }));
        assert_eq!(
            parse_form(&[b'a', b'=', 0xC3]),
            Err(FormError::NotUtf8 { pair: 1 })
        );
    }
}
