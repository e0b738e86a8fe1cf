//! The model file's header and metadata reader (`model_metadata_from_bytes`), the first thing that sees a model
//! file, before ONNX Runtime: any bytes must give a metadata value or an error, never a panic, an overflow or an
//! allocation the file's size does not justify (libFuzzer's -rss_limit_mb / -malloc_limit_mb catch the last).
//!
//! Random bytes mostly stop at the protobuf or the digest, so half of the inputs instead replace one `mvt.*` value
//! of the stand-in model (tests/support) by fuzzer text, or add a second entry for a key, and seal the file again
//! (a fresh, matching digest): the metadata checks behind the digest see hostile values too.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mvt_formats::model_file::{model_metadata_from_bytes, sealed};
use mvt_formats::onnx::StringStringEntryProto;
use mvt_test_support::fixture;
use prost::Message;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    if selector & 1 == 0 {
        let _ = model_metadata_from_bytes(rest, "fuzz input");
        return;
    }
    let mut model = fixture::model_proto(&fixture::metadata());
    let props = &mut model.metadata_props;
    let key = props[usize::from(selector >> 2) % props.len()].key.clone();
    let value = String::from_utf8_lossy(rest).into_owned();
    if selector & 2 == 0 {
        props.iter_mut().filter(|p| p.key == key).for_each(|p| p.value = value.clone());
    } else {
        props.push(StringStringEntryProto { key, value });
    }
    let bytes = sealed(model).encode_to_vec();
    if let Ok(meta) = model_metadata_from_bytes(&bytes, "fuzz model") {
        // Whatever passes the checks is within the documented limits.
        use mvt_formats::model_file::limits;
        assert!(meta.classes.len() <= limits::MAX_CLASSES);
        assert!(meta.rgb_dim <= limits::MAX_FEATURE_DIM && meta.audio_dim <= limits::MAX_FEATURE_DIM);
        assert!(meta.text_max_len <= limits::MAX_TEXT_MAX_LEN);
        assert!(meta.empty_audio_frames <= limits::MAX_EMPTY_AUDIO_FRAMES);
    }
});
