//! The 31 header fields and the 125 Buchungsstapel columns (category 21, Formatversion 13).
//!
//! Names are those of line 2 of DATEV's sample file (`datev.md` §1.5, source S5); rules are the
//! portal regexes transcribed in §1.4/§1.5. Where DATEV's own sample contradicts a transcribed
//! regex, the rule follows the sample and the entry says so.

/// Number of fields in the header line (header version 700), `datev.md` §1.4.
pub const HEADER_FIELD_COUNT: usize = 31;
/// Number of columns of a Buchungsstapel row in Formatversion 13, `datev.md` §1.5.
pub const COLUMN_COUNT: usize = 125;

/// Columns of a Buchungsstapel row by Formatversion (header field 5), or `None` for a version
/// this crate does not read. Versions only ever appended columns, so an older row is a prefix
/// of a Formatversion-13 row (`datev.md` §1.5): 10 → 120, 11 → 122, 12 → 124, 13 → 125 (S16,
/// "from DATEV's changelog"; S6's Formatversion-12 table also ends at 124). No source gives a
/// count for 9; the Formatversion-9 files of S18 have 120 columns, so 9 is read as 120.
pub const fn column_count(format_version: u8) -> Option<usize> {
    match format_version {
        9 | 10 => Some(120),
        11 => Some(122),
        12 => Some(124),
        13 => Some(COLUMN_COUNT),
        _ => None,
    }
}

/// Header field names (`datev.md` §1.4), index 0 = field 1.
pub const HEADER_FIELD_NAMES: [&str; HEADER_FIELD_COUNT] = [
    "Kennzeichen",
    "Versionsnummer",
    "Formatkategorie",
    "Formatname",
    "Formatversion",
    "Erzeugt am",
    "Importiert",
    "Herkunft",
    "Exportiert von",
    "Importiert von",
    "Beraternummer",
    "Mandantennummer",
    "WJ-Beginn",
    "Sachkontenlänge",
    "Datum vom",
    "Datum bis",
    "Bezeichnung",
    "Diktatkürzel",
    "Buchungstyp",
    "Rechnungslegungszweck",
    "Festschreibung",
    "WKZ",
    "reserviert (23)",
    "Derivatskennzeichen",
    "reserviert (25)",
    "reserviert (26)",
    "Sachkontenrahmen",
    "ID der Branchenlösung",
    "reserviert (29)",
    "reserviert (30)",
    "Anwendungsinformation",
];

/// Which characters a text field admits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Charset {
    /// Any character except control characters (DATEV forbids line breaks in text, §1.1).
    Any,
    /// `\w`: letters, digits, `_`.
    Word,
    /// `[\w ]`: letters, digits, `_`, space (KOST1/KOST2, columns 37/38).
    WordSpace,
    /// Belegfeld 1/2 (columns 11/12): the safe set `[A-Za-z0-9$%/-]` (§1.5 #11). `_ & * +` are
    /// allowed by one source each only and are reported as warnings by the validator.
    DocumentNumber,
    /// Upper-case ASCII letters `[A-Z]` (currency and country codes).
    Upper,
    /// Header field 17 Bezeichnung, `[\w.-/ ]`: letters, digits, `_`, space, `.` and `/` (the
    /// portal's `.-/` is a range from `.` to `/`, so `-` itself is not admitted).
    Label,
    /// ASCII digits only (header field 27 Sachkontenrahmen).
    Digits,
}

/// How a column is written and checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Quoted text of at most `max` characters (counted after NFC).
    Text {
        /// Maximum length in characters.
        max: u16,
        /// Admitted characters.
        charset: Charset,
    },
    /// Quoted upper-case code of exactly `len` letters (`^["]([A-Z]{len})["]$`).
    Code {
        /// Exact length.
        len: u8,
    },
    /// Quoted value out of a fixed list (`"S"`/`"H"`, `"I"|"K"|"P"|"S"`, `"0"|"1"`).
    QuotedChoice(&'static [&'static str]),
    /// Quoted digits (BU-Schlüssel, column 9: 1-4 digits, unpadded as in DATEV's sample).
    QuotedDigits {
        /// Maximum number of digits.
        max: u8,
    },
    /// Unquoted amount `\d{1,int},\d{2}`, never zero (columns 1, 5, 13).
    Amount {
        /// Maximum digits before the comma.
        int: u8,
    },
    /// Unquoted decimal `\d{1,int_max},\d{frac_min,frac_max}` (frac may be absent if
    /// `frac_min` is 0); `nonzero` rejects a value of zero.
    Decimal {
        /// Maximum digits before the comma.
        int_max: u8,
        /// Minimum digits after the comma.
        frac_min: u8,
        /// Maximum digits after the comma.
        frac_max: u8,
        /// Zero is not allowed.
        nonzero: bool,
    },
    /// Unquoted digits, `min..=max` of them; `nonzero` rejects an all-zero value.
    Digits {
        /// Minimum number of digits.
        min: u8,
        /// Maximum number of digits.
        max: u8,
        /// Zero is not allowed.
        nonzero: bool,
    },
    /// Unquoted value out of a fixed list (`0|1`, `1..5`).
    Choice(&'static [&'static str]),
    /// Account number (columns 7, 8, 125): 1-9 unquoted digits, not all zero; at most
    /// Sachkontenlänge + 1 digits.
    Account,
    /// Belegdatum `DDMM` (column 10), year from the header period.
    DayMonth,
    /// Full date `DDMMYYYY` in 2000-2099.
    Date,
    /// Year `YYYY` in 2000-2099 (column 92).
    Year,
}

