//! Validator/parser/writer invariants on arbitrary bytes (see `extf::fuzzing::validate_and_parse`).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| extf::fuzzing::validate_and_parse(data));
