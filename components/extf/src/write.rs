//! Streaming writer for an EXTF Buchungsstapel (`datev.md` §1.1-§1.5): header line, column-name
//! line, then one row per booking, each line ended by CR LF, fields separated by `;`, text in
//! quotes with inner quotes doubled, numbers unquoted with a decimal comma, empty text as `""`
//! and empty numbers as nothing (DATEV's sample conventions).
//!
//! Memory stays flat: rows are rendered straight into one reused output buffer of about
//! [`BUFFER`] bytes, which is handed to the underlying writer whenever it fills; nothing grows
//! with the number of rows.

use std::io::{self, Write};

use crate::columns::{self, COLUMNS, FESTSCHREIBUNG, HEADER_FIELD_NAMES};
use crate::finding::{Code, Finding};
use crate::model::{Booking, Date, Header};
use crate::text;

/// Output encoding, chosen by the caller (`datev.md` §1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encoding {
    /// UTF-8 with the byte-order mark `EF BB BF`: the only way the upload API reads UTF-8.
    Utf8Bom,
    /// Windows-1252 ("ANSI"), the desktop import's traditional encoding. Characters outside
    /// code page 1252 are field errors, never `?`.
    Windows1252,
}

/// Why a file could not be written.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The header breaks a cross-field rule (period, fiscal year) or holds a character the
    /// encoding cannot represent. Nothing was written.
    #[error("invalid header: {}", .0.first().map(ToString::to_string).unwrap_or_default())]
    Header(Vec<Finding>),
    /// A booking cannot be written; the row was not written, the writer can continue.
    #[error("{0}")]
    Field(Box<Finding>),
    /// The underlying writer failed.
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
}

impl WriteError {
    /// The findings behind this error (empty for I/O errors).
    pub fn findings(&self) -> Vec<Finding> {
        match self {
            WriteError::Header(f) => f.clone(),
            WriteError::Field(f) => vec![(**f).clone()],
            WriteError::Io(_) => Vec::new(),
        }
    }
}

const HEADER_LINE: u32 = 1;
const FIRST_ROW_LINE: u32 = 3;
const BUFFER: usize = 64 * 1024;

/// The empty representation of columns 15-125 as one byte string (`;""` for text, `;` for
/// numbers), with the offset of each column's leading `;`, so a run of empty columns is one
/// slice copy.
struct EmptyTail {
    bytes: Vec<u8>,
    /// `offset[c]` = start of column `c`'s `;` for c in 15..=125; `offset[126]` = end.
    offset: [usize; columns::COLUMN_COUNT + 2],
}

impl EmptyTail {
    fn new() -> Self {
        let mut bytes = Vec::with_capacity(300);
        let mut offset = [0usize; columns::COLUMN_COUNT + 2];
        for col in &COLUMNS[14..] {
            offset[usize::from(col.number)] = bytes.len();
            bytes.push(b';');
            if col.kind.quoted() {
                bytes.extend_from_slice(b"\"\"");
            }
        }
        offset[columns::COLUMN_COUNT + 1] = bytes.len();
        Self { bytes, offset }
    }

    /// Empty columns `from..to` (to exclusive), each with its leading `;`.
    fn run(&self, from: u8, to: u8) -> &[u8] {
        &self.bytes[self.offset[usize::from(from)]..self.offset[usize::from(to)]]
    }
}

