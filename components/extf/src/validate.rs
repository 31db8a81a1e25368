//! Validator and parser for any EXTF Buchungsstapel file, not only this crate's output.
//!
//! Encoding follows the upload API (`datev.md` §1.2): a byte-order mark decides (UTF-8,
//! UTF-16LE, UTF-16BE); without one the file is Windows-1252. Then the header line (§1.4), the
//! column-name line and every row (§1.5, §1.7) are checked. Every finding names line, field
//! number, field name, value and reason; all are returned (up to [`Options::max_findings`]).

use std::borrow::Cow;

use crate::check::{self, Sink};
use crate::columns::{self, COLUMNS, Column, FESTSCHREIBUNG, HEADER_FIELD_NAMES};
use crate::finding::{Code, Finding, Severity};
use crate::model::{
    AccountLength, AccountNumber, AccountingPurpose, Amount, ApplicationInfo, BatchLabel, Booking,
    BookingText, BookingType, BuKey, ChartOfAccounts, ClientNumber, ConsultantNumber, CurrencyCode,
    Date, Discount, DocumentField1, DocumentField2, ExchangeRate, ExtraField, Header,
    IndustrySolutionId, Initials, Origin, Side, Timestamp, UserName, ValueError, period_problems,
};
use crate::text;
use crate::tokenize::{Field, Terminator, Tokenizer};

/// How to read a file without a byte-order mark.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum InputEncoding {
    /// As the upload API does: no BOM means Windows-1252. UTF-8 bytes without a BOM are then an
    /// error (DATEV would show mojibake).
    #[default]
    Auto,
    /// Read a BOM-less file as UTF-8 (a warning says the API would not).
    Utf8,
    /// Read a BOM-less file as Windows-1252 without the mojibake check.
    Windows1252,
}

/// The encoding a file was read in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SourceEncoding {
    /// UTF-8 with BOM.
    Utf8Bom,
    /// UTF-8 without BOM (only with [`InputEncoding::Utf8`]).
    Utf8NoBom,
    /// Windows-1252.
    Windows1252,
    /// UTF-16 little endian (BOM `FF FE`).
    Utf16Le,
    /// UTF-16 big endian (BOM `FE FF`).
    Utf16Be,
}

impl SourceEncoding {
    /// The writer encoding that reproduces this one, if any.
    pub fn as_output(self) -> Option<crate::Encoding> {
        match self {
            SourceEncoding::Utf8Bom => Some(crate::Encoding::Utf8Bom),
            SourceEncoding::Windows1252 => Some(crate::Encoding::Windows1252),
            _ => None,
        }
    }
}

/// Validator settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Options {
    /// How to read a file without BOM.
    pub encoding: InputEncoding,
    /// Stop after this many findings (one more, [`Code::Limit`], says so), so hostile input
    /// cannot exhaust memory.
    pub max_findings: usize,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            encoding: InputEncoding::Auto,
            max_findings: 10_000,
        }
    }
}

/// The result of [`validate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// How the file was read.
    pub encoding: SourceEncoding,
    /// Booking rows seen (lines 3..).
    pub rows: u32,
    /// Every finding, in file order.
    pub findings: Vec<Finding>,
}

impl Report {
    /// True if no finding is an error.
    pub fn is_valid(&self) -> bool {
        !self.findings.iter().any(Finding::is_error)
    }

    /// The error findings.
    pub fn errors(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(|f| f.is_error())
    }
}

/// A parsed file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    /// The header line.
    pub header: Header,
    /// The rows.
    pub bookings: Vec<Booking>,
    /// How the file was read.
    pub encoding: SourceEncoding,
    /// Warnings (a parsed file has no errors).
    pub warnings: Vec<Finding>,
}

/// A file that could not be parsed: at least one finding is an error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} error(s), first: {}", .findings.iter().filter(|f| f.is_error()).count(), .findings.iter().find(|f| f.is_error()).map(ToString::to_string).unwrap_or_default())]
pub struct ParseError {
    /// All findings, errors and warnings.
    pub findings: Vec<Finding>,
}

/// Validates a whole file.
pub fn validate(bytes: &[u8], options: &Options) -> Report {
    let (report, _) = run(bytes, options, None, true);
    report
}

/// [`validate`] without the canonical-tail fast path: every field of every row is split and
/// checked. The fuzz oracle asserts that both give the same report.
pub(crate) fn validate_field_by_field(bytes: &[u8], options: &Options) -> Report {
    let (report, _) = run(bytes, options, None, false);
    report
}

/// Parses a file into the typed model. Fails if the validator finds any error.
pub fn parse(bytes: &[u8], options: &Options) -> Result<Parsed, ParseError> {
    let mut bookings = Vec::new();
    let (report, header) = run(bytes, options, Some(&mut bookings), true);
    match header {
        Some(header) if report.is_valid() => Ok(Parsed {
            header,
            bookings,
            encoding: report.encoding,
            warnings: report.findings,
        }),
        _ => Err(ParseError {
            findings: report.findings,
        }),
    }
}

/// The upload API's row limit (`datev.md` §1.7).
pub const MAX_POSTINGS: u32 = 99_999;
/// The upload API's header length limit in characters (§1.4).
pub const MAX_HEADER_CHARS: usize = 1000;

struct Ctx {
    findings: Vec<Finding>,
    max: usize,
    full: bool,
    /// Rows with fewer fields than the Formatversion has, and the first of them (line, fields):
    /// reported once for the file, not once per row.
    short_rows: u32,
    first_short: (u32, usize),
}

impl Ctx {
    fn push(&mut self, f: Finding) {
        if self.full {
            return;
        }
        if self.findings.len() >= self.max {
            self.full = true;
            self.findings.push(Finding::error(
                Code::Limit,
                f.line,
                0,
                "",
                "",
                format!("more than {} findings; validation stopped here", self.max),
            ));
            return;
        }
        self.findings.push(f);
    }
}

/// Decodes one field's content into text.
struct Decoder<'d> {
    utf8: bool,
    /// The whole input, if it is read as UTF-8 and all of it is valid: a field is then a
    /// slice of it (fields start and end at ASCII bytes, so at character boundaries) and needs
    /// no UTF-8 check of its own.
    whole: Option<&'d str>,
    scratch: String,
    unescaped: Vec<u8>,
}