impl Kind {
    /// True for columns DATEV writes in quotes (text), false for numbers and dates.
    pub const fn quoted(self) -> bool {
        matches!(
            self,
            Kind::Text { .. }
                | Kind::Code { .. }
                | Kind::QuotedChoice(_)
                | Kind::QuotedDigits { .. }
        )
    }
}

/// One column of the Buchungsstapel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    /// Field number, 1-125.
    pub number: u8,
    /// Name as in line 2 of DATEV's sample.
    pub name: &'static str,
    /// Format rule.
    pub kind: Kind,
}

const fn text(max: u16) -> Kind {
    Kind::Text {
        max,
        charset: Charset::Any,
    }
}
const fn word(max: u16) -> Kind {
    Kind::Text {
        max,
        charset: Charset::Word,
    }
}
const fn digits(min: u8, max: u8) -> Kind {
    Kind::Digits {
        min,
        max,
        nonzero: false,
    }
}
const fn rate() -> Kind {
    // EU-Steuersatz / Steuersatz: portal `\d{2},\d{2}` or `\d{1,2},\d{2}`; DATEV's sample writes
    // `0,00`, so one or two digits before the comma are accepted.
    Kind::Decimal {
        int_max: 2,
        frac_min: 2,
        frac_max: 2,
        nonzero: false,
    }
}
const FLAG: Kind = Kind::Choice(&["0", "1"]);
const ART: Kind = text(20);
const INHALT: Kind = text(210);

macro_rules! columns {
    ($($n:literal $name:literal $kind:expr;)*) => {
        /// All 125 columns in file order (`COLUMNS[i].number == i + 1`).
        pub const COLUMNS: [Column; COLUMN_COUNT] = [$(Column { number: $n, name: $name, kind: $kind }),*];
    };
}