/// Writes a Buchungsstapel row by row into any [`Write`].
///
/// ```
/// # use extf::*;
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let d = |y, m, day| Date::new(y, m, day);
/// let header = Header::new(
///     Timestamp::new(d(2024, 1, 30)?, 14, 4, 40, 439)?,
///     ConsultantNumber::new(29098)?,
///     ClientNumber::new(55003)?,
///     d(2024, 1, 1)?,
///     AccountLength::new(4)?,
///     d(2024, 1, 1)?,
///     d(2024, 1, 31)?,
/// );
/// let mut w = Writer::new(Vec::new(), &header, Encoding::Utf8Bom)?;
/// let mut b = Booking::new(
///     Amount::new(11_900)?, Side::Soll, AccountNumber::new(10000)?,
///     AccountNumber::new(8400)?, d(2024, 1, 15)?,
/// );
/// b.text = BookingText::new("Erlöse")?;
/// w.write_booking(&b)?;
/// let bytes = w.finish()?;
/// assert!(bytes.starts_with(b"\xEF\xBB\xBF\"EXTF\";700;21;"));
/// # Ok(()) }
/// ```
pub struct Writer<W: Write> {
    out: W,
    /// Rendered rows not yet handed to `out`; a refused row is cut off again.
    buf: Vec<u8>,
    encoding: Encoding,
    festschreibung: u8,
    account_len: u8,
    /// Accounts must be below this: 10^(Sachkontenlänge + 1) (at most 10^9, fits u32).
    account_bound: u32,
    /// Columns 15-125 of a row without extra columns, Festschreibung included, and CR LF:
    /// such a row (the usual one) ends with one copy.
    plain_tail: Vec<u8>,
    period_from: Date,
    period_to: Date,
    line: u32,
    tail: EmptyTail,
    /// Hand the buffer to `out` once it holds this many bytes ([`BUFFER`]; never for
    /// [`Writer::in_memory`], whose buffer is the result).
    flush_at: usize,
    /// How many times [`Writer::take_written`] handed the buffer out (a [`Mark`] from before
    /// that cannot undo what is gone).
    taken: u64,
    /// The line of the first row still held in `buf`.
    held_from_line: u32,
}

/// A position of an in-memory [`Writer`] ([`Writer::mark`]), to undo rows with
/// [`Writer::rewind`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mark {
    taken: u64,
    len: usize,
    line: u32,
}

impl<W: Write> std::fmt::Debug for Writer<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer")
            .field("encoding", &self.encoding)
            .field("next_line", &self.line)
            .finish_non_exhaustive()
    }
}

impl<W: Write> Writer<W> {
    /// Checks the header, then writes the BOM (for UTF-8), the header line and the column-name
    /// line.
    pub fn new(out: W, header: &Header, encoding: Encoding) -> Result<Self, WriteError> {
        let problems = header.problems();
        if !problems.is_empty() {
            let value = |field: u16| match field {
                13 => header.fiscal_year_start.to_string(),
                15 => header.period_from.to_string(),
                _ => header.period_to.to_string(),
            };
            return Err(WriteError::Header(
                problems
                    .into_iter()
                    .map(|p| {
                        Finding::error(
                            p.code,
                            HEADER_LINE,
                            p.field,
                            p.name,
                            &value(p.field),
                            p.reason,
                        )
                    })
                    .collect(),
            ));
        }
        let mut w = Self {
            out,
            buf: Vec::with_capacity(BUFFER + 4096),
            encoding,
            festschreibung: if header.festschreibung { b'1' } else { b'0' },
            account_len: header.account_length.get(),
            // Sachkontenlänge is 4-8: the bound is at most 10^9.
            account_bound: 10u32.pow(u32::from(header.account_length.get()) + 1),
            plain_tail: Vec::new(),
            period_from: header.period_from,
            period_to: header.period_to,
            line: FIRST_ROW_LINE,
            tail: EmptyTail::new(),
            flush_at: BUFFER,
            taken: 0,
            held_from_line: FIRST_ROW_LINE,
        };
        let mut plain_tail = w.tail.run(15, FESTSCHREIBUNG).to_vec();
        plain_tail.extend_from_slice(&[b';', w.festschreibung]);
        plain_tail.extend_from_slice(
            w.tail
                .run(FESTSCHREIBUNG + 1, columns::COLUMN_COUNT as u8 + 1),
        );
        plain_tail.extend_from_slice(b"\r\n");
        w.plain_tail = plain_tail;
        let line = render_header(header, encoding).map_err(|f| WriteError::Header(vec![*f]))?;
        if encoding == Encoding::Utf8Bom {
            w.buf.extend_from_slice(b"\xEF\xBB\xBF");
        }
        w.buf.extend_from_slice(&line);
        for (i, col) in COLUMNS.iter().enumerate() {
            if i > 0 {
                w.buf.push(b';');
            }
            // Column names are plain text of code page 1252 (umlauts only).
            push_plain(&mut w.buf, col.name, encoding);
        }
        w.buf.extend_from_slice(b"\r\n");
        Ok(w)
    }

