//! The original dataset layout: class.txt, split-file rules (one test each), feature files, the report (the
//! `mvt dataset` command is tested with the CLI).

use std::path::Path;

use mvt_formats::dataset::{feature_path, load_split, read_classes, DatasetError, LoadOptions, SkipReason};
use mvt_formats::feature_file::{pad_empty_audio, write_feature_file, FeatureFile, EMPTY_AUDIO_FRAMES};
use mvt_test_support::layout::{self, matrix};
use ndarray::Array2;

const RGB_DIM: usize = 6;
const AUDIO_DIM: usize = 3;
const CLASSES: &str = "游戏-射击\n拍人-萌娃\n美食-烹饪\n";

fn opts() -> LoadOptions {
    LoadOptions { rgb_dim: RGB_DIM, audio_dim: AUDIO_DIM, keep_unlabeled: false, max_frames: None }
}

/// A data folder with class.txt, `train.txt` = `split`, and a 4-frame feature file for every stem given.
fn data_dir(split: &str, stems: &[&str]) -> tempfile::TempDir {
    layout::data_dir(CLASSES, split, stems, RGB_DIM, AUDIO_DIM)
}

fn write_features(dir: &Path, stem: &str, frames: usize, segments: usize, seed: f32) {
    layout::write_features(dir, stem, frames, segments, seed, RGB_DIM, AUDIO_DIM)
}

fn names(videos: &[mvt_formats::dataset::Video]) -> Vec<&str> {
    videos.iter().map(|v| v.name.as_str()).collect()
}

#[test]
fn class_file_indices_are_line_numbers_or_explicit() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("class.txt");
    std::fs::write(&path, "a\nb\nc\n\n\n").unwrap();
    assert_eq!(read_classes(&path).unwrap(), ["a", "b", "c"]);
    std::fs::write(&path, "x\t2\ny\t0\n z \t1\n").unwrap();
    assert_eq!(read_classes(&path).unwrap(), ["y", "z", "x"]);
    for (text, line, words) in [
        ("a\n\nb\n", 2, "blank class name"),
        ("a\na\n", 2, "already on line 1"),
        ("a\t0\nb\t0\n", 2, "index 0 already given"),
        ("a\t0\nb\t5\n", 2, "leaves a gap"),
        ("a\tone\n", 1, "not a number"),
        ("a\t0\tz\n", 1, "expected `name`"),
    ] {
        std::fs::write(&path, text).unwrap();
        let err = read_classes(&path).unwrap_err();
        assert!(matches!(err, DatasetError::ClassFile { line: l, .. } if l == line), "{text:?}: {err}");
        assert!(err.to_string().contains(words), "{text:?}: {err}");
    }
}

#[test]
fn rows_load_with_features_in_file_order() {
    let dir = data_dir("b.mp4\t标题一\t游戏-射击\na.mp4\t标题二\t美食-烹饪,拍人-萌娃\n", &["a", "b"]);
    let data = load_split(dir.path(), "train.txt", &opts()).unwrap();
    assert_eq!(data.classes, ["游戏-射击", "拍人-萌娃", "美食-烹饪"]);
    assert_eq!(names(&data.videos), ["b.mp4", "a.mp4"]);
    assert_eq!(data.videos[0].title, "标题一");
    assert_eq!(data.videos[1].labels, [2, 1]);
    // stems a, b were written with seeds 0, 1
    assert_eq!(data.videos[0].rgb, matrix(4, RGB_DIM, 1.0));
    assert_eq!(data.videos[1].audio, matrix(2, AUDIO_DIM, -0.0));
    assert_eq!(data.report.rows, 2);
    assert!(data.report.skipped.is_empty());
}

#[test]
fn missing_title_is_empty() {
    let dir = data_dir("a.mp4\t\t游戏-射击\n", &["a"]);
    let data = load_split(dir.path(), "train.txt", &opts()).unwrap();
    assert_eq!(data.videos[0].title, "");
    assert_eq!(data.videos[0].labels, [0]);
}

