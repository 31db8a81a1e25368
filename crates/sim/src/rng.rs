//! The simulator's own seeded generator, kept inside the persisted state so a run that is stored
//! in a key-value store between requests (the sandbox) continues the same sequence.

use serde::{Deserialize, Serialize};

/// SplitMix64 (Steele, Lea, Flood 2014), the same generator as `connector::memory::SeededRng`,
/// but plain data so it serialises with the rest of the state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimRng {
    state: u64,
}

const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

impl SimRng {
    /// A generator started at `seed`.
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(GOLDEN);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`0` when `n` is 0). The tiny modulo bias is irrelevant for a simulator.
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next_u64() % n }
    }

    /// True with probability `permille / 1000`. Draws nothing when the knob is 0 or ≥ 1000, so a
    /// fault that is switched off does not shift the rest of the run.
    pub fn chance(&mut self, permille: u32) -> bool {
        match permille {
            0 => false,
            p if p >= 1000 => true,
            p => self.below(1000) < u64::from(p),
        }
    }

    /// `n` lowercase hex digits.
    pub fn hex(&mut self, n: usize) -> String {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut out = String::with_capacity(n);
        while out.len() < n {
            let mut word = self.next_u64();
            for _ in 0..16 {
                if out.len() == n {
                    break;
                }
                out.push(char::from(DIGITS[(word & 0xF) as usize]));
                word >>= 4;
            }
        }
        out
    }

    /// A Twilio SID: two-letter prefix and 32 lowercase hex digits
    /// (e.g. `^SM[0-9a-fA-F]{32}$`, <https://www.twilio.com/docs/glossary/what-is-a-sid>).
    pub fn sid(&mut self, prefix: &str) -> String {
        format!("{prefix}{}", self.hex(32))
    }

    /// A version-4 UUID in canonical lowercase form (RFC 9562 §5.4): the shape of DATEV's extf
    /// job ids (`8a772151-6c21-40fe-96ae-4d42cbeeda5a`, datev.md §4.1).
    pub fn uuid(&mut self) -> String {
        let h = self.hex(32);
        let variant = ["8", "9", "a", "b"][self.below(4) as usize];
        format!(
            "{}-{}-4{}-{}{}-{}",
            &h[0..8],
            &h[8..12],
            &h[13..16],
            variant,
            &h[17..20],
            &h[20..32]
        )
    }

    /// `n` characters of the base64url alphabet: opaque tokens and authorization codes.
    pub fn token(&mut self, n: usize) -> String {
        const ALPHABET: &[u8; 64] =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        (0..n)
            .map(|_| char::from(ALPHABET[self.below(64) as usize]))
            .collect()
    }

    /// `n` decimal digits (a Verify code).
    pub fn digits(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| char::from(b'0' + self.below(10) as u8))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use connector::Rng as _;

    #[test]
    fn matches_the_connector_generator() {
        let mut ours = SimRng::new(42);
        let theirs = connector::memory::SeededRng::new(42);
        for _ in 0..4 {
            assert_eq!(ours.next_u64(), theirs.next_u64());
        }
    }

    #[test]
    fn shapes() {
        let mut r = SimRng::new(1);
        let sid = r.sid("SM");
        assert_eq!(sid.len(), 34);
        assert!(
            sid[2..]
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
        let u = r.uuid();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert_eq!(r.digits(6).len(), 6);
        assert!(!r.chance(0));
        assert!(r.chance(1000));
    }
}