    /// Writes one booking. On a field error nothing of the row is written and the writer stays
    /// usable; the error names the line the row would have had.
    pub fn write_booking(&mut self, b: &Booking) -> Result<(), WriteError> {
        self.render(b).map_err(WriteError::Field)?;
        self.line += 1;
        if self.buf.len() >= self.flush_at {
            self.out.write_all(&self.buf)?;
            self.buf.clear();
        }
        Ok(())
    }

    /// Number of bookings written so far.
    pub fn rows_written(&self) -> u32 {
        self.line - FIRST_ROW_LINE
    }

    /// Flushes and returns the underlying writer.
    pub fn finish(mut self) -> Result<W, WriteError> {
        self.out.write_all(&self.buf)?;
        self.out.flush()?;
        Ok(self.out)
    }

    fn field_error(
        &self,
        col: u8,
        value: &str,
        code: Code,
        reason: impl Into<String>,
    ) -> Box<Finding> {
        let name = columns::column(col).map_or("", |c| c.name);
        Box::new(Finding::error(
            code,
            self.line,
            u16::from(col),
            name,
            value,
            reason,
        ))
    }

    fn render(&mut self, b: &Booking) -> Result<(), Box<Finding>> {
        // Cross-field rules first, so a refused row never half-renders.
        if b.document_date < self.period_from || b.document_date > self.period_to {
            return Err(self.field_error(
                10,
                &b.document_date.to_string(),
                Code::OutsidePeriod,
                format!(
                    "Belegdatum outside the header period {} to {} (fields 15/16); DDMM carries no year",
                    self.period_from, self.period_to
                ),
            ));
        }
        let max_digits = u32::from(self.account_len) + 1;
        for (col, acct) in [(7u8, b.account.get()), (8, b.contra_account.get())] {
            if acct >= self.account_bound {
                return Err(self.field_error(
                    col,
                    &acct.to_string(),
                    Code::AccountLength,
                    format!(
                        "more than {max_digits} digits; Sachkontenlänge (header field 14) is {}",
                        self.account_len
                    ),
                ));
            }
        }
        if b.exchange_rate.is_some() && (b.base_amount.is_none() || b.base_currency.is_none()) {
            return Err(self.field_error(
                4,
                b.exchange_rate.as_ref().map_or("", |r| r.as_str()),
                Code::Pairing,
                "Kurs needs Basis-Umsatz (5) and WKZ Basis-Umsatz (6)",
            ));
        }
        if b.base_amount.is_some() != b.base_currency.is_some() {
            return Err(self.field_error(
                5,
                "",
                Code::Pairing,
                "Basis-Umsatz (5) and WKZ Basis-Umsatz (6) go together",
            ));
        }
        if !b.extras.is_empty() {
            for &(a, c) in columns::PAIRS {
                if a >= 15 && b.extras.get(a).is_some() != b.extras.get(c).is_some() {
                    let (set, missing) = if b.extras.get(a).is_some() {
                        (a, c)
                    } else {
                        (c, a)
                    };
                    return Err(self.field_error(
                        missing,
                        "",
                        Code::Pairing,
                        format!("must be filled together with field {set}"),
                    ));
                }
            }
        }

        let enc = self.encoding;
        let start = self.buf.len();
        let row = &mut self.buf;
        let tail = &self.tail;
        let plain_tail = &self.plain_tail;
        let festschreibung = self.festschreibung;
        let result = (|| {
            push_cents(row, b.amount.get());
            row.extend_from_slice(match b.side {
                crate::Side::Soll => b";\"S\";",
                crate::Side::Haben => b";\"H\";",
            });
            push_code(row, b.currency.as_ref().map(|c| c.as_str()));
            row.push(b';');
            if let Some(r) = &b.exchange_rate {
                row.extend_from_slice(r.as_str().as_bytes());
            }
            row.push(b';');
            if let Some(a) = b.base_amount {
                push_cents(row, a.get());
            }
            row.push(b';');
            push_code(row, b.base_currency.as_ref().map(|c| c.as_str()));
            row.push(b';');
            push_u64(row, u64::from(b.account.get()));
            row.push(b';');
            push_u64(row, u64::from(b.contra_account.get()));
            row.push(b';');
            row.push(b'"');
            if let Some(k) = b.bu_key {
                push_u64(row, u64::from(k.get()));
            }
            row.extend_from_slice(b"\";");
            push_2(row, b.document_date.day());
            push_2(row, b.document_date.month());
            row.push(b';');
            push_text(row, b.document_field_1.as_str(), enc).map_err(|c| (11, c))?;
            row.push(b';');
            push_text(row, b.document_field_2.as_str(), enc).map_err(|c| (12, c))?;
            row.push(b';');
            if let Some(d) = b.discount {
                push_cents(row, d.get());
            }
            row.push(b';');
            push_text(row, b.text.as_str(), enc).map_err(|c| (14, c))?;
            if b.extras.is_empty() {
                row.extend_from_slice(plain_tail);
                return Ok(());
            }
            // Columns 15-125: runs of empty columns are slices of the precomputed tail.
            let mut next = 15u8;
            let mut fest_done = false;
            for extra in &b.extras {
                let col = extra.column();
                if !fest_done && col > FESTSCHREIBUNG {
                    row.extend_from_slice(tail.run(next, FESTSCHREIBUNG));
                    row.push(b';');
                    row.push(festschreibung);
                    next = FESTSCHREIBUNG + 1;
                    fest_done = true;
                }
                row.extend_from_slice(tail.run(next, col));
                row.push(b';');
                let kind = COLUMNS[usize::from(col) - 1].kind;
                if kind.quoted() {
                    push_text(row, extra.value(), enc).map_err(|c| (col, c))?;
                } else {
                    row.extend_from_slice(extra.value().as_bytes());
                }
                next = col + 1;
            }
            if !fest_done {
                row.extend_from_slice(tail.run(next, FESTSCHREIBUNG));
                row.push(b';');
                row.push(festschreibung);
                next = FESTSCHREIBUNG + 1;
            }
            row.extend_from_slice(tail.run(next, columns::COLUMN_COUNT as u8 + 1));
            row.extend_from_slice(b"\r\n");
            Ok::<(), (u8, char)>(())
        })();
        if result.is_err() {
            self.buf.truncate(start);
        }
        result.map_err(|(col, c)| {
            let value = match col {
                11 => b.document_field_1.as_str(),
                12 => b.document_field_2.as_str(),
                14 => b.text.as_str(),
                _ => b.extras.get(col).unwrap_or(""),
            };
            self.field_error(col, value, Code::NotWindows1252, unrepresentable(c))
        })
    }
}