#[test]
fn unknown_labels_are_dropped() {
    let dir = data_dir("a.mp4\tt\t游戏-射击,不存在,拍人-萌娃,不存在\n", &["a"]);
    let data = load_split(dir.path(), "train.txt", &opts()).unwrap();
    assert_eq!(data.videos[0].labels, [0, 1]);
    assert_eq!(data.report.unknown_labels.get("不存在"), Some(&2));
}

#[test]
fn rows_without_a_known_label_are_skipped_unless_kept_for_inference() {
    let split = "a.mp4\tt\t不存在\nb.mp4\tt\t\nc.mp4\tt\nd.mp4\n";
    let dir = data_dir(split, &["a", "b", "c", "d"]);
    let data = load_split(dir.path(), "train.txt", &opts()).unwrap();
    assert!(data.videos.is_empty());
    let reasons: Vec<(usize, &SkipReason)> = data.report.skipped.iter().map(|s| (s.line, &s.reason)).collect();
    assert_eq!(
        reasons,
        [
            (1, &SkipReason::UnknownLabels(vec!["不存在".into()])),
            (2, &SkipReason::NoLabels),
            (3, &SkipReason::NoLabels),
            (4, &SkipReason::NoLabels)
        ]
    );
    let keep = LoadOptions { keep_unlabeled: true, ..opts() };
    let data = load_split(dir.path(), "train.txt", &keep).unwrap();
    assert_eq!(names(&data.videos), ["a.mp4", "b.mp4", "c.mp4", "d.mp4"]);
    assert!(data.videos.iter().all(|v| v.labels.is_empty()));
    assert_eq!(data.videos[3].title, "");
}

#[test]
fn duplicate_names_are_skipped_first_wins() {
    // Line 1 is skipped (no label), so line 2 is the first kept row of that name; line 3 repeats it.
    let split = "a.mp4\tfirst\t\na.mp4\tsecond\t游戏-射击\na.mp4\tthird\t拍人-萌娃\nb.mp4\tb\t美食-烹饪\n";
    let dir = data_dir(split, &["a", "b"]);
    let data = load_split(dir.path(), "train.txt", &opts()).unwrap();
    assert_eq!(names(&data.videos), ["a.mp4", "b.mp4"]);
    assert_eq!(data.videos[0].title, "second");
    assert_eq!(data.report.skipped[1].reason, SkipReason::Duplicate { first_line: 2 });
    assert_eq!(data.report.skipped[1].line, 3);
}

#[test]
fn feature_file_is_the_last_path_component_up_to_its_first_dot() {
    let dir = Path::new("/data");
    assert_eq!(feature_path(dir, "https://cdn.example.com/v/abc.def.mp4"), Path::new("/data/feature_files/abc.pkl"));
    assert_eq!(feature_path(dir, "18e9bf08.mp4"), Path::new("/data/feature_files/18e9bf08.pkl"));
    assert_eq!(feature_path(dir, "plain"), Path::new("/data/feature_files/plain.pkl"));
    let dir = data_dir("https://cdn.example.com/v/abc.mp4\tt\t游戏-射击\n", &["abc"]);
    let data = load_split(dir.path(), "train.txt", &opts()).unwrap();
    assert_eq!(names(&data.videos), ["https://cdn.example.com/v/abc.mp4"]);
}

#[test]
fn missing_or_unreadable_feature_files_are_skipped_with_the_reason() {
    let split = "ok.mp4\tt\t游戏-射击\nmissing.mp4\tt\t游戏-射击\ngarbage.mp4\tt\t游戏-射击\nevil.mp4\tt\t游戏-射击\n";
    let dir = data_dir(split, &["ok"]);
    let features = dir.path().join("feature_files");
    std::fs::write(features.join("garbage.pkl"), b"\x80\x04not a pickle").unwrap();
    std::fs::write(features.join("evil.pkl"), b"cos\nsystem\n(S'echo hi'\ntR.").unwrap();
    let data = load_split(dir.path(), "train.txt", &opts()).unwrap();
    assert_eq!(names(&data.videos), ["ok.mp4"]);
    let skipped = &data.report.skipped;
    assert_eq!(skipped[0].reason, SkipReason::MissingFeatureFile(features.join("missing.pkl")));
    assert!(
        matches!(&skipped[1].reason, SkipReason::UnreadableFeatureFile { path, .. } if path.ends_with("garbage.pkl"))
    );
    assert!(skipped[2].reason.to_string().contains("refused global os.system"), "{}", skipped[2].reason);
    assert_eq!(skipped.iter().map(|s| s.line).collect::<Vec<_>>(), [2, 3, 4]);
}

