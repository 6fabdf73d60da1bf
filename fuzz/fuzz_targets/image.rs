//! Fuzz target `image`: see `kestrel_tests::fuzz_harness::image`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kestrel_tests::fuzz_harness::image(data));
