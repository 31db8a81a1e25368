//! SMS segment count (twilio.md §12): GSM-7 when every character is in the GSM 03.38 basic or
//! extension table (extension characters count 2), else UCS-2; 160/153 and 70/67 per segment.

const BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
const EXTENSION: &str = "\u{c}^{}\\[~]|€";

/// Billed segments of an SMS body (0 for an empty body).
pub fn count(body: &str) -> u32 {
    if body.is_empty() {
        return 0;
    }
    let gsm_units: Option<u32> = body.chars().try_fold(0u32, |acc, c| {
        if BASIC.contains(c) {
            Some(acc + 1)
        } else if EXTENSION.contains(c) {
            Some(acc + 2)
        } else {
            None
        }
    });
    let (units, single, multi) = match gsm_units {
        Some(u) => (u, 160, 153),
        None => (body.encode_utf16().count() as u32, 70, 67),
    };
    if units <= single {
        1
    } else {
        units.div_ceil(multi)
    }
}

#[cfg(test)]
mod tests {
    use super::count;

    #[test]
    fn gsm_and_ucs2() {
        assert_eq!(count(""), 0);
        assert_eq!(count(&"a".repeat(160)), 1);
        assert_eq!(count(&"a".repeat(161)), 2);
        assert_eq!(count(&"a".repeat(306)), 2);
        assert_eq!(count(&"a".repeat(307)), 3);
        // German letters are basic GSM; € counts twice.
        assert_eq!(count(&"ä".repeat(160)), 1);
        assert_eq!(count(&"€".repeat(80)), 1);
        assert_eq!(count(&"€".repeat(81)), 2);
        // One curly quote makes the whole text UCS-2.
        assert_eq!(count(&format!("{}’", "a".repeat(69))), 1);
        assert_eq!(count(&format!("{}’", "a".repeat(70))), 2);
    }
}
