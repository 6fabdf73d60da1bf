//! Fuzz target `kes`: see `kestrel_tests::fuzz_harness::kes`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kestrel_tests::fuzz_harness::kes(data));