fn unrepresentable(c: char) -> String {
    format!(
        "character {c:?} (U+{:04X}) cannot be written in Windows-1252; choose UTF-8 with BOM or replace it",
        u32::from(c)
    )
}

/// Renders the header line (with CR LF), `datev.md` §1.4.
fn render_header(h: &Header, enc: Encoding) -> Result<Vec<u8>, Box<Finding>> {
    let mut l = Vec::with_capacity(256);
    l.extend_from_slice(b"\"EXTF\";700;21;\"Buchungsstapel\";13;");
    let t = h.created_at;
    push_u64(&mut l, u64::from(t.date().year()));
    push_2(&mut l, t.date().month());
    push_2(&mut l, t.date().day());
    push_2(&mut l, t.hour());
    push_2(&mut l, t.minute());
    push_2(&mut l, t.second());
    push_3(&mut l, t.millisecond());
    l.extend_from_slice(b";;");
    let text_field = |l: &mut Vec<u8>, field: usize, s: &str| {
        push_text(l, s, enc).map_err(|c| {
            Box::new(Finding::error(
                Code::NotWindows1252,
                HEADER_LINE,
                field as u16,
                HEADER_FIELD_NAMES[field - 1],
                s,
                unrepresentable(c),
            ))
        })
    };
    text_field(&mut l, 8, h.origin.as_str())?;
    l.push(b';');
    text_field(&mut l, 9, h.exported_by.as_str())?;
    l.push(b';');
    text_field(&mut l, 10, h.imported_by.as_str())?;
    l.push(b';');
    push_u64(&mut l, u64::from(h.consultant.get()));
    l.push(b';');
    push_u64(&mut l, u64::from(h.client.get()));
    l.push(b';');
    push_yyyymmdd(&mut l, h.fiscal_year_start);
    l.push(b';');
    push_u64(&mut l, u64::from(h.account_length.get()));
    l.push(b';');
    push_yyyymmdd(&mut l, h.period_from);
    l.push(b';');
    push_yyyymmdd(&mut l, h.period_to);
    l.push(b';');
    text_field(&mut l, 17, h.label.as_str())?;
    l.push(b';');
    text_field(&mut l, 18, h.initials.as_str())?;
    l.push(b';');
    push_u64(&mut l, u64::from(h.booking_type.number()));
    l.push(b';');
    push_u64(&mut l, u64::from(h.purpose.number()));
    l.push(b';');
    l.push(if h.festschreibung { b'1' } else { b'0' });
    l.push(b';');
    push_code(&mut l, Some(h.currency.as_str()));
    // 23 empty, 24 "", 25 and 26 empty (DATEV's example line).
    l.extend_from_slice(b";;\"\";;;");
    text_field(&mut l, 27, h.chart_of_accounts.as_str())?;
    l.push(b';');
    if let Some(id) = h.industry_solution {
        push_u64(&mut l, u64::from(id.get()));
    }
    // 29 empty, 30 "".
    l.extend_from_slice(b";;\"\";");
    text_field(&mut l, 31, h.application_info.as_str())?;
    l.extend_from_slice(b"\r\n");
    Ok(l)
}