#[test]
fn non_finite_features_are_skipped_naming_the_file_frame_and_column() {
    let split = "ok.mp4\tt\t游戏-射击\nnan.mp4\tt\t游戏-射击\ninf.mp4\tt\t游戏-射击\nhuge.mp4\tt\t游戏-射击\n";
    let dir = data_dir(split, &["ok"]);
    let write = |stem: &str, rgb: Array2<f32>, audio: Array2<f32>| {
        let file = FeatureFile { video: format!("{stem}.mp4"), rgb, audio, labels: vec![0] };
        std::fs::write(feature_path(dir.path(), stem), write_feature_file(&file)).unwrap();
    };
    let mut rgb = matrix(4, RGB_DIM, 1.0);
    rgb[[2, 5]] = f32::NAN;
    write("nan", rgb, matrix(2, AUDIO_DIM, 1.0));
    let mut audio = matrix(3, AUDIO_DIM, 1.0);
    audio[[1, 0]] = f32::NEG_INFINITY;
    write("inf", matrix(4, RGB_DIM, 1.0), audio);
    // f32::MAX is finite: kept.
    write("huge", Array2::from_elem((1, RGB_DIM), f32::MAX), matrix(1, AUDIO_DIM, 1.0));
    let data = load_split(dir.path(), "train.txt", &opts()).unwrap();
    assert_eq!(names(&data.videos), ["ok.mp4", "huge.mp4"]);
    let features = dir.path().join("feature_files");
    let nan =
        SkipReason::NonFinite { path: features.join("nan.pkl"), what: "image", frame: 2, column: 5, value: "NaN" };
    let inf =
        SkipReason::NonFinite { path: features.join("inf.pkl"), what: "audio", frame: 1, column: 0, value: "-inf" };
    let reasons: Vec<_> = data.report.skipped.iter().map(|s| (s.line, s.reason.clone())).collect();
    assert_eq!(reasons, [(2, nan), (3, inf)]);
    let text = data.report.skipped[0].reason.to_string();
    let expected = format!(
        "features not finite in {}: image feature at frame 2, column 5 is NaN",
        features.join("nan.pkl").display()
    );
    assert_eq!(text, expected);
    assert_eq!(data.report.skip_counts().get("non-finite features"), Some(&2));
    let summary = data.report.summary();
    assert!(summary.contains("skipped rows (non-finite features: 2)"), "{summary}");
    assert!(summary.contains("line 3 inf.mp4: features not finite in "), "{summary}");
    assert!(summary.contains("inf.pkl: audio feature at frame 1, column 0 is -inf"), "{summary}");
}

#[test]
fn the_load_report_summary_is_the_skipped_part_of_the_dataset_summary() {
    let split = "ok.mp4\tt\t游戏-射击\nevil.mp4\tt\t游戏-射击\nnolabel.mp4\tt\t\nmissing.mp4\tt\t游戏-射击\n";
    let dir = data_dir(split, &["ok"]);
    std::fs::write(dir.path().join("feature_files/evil.pkl"), b"cposix\nsystem\n(S'touch /tmp/x'\ntR.").unwrap();
    let data = load_split(dir.path(), "train.txt", &opts()).unwrap();
    let report = data.report.summary();
    assert!(report.starts_with("train.txt: 1 videos from 4 rows (3 skipped)\n"), "{report}");
    assert!(report.contains("refused global posix.system"), "{report}");
    assert_eq!(data.report.unusable_share(), 0.75);
    // `mvt dataset` prints the same skipped-rows lines (counts per reason, then each row with its reason).
    let skipped_part = &report[report.find("  skipped rows (").unwrap()..];
    assert!(skipped_part
        .starts_with("  skipped rows (missing feature file: 1, no labels: 1, unreadable feature file: 1):\n"));
    let full = data.summary().to_string();
    assert!(full.ends_with(skipped_part), "{skipped_part:?} does not end:\n{full}");
}

