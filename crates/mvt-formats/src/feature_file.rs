//! One video's feature file, as the original wrote it: a Python pickle of
//! `{'video': str, 'feature': {'image_pkl': ndarray[T1, D1], 'audio_pkl': ndarray[T2, D2]}, 'label': list}`,
//! read through the restricted unpickler ([`crate::pickle`]) and written as numpy would, and the original's rule
//! for a video without audio.

use ndarray::{Array2, Ix2};

use crate::pickle::{load, Opcode, PickleError, Value, Writer};

/// An empty audio track becomes this many zero rows (the original's rule, at training and at inference; the
/// model file records the value its model was trained with).
pub const EMPTY_AUDIO_FRAMES: usize = 10;

/// One feature file's content.
#[derive(Clone, Debug, PartialEq)]
pub struct FeatureFile {
    /// The `video` field: the video's file name or URL.
    pub video: String,
    /// `feature.image_pkl`: one row per sampled frame.
    pub rgb: Array2<f32>,
    /// `feature.audio_pkl`: one row per 960 ms audio segment (may have 0 rows).
    pub audio: Array2<f32>,
    /// The `label` field (class indices in the original's files).
    pub labels: Vec<i64>,
}

/// Replaces an empty audio track by [`EMPTY_AUDIO_FRAMES`] zero rows of `audio_dim` (the original's rule).
pub fn pad_empty_audio(audio: Array2<f32>, audio_dim: usize) -> Array2<f32> {
    if audio.nrows() == 0 {
        Array2::zeros((EMPTY_AUDIO_FRAMES, audio_dim))
    } else {
        audio
    }
}

/// Reads one original feature file: `{'video': str, 'feature': {'image_pkl': [T1, D1], 'audio_pkl': [T2, D2]},
/// 'label': [int, ...]}`. Arrays of any numeric dtype become float32; an empty 1-D array means 0 rows.
/// `video` and `label` are informational (the split file is the truth), so a missing or non-integer `label`
/// gives no labels and a missing `video` an empty name.
pub fn read_feature_file(bytes: &[u8]) -> Result<FeatureFile, PickleError> {
    let mut root = load(bytes)?;
    if !matches!(root, Value::Dict(_)) {
        return Err(PickleError::NotFeatureFile(format!("the top level is a {}, not a dict", root.type_name())));
    }
    let video = match root.take("video") {
        Some(Value::Str(s)) => s,
        Some(Value::Bytes(b)) => String::from_utf8_lossy(&b).into_owned(),
        _ => String::new(),
    };
    let mut feature = root.take("feature").ok_or_else(|| PickleError::NotFeatureFile("no 'feature' key".into()))?;
    let rgb = feature_matrix(&mut feature, "image_pkl")?;
    let audio = feature_matrix(&mut feature, "audio_pkl")?;
    let labels = match root.take("label") {
        Some(Value::List(items)) | Some(Value::Tuple(items)) => {
            items.iter().map(|v| if let Value::Int(i) = v { Some(*i) } else { None }).collect::<Option<Vec<_>>>()
        }
        _ => None,
    }
    .unwrap_or_default();
    Ok(FeatureFile { video, rgb, audio, labels })
}

fn feature_matrix(feature: &mut Value, key: &str) -> Result<Array2<f32>, PickleError> {
    let found = feature.take(key).ok_or_else(|| PickleError::NotFeatureFile(format!("'feature' has no '{key}'")))?;
    let Value::Array(array) = found else {
        return Err(PickleError::NotFeatureFile(format!("'{key}' is a {}, not a numpy array", found.type_name())));
    };
    match *array.shape() {
        [0] => Ok(Array2::zeros((0, 0))),
        [_, _] => Ok(array.into_f32().into_dimensionality::<Ix2>().expect("checked 2-D")),
        ref shape => Err(PickleError::NotFeatureFile(format!("'{key}' has shape {shape:?}, expected [frames, dim]"))),
    }
}

/// Serializes `f` as `{'video': str, 'feature': {'image_pkl': float32 ndarray, 'audio_pkl': float32 ndarray},
/// 'label': [int, ...]}`, keys in the original's order.
///
/// # Panics
/// If a string or an array's data exceeds 4 GiB, which protocol 3 cannot express.
pub fn write_feature_file(f: &FeatureFile) -> Vec<u8> {
    let data_bytes = 4 * (f.rgb.len() + f.audio.len());
    let mut w = Writer::new(data_bytes + 512);
    w.op(Opcode::EMPTY_DICT);
    w.op(Opcode::MARK);
    w.str("video");
    w.str(&f.video);
    w.str("feature");
    w.op(Opcode::EMPTY_DICT);
    w.op(Opcode::MARK);
    w.str("image_pkl");
    w.f32_array(&f.rgb);
    w.str("audio_pkl");
    w.f32_array(&f.audio);
    w.op(Opcode::SETITEMS);
    w.str("label");
    w.op(Opcode::EMPTY_LIST);
    if !f.labels.is_empty() {
        w.op(Opcode::MARK);
        for &label in &f.labels {
            w.int(label);
        }
        w.op(Opcode::APPENDS);
    }
    w.op(Opcode::SETITEMS);
    w.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_files_read_back() {
        let rgb = Array2::from_shape_fn((3, 300), |(r, c)| (r * 300 + c) as f32 * 0.5 - 7.0);
        for (audio, labels) in
            [(Array2::zeros((0, 0)), vec![]), (Array2::ones((2, 4)), vec![0, 255, 70_000, -5, 1 << 40])]
        {
            let file = FeatureFile { video: "vidéo.mp4".into(), rgb: rgb.clone(), audio, labels };
            assert_eq!(read_feature_file(&write_feature_file(&file)).unwrap(), file);
        }
    }
}