/// `"XYZ"` or `""`.
fn push_code(out: &mut Vec<u8>, code: Option<&str>) {
    out.push(b'"');
    if let Some(c) = code {
        out.extend_from_slice(c.as_bytes());
    }
    out.push(b'"');
}

/// Quoted text with inner quotes doubled, encoded; `Err(c)` for a character Windows-1252
/// cannot hold.
fn push_text(out: &mut Vec<u8>, s: &str, enc: Encoding) -> Result<(), char> {
    out.push(b'"');
    let bytes = s.as_bytes();
    if enc == Encoding::Utf8Bom || s.is_ascii() {
        if has_quote(bytes) {
            for &b in bytes {
                if b == b'"' {
                    out.push(b'"');
                }
                out.push(b);
            }
        } else {
            out.extend_from_slice(bytes);
        }
    } else {
        for c in s.chars() {
            let b = text::to_windows_1252(c).ok_or(c)?;
            if b == b'"' {
                out.push(b'"');
            }
            out.push(b);
        }
    }
    out.push(b'"');
    Ok(())
}

/// True if `bytes` holds a `"`: eight bytes at a time (a zero byte of `word ^ "…"` is a
/// quote), since most texts have none and are then copied whole.
fn has_quote(bytes: &[u8]) -> bool {
    const QUOTES: u64 = u64::from_ne_bytes([b'"'; 8]);
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    let (words, rest) = bytes.as_chunks::<8>();
    for &word in words {
        let x = u64::from_ne_bytes(word) ^ QUOTES;
        if x.wrapping_sub(ONES) & !x & HIGHS != 0 {
            return true;
        }
    }
    rest.contains(&b'"')
}

/// Unquoted text known to be representable (column names).
fn push_plain(out: &mut Vec<u8>, s: &str, enc: Encoding) {
    match enc {
        Encoding::Utf8Bom => out.extend_from_slice(s.as_bytes()),
        Encoding::Windows1252 => out.extend(s.chars().filter_map(text::to_windows_1252)),
    }
}

/// `"00" "01" … "99"`: two digits per division, as integer formatters such as `itoa` do.
static DIGIT_PAIRS: [u8; 200] = {
    let mut t = [0u8; 200];
    let mut i = 0;
    while i < 100 {
        t[2 * i] = b'0' + (i / 10) as u8;
        t[2 * i + 1] = b'0' + (i % 10) as u8;
        i += 1;
    }
    t
};

fn push_u64(out: &mut Vec<u8>, n: u64) {
    match u32::try_from(n) {
        Ok(n) => push_u32(out, n),
        Err(_) => {
            // Only amounts above 42,949,672.95 get here; one 64-bit division splits them.
            push_u64(out, n / 1_000_000_000);
            push_u32_padded(out, (n % 1_000_000_000) as u32, 9);
        }
    }
}