#[test]
fn empty_audio_becomes_ten_zero_rows() {
    let dir = data_dir("a.mp4\tt\t游戏-射击\n", &[]);
    write_features(dir.path(), "a", 3, 0, 1.0);
    let data = load_split(dir.path(), "train.txt", &opts()).unwrap();
    assert_eq!(data.videos[0].audio, Array2::<f32>::zeros((EMPTY_AUDIO_FRAMES, AUDIO_DIM)));
    assert_eq!(data.report.padded_audio, 1);
    let audio = matrix(2, AUDIO_DIM, 1.0);
    assert_eq!(pad_empty_audio(audio.clone(), AUDIO_DIM), audio);
}

#[test]
fn videos_without_image_frames_are_skipped() {
    let dir = data_dir("a.mp4\tt\t游戏-射击\n", &[]);
    write_features(dir.path(), "a", 0, 2, 1.0);
    let data = load_split(dir.path(), "train.txt", &opts()).unwrap();
    assert!(data.videos.is_empty());
    assert!(matches!(data.report.skipped[0].reason, SkipReason::NoImageFrames(_)));
}

#[test]
fn feature_widths_must_match_the_configuration() {
    let dir = data_dir("a.mp4\tt\t游戏-射击\n", &["a"]);
    let wrong = LoadOptions { rgb_dim: 2048, ..opts() };
    let err = load_split(dir.path(), "train.txt", &wrong).unwrap_err();
    assert!(matches!(err, DatasetError::FeatureDim { feature: "image", found: RGB_DIM, expected: 2048, .. }), "{err}");
    assert!(err.to_string().contains("a.pkl") && err.to_string().contains("feature_dims"), "{err}");
    let wrong = LoadOptions { audio_dim: 128, ..opts() };
    let err = load_split(dir.path(), "train.txt", &wrong).unwrap_err();
    assert!(matches!(err, DatasetError::FeatureDim { feature: "audio", found: AUDIO_DIM, expected: 128, .. }), "{err}");
}

#[test]
fn blank_lines_crlf_bom_and_extra_fields() {
    let split = "\u{feff}a.mp4\tt\t游戏-射击\r\n\r\nb.mp4\tt\t游戏-射击\textra\nc.mp4\tt\t游戏-射击\t\n";
    let dir = data_dir(split, &["a", "b", "c"]);
    let data = load_split(dir.path(), "train.txt", &opts()).unwrap();
    assert_eq!(names(&data.videos), ["a.mp4", "c.mp4"]);
    assert_eq!(data.videos[0].labels, [0]);
    assert_eq!(data.report.rows, 3);
    assert_eq!(data.report.skipped[0].line, 3);
    assert!(matches!(data.report.skipped[0].reason, SkipReason::BadRow(_)));
}

#[test]
fn missing_files_are_errors_naming_the_path() {
    let dir = data_dir("a.mp4\tt\t游戏-射击\n", &["a"]);
    let err = load_split(dir.path(), "val.txt", &opts()).unwrap_err();
    assert!(err.to_string().contains("val.txt"), "{err}");
    std::fs::remove_file(dir.path().join("class.txt")).unwrap();
    let err = load_split(dir.path(), "train.txt", &opts()).unwrap_err();
    assert!(err.to_string().contains("class.txt"), "{err}");
}

