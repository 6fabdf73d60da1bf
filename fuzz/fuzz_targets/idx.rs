//! Fuzz target `idx`: see `kestrel_tests::fuzz_harness::idx`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kestrel_tests::fuzz_harness::idx(data));
