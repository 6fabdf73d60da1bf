//! `kestrel`: compile, inspect, run and verify CNNs for edge inference.

mod cli;

/// Counts heap allocations for `kestrel bench` (off, one relaxed load each, until it runs).
#[global_allocator]
static ALLOC: kestrel_compiler::alloc_count::Counting = kestrel_compiler::alloc_count::Counting;

fn main() {
    // A bug must still surface as one line, not a backtrace.
    std::panic::set_hook(Box::new(|info| {
        let msg = info.payload().downcast_ref::<&str>().map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown".into());
        // `kestrel run ... | head`: the reader went away; stop quietly, as Unix tools do.
        if msg.contains("Broken pipe") {
            std::process::exit(141);
        }
        let at = info.location().map(|l| format!(" at {}:{}", l.file(), l.line())).unwrap_or_default();
        eprintln!("kestrel: internal error: {msg}{at} (please report it)");
    }));
    if let Err(e) = cli::main() {
        let msg = format!("{e:#}").replace('\n', " ");
        eprintln!("error: {msg}");
        std::process::exit(1);
    }
}