#[test]
fn summary_counts_lengths_labels_and_skips() {
    let split = "a.mp4\t\t游戏-射击,拍人-萌娃\nb.mp4\tt\t游戏-射击\nmissing.mp4\tt\t游戏-射击\n";
    let dir = data_dir(split, &["a"]);
    write_features(dir.path(), "b", 8, 0, 2.0);
    let text = load_split(dir.path(), "train.txt", &opts()).unwrap().summary().to_string();
    for expected in [
        "train.txt: 2 videos from 3 rows (1 skipped), 3 classes",
        "image features: 6-d, frames per video: min 4, mean 6.0, max 8",
        "audio features: 3-d, segments per video: min 2, mean 6.0, max 10 (1 empty tracks padded",
        "titles: 1 empty of 2",
        "labels per video: 1 label(s): 1, 2 label(s): 1",
        &format!("     2 {} 游戏-射击", "#".repeat(40)),
        &format!("     1 {:<40} 拍人-萌娃", "#".repeat(20)),
        &format!("     0 {:<40} 美食-烹饪", ""),
        "skipped rows (missing feature file: 1)",
        "line 3 missing.mp4: missing feature file",
    ] {
        assert!(text.contains(expected), "{expected:?} not in:\n{text}");
    }
}

#[test]
fn a_line_that_is_not_utf8_costs_only_its_row_naming_the_field() {
    let dir = data_dir("", &["a", "b", "c", "d"]);
    let mut list = b"a.mp4\t\xe6\xa0\x87\xe9\xa2\x98\t\xe6\xb8\xb8\xe6\x88\x8f-\xe5\xb0\x84\xe5\x87\xbb\r\n".to_vec();
    list.extend_from_slice(b"b.mp4\tcaf\xe9\t\xe6\xb8\xb8\xe6\x88\x8f-\xe5\xb0\x84\xe5\x87\xbb\n");
    list.extend_from_slice(b"c\xff.mp4\ttitle\t\xe6\xb8\xb8\xe6\x88\x8f-\xe5\xb0\x84\xe5\x87\xbb\n\n");
    list.extend_from_slice(b"d.mp4\ttitle\t\xe6\xb8\xb8\xe6\x88\x8f-\xe5\xb0\x84\xe5\x87\xbb\xc0\n");
    std::fs::write(dir.path().join("train.txt"), list).unwrap();
    let data = load_split(dir.path(), "train.txt", &opts()).unwrap();
    assert_eq!(names(&data.videos), ["a.mp4"]);
    assert_eq!(data.report.rows, 4);
    let skipped: Vec<(usize, &str, String)> =
        data.report.skipped.iter().map(|s| (s.line, s.name.as_str(), s.reason.to_string())).collect();
    assert_eq!(skipped.len(), 3, "{skipped:?}");
    assert_eq!((skipped[0].0, skipped[0].1), (2, "b.mp4"));
    assert!(skipped[0].2.starts_with("the title is not valid UTF-8"), "{skipped:?}");
    assert_eq!((skipped[1].0, skipped[1].1), (3, "c\u{fffd}.mp4"));
    assert!(skipped[1].2.starts_with("the name is not valid UTF-8"), "{skipped:?}");
    assert_eq!(skipped[2].0, 5, "the blank line 4 still counts as a line");
    assert!(skipped[2].2.starts_with("the labels is not valid UTF-8"), "{skipped:?}");
    assert!(data.report.skipped.iter().all(|s| s.reason.kind() == "not UTF-8"));
}

#[test]
fn videos_over_max_frames_are_skipped_naming_the_file() {
    let dir = data_dir("a.mp4\tt\t游戏-射击\nb.mp4\tt\t游戏-射击\nc.mp4\tt\t游戏-射击\n", &[]);
    write_features(dir.path(), "a", 5, 5, 0.1);
    write_features(dir.path(), "b", 6, 2, 0.2);
    write_features(dir.path(), "c", 2, 6, 0.3);
    let data = load_split(dir.path(), "train.txt", &LoadOptions { max_frames: Some(5), ..opts() }).unwrap();
    assert_eq!(names(&data.videos), ["a.mp4"]);
    let reasons: Vec<String> = data.report.skipped.iter().map(|s| s.reason.to_string()).collect();
    assert_eq!(
        reasons,
        [
            format!("{} has 6 image frames, more than max_frames 5", feature_path(dir.path(), "b.mp4").display()),
            format!("{} has 6 audio segments, more than max_frames 5", feature_path(dir.path(), "c.mp4").display()),
        ]
    );
    assert_eq!(load_split(dir.path(), "train.txt", &opts()).unwrap().videos.len(), 3, "no limit without max_frames");
}