columns! {
    1 "Umsatz (ohne Soll/Haben-Kz)" Kind::Amount { int: 10 };
    2 "Soll/Haben-Kennzeichen" Kind::QuotedChoice(&["S", "H"]);
    3 "WKZ Umsatz" Kind::Code { len: 3 };
    // Portal: `[1-9]\d{0,3},\d{2,6}`; DATEV's sample writes `0,830000`, so a leading 0 is accepted.
    4 "Kurs" Kind::Decimal { int_max: 4, frac_min: 2, frac_max: 6, nonzero: true };
    5 "Basis-Umsatz" Kind::Amount { int: 10 };
    6 "WKZ Basis-Umsatz" Kind::Code { len: 3 };
    7 "Konto" Kind::Account;
    8 "Gegenkonto (ohne BU-Schlüssel)" Kind::Account;
    9 "BU-Schlüssel" Kind::QuotedDigits { max: 4 };
    10 "Belegdatum" Kind::DayMonth;
    11 "Belegfeld 1" Kind::Text { max: 36, charset: Charset::DocumentNumber };
    12 "Belegfeld 2" Kind::Text { max: 12, charset: Charset::DocumentNumber };
    13 "Skonto" Kind::Amount { int: 8 };
    14 "Buchungstext" text(60);
    15 "Postensperre" FLAG;
    16 "Diverse Adressnummer" word(9);
    // Portal: `\d{3}`; DATEV's sample writes `1`, so 1-3 digits are accepted.
    17 "Geschäftspartnerbank" digits(1, 3);
    18 "Sachverhalt" digits(2, 2);
    19 "Zinssperre" FLAG;
    20 "Beleglink" text(210);
    21 "Beleginfo - Art 1" ART;
    22 "Beleginfo - Inhalt 1" INHALT;
    23 "Beleginfo - Art 2" ART;
    24 "Beleginfo - Inhalt 2" INHALT;
    25 "Beleginfo - Art 3" ART;
    26 "Beleginfo - Inhalt 3" INHALT;
    27 "Beleginfo - Art 4" ART;
    28 "Beleginfo - Inhalt 4" INHALT;
    29 "Beleginfo - Art 5" ART;
    30 "Beleginfo - Inhalt 5" INHALT;
    31 "Beleginfo - Art 6" ART;
    32 "Beleginfo - Inhalt 6" INHALT;
    33 "Beleginfo - Art 7" ART;
    34 "Beleginfo - Inhalt 7" INHALT;
    35 "Beleginfo - Art 8" ART;
    36 "Beleginfo - Inhalt 8" INHALT;
    37 "KOST1 - Kostenstelle" Kind::Text { max: 36, charset: Charset::WordSpace };
    38 "KOST2 - Kostenstelle" Kind::Text { max: 36, charset: Charset::WordSpace };
    // Portal: `\d{12},\d{4}` (12+4 digits of capacity); DATEV's sample writes `5` and `30`.
    39 "Kost-Menge" Kind::Decimal { int_max: 12, frac_min: 0, frac_max: 4, nonzero: false };
    40 "EU-Land u. UStID (Bestimmung)" text(15);
    41 "EU-Steuersatz (Bestimmung)" rate();
    42 "Abw. Versteuerungsart" Kind::QuotedChoice(&["I", "K", "P", "S"]);
    43 "Sachverhalt L+L" Kind::Digits { min: 1, max: 3, nonzero: true };
    44 "Funktionsergänzung L+L" digits(1, 3);
    45 "BU 49 Hauptfunktionstyp" digits(1, 1);
    46 "BU 49 Hauptfunktionsnummer" digits(1, 2);
    47 "BU 49 Funktionsergänzung" digits(1, 3);
    48 "Zusatzinformation - Art 1" ART;
    49 "Zusatzinformation- Inhalt 1" INHALT;
    50 "Zusatzinformation - Art 2" ART;
    51 "Zusatzinformation- Inhalt 2" INHALT;
    52 "Zusatzinformation - Art 3" ART;
    53 "Zusatzinformation- Inhalt 3" INHALT;
    54 "Zusatzinformation - Art 4" ART;
    55 "Zusatzinformation- Inhalt 4" INHALT;
    56 "Zusatzinformation - Art 5" ART;
    57 "Zusatzinformation- Inhalt 5" INHALT;
    58 "Zusatzinformation - Art 6" ART;
    59 "Zusatzinformation- Inhalt 6" INHALT;
    60 "Zusatzinformation - Art 7" ART;
    61 "Zusatzinformation- Inhalt 7" INHALT;
    62 "Zusatzinformation - Art 8" ART;
    63 "Zusatzinformation- Inhalt 8" INHALT;
    64 "Zusatzinformation - Art 9" ART;
    65 "Zusatzinformation- Inhalt 9" INHALT;
    66 "Zusatzinformation - Art 10" ART;
    67 "Zusatzinformation- Inhalt 10" INHALT;
    68 "Zusatzinformation - Art 11" ART;
    69 "Zusatzinformation- Inhalt 11" INHALT;
    70 "Zusatzinformation - Art 12" ART;
    71 "Zusatzinformation- Inhalt 12" INHALT;
    72 "Zusatzinformation - Art 13" ART;
    73 "Zusatzinformation- Inhalt 13" INHALT;
    74 "Zusatzinformation - Art 14" ART;
    75 "Zusatzinformation- Inhalt 14" INHALT;
    76 "Zusatzinformation - Art 15" ART;
    77 "Zusatzinformation- Inhalt 15" INHALT;
    78 "Zusatzinformation - Art 16" ART;
    79 "Zusatzinformation- Inhalt 16" INHALT;
    80 "Zusatzinformation - Art 17" ART;
    81 "Zusatzinformation- Inhalt 17" INHALT;
    82 "Zusatzinformation - Art 18" ART;
    83 "Zusatzinformation- Inhalt 18" INHALT;
    84 "Zusatzinformation - Art 19" ART;
    85 "Zusatzinformation- Inhalt 19" INHALT;
    86 "Zusatzinformation - Art 20" ART;
    87 "Zusatzinformation- Inhalt 20" INHALT;
    88 "Stück" digits(1, 8);
    89 "Gewicht" Kind::Decimal { int_max: 8, frac_min: 2, frac_max: 2, nonzero: false };
    90 "Zahlweise" digits(1, 2);
    91 "Forderungsart" word(10);
    92 "Veranlagungsjahr" Kind::Year;
    93 "Zugeordnete Fälligkeit" Kind::Date;
    94 "Skontotyp" digits(1, 1);
    95 "Auftragsnummer" text(30);
    96 "Buchungstyp" Kind::Code { len: 2 };
    97 "USt-Schlüssel (Anzahlungen)" digits(1, 4);
    98 "EU-Land (Anzahlungen)" Kind::Code { len: 2 };
    99 "Sachverhalt L+L (Anzahlungen)" Kind::Digits { min: 1, max: 3, nonzero: true };
    100 "EU-Steuersatz (Anzahlungen)" rate();
    // Portal: `\d{4,8}`; DATEV's sample writes `0` for "none", which the validator reports as
    // a warning (see `validate`).
    101 "Erlöskonto (Anzahlungen)" digits(4, 8);
    102 "Herkunft-Kz" Kind::Code { len: 2 };
    103 "Buchungs GUID" text(36);
    104 "KOST-Datum" Kind::Date;
    105 "SEPA-Mandatsreferenz" text(35);
    106 "Skontosperre" FLAG;
    107 "Gesellschaftername" text(76);
    108 "Beteiligtennummer" digits(4, 4);
    109 "Identifikationsnummer" text(11);
    110 "Zeichnernummer" text(20);
    111 "Postensperre bis" Kind::Date;
    112 "Bezeichnung SoBil-Sachverhalt" text(30);
    113 "Kennzeichen SoBil-Buchung" digits(1, 2);
    114 "Festschreibung" FLAG;
    115 "Leistungsdatum" Kind::Date;
    116 "Datum Zuord. Steuerperiode" Kind::Date;
    117 "Fälligkeit" Kind::Date;
    118 "Generalumkehr (GU)" Kind::QuotedChoice(&["0", "1"]);
    119 "Steuersatz" rate();
    120 "Land" Kind::Code { len: 2 };
    121 "Abrechnungsreferenz" text(50);
    122 "BVV-Position" Kind::Choice(&["1", "2", "3", "4", "5"]);
    123 "EU-Land u. UStID (Ursprung)" text(15);
    124 "EU-Steuersatz (Ursprung)" rate();
    125 "Abw. Skontokonto" Kind::Account;
}

