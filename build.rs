//! Linker settings and install metadata for libmvt.so.
//!
//! - SONAME `libmvt.so.0` (the ABI major: bumped with MVT_ABI_VERSION when a change breaks C callers), so hosts
//!   record `NEEDED libmvt.so.0` and a compatible newer build can replace the file.
//! - Next to the library in the profile folder (target/release): the `libmvt.so.0 -> libmvt.so` link the loader
//!   then looks for, and `mvt.pc` for pkg-config (`PKG_CONFIG_PATH=target/release pkg-config --cflags --libs mvt`),
//!   which points at include/mvt.h and this folder (with an rpath, so a program runs straight from the build tree).
//!   Both are build outputs, never committed.

use std::path::{Path, PathBuf};

const SONAME: &str = "libmvt.so.0";

fn main() {
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,{SONAME}");
    println!("cargo:rerun-if-changed=build.rs");
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    // OUT_DIR is <target>/<profile>/build/mvt-<hash>/out: the profile folder is three levels up.
    let Some(profile_dir) = out_dir.ancestors().nth(3) else { return };
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let version = std::env::var("CARGO_PKG_VERSION").expect("cargo sets CARGO_PKG_VERSION");
    write_if_changed(&profile_dir.join("mvt.pc"), &pkg_config(&manifest_dir, profile_dir, &version));
    let link = profile_dir.join(SONAME);
    if std::fs::read_link(&link).ok().as_deref() != Some(Path::new("libmvt.so")) {
        let _ = std::fs::remove_file(&link);
        if let Err(e) = std::os::unix::fs::symlink("libmvt.so", &link) {
            println!("cargo:warning=cannot create {}: {e}", link.display());
        }
    }
}

fn pkg_config(manifest_dir: &Path, lib_dir: &Path, version: &str) -> String {
    format!(
        "includedir={include}\nlibdir={lib}\n\nName: mvt\nDescription: Multimodal short-video tagging (C ABI over one ONNX model file)\n\
         Version: {version}\nCflags: -I${{includedir}}\nLibs: -L${{libdir}} -Wl,-rpath,${{libdir}} -lmvt\n",
        include = manifest_dir.join("include").display(),
        lib = lib_dir.display(),
    )
}

fn write_if_changed(path: &Path, text: &str) {
    if std::fs::read_to_string(path).ok().as_deref() != Some(text) {
        if let Err(e) = std::fs::write(path, text) {
            println!("cargo:warning=cannot write {}: {e}", path.display());
        }
    }
}
