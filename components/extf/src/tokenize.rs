//! Tokenizer for DATEV-Format CSV (`datev.md` §1.1): `;`-separated fields, text in `"…"` with
//! `""` for a literal quote, `;` and line breaks allowed inside quotes, records ended by CR LF
//! (LF alone is tolerated and reported by the validator).
//!
//! It works on bytes of any ASCII-compatible encoding (UTF-8, Windows-1252), never allocates
//! per field, and never fails: malformed input is described in the returned structures.

/// One field as it appears in the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field<'a> {
    /// The content: between the quotes for a quoted field (inner quotes still doubled), else the
    /// bytes up to the separator.
    pub raw: &'a [u8],
    /// The field started with `"`.
    pub quoted: bool,
    /// The content holds `""` (to be unescaped).
    pub escaped: bool,
    /// Characters after the closing quote, or a `"` inside an unquoted field.
    pub stray_quote: bool,
}

/// How a record ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Terminator {
    /// CR LF, as DATEV requires.
    CrLf,
    /// A bare LF.
    Lf,
    /// End of input without a line break.
    Eof,
    /// [`Tokenizer::next_record_head`] stopped after its field limit; the record continues
    /// ([`Tokenizer::read_rest`], [`Tokenizer::skip_rest`]).
    Partial,
}

/// Where a record was and how it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record {
    /// 1-based line the record starts on.
    pub line: u32,
    /// How it ended.
    pub terminator: Terminator,
    /// A quoted field ran to the end of the input.
    pub unterminated_quote: bool,
}

/// Splits input into records and fields.
#[derive(Debug, Clone)]
pub struct Tokenizer<'a> {
    data: &'a [u8],
    pos: usize,
    line: u32,
}

/// `a == b` eight bytes at a time: on wasm32 `memcmp` is a byte loop, and a row tail is ~200
/// bytes.
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let (x, x_rest) = a.as_chunks::<8>();
    let (y, y_rest) = b.as_chunks::<8>();
    for (&u, &v) in x.iter().zip(y) {
        if u64::from_ne_bytes(u) != u64::from_ne_bytes(v) {
            return false;
        }
    }
    x_rest == y_rest
}

/// Bytes that end an unquoted field or need attention in it.
const fn special_table() -> [bool; 256] {
    let mut t = [false; 256];
    t[b';' as usize] = true;
    t[b'\n' as usize] = true;
    t[b'\r' as usize] = true;
    t[b'"' as usize] = true;
    t
}
static SPECIAL: [bool; 256] = special_table();

impl<'a> Tokenizer<'a> {
    /// Tokenizes `data` (without a byte-order mark).
    pub fn new(data: &'a [u8]) -> Self {
        Self {
            data,
            pos: 0,
            line: 1,
        }
    }

    /// Byte offset of the next record.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Reads the next record into `fields` (cleared first). `None` at the end of input.
    pub fn next_record(&mut self, fields: &mut Vec<Field<'a>>) -> Option<Record> {
        self.next_record_head(fields, usize::MAX)
    }

    /// Like [`Tokenizer::next_record`], but stops after `limit` fields if the record goes on:
    /// then the record's terminator is [`Terminator::Partial`] and the position is at the start
    /// of field `limit + 1`. A caller that knows what the rest of a record usually looks like
    /// can then compare it in one go ([`Tokenizer::skip_rest`]) instead of splitting it.
    pub fn next_record_head(
        &mut self,
        fields: &mut Vec<Field<'a>>,
        limit: usize,
    ) -> Option<Record> {
        fields.clear();
        if self.pos >= self.data.len() {
            return None;
        }
        let line = self.line;
        Some(self.read_fields(fields, line, limit))
    }

    /// Reads the rest of a [`Terminator::Partial`] record, appending its fields.
    pub fn read_rest(&mut self, fields: &mut Vec<Field<'a>>, record: Record) -> Record {
        self.read_fields(fields, record.line, usize::MAX)
    }

    /// If the rest of a [`Terminator::Partial`] record is exactly `rest`, skips it and returns
    /// true. `rest` must end with CR LF and hold no other line break and no quote that is not
    /// part of an empty `""` field, so that it is one whole record tail.
    pub fn skip_rest(&mut self, rest: &[u8]) -> bool {
        let next = self.data.get(self.pos..self.pos.saturating_add(rest.len()));
        if next.is_some_and(|d| same_bytes(d, rest)) {
            self.pos += rest.len();
            self.line += 1;
            true
        } else {
            false
        }
    }

