//! Fuzz target `npy`: see `kestrel_tests::fuzz_harness::npy`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kestrel_tests::fuzz_harness::npy(data));
