//! cross-crate tests live in tests/tests/