/// Columns that the typed [`crate::Booking`] carries in named fields (1-14) or that the writer
/// derives from the header (114, Festschreibung); every other column is an
/// [`crate::ExtraField`].
pub const fn is_core(number: u8) -> bool {
    number <= 14 || number == FESTSCHREIBUNG
}

/// Column 114, Festschreibung: written from header field 21 on every row.
pub const FESTSCHREIBUNG: u8 = 114;

/// The column with field number `number` (1-125).
pub fn column(number: u8) -> Option<&'static Column> {
    COLUMNS.get(usize::from(number).checked_sub(1)?)
}

/// Pairs of columns that DATEV's documentation says travel together (`datev.md` §1.7), but that
/// DATEV's own sample leaves half-filled (#17 without #105 on line 3, #115 without #116 on
/// line 46): the validator warns, the model admits them.
pub const SOFT_PAIRS: &[(u8, u8)] = &[(17, 105), (115, 116)];

/// Pairs of columns that must be filled together (`datev.md` §1.7): #5 with #6 and each
/// Beleginfo and Zusatzinformation Art/Inhalt pair.
pub const PAIRS: &[(u8, u8)] = &[
    (5, 6),
    (21, 22),
    (23, 24),
    (25, 26),
    (27, 28),
    (29, 30),
    (31, 32),
    (33, 34),
    (35, 36),
    (48, 49),
    (50, 51),
    (52, 53),
    (54, 55),
    (56, 57),
    (58, 59),
    (60, 61),
    (62, 63),
    (64, 65),
    (66, 67),
    (68, 69),
    (70, 71),
    (72, 73),
    (74, 75),
    (76, 77),
    (78, 79),
    (80, 81),
    (82, 83),
    (84, 85),
    (86, 87),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn older_formatversions_are_prefixes() {
        assert_eq!(column_count(9), Some(120));
        assert_eq!(column_count(10), Some(120));
        assert_eq!(column_count(11), Some(122));
        assert_eq!(column_count(12), Some(124));
        assert_eq!(column_count(13), Some(125));
        assert_eq!(column_count(8), None);
        assert_eq!(column_count(14), None);
        // Festschreibung (114) exists in every version read.
        assert!(column_count(9).is_some_and(|n| n >= usize::from(FESTSCHREIBUNG)));
    }

    #[test]
    fn numbers_are_in_order() {
        for (i, c) in COLUMNS.iter().enumerate() {
            assert_eq!(usize::from(c.number), i + 1, "{}", c.name);
        }
    }

    #[test]
    fn names_match_datev_sample_line_2() {
        let sample = include_str!("../tests/data/sample_names.txt");
        let names: Vec<&str> = sample.trim_end().split(';').collect();
        assert_eq!(names.len(), COLUMN_COUNT);
        for (c, n) in COLUMNS.iter().zip(names) {
            assert_eq!(c.name, n);
        }
    }
}