impl Decoder<'_> {
    /// The field's text; `Err` with a lossy rendering if the bytes are not valid UTF-8.
    fn text<'s, 'a: 's>(&'s mut self, f: &Field<'a>) -> Result<&'s str, String> {
        if f.raw.is_empty() {
            return Ok("");
        }
        let raw: &[u8] = if f.escaped {
            self.unescaped.clear();
            let mut i = 0;
            while i < f.raw.len() {
                self.unescaped.push(f.raw[i]);
                i += if f.raw[i] == b'"' { 2 } else { 1 };
            }
            &self.unescaped
        } else {
            f.raw
        };
        if self.utf8 {
            if let Some(whole) = self.whole
                && !f.escaped
            {
                let start = raw.as_ptr().addr().wrapping_sub(whole.as_ptr().addr());
                if let Some(s) = whole.get(start..start.saturating_add(raw.len())) {
                    return Ok(s);
                }
            }
            std::str::from_utf8(raw).map_err(|_| String::from_utf8_lossy(raw).into_owned())
        } else if raw.is_ascii() {
            // ASCII is the same in code page 1252.
            std::str::from_utf8(raw).map_err(|_| String::new())
        } else {
            self.scratch.clear();
            let (s, _) = encoding_rs::WINDOWS_1252.decode_without_bom_handling(raw);
            self.scratch.push_str(&s);
            Ok(&self.scratch)
        }
    }
}

