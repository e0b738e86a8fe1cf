//! Small datasets in the original layout (class.txt, a split file, feature_files/) with values that identify
//! the file and the position.

use std::path::Path;

use mvt_formats::dataset::feature_path;
use mvt_formats::feature_file::{write_feature_file, FeatureFile};
use ndarray::Array2;

/// A feature matrix whose values identify the file (`seed`) and the position.
pub fn matrix(rows: usize, cols: usize, seed: f32) -> Array2<f32> {
    Array2::from_shape_fn((rows, cols), |(r, c)| seed + r as f32 * 0.5 - c as f32 * 0.25)
}

/// `feature_files/<stem>.pkl` with `frames` image rows and `segments` audio rows.
pub fn write_features(
    dir: &Path,
    stem: &str,
    frames: usize,
    segments: usize,
    seed: f32,
    rgb_dim: usize,
    audio_dim: usize,
) {
    let file = FeatureFile {
        video: format!("{stem}.mp4"),
        rgb: matrix(frames, rgb_dim, seed),
        audio: matrix(segments, audio_dim, -seed),
        labels: vec![0],
    };
    let path = feature_path(dir, stem);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, write_feature_file(&file)).unwrap();
}

/// A data folder with `classes` as class.txt, `train.txt` = `split`, and a 4-frame, 2-segment feature file for
/// every stem given.
pub fn data_dir(classes: &str, split: &str, stems: &[&str], rgb_dim: usize, audio_dim: usize) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("class.txt"), classes).unwrap();
    std::fs::write(dir.path().join("train.txt"), split).unwrap();
    for (i, stem) in stems.iter().enumerate() {
        write_features(dir.path(), stem, 4, 2, i as f32, rgb_dim, audio_dim);
    }
    dir
}
