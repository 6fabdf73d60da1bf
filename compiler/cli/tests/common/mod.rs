//! What every CLI test file shares: run the `kestrel` binary, find the repository, make a
//! fresh temp dir named by the test binary.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Run `kestrel ARGS...` (ONNX Runtime, for the commands that need it: `ORT_DYLIB_PATH`, else
/// where scripts/setup.sh installs it).
pub fn kestrel(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kestrel")).args(args).output().expect("run kestrel")
}

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// An empty temp dir for test `name` of this test binary.
pub fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("kestrel-{}-{}-{name}", env!("CARGO_CRATE_NAME"), std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("tmp dir");
    d
}

/// A path as a command-line argument.
pub fn s(p: &Path) -> String {
    p.display().to_string()
}

/// stdout of a run that must succeed (its stderr and stdout in the failure message).
pub fn ok(out: &Output) -> String {
    let so = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "failed: {}\n{so}", String::from_utf8_lossy(&out.stderr));
    so
}

/// Assert a clean failure whose single stderr line contains every `needle`.
pub fn fails_with(out: &Output, needles: &[&str]) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "exit code; stderr: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "stderr must be one line: {err:?}");
    assert!(err.starts_with("error: "), "{err}");
    assert!(!err.contains("panicked") && !err.contains("internal error"), "{err}");
    for n in needles {
        assert!(err.contains(n), "stderr {err:?} should mention {n:?}");
    }
}