fn run(
    bytes: &[u8],
    options: &Options,
    mut out: Option<&mut Vec<Booking>>,
    fast_tails: bool,
) -> (Report, Option<Header>) {
    let mut ctx = Ctx {
        findings: Vec::new(),
        max: options.max_findings.max(1),
        full: false,
        short_rows: 0,
        first_short: (0, 0),
    };
    let (encoding, data): (SourceEncoding, Cow<'_, [u8]>) = detect(bytes, options, &mut ctx);
    let mut report = Report {
        encoding,
        rows: 0,
        findings: Vec::new(),
    };
    let utf8 = !matches!(encoding, SourceEncoding::Windows1252);
    let mut dec = Decoder {
        utf8,
        whole: if utf8 {
            std::str::from_utf8(&data).ok()
        } else {
            None
        },
        scratch: String::new(),
        unescaped: Vec::new(),
    };
    let mut tok = Tokenizer::new(&data);
    let mut fields: Vec<Field<'_>> = Vec::with_capacity(columns::COLUMN_COUNT + 4);
    let mut lf_lines = 0u32;
    let mut first_lf = 0u32;
    let mut last_terminator;
    let mut last_line;

    // Line 1: header.
    let Some(rec) = tok.next_record(&mut fields) else {
        ctx.push(Finding::error(
            Code::Structure,
            0,
            0,
            "",
            "",
            "empty file: no header line",
        ));
        report.findings = ctx.findings;
        return (report, None);
    };
    track_terminator(rec.terminator, rec.line, &mut lf_lines, &mut first_lf);
    last_terminator = rec.terminator;
    last_line = rec.line;
    if rec.unterminated_quote {
        unterminated(&mut ctx, rec.line);
    }
    let header_len = tok.position();
    let mut hs = HeaderState {
        format_version: 13,
        columns: columns::COLUMN_COUNT,
        ..HeaderState::default()
    };
    let header = check_header(&fields, header_len, &mut dec, &mut ctx, &mut hs);
    if hs.stop {
        report.findings = ctx.findings;
        return (report, None);
    }

    // Line 2: column names (informative; DATEV reads columns by position).
    match tok.next_record(&mut fields) {
        None => ctx.push(Finding::error(
            Code::Structure,
            2,
            0,
            "",
            "",
            "no column-name line (line 2) and no bookings",
        )),
        Some(rec) => {
            track_terminator(rec.terminator, rec.line, &mut lf_lines, &mut first_lf);
            last_terminator = rec.terminator;
            last_line = rec.line;
            if rec.unterminated_quote {
                unterminated(&mut ctx, rec.line);
            }
            check_names(&fields, rec.line, &hs, &mut dec, &mut ctx);
        }
    }

    // Lines 3..: bookings. Most rows leave columns 15 on empty, written as DATEV does (`""`
    // for text, nothing for numbers) with only Festschreibung (114) set: such a tail is
    // compared in one go instead of being split into ~110 fields.
    let tails = CanonicalTails::new(hs.columns);
    let mut values: Vec<Option<String>> = Vec::new();
    let head = if fast_tails { HEAD_FIELDS } else { usize::MAX };
    while let Some(mut rec) = tok.next_record_head(&mut fields, head) {
        if ctx.full {
            break;
        }
        let mut tail = Tail::Fields;
        if rec.terminator == Terminator::Partial {
            if tok.skip_rest(&tails.festschreibung_0) {
                tail = Tail::Canonical("0");
                rec.terminator = Terminator::CrLf;
            } else if tok.skip_rest(&tails.festschreibung_1) {
                tail = Tail::Canonical("1");
                rec.terminator = Terminator::CrLf;
            } else {
                rec = tok.read_rest(&mut fields, rec);
            }
        }
        report.rows += 1;
        track_terminator(rec.terminator, rec.line, &mut lf_lines, &mut first_lf);
        last_terminator = rec.terminator;
        last_line = rec.line;
        if rec.unterminated_quote {
            unterminated(&mut ctx, rec.line);
            // The missing line break at the end is part of this finding.
            last_terminator = Terminator::CrLf;
            continue;
        }
        // Without a valid header there is no model to build (and no period for Belegdatum).
        let build = out.is_some() && header.is_some();
        if let Some(b) = check_row(
            &fields,
            tail,
            rec.line,
            &hs,
            &mut dec,
            &mut ctx,
            build,
            &mut values,
        ) && let Some(v) = out.as_deref_mut()
        {
            v.push(b);
        }
    }

    if ctx.short_rows > 0 {
        let (line, n) = ctx.first_short;
        ctx.push(Finding::warning(
            Code::FieldCount,
            line,
            0,
            "",
            "",
            format!(
                "{} row(s) have fewer fields than the {} of Formatversion {} (first: line {line} with {n}); the missing trailing fields are read as empty",
                ctx.short_rows, hs.columns, hs.format_version
            ),
        ));
    }
    if lf_lines > 0 {
        ctx.push(Finding::warning(
            Code::LineEnding,
            first_lf,
            0,
            "",
            "",
            format!("{lf_lines} line(s) end with LF only (first: line {first_lf}); DATEV-Format requires CR LF"),
        ));
    }
    if last_terminator == Terminator::Eof && !ctx.full {
        ctx.push(Finding::warning(
            Code::LineEnding,
            last_line,
            0,
            "",
            "",
            "the last line is not ended by CR LF",
        ));
    }
    if report.rows > MAX_POSTINGS {
        ctx.push(Finding::warning(
            Code::Limit,
            0,
            0,
            "",
            "",
            format!(
                "{} postings; the upload API accepts at most {MAX_POSTINGS} per file (1008833)",
                report.rows
            ),
        ));
    }
    if bytes.len() > 50 * 1024 * 1024 {
        ctx.push(Finding::warning(
            Code::Limit,
            0,
            0,
            "",
            "",
            format!(
                "{} bytes; the upload API accepts at most 50 MB (HTTP 413)",
                bytes.len()
            ),
        ));
    }
    report.findings = ctx.findings;
    (report, header)
}

fn track_terminator(t: Terminator, line: u32, count: &mut u32, first: &mut u32) {
    if t == Terminator::Lf {
        if *count == 0 {
            *first = line;
        }
        *count += 1;
    }
}

fn unterminated(ctx: &mut Ctx, line: u32) {
    ctx.push(Finding::error(
        Code::Structure,
        line,
        0,
        "",
        "",
        "a quoted field is never closed; the rest of the file is inside it",
    ));
}

/// Detects the encoding as the upload API does and returns the bytes to tokenize (UTF-16 is
/// transcoded to UTF-8).
fn detect<'b>(
    bytes: &'b [u8],
    options: &Options,
    ctx: &mut Ctx,
) -> (SourceEncoding, Cow<'b, [u8]>) {
    if let Some(rest) = bytes.strip_prefix(b"\xEF\xBB\xBF") {
        return (SourceEncoding::Utf8Bom, Cow::Borrowed(rest));
    }
    for (bom, enc, src) in [
        (
            &b"\xFF\xFE"[..],
            encoding_rs::UTF_16LE,
            SourceEncoding::Utf16Le,
        ),
        (
            &b"\xFE\xFF"[..],
            encoding_rs::UTF_16BE,
            SourceEncoding::Utf16Be,
        ),
    ] {
        if let Some(rest) = bytes.strip_prefix(bom) {
            let (s, had_errors) = enc.decode_without_bom_handling(rest);
            if had_errors {
                ctx.push(Finding::error(
                    Code::Encoding,
                    0,
                    0,
                    "",
                    "",
                    format!(
                        "invalid {} sequences (unpaired surrogates or an odd byte count)",
                        enc.name()
                    ),
                ));
            }
            return (src, Cow::Owned(s.into_owned().into_bytes()));
        }
    }
    match options.encoding {
        InputEncoding::Utf8 => {
            ctx.push(Finding::warning(
                Code::Encoding,
                0,
                0,
                "",
                "",
                "no byte-order mark: read as UTF-8 as requested, but the upload API would read this file as Windows-1252",
            ));
            (SourceEncoding::Utf8NoBom, Cow::Borrowed(bytes))
        }
        InputEncoding::Windows1252 => (SourceEncoding::Windows1252, Cow::Borrowed(bytes)),
        InputEncoding::Auto => {
            if !bytes.is_ascii() && std::str::from_utf8(bytes).is_ok() {
                let example = std::str::from_utf8(bytes)
                    .ok()
                    .and_then(|s| s.chars().find(|c| !c.is_ascii()))
                    .map(|c| {
                        let mut b = [0u8; 4];
                        let (mojibake, _) = encoding_rs::WINDOWS_1252
                            .decode_without_bom_handling(c.encode_utf8(&mut b).as_bytes());
                        format!(" ({c:?} would read as {mojibake:?})")
                    })
                    .unwrap_or_default();
                ctx.push(Finding::error(
                    Code::Encoding,
                    0,
                    0,
                    "",
                    "",
                    format!(
                        "UTF-8 without byte-order mark: the upload API reads a file without BOM as Windows-1252, so umlauts turn into mojibake{example}; add the BOM EF BB BF or write Windows-1252"
                    ),
                ));
            }
            (SourceEncoding::Windows1252, Cow::Borrowed(bytes))
        }
    }
}

#[derive(Default)]
struct HeaderState {
    /// Not a Buchungsstapel in the version this validator knows: rows are not checked.
    stop: bool,
    account_len: Option<u8>,
    /// The period, if valid (for Belegdatum).
    period: Option<(Date, Date)>,
    /// Field 21 as written, if valid.
    festschreibung: Option<bool>,
    /// Field 5, Formatversion (13 unless the header says 9-12).
    format_version: u8,
    /// Columns of a row in that Formatversion ([`columns::column_count`]).
    columns: usize,
}

struct FieldSink<'c> {
    ctx: &'c mut Ctx,
    line: u32,
    field: u16,
    name: &'static str,
    value: &'c str,
}

impl Sink for FieldSink<'_> {
    fn problem(&mut self, severity: Severity, code: Code, reason: String) {
        self.ctx.push(Finding::new(
            severity, code, self.line, self.field, self.name, self.value, reason,
        ));
    }
}

