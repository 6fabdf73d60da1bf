//! `include/kestrel.h` is what cbindgen makes of `src/lib.rs` today (CI fails if someone
//! changes the API without regenerating it). `KESTREL_BLESS=1` rewrites the header.

#[test]
fn header_is_current() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = cbindgen::Config::from_file(dir.join("cbindgen.toml")).expect("cbindgen.toml");
    let bindings = cbindgen::Builder::new()
        .with_config(config)
        .with_src(dir.join("src/lib.rs"))
        .generate()
        .expect("cbindgen");
    let mut fresh = Vec::new();
    bindings.write(&mut fresh);
    let path = dir.join("include/kestrel.h");
    if std::env::var_os("KESTREL_BLESS").is_some() {
        std::fs::write(&path, &fresh).unwrap();
    }
    let committed = std::fs::read(&path).unwrap_or_default();
    assert!(
        committed == fresh,
        "runtime/capi/include/kestrel.h is stale: regenerate it with `KESTREL_BLESS=1 cargo test -p kestrel-capi --test header`"
    );
}
