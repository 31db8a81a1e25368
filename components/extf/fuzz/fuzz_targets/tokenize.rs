//! Tokenizer invariants on arbitrary bytes (see `extf::fuzzing::tokenize`).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| extf::fuzzing::tokenize(data));