fn header_text(
    fields: &[Field<'_>],
    i: usize,
    dec: &mut Decoder<'_>,
    ctx: &mut Ctx,
) -> Option<(String, bool)> {
    let f = fields.get(i - 1)?;
    match dec.text(f) {
        Ok(s) => Some((s.to_owned(), f.quoted)),
        Err(lossy) => {
            ctx.push(Finding::error(
                Code::Encoding,
                1,
                i as u16,
                HEADER_FIELD_NAMES[i - 1],
                &lossy,
                "not valid UTF-8",
            ));
            None
        }
    }
}

fn check_header(
    fields: &[Field<'_>],
    byte_len: usize,
    dec: &mut Decoder<'_>,
    ctx: &mut Ctx,
    hs: &mut HeaderState,
) -> Option<Header> {
    let errors_before = ctx.findings.iter().filter(|f| f.is_error()).count();
    // A file whose first field is not EXTF/DTVF is not DATEV-Format at all: one finding, not
    // one per header field.
    let first = fields
        .first()
        .map(|f| String::from_utf8_lossy(f.raw).into_owned());
    if !matches!(first.as_deref(), Some("EXTF" | "DTVF")) {
        let value = first.unwrap_or_default();
        ctx.push(Finding::error(
            Code::Format,
            1,
            1,
            HEADER_FIELD_NAMES[0],
            &value,
            "must be \"EXTF\": this is not a DATEV-Format file (line 1 is the header: \"EXTF\";700;21;\"Buchungsstapel\";13;…)",
        ));
        hs.stop = true;
        return None;
    }
    let n = fields.len();
    if byte_len > MAX_HEADER_CHARS + 2 {
        ctx.push(Finding::error(
            Code::Limit,
            1,
            0,
            "",
            "",
            format!("header line of about {byte_len} bytes; the upload API accepts at most {MAX_HEADER_CHARS} characters"),
        ));
    }
    if n < columns::HEADER_FIELD_COUNT {
        ctx.push(Finding::error(
            Code::FieldCount,
            1,
            0,
            "",
            "",
            format!(
                "{n} header fields, {} required (\"Missing columns in EXTF-header\", 1008834)",
                columns::HEADER_FIELD_COUNT
            ),
        ));
    } else if n > columns::HEADER_FIELD_COUNT {
        ctx.push(Finding::warning(
            Code::FieldCount,
            1,
            0,
            "",
            "",
            format!(
                "{n} header fields, header version 700 has {}",
                columns::HEADER_FIELD_COUNT
            ),
        ));
    }
    let mut v: Vec<(String, bool)> = Vec::with_capacity(columns::HEADER_FIELD_COUNT);
    for i in 1..=columns::HEADER_FIELD_COUNT {
        v.push(header_text(fields, i, dec, ctx).unwrap_or_default());
    }
    for (i, f) in fields.iter().enumerate().take(columns::HEADER_FIELD_COUNT) {
        if f.stray_quote {
            ctx.push(Finding::error(
                Code::Quoting,
                1,
                (i + 1) as u16,
                HEADER_FIELD_NAMES[i],
                &v[i].0,
                "stray quote: characters after the closing quote or a quote inside an unquoted field",
            ));
        }
    }
    let err = |ctx: &mut Ctx, field: usize, code: Code, value: &str, reason: String| {
        ctx.push(Finding::error(
            code,
            1,
            field as u16,
            HEADER_FIELD_NAMES[field - 1],
            value,
            reason,
        ));
    };
    let warn = |ctx: &mut Ctx, field: usize, code: Code, value: &str, reason: String| {
        ctx.push(Finding::warning(
            code,
            1,
            field as u16,
            HEADER_FIELD_NAMES[field - 1],
            value,
            reason,
        ));
    };
    // Quoting conventions of DATEV's example line.
    const QUOTED: [usize; 12] = [1, 4, 8, 9, 10, 17, 18, 22, 24, 27, 30, 31];
    for i in 1..=n.min(columns::HEADER_FIELD_COUNT) {
        let (s, quoted) = &v[i - 1];
        let want = QUOTED.contains(&i);
        if !s.is_empty() && *quoted != want {
            let reason = if want {
                "text field not in quotes"
            } else {
                "number in quotes"
            };
            warn(ctx, i, Code::Quoting, s, reason.to_owned());
        }
    }
    let get = |i: usize| v[i - 1].0.as_str();

    // 1-5: identification. A file that is not a Buchungsstapel 700/13 has other columns.
    match get(1) {
        "EXTF" => {}
        "DTVF" => err(ctx, 1, Code::Unsupported, "DTVF", "DTVF marks files of DATEV's own apps; third-party files and the upload API use EXTF (1008834)".into()),
        _ => {}
    }
    match get(2) {
        "700" => {}
        "510" => {
            err(
                ctx,
                2,
                Code::Unsupported,
                "510",
                "header version 510 is the old header; write 700".into(),
            );
            hs.stop = true;
        }
        s => err(ctx, 2, Code::Format, s, "header version must be 700".into()),
    }
    match get(3) {
        "21" => {}
        s @ ("16" | "20" | "46" | "48" | "65" | "66") => {
            err(
                ctx,
                3,
                Code::Unsupported,
                s,
                format!("category {s} is not a Buchungsstapel (21); its rows are not checked"),
            );
            hs.stop = true;
        }
        s => {
            err(
                ctx,
                3,
                Code::Format,
                s,
                "unknown category; a Buchungsstapel is 21".into(),
            );
            hs.stop = true;
        }
    }
    if get(4) != "Buchungsstapel" {
        err(
            ctx,
            4,
            Code::Consistency,
            get(4),
            "format name must be \"Buchungsstapel\" for category 21 (1008834)".into(),
        );
    }
    match get(5) {
        "13" => {}
        s @ ("9" | "10" | "11" | "12") => {
            // Older versions only lack trailing columns (datev.md §1.5); DATEV's tools still
            // export them (S23's v12 file), S16 warns about 10-12.
            let version = s.parse().unwrap_or(13);
            hs.format_version = version;
            hs.columns = columns::column_count(version).unwrap_or(columns::COLUMN_COUNT);
            warn(
                ctx,
                5,
                Code::Unsupported,
                s,
                format!(
                    "Formatversion {s} ({} columns) is older than 13 (125 columns): read by position, the columns it lacks are empty; the current format description lists 13 only",
                    hs.columns
                ),
            );
        }
        s @ ("2" | "3" | "4" | "5") => {
            err(
                ctx,
                5,
                Code::Unsupported,
                s,
                format!(
                    "Formatversion {s}; this validator reads Buchungsstapel Formatversion 9 to 13"
                ),
            );
            hs.stop = true;
        }
        s => err(
            ctx,
            5,
            Code::Format,
            s,
            "Formatversion must be 13 (9 to 12 are read as older versions)".into(),
        ),
    }
    if hs.stop {
        return None;
    }

    // 6: Erzeugt am.
    let created = parse_timestamp(get(6));
    if let Err(r) = &created {
        err(ctx, 6, Code::Format, get(6), r.clone());
    }
    for i in [7usize, 23, 25, 26, 29] {
        if !get(i).is_empty() {
            err(
                ctx,
                i,
                Code::Reserved,
                get(i),
                "reserved: must be empty".into(),
            );
        } else if i <= n && fields[i - 1].quoted {
            // Unconfirmed whether DATEV treats "" like empty here (datev.md §8).
            warn(
                ctx,
                i,
                Code::Reserved,
                "\"\"",
                "reserved: DATEV's example leaves it empty without quotes".into(),
            );
        }
    }
    for i in [24usize, 30] {
        if !get(i).is_empty() {
            err(
                ctx,
                i,
                Code::Reserved,
                get(i),
                "reserved: must be empty".into(),
            );
        }
    }
    let origin = text_field(ctx, 8, get(8), Origin::new);
    let exported_by = text_field(ctx, 9, get(9), UserName::new);
    let imported_by = text_field(ctx, 10, get(10), UserName::new);
    let consultant = number_field(ctx, 11, get(11), 7, |n| ConsultantNumber::new(n as u32));
    let client = number_field(ctx, 12, get(12), 5, |n| ClientNumber::new(n as u32));
    let fy = date_field(ctx, 13, get(13));
    let account_len = number_field(ctx, 14, get(14), 1, |n| AccountLength::new(n as u8));
    hs.account_len = account_len.as_ref().map(|l| l.get());
    let from = date_field(ctx, 15, get(15));
    let to = date_field(ctx, 16, get(16));
    if let (Some(fy), Some(from), Some(to)) = (fy, from, to) {
        let problems = period_problems(fy, from, to);
        if problems.is_empty() {
            hs.period = Some((from, to));
        }
        for p in problems {
            let value = match p.field {
                13 => get(13),
                15 => get(15),
                _ => get(16),
            };
            err(ctx, usize::from(p.field), p.code, value, p.reason);
        }
    }
    let label = text_field(ctx, 17, get(17), BatchLabel::new);
    let initials = text_field(ctx, 18, get(18), Initials::new);
    let booking_type = if get(19).is_empty() {
        warn(
            ctx,
            19,
            Code::Required,
            "",
            "empty; DATEV assumes 1 (Finanzbuchführung)".into(),
        );
        Some(BookingType::FinancialAccounting)
    } else {
        number_field(ctx, 19, get(19), 1, |n| BookingType::from_number(n as u8))
    };
    let purpose = if get(20).is_empty() {
        warn(
            ctx,
            20,
            Code::Required,
            "",
            "empty; DATEV assumes 0 (unabhängig)".into(),
        );
        Some(AccountingPurpose::Independent)
    } else {
        number_field(ctx, 20, get(20), 2, |n| {
            AccountingPurpose::from_number(n as u8)
        })
    };
    let festschreibung = match get(21) {
        "0" => Some(false),
        "1" => Some(true),
        "" => {
            warn(ctx, 21, Code::Required, "", "empty: DATEV's default is 1, the batch will be locked (festgeschrieben); write 0 or 1 explicitly".into());
            Some(true)
        }
        s => {
            err(
                ctx,
                21,
                Code::Range,
                s,
                "must be 0 (no lock) or 1 (lock)".into(),
            );
            None
        }
    };
    hs.festschreibung = festschreibung;
    let currency = if get(22).is_empty() {
        warn(
            ctx,
            22,
            Code::Required,
            "",
            "empty; DATEV assumes EUR".into(),
        );
        Some(CurrencyCode::EUR)
    } else {
        text_field(ctx, 22, get(22), CurrencyCode::new)
    };
    let chart = text_field(ctx, 27, get(27), ChartOfAccounts::new);
    let industry = if get(28).is_empty() {
        Some(None)
    } else {
        number_field(ctx, 28, get(28), 4, |n| IndustrySolutionId::new(n as u16)).map(Some)
    };
    let app_info = text_field(ctx, 31, get(31), ApplicationInfo::new);
    for i in [8usize, 9, 10, 17, 31] {
        if !text::is_nfc(get(i)) {
            warn(
                ctx,
                i,
                Code::NotNfc,
                get(i),
                "text is not in Unicode NFC".into(),
            );
        }
    }

    let errors_now = ctx.findings.iter().filter(|f| f.is_error()).count();
    if errors_now > errors_before {
        return None;
    }
    Some(Header {
        created_at: created.ok()?,
        origin: origin?,
        exported_by: exported_by?,
        imported_by: imported_by?,
        consultant: consultant?,
        client: client?,
        fiscal_year_start: fy?,
        account_length: account_len?,
        period_from: from?,
        period_to: to?,
        label: label?,
        initials: initials?,
        booking_type: booking_type?,
        purpose: purpose?,
        festschreibung: festschreibung?,
        currency: currency?,
        chart_of_accounts: chart?,
        industry_solution: industry?,
        application_info: app_info?,
    })
}

fn parse_timestamp(v: &str) -> Result<Timestamp, String> {
    let b = v.as_bytes();
    if b.len() != 17 || !check::all_digits(v) {
        return Err(
            "expected 17 digits YYYYMMDDHHMMSSFFF (API: \"Created On - is invalid (6)\")".into(),
        );
    }
    let date = check::parse_yyyymmdd(&v[..8])?;
    let n = |r: std::ops::Range<usize>| check::parse_u64(&v[r]).unwrap_or(0);
    Timestamp::new(
        date,
        n(8..10) as u8,
        n(10..12) as u8,
        n(12..14) as u8,
        n(14..17) as u16,
    )
    .map_err(|e| e.to_string())
}

fn text_field<T>(
    ctx: &mut Ctx,
    field: usize,
    v: &str,
    f: impl Fn(&str) -> Result<T, ValueError>,
) -> Option<T> {
    match f(v) {
        Ok(t) => Some(t),
        Err(e) => {
            ctx.push(Finding::error(
                e.code(),
                1,
                field as u16,
                HEADER_FIELD_NAMES[field - 1],
                v,
                e.to_string(),
            ));
            None
        }
    }
}

fn number_field<T>(
    ctx: &mut Ctx,
    field: usize,
    v: &str,
    max_digits: usize,
    f: impl Fn(u64) -> Result<T, ValueError>,
) -> Option<T> {
    let name = HEADER_FIELD_NAMES[field - 1];
    if !check::all_digits(v) || v.len() > max_digits {
        let reason = if v.is_empty() {
            "required".to_owned()
        } else {
            format!("expected up to {max_digits} digits")
        };
        let code = if v.is_empty() {
            Code::Required
        } else {
            Code::Format
        };
        ctx.push(Finding::error(code, 1, field as u16, name, v, reason));
        return None;
    }
    match f(check::parse_u64(v).unwrap_or(0)) {
        Ok(t) => Some(t),
        Err(e) => {
            ctx.push(Finding::error(
                e.code(),
                1,
                field as u16,
                name,
                v,
                e.to_string(),
            ));
            None
        }
    }
}

fn date_field(ctx: &mut Ctx, field: usize, v: &str) -> Option<Date> {
    match check::parse_yyyymmdd(v) {
        Ok(d) => Some(d),
        Err(r) => {
            let code = if v.is_empty() {
                Code::Required
            } else {
                Code::InvalidDate
            };
            ctx.push(Finding::error(
                code,
                1,
                field as u16,
                HEADER_FIELD_NAMES[field - 1],
                v,
                r,
            ));
            None
        }
    }
}

fn check_names(
    fields: &[Field<'_>],
    line: u32,
    hs: &HeaderState,
    dec: &mut Decoder<'_>,
    ctx: &mut Ctx,
) {
    if fields.len() != hs.columns {
        ctx.push(Finding::warning(
            Code::FieldCount,
            line,
            0,
            "",
            "",
            format!(
                "{} column names, Formatversion {} has {}; DATEV reads columns by position, so check the rows",
                fields.len(),
                hs.format_version,
                hs.columns
            ),
        ));
    }
    let first = fields
        .first()
        .and_then(|f| dec.text(f).ok())
        .unwrap_or_default();
    if check::parse_amount(first, 10).is_ok() {
        ctx.push(Finding::error(
            Code::Structure,
            line,
            1,
            COLUMNS[0].name,
            first,
            "line 2 must be the column-name line, but it looks like a booking",
        ));
        return;
    }
    for (f, col) in fields.iter().zip(COLUMNS.iter()) {
        let name = dec.text(f).unwrap_or_default();
        if name != col.name {
            ctx.push(Finding::warning(
                Code::Format,
                line,
                u16::from(col.number),
                col.name,
                name,
                format!("column name differs from DATEV's {:?} (informative only; columns are read by position)", col.name),
            ));
            break;
        }
    }
}

/// Checks one booking row; with `build`, returns the booking if the row has no error.
// The row loop's state, passed apart so the borrows stay disjoint.
#[allow(clippy::too_many_arguments)]
fn check_row(
    fields: &[Field<'_>],
    tail: Tail,
    line: u32,
    hs: &HeaderState,
    dec: &mut Decoder<'_>,
    ctx: &mut Ctx,
    build: bool,
    values: &mut Vec<Option<String>>,
) -> Option<Booking> {
    // A canonical tail stands for every column after the head, all present.
    let n = match tail {
        Tail::Fields => fields.len(),
        Tail::Canonical(_) => hs.columns,
    };
    if n == 1 && fields[0].raw.is_empty() && !fields[0].quoted {
        ctx.push(Finding::error(
            Code::FieldCount,
            line,
            0,
            "",
            "",
            "empty line",
        ));
        return None;
    }
    if n > hs.columns {
        ctx.push(Finding::error(
            Code::FieldCount,
            line,
            0,
            "",
            "",
            format!(
                "{n} fields, Formatversion {} rows have {}; DATEV reads by position, so the extra fields have no column",
                hs.format_version, hs.columns
            ),
        ));
        return None;
    }
    if n < hs.columns {
        // Missing trailing fields read as empty (S16 warns the same way); one warning for the
        // whole file names the first such row.
        if ctx.short_rows == 0 {
            ctx.first_short = (line, n);
        }
        ctx.short_rows += 1;
    }
    let errors_before = ctx.findings.len();
    let mut has_error = false;
    let mut filled = [false; columns::COLUMN_COUNT + 1];
    if build {
        values.clear();
        values.resize(columns::COLUMN_COUNT + 1, None);
    }
    let year = hs.period.map(|(from, _)| from.year());
    // Any column from 15 on (except 114) filled: only then can their pairs be broken.
    let mut extras_filled = false;
    for (i, f) in fields.iter().enumerate() {
        if f.raw.is_empty() && !f.stray_quote {
            // Most fields of a row are empty: a table says whether an empty one can be wrong.
            let rule = EMPTY_RULES[i];
            if rule & (EMPTY_REQUIRED | EMPTY_FESTSCHREIBUNG) != 0
                || (f.quoted && rule & EMPTY_NUMBER != 0)
            {
                has_error |= empty_field(f, &COLUMNS[i], line, hs, ctx);
            }
            continue;
        }
        let col = &COLUMNS[i];
        let number = col.number;
        let value = match dec.text(f) {
            Ok(s) => s,
            Err(lossy) => {
                ctx.push(Finding::error(
                    Code::Encoding,
                    line,
                    u16::from(number),
                    col.name,
                    &lossy,
                    "not valid UTF-8",
                ));
                has_error = true;
                continue;
            }
        };
        if f.stray_quote {
            ctx.push(Finding::error(
                Code::Quoting,
                line,
                u16::from(number),
                col.name,
                value,
                "stray quote: characters after the closing quote or a quote inside an unquoted field",
            ));
            has_error = true;
        }
        if value.is_empty() {
            has_error |= empty_field(f, col, line, hs, ctx);
            continue;
        }
        filled[i + 1] = true;
        extras_filled |= number >= 15 && number != FESTSCHREIBUNG;
        if f.quoted != col.kind.quoted() {
            let reason = if col.kind.quoted() {
                "text not in quotes"
            } else {
                "number in quotes"
            };
            ctx.push(Finding::warning(
                Code::Quoting,
                line,
                u16::from(number),
                col.name,
                value,
                reason,
            ));
        }
        if !check_field(col, value, line, hs, year, ctx) {
            has_error = true;
        }
        if build {
            values[i + 1] = Some(value.to_owned());
        }
    }
    if let Tail::Canonical(value) = tail {
        // Columns 15 on are empty in DATEV's own style (nothing to report) but Festschreibung.
        let col = &COLUMNS[usize::from(FESTSCHREIBUNG) - 1];
        filled[usize::from(FESTSCHREIBUNG)] = true;
        if !check_field(col, value, line, hs, year, ctx) {
            has_error = true;
        }
        if build {
            values[usize::from(FESTSCHREIBUNG)] = Some(value.to_owned());
        }
    }
    // Columns the row does not have are empty: only a required one or Festschreibung can make
    // that wrong.
    for (i, col) in COLUMNS.iter().enumerate().skip(n) {
        if EMPTY_RULES[i] & (EMPTY_REQUIRED | EMPTY_FESTSCHREIBUNG) != 0 {
            let missing = Field {
                raw: &[],
                quoted: false,
                escaped: false,
                stray_quote: false,
            };
            has_error |= empty_field(&missing, col, line, hs, ctx);
        }
    }
    // Fields that travel together (§1.7).
    let strict = [(4u8, 5u8), (4, 6)]
        .into_iter()
        .chain(columns::PAIRS.iter().copied())
        .map(|p| (p, Severity::Error));
    let soft = columns::SOFT_PAIRS.iter().map(|&p| (p, Severity::Warning));
    for ((a, b), severity) in strict.chain(soft) {
        if a >= 15 && !extras_filled {
            // Pairs are sorted: every later one lies in the empty columns 15-125 too.
            continue;
        }
        let (fa, fb) = (filled[usize::from(a)], filled[usize::from(b)]);
        let one_way = a == 4;
        if (one_way && fa && !fb) || (!one_way && fa != fb) {
            let (set, missing) = if fa { (a, b) } else { (b, a) };
            let col = &COLUMNS[usize::from(missing) - 1];
            let reason = if severity == Severity::Error {
                "they must be filled together"
            } else {
                "DATEV's documentation pairs them, though DATEV's own sample fills only one"
            };
            ctx.push(Finding::new(
                severity,
                Code::Pairing,
                line,
                u16::from(missing),
                col.name,
                "",
                format!(
                    "empty, but field {set} ({}) is filled; {reason}",
                    COLUMNS[usize::from(set) - 1].name
                ),
            ));
            has_error |= severity == Severity::Error;
        }
    }
    if has_error || ctx.findings[errors_before..].iter().any(Finding::is_error) || !build {
        return None;
    }
    match build_booking(values, year) {
        Ok(b) => Some(b),
        Err((col, e)) => {
            let c = &COLUMNS[usize::from(col) - 1];
            let v = values[usize::from(col)].clone().unwrap_or_default();
            ctx.push(Finding::error(
                e.code(),
                line,
                u16::from(col),
                c.name,
                &v,
                e.to_string(),
            ));
            None
        }
    }
}

/// Fields read one by one before the rest of a row is compared with a [`CanonicalTails`]:
/// columns 1-14, the ones [`Booking`] names.
const HEAD_FIELDS: usize = 14;

/// How the fields after the head of a row were read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tail {
    /// Split into fields like the head (all in the field list).
    Fields,
    /// Matched a [`CanonicalTails`] entry: every column after the head up to the
    /// Formatversion's count is present and empty in DATEV's style, column 114 holds the value.
    Canonical(&'static str),
}

/// The bytes of columns 15 to the Formatversion's last as DATEV and this crate's writer leave
/// them when unused: `""` for text columns, nothing for numbers, Festschreibung 0 or 1, CR LF.
struct CanonicalTails {
    festschreibung_0: Vec<u8>,
    festschreibung_1: Vec<u8>,
}

impl CanonicalTails {
    fn new(columns: usize) -> Self {
        let mut t = Self {
            festschreibung_0: Vec::new(),
            festschreibung_1: Vec::new(),
        };
        for (i, col) in COLUMNS.iter().enumerate().take(columns).skip(HEAD_FIELDS) {
            for (bytes, flag) in [
                (&mut t.festschreibung_0, b'0'),
                (&mut t.festschreibung_1, b'1'),
            ] {
                if i > HEAD_FIELDS {
                    bytes.push(b';');
                }
                if col.number == FESTSCHREIBUNG {
                    bytes.push(flag);
                } else if col.kind.quoted() {
                    bytes.extend_from_slice(b"\"\"");
                }
            }
        }
        for bytes in [&mut t.festschreibung_0, &mut t.festschreibung_1] {
            bytes.extend_from_slice(b"\r\n");
        }
        t
    }
}

const EMPTY_NUMBER: u8 = 1;
const EMPTY_REQUIRED: u8 = 2;
const EMPTY_FESTSCHREIBUNG: u8 = 4;

/// Per column (index = number - 1): what an empty field of it has to be checked for.
static EMPTY_RULES: [u8; columns::COLUMN_COUNT] = {
    let mut t = [0u8; columns::COLUMN_COUNT];
    let mut i = 0;
    while i < columns::COLUMN_COUNT {
        let number = COLUMNS[i].number;
        if !COLUMNS[i].kind.quoted() {
            t[i] |= EMPTY_NUMBER;
        }
        if matches!(number, 1 | 2 | 7 | 8 | 10) {
            t[i] |= EMPTY_REQUIRED;
        }
        if number == FESTSCHREIBUNG {
            t[i] |= EMPTY_FESTSCHREIBUNG;
        }
        i += 1;
    }
    t
};

/// Findings for an empty field; true on error.
fn empty_field(f: &Field<'_>, col: &Column, line: u32, hs: &HeaderState, ctx: &mut Ctx) -> bool {
    let number = col.number;
    let mut has_error = false;
    if f.quoted && !col.kind.quoted() {
        ctx.push(Finding::warning(
            Code::Quoting,
            line,
            u16::from(number),
            col.name,
            "\"\"",
            "empty number written as \"\"; DATEV writes nothing",
        ));
    }
    if matches!(number, 1 | 2 | 7 | 8 | 10) {
        let reason = if number == 7 {
            "required; an empty Konto is silently taken over from the row above"
        } else {
            "required"
        };
        ctx.push(Finding::error(
            Code::Required,
            line,
            u16::from(number),
            col.name,
            "",
            reason,
        ));
        has_error = true;
    }
    if number == FESTSCHREIBUNG && hs.festschreibung == Some(false) {
        ctx.push(Finding::error(
            Code::Consistency,
            line,
            u16::from(number),
            col.name,
            "",
            "empty Festschreibung means locked, but the header (field 21) says 0; one locked row locks the whole batch",
        ));
        has_error = true;
    }
    has_error
}

/// Checks one non-empty field; false on error.
fn check_field(
    col: &Column,
    value: &str,
    line: u32,
    hs: &HeaderState,
    year: Option<u16>,
    ctx: &mut Ctx,
) -> bool {
    let number = col.number;
    let mut sink = FieldSink {
        ctx,
        line,
        field: u16::from(number),
        name: col.name,
        value,
    };
    let mut ok = check::check_value(col.kind, value, hs.account_len, &mut sink);
    let ctx = sink.ctx;
    if !ok {
        return false;
    }
    match number {
        10 => match check::parse_ddmm(value, year) {
            Err(r) => {
                ctx.push(Finding::error(
                    Code::InvalidDate,
                    line,
                    10,
                    col.name,
                    value,
                    r,
                ));
                ok = false;
            }
            Ok((day, month)) => {
                if let Some((from, to)) = hs.period {
                    let inside =
                        Date::new(from.year(), month, day).is_ok_and(|d| d >= from && d <= to);
                    if !inside {
                        ctx.push(Finding::error(
                            Code::OutsidePeriod,
                            line,
                            10,
                            col.name,
                            value,
                            format!("{day:02}.{month:02}.{} is outside the period {from} to {to} (header fields 15/16)", from.year()),
                        ));
                        ok = false;
                    }
                }
            }
        },
        FESTSCHREIBUNG => {
            if let Some(h) = hs.festschreibung
                && (value == "1") != h
            {
                ctx.push(Finding::error(
                    Code::Consistency,
                    line,
                    u16::from(number),
                    col.name,
                    value,
                    format!(
                        "differs from the header's Festschreibung (field 21 = {}); one row with 1 locks the whole batch",
                        u8::from(h)
                    ),
                ));
                ok = false;
            }
        }
        _ => {}
    }
    ok
}

/// Builds a booking from a row that passed every check.
fn build_booking(
    values: &[Option<String>],
    year: Option<u16>,
) -> Result<Booking, (u8, ValueError)> {
    let get = |c: u8| values[usize::from(c)].as_deref();
    let req = |c: u8| get(c).unwrap_or("");
    let amount = |c: u8, v: &str| {
        check::parse_amount(v, 10)
            .map_err(|reason| {
                (
                    c,
                    ValueError::Invalid {
                        what: COLUMNS[usize::from(c) - 1].name,
                        reason,
                    },
                )
            })
            .and_then(|(cents, _)| Amount::new(cents).map_err(|e| (c, e)))
    };
    let account = |c: u8| {
        check::parse_u64(req(c))
            .ok_or(ValueError::Invalid {
                what: "Konto",
                reason: "not a number".into(),
            })
            .and_then(|n| AccountNumber::new(n as u32))
            .map_err(|e| (c, e))
    };
    let (day, month) = check::parse_ddmm(req(10), year).map_err(|reason| {
        (
            10,
            ValueError::Invalid {
                what: "Belegdatum",
                reason,
            },
        )
    })?;
    let year = year.ok_or((
        10,
        ValueError::Invalid {
            what: "Belegdatum",
            reason: "no valid header period".into(),
        },
    ))?;
    let document_date = Date::new(year, month, day).map_err(|e| (10, e))?;
    let mut b = Booking::new(
        amount(1, req(1))?,
        if req(2) == "H" {
            Side::Haben
        } else {
            Side::Soll
        },
        account(7)?,
        account(8)?,
        document_date,
    );
    if let Some(v) = get(3) {
        b.currency = Some(CurrencyCode::new(v).map_err(|e| (3, e))?);
    }
    if let Some(v) = get(4) {
        b.exchange_rate = Some(ExchangeRate::new(v).map_err(|e| (4, e))?);
    }
    if let Some(v) = get(5) {
        b.base_amount = Some(amount(5, v)?);
    }
    if let Some(v) = get(6) {
        b.base_currency = Some(CurrencyCode::new(v).map_err(|e| (6, e))?);
    }
    if let Some(v) = get(9) {
        let n = check::parse_u64(v).unwrap_or(0);
        b.bu_key = Some(BuKey::new(n as u16).map_err(|e| (9, e))?);
    }
    if let Some(v) = get(11) {
        b.document_field_1 = DocumentField1::new(v).map_err(|e| (11, e))?;
    }
    if let Some(v) = get(12) {
        b.document_field_2 = DocumentField2::new(v).map_err(|e| (12, e))?;
    }
    if let Some(v) = get(13) {
        let (cents, _) = check::parse_amount(v, 8).map_err(|reason| {
            (
                13,
                ValueError::Invalid {
                    what: "Skonto",
                    reason,
                },
            )
        })?;
        b.discount = Some(Discount::new(cents).map_err(|e| (13, e))?);
    }
    if let Some(v) = get(14) {
        b.text = BookingText::new(v).map_err(|e| (14, e))?;
    }
    for col in 15..=columns::COLUMN_COUNT as u8 {
        if col == FESTSCHREIBUNG {
            continue;
        }
        if let Some(v) = get(col) {
            b.extras
                .insert(ExtraField::new(col, v).map_err(|e| (col, e))?);
        }
    }
    Ok(b)
}