/// Decimal digits of `n` (1-10), by comparison rather than division.
fn digit_count(n: u32) -> usize {
    match n {
        0..=9 => 1,
        10..=99 => 2,
        100..=999 => 3,
        1_000..=9_999 => 4,
        10_000..=99_999 => 5,
        100_000..=999_999 => 6,
        1_000_000..=9_999_999 => 7,
        10_000_000..=99_999_999 => 8,
        100_000_000..=999_999_999 => 9,
        _ => 10,
    }
}

// 32-bit on purpose: wasm has no 64-bit multiply-high, so LLVM keeps a 64-bit division by a
// constant as `i64.div_u` (tens of cycles), while a 32-bit one becomes a multiply and a shift.
fn push_u32(out: &mut Vec<u8>, n: u32) {
    push_u32_padded(out, n, digit_count(n));
}

/// `n` in exactly `digits` digits (zero-padded; `digits` >= the digits of `n`, at most 10).
fn push_u32_padded(out: &mut Vec<u8>, n: u32, digits: usize) {
    // Digits left-aligned in a fixed buffer that is appended whole and then cut back: a
    // fixed-size copy compiles to a few stores, a variable one to `memcpy` (in wasm a
    // `memory.copy`, which wasmtime runs as a call into the host).
    let mut buf = [b'0'; 10];
    let mut i = digits.min(buf.len());
    let mut n = n;
    while n >= 100 && i >= 2 {
        let pair = (n % 100) as usize * 2;
        n /= 100;
        i -= 2;
        buf[i..i + 2].copy_from_slice(&DIGIT_PAIRS[pair..pair + 2]);
    }
    if n >= 10 && i >= 2 {
        let pair = n as usize * 2;
        buf[i - 2..i].copy_from_slice(&DIGIT_PAIRS[pair..pair + 2]);
    } else if i >= 1 {
        buf[i - 1] = b'0' + (n % 10) as u8;
    }
    let end = out.len() + digits.min(buf.len());
    out.extend_from_slice(&buf);
    out.truncate(end);
}

fn push_2(out: &mut Vec<u8>, n: u8) {
    let pair = usize::from(n % 100) * 2;
    out.extend_from_slice(&DIGIT_PAIRS[pair..pair + 2]);
}

fn push_3(out: &mut Vec<u8>, n: u16) {
    out.extend_from_slice(&[
        b'0' + (n / 100 % 10) as u8,
        b'0' + (n / 10 % 10) as u8,
        b'0' + (n % 10) as u8,
    ]);
}

/// Cents as `int,dd` with a decimal comma.
fn push_cents(out: &mut Vec<u8>, cents: u64) {
    match u32::try_from(cents) {
        Ok(c) => {
            push_u32(out, c / 100);
            out.push(b',');
            push_2(out, (c % 100) as u8);
        }
        Err(_) => {
            push_u64(out, cents / 100);
            out.push(b',');
            push_2(out, (cents % 100) as u8);
        }
    }
}

fn push_yyyymmdd(out: &mut Vec<u8>, d: Date) {
    push_u64(out, u64::from(d.year()));
    push_2(out, d.month());
    push_2(out, d.day());
}

impl Writer<Vec<u8>> {
    /// A writer whose rows stay in its own buffer, which [`Writer::finish_vec`] returns: no
    /// copy into a second `Vec`. `capacity` is a hint for the file's size in bytes.
    pub fn in_memory(
        header: &Header,
        encoding: Encoding,
        capacity: usize,
    ) -> Result<Self, WriteError> {
        let mut w = Self::new(Vec::new(), header, encoding)?;
        w.flush_at = usize::MAX;
        w.buf.reserve(capacity);
        Ok(w)
    }

    /// Where the writer stands now; [`Writer::rewind`] goes back there.
    pub fn mark(&self) -> Mark {
        Mark {
            taken: self.taken,
            len: self.buf.len(),
            line: self.line,
        }
    }

