//! The thread-count policy of every command that runs a model (`run`, `bench`, `stream`).

use anyhow::{bail, Result};

/// Logical cores of this machine.
pub fn cores() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

/// `--threads`: 0 is an error; more than the cores is clamped, with a note.
pub fn check_threads(requested: usize) -> Result<(usize, Option<String>)> {
    if requested == 0 {
        bail!("--threads must be at least 1");
    }
    let n = cores();
    if requested > n {
        return Ok((n, Some(format!("--threads {requested} is more than this machine's {n} cores: using {n}"))));
    }
    Ok((requested, None))
}
