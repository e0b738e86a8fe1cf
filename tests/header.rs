//! include/mvt.h is generated from src/ffi.rs by cbindgen (cbindgen.toml) and committed; this test regenerates it
//! (from src/ffi.rs and the status codes in src/error.rs) and fails when the committed header is stale. `MVT_BLESS=1` rewrites the file instead.

use std::path::Path;

#[test]
fn committed_header_matches_the_ffi_source() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = cbindgen::Config::from_file(root.join("cbindgen.toml")).expect("cbindgen.toml parses");
    // Only the C ABI's own files: other modules' public constants are not part of the C interface.
    let bindings = cbindgen::Builder::new()
        .with_src(root.join("src/ffi.rs"))
        .with_src(root.join("crates/mvt-runtime/src/error.rs"))
        .with_config(config)
        .generate()
        .expect("cbindgen generates the header");
    let mut generated = Vec::new();
    bindings.write(&mut generated);
    let generated = String::from_utf8(generated).expect("the header is UTF-8");
    let header = root.join("include/mvt.h");
    if std::env::var_os("MVT_BLESS").is_some() {
        std::fs::write(&header, &generated).expect("include/mvt.h is writable");
        return;
    }
    let committed = std::fs::read_to_string(&header).unwrap_or_default();
    assert!(
        committed == generated,
        "include/mvt.h is stale: regenerate it with `MVT_BLESS=1 cargo test --release -p mvt --test header`"
    );
}