    /// Undoes every row written since `mark`, so a group of bookings is written all or
    /// nothing. A mark from before a [`Writer::take_written`] cannot undo what was taken: the
    /// writer then only goes back to the start of what it still holds.
    pub fn rewind(&mut self, mark: Mark) {
        if mark.taken == self.taken {
            self.buf.truncate(mark.len);
            self.line = mark.line;
        } else {
            self.buf.clear();
            self.line = self.held_from_line;
        }
    }

    /// Hands out the bytes written since the last call (or since the start: the BOM, header
    /// line and column names come first) and keeps writing into a fresh buffer of the same
    /// capacity, so a caller can stream a batch of any size in pieces.
    pub fn take_written(&mut self) -> Vec<u8> {
        let capacity = self.buf.capacity();
        self.taken += 1;
        self.held_from_line = self.line;
        std::mem::replace(&mut self.buf, Vec::with_capacity(capacity))
    }

    /// The file written so far (writing into a `Vec` cannot fail).
    pub fn finish_vec(self) -> Vec<u8> {
        if self.out.is_empty() {
            return self.buf;
        }
        let mut out = self.out;
        out.extend_from_slice(&self.buf);
        out
    }
}

/// Writes a whole batch into a `Vec<u8>`.
pub fn write_to_vec<'a>(
    header: &Header,
    bookings: impl IntoIterator<Item = &'a Booking>,
    encoding: Encoding,
) -> Result<Vec<u8>, WriteError> {
    let mut w = Writer::in_memory(header, encoding, 0)?;
    for b in bookings {
        w.write_booking(b)?;
    }
    Ok(w.finish_vec())
}

/// The kinds whose empty form is `""` must match the writer's tail; used by tests.
#[cfg(test)]
pub(crate) fn empty_field(kind: crate::columns::Kind) -> &'static str {
    if kind.quoted() { "\"\"" } else { "" }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        let mut v = Vec::new();
        push_cents(&mut v, 6_408_300);
        v.push(b' ');
        push_cents(&mut v, 1);
        v.push(b' ');
        push_cents(&mut v, 999_999_999_999);
        assert_eq!(v, b"64083,00 0,01 9999999999,99");
        let mut values = vec![
            0u64,
            7,
            4711,
            65_535,
            4_294_967_295,
            4_294_967_296,
            u64::MAX,
        ];
        for k in 1..20 {
            let p = 10u64.pow(k);
            values.extend([p - 1, p, p + 1, p / 7 * 3 + 1]);
        }
        for n in values {
            v.clear();
            push_u64(&mut v, n);
            assert_eq!(v, n.to_string().as_bytes());
            if n <= 999_999_999_999 {
                v.clear();
                push_cents(&mut v, n);
                assert_eq!(v, format!("{},{:02}", n / 100, n % 100).as_bytes(), "{n}");
            }
        }
    }

    #[test]
    fn quote_search() {
        for len in 0..40 {
            let plain = "a".repeat(len);
            assert!(!has_quote(plain.as_bytes()), "{len}");
            for at in 0..len {
                let mut b = plain.clone().into_bytes();
                b[at] = b'"';
                assert!(has_quote(&b), "{len} {at}");
            }
        }
        assert!(!has_quote("Müller € ß ##!!\u{a2}\u{2222}".as_bytes()));
    }

    #[test]
    fn text_quoting_and_1252() {
        let mut v = Vec::new();
        assert_eq!(push_text(&mut v, "a\"b", Encoding::Utf8Bom), Ok(()));
        assert_eq!(v, b"\"a\"\"b\"");
        v.clear();
        assert_eq!(push_text(&mut v, "Gebühr €", Encoding::Windows1252), Ok(()));
        assert_eq!(v, b"\"Geb\xFChr \x80\"");
        v.clear();
        assert_eq!(
            push_text(&mut v, "Party 🎉", Encoding::Windows1252),
            Err('🎉')
        );
    }

    #[test]
    fn empty_tail_follows_sample_conventions() {
        let t = EmptyTail::new();
        let expected: String = COLUMNS[14..]
            .iter()
            .map(|c| format!(";{}", empty_field(c.kind)))
            .collect();
        assert_eq!(t.bytes, expected.as_bytes());
        assert_eq!(t.run(15, 17), b";;\"\"");
        assert_eq!(t.run(126, 126), b"");
    }
}
