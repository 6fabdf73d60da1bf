//! Fuzz target `onnx_import`: see `kestrel_tests::fuzz_harness::onnx_import`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kestrel_tests::fuzz_harness::onnx_import(data));