    fn read_fields(&mut self, fields: &mut Vec<Field<'a>>, line: u32, limit: usize) -> Record {
        let data = self.data;
        let len = data.len();
        loop {
            // Fast path for the runs of empty fields that make up most of a DATEV row: `;`
            // (empty number) and `"";` (empty text).
            let mut pos = self.pos;
            while let Some(&b) = data.get(pos) {
                if fields.len() >= limit {
                    self.pos = pos;
                    return Record {
                        line,
                        terminator: Terminator::Partial,
                        unterminated_quote: false,
                    };
                }
                let quoted = if b == b';' {
                    false
                } else if b == b'"' && data.get(pos + 1..pos + 3) == Some(b"\";") {
                    pos += 2;
                    true
                } else {
                    break;
                };
                fields.push(Field {
                    raw: &[],
                    quoted,
                    escaped: false,
                    stray_quote: false,
                });
                pos += 1;
            }
            self.pos = pos;
            let mut field = Field {
                raw: &[],
                quoted: false,
                escaped: false,
                stray_quote: false,
            };
            if self.pos < len && data[self.pos] == b'"' {
                field.quoted = true;
                self.pos += 1;
                let start = self.pos;
                loop {
                    let mut i = self.pos;
                    while i < len && data[i] != b'"' {
                        if data[i] == b'\n' {
                            self.line += 1;
                        }
                        i += 1;
                    }
                    if i >= len {
                        field.raw = &data[start..];
                        self.pos = len;
                        fields.push(field);
                        return Record {
                            line,
                            terminator: Terminator::Eof,
                            unterminated_quote: true,
                        };
                    }
                    if i + 1 < len && data[i + 1] == b'"' {
                        field.escaped = true;
                        self.pos = i + 2;
                        continue;
                    }
                    field.raw = &data[start..i];
                    self.pos = i + 1;
                    break;
                }
                // Anything between the closing quote and the separator is stray.
                while self.pos < len {
                    match data[self.pos] {
                        b';' | b'\n' => break,
                        b'\r' if self.pos + 1 < len && data[self.pos + 1] == b'\n' => break,
                        _ => {
                            field.stray_quote = true;
                            self.pos += 1;
                        }
                    }
                }
            } else {
                let start = self.pos;
                let mut i = self.pos;
                while i < len {
                    let b = data[i];
                    if SPECIAL[usize::from(b)] {
                        match b {
                            b'"' => field.stray_quote = true,
                            b'\r' if i + 1 < len && data[i + 1] == b'\n' => break,
                            b'\r' => {}
                            _ => break,
                        }
                    }
                    i += 1;
                }
                field.raw = &data[start..i];
                self.pos = i;
            }
            fields.push(field);
            if self.pos >= len {
                return Record {
                    line,
                    terminator: Terminator::Eof,
                    unterminated_quote: false,
                };
            }
            match data[self.pos] {
                b';' => {
                    self.pos += 1;
                    if fields.len() >= limit {
                        return Record {
                            line,
                            terminator: Terminator::Partial,
                            unterminated_quote: false,
                        };
                    }
                }
                b'\n' => {
                    self.pos += 1;
                    self.line += 1;
                    return Record {
                        line,
                        terminator: Terminator::Lf,
                        unterminated_quote: false,
                    };
                }
                _ => {
                    // CR LF (a lone CR never stops a field).
                    self.pos += 2;
                    self.line += 1;
                    return Record {
                        line,
                        terminator: Terminator::CrLf,
                        unterminated_quote: false,
                    };
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(input: &str) -> Vec<(Record, Vec<(String, bool)>)> {
        let mut t = Tokenizer::new(input.as_bytes());
        let mut fields = Vec::new();
        let mut out = Vec::new();
        while let Some(r) = t.next_record(&mut fields) {
            out.push((
                r,
                fields
                    .iter()
                    .map(|f| (String::from_utf8_lossy(f.raw).into_owned(), f.quoted))
                    .collect(),
            ));
        }
        out
    }

    #[test]
    fn quoted_separators_line_breaks_and_escapes() {
        let r = records("1;\"a;b\";\"x\r\ny\";\"say \"\"hi\"\"\"\r\n2;;\"\"\r\n");
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].0.line, 1);
        assert_eq!(r[0].0.terminator, Terminator::CrLf);
        assert_eq!(
            r[0].1,
            vec![
                ("1".into(), false),
                ("a;b".into(), true),
                ("x\r\ny".into(), true),
                ("say \"\"hi\"\"".into(), true)
            ]
        );
        assert_eq!(r[1].0.line, 3, "the quoted line break counts");
        assert_eq!(
            r[1].1,
            vec![("2".into(), false), ("".into(), false), ("".into(), true)]
        );
    }

    #[test]
    fn lf_eof_and_unterminated() {
        let r = records("a\nb");
        assert_eq!(r[0].0.terminator, Terminator::Lf);
        assert_eq!(r[1].0.terminator, Terminator::Eof);
        let r = records("\"open;x\r\n");
        assert!(r[0].0.unterminated_quote);
        assert_eq!(r.len(), 1);
    }

    #[test]
    fn stray_quotes() {
        let mut t = Tokenizer::new(b"\"a\"b;c\"d\r\n");
        let mut f = Vec::new();
        t.next_record(&mut f);
        assert!(f[0].stray_quote && f[1].stray_quote);
        assert_eq!(f[0].raw, b"a");
        assert_eq!(f[1].raw, b"c\"d");
    }

    #[test]
    fn same_bytes_compares_every_byte() {
        let a: Vec<u8> = (0u8..40).collect();
        for len in 0..a.len() {
            assert!(same_bytes(&a[..len], &a[..len]));
            for at in 0..len {
                let mut b = a[..len].to_vec();
                b[at] ^= 0x20;
                assert!(!same_bytes(&a[..len], &b), "{len} {at}");
            }
        }
        assert!(!same_bytes(b"ab", b"abc"));
    }

    #[test]
    fn trailing_separator_gives_an_empty_last_field() {
        let r = records("a;\r\n");
        assert_eq!(r[0].1, vec![("a".into(), false), ("".into(), false)]);
    }
}
