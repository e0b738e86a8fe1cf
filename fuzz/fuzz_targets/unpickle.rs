//! Any input: `load` and `read_feature_file` return a value or an error, never panic, overflow the stack or
//! allocate without bound (libFuzzer's -rss_limit_mb / -malloc_limit_mb catch the last).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let loaded = mvt_formats::pickle::load(data);
    let feature_file = mvt_formats::feature_file::read_feature_file(data);
    // A feature file is a pickle: it cannot load when the pickle does not.
    assert!(loaded.is_ok() || feature_file.is_err());
});
