//! Bake libtorch's folder (from the torch wheel that torch-sys built against) into the rpath of every binary of
//! this crate, tests included, so `mvt-train` runs without the user exporting LD_LIBRARY_PATH.
fn main() {
    if let Ok(dir) = std::env::var("DEP_TCH_LIBTORCH_LIB") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
    }
}
