//! The original MultimodalVideoTag dataset layout, read with the original's rules (see docs/data.md):
//!
//! ```text
//! DATA_DIR/class.txt                 one class name per line, optionally `\t<index>`
//! DATA_DIR/{train,val}.txt           <name>\t<title>\t<label1,label2,...>
//! DATA_DIR/feature_files/<stem>.pkl  pickled {'video', 'feature': {'image_pkl', 'audio_pkl'}, 'label'}
//! ```
//!
//! Rows that the original would drop are skipped and listed in a [`LoadReport`] with their line and reason;
//! nothing in the data makes loading fail except an unreadable class or split file and feature widths that
//! contradict the configuration.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ndarray::Array2;

use crate::config::ModelConfig;
use crate::feature_file::{pad_empty_audio, read_feature_file, EMPTY_AUDIO_FRAMES};
use crate::pickle::PickleError;

/// Folder of the feature files inside a data directory.
pub const FEATURE_DIR: &str = "feature_files";

#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    #[error("cannot read {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path} line {line}: {msg}")]
    ClassFile { path: PathBuf, line: usize, msg: String },
    #[error(
        "{path}: {feature} features are {found}-d but the configuration says {expected} \
         (set feature_dims in conf.txt to match the data)"
    )]
    FeatureDim { path: PathBuf, feature: &'static str, found: usize, expected: usize },
}

/// One usable video.
#[derive(Clone, Debug, PartialEq)]
pub struct Video {
    /// 1-based line in the split file.
    pub line: usize,
    /// The first field of the split file (a file name or URL).
    pub name: String,
    /// Possibly empty.
    pub title: String,
    /// Class indices, in split-file order without repeats (empty only when loading unlabeled rows).
    pub labels: Vec<usize>,
    /// `[frames, rgb_dim]`, at least one frame.
    pub rgb: Array2<f32>,
    /// `[segments, audio_dim]`, an empty track already replaced by [`EMPTY_AUDIO_FRAMES`] zero rows.
    pub audio: Array2<f32>,
}

#[derive(Clone, Debug)]
pub struct LoadOptions {
    pub rgb_dim: usize,
    pub audio_dim: usize,
    /// Keep rows without a known label (inference); the original skipped them for train and val.
    pub keep_unlabeled: bool,
    /// Skip videos with more image frames or audio segments than this (inference: the model's `max_frames`).
    pub max_frames: Option<usize>,
}

impl LoadOptions {
    /// Feature widths from the model configuration; rows without labels are skipped (train / val).
    pub fn for_training(model: &ModelConfig) -> Self {
        LoadOptions { rgb_dim: model.rgb_dim, audio_dim: model.audio_dim, keep_unlabeled: false, max_frames: None }
    }
}

/// Why a split-file row is not in the dataset.
#[derive(Clone, Debug, PartialEq)]
pub enum SkipReason {
    /// The row's name field is empty or it has more than three tab-separated fields.
    BadRow(String),
    /// The line is not UTF-8: `field` ("name", "title" or "labels") is where the first bad byte is.
    NotUtf8 {
        field: &'static str,
        error: std::str::Utf8Error,
    },
    /// The label field is empty.
    NoLabels,
    /// Every label is absent from class.txt.
    UnknownLabels(Vec<String>),
    /// The name was already taken by an earlier kept row (first wins).
    Duplicate {
        first_line: usize,
    },
    MissingFeatureFile(PathBuf),
    UnreadableFeatureFile {
        path: PathBuf,
        error: FeatureFileError,
    },
    /// The image feature array has no rows.
    NoImageFrames(PathBuf),
    /// A feature value is NaN or infinite (the first one found, image before audio).
    NonFinite {
        path: PathBuf,
        /// `"image"` or `"audio"`.
        what: &'static str,
        frame: usize,
        column: usize,
        /// `"NaN"`, `"inf"` or `"-inf"`.
        value: &'static str,
    },
    /// The model's tokenizer refuses the title (e.g. its word pieces lie too far in).
    UnusableTitle(String),
    /// More image frames or audio segments than [`LoadOptions::max_frames`].
    TooManyFrames {
        path: PathBuf,
        /// `"image frames"` or `"audio segments"`.
        what: &'static str,
        found: usize,
        max_frames: usize,
    },
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SkipReason::BadRow(why) => write!(f, "bad row: {why}"),
            SkipReason::NotUtf8 { field, error } => write!(f, "the {field} is not valid UTF-8 ({error})"),
            SkipReason::NoLabels => write!(f, "no labels"),
            SkipReason::UnknownLabels(names) => {
                write!(f, "no label is in class.txt ({})", names.join(", "))
            }
            SkipReason::Duplicate { first_line } => write!(f, "duplicate of line {first_line}"),
            SkipReason::MissingFeatureFile(path) => {
                write!(f, "missing feature file {}", path.display())
            }
            SkipReason::UnreadableFeatureFile { path, error } => {
                write!(f, "unreadable feature file {}: {error}", path.display())
            }
            SkipReason::NoImageFrames(path) => write!(f, "no image frames in {}", path.display()),
            SkipReason::NonFinite { path, what, frame, column, value } => write!(
                f,
                "features not finite in {}: {what} feature at frame {frame}, column {column} is {value}",
                path.display()
            ),
            SkipReason::UnusableTitle(why) => write!(f, "{why}"),
            SkipReason::TooManyFrames { path, what, found, max_frames } => {
                write!(f, "{} has {found} {what}, more than max_frames {max_frames}", path.display())
            }
        }
    }
}

impl SkipReason {
    /// Short name of the reason, for counts.
    pub fn kind(&self) -> &'static str {
        match self {
            SkipReason::BadRow(_) => "bad row",
            SkipReason::NotUtf8 { .. } => "not UTF-8",
            SkipReason::NoLabels => "no labels",
            SkipReason::UnknownLabels(_) => "only unknown labels",
            SkipReason::Duplicate { .. } => "duplicate name",
            SkipReason::MissingFeatureFile(_) => "missing feature file",
            SkipReason::UnreadableFeatureFile { .. } => "unreadable feature file",
            SkipReason::NoImageFrames(_) => "no image frames",
            SkipReason::NonFinite { .. } => "non-finite features",
            SkipReason::TooManyFrames { .. } => "too many frames",
            SkipReason::UnusableTitle(_) => "unusable title",
        }
    }
}

/// Why a feature file on disk could not be read (its row is skipped): the I/O error, shared so that a
/// [`SkipReason`] stays `Clone`, or the unpickler's.
#[derive(Clone, Debug, thiserror::Error)]
pub enum FeatureFileError {
    #[error(transparent)]
    Io(Arc<std::io::Error>),
    #[error(transparent)]
    Pickle(#[from] PickleError),
}

impl PartialEq for FeatureFileError {
    /// I/O errors have no equality of their own: the same kind and message count as equal.
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Io(a), Self::Io(b)) => a.kind() == b.kind() && a.to_string() == b.to_string(),
            (Self::Pickle(a), Self::Pickle(b)) => a == b,
            _ => false,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct SkippedRow {
    /// 1-based line in the split file.
    pub line: usize,
    pub name: String,
    pub reason: SkipReason,
}

/// What loading a split did besides producing videos.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LoadReport {
    /// The split file's name (`train.txt`).
    pub split: String,
    /// Non-blank rows in the split file.
    pub rows: usize,
    /// Every skipped row, in file order.
    pub skipped: Vec<SkippedRow>,
    /// Labels dropped from kept rows because class.txt lacks them: name -> occurrences.
    pub unknown_labels: BTreeMap<String, usize>,
    /// Videos whose empty audio track was replaced by zero rows.
    pub padded_audio: usize,
}

impl LoadReport {
    /// Skipped rows per reason kind.
    pub fn skip_counts(&self) -> BTreeMap<&'static str, usize> {
        let mut counts = BTreeMap::new();
        for row in &self.skipped {
            *counts.entry(row.reason.kind()).or_default() += 1;
        }
        counts
    }

    /// Rows skipped, as a share of the split's rows (0 for an empty split).
    pub fn unusable_share(&self) -> f64 {
        if self.rows == 0 {
            0.0
        } else {
            self.skipped.len() as f64 / self.rows as f64
        }
    }

    /// What loading did, as `mvt dataset` prints it (without the feature and label statistics): videos kept of
    /// rows, unknown labels dropped, skip counts per reason and the first 20 skipped rows with their reasons.
    pub fn summary(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for LoadReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (rows, skipped) = (self.rows, self.skipped.len());
        writeln!(f, "{}: {} videos from {rows} rows ({skipped} skipped)", self.split, rows - skipped)?;
        write_unknown_labels(f, self)?;
        write_skipped(f, self)
    }
}

fn write_unknown_labels(f: &mut fmt::Formatter<'_>, r: &LoadReport) -> fmt::Result {
    if !r.unknown_labels.is_empty() {
        let dropped: Vec<String> = r.unknown_labels.iter().map(|(l, n)| format!("{l} x{n}")).collect();
        writeln!(f, "  unknown labels dropped from kept rows: {}", dropped.join(", "))?;
    }
    Ok(())
}

/// The skip counts per reason and the first [`SHOWN_SKIPPED_ROWS`] skipped rows (nothing when none was skipped).
fn write_skipped(f: &mut fmt::Formatter<'_>, r: &LoadReport) -> fmt::Result {
    if !r.skipped.is_empty() {
        let counts: Vec<String> = r.skip_counts().iter().map(|(k, n)| format!("{k}: {n}")).collect();
        writeln!(f, "  skipped rows ({}):", counts.join(", "))?;
        for row in r.skipped.iter().take(SHOWN_SKIPPED_ROWS) {
            writeln!(f, "    line {} {}: {}", row.line, row.name, row.reason)?;
        }
        if r.skipped.len() > SHOWN_SKIPPED_ROWS {
            writeln!(f, "    ... and {} more", r.skipped.len() - SHOWN_SKIPPED_ROWS)?;
        }
    }
    Ok(())
}

#[derive(Clone, Debug)]
pub struct Dataset {
    pub classes: Vec<String>,
    pub videos: Vec<Video>,
    pub report: LoadReport,
}

/// class.txt: one name per line; a line `name\t<index>` gives its index explicitly, otherwise the index is the
/// line number (from 0). Indices must cover 0..n exactly once; trailing blank lines are ignored.
pub fn read_classes(path: &Path) -> Result<Vec<String>, DatasetError> {
    let text = read_text(path)?;
    let bad = |line: usize, msg: String| DatasetError::ClassFile { path: path.to_owned(), line, msg };
    let lines: Vec<&str> = text.lines().collect();
    let used = lines.iter().rposition(|l| !l.trim().is_empty()).map_or(0, |last| last + 1);
    let mut by_index: BTreeMap<usize, (String, usize)> = BTreeMap::new();
    let mut seen_names: HashMap<&str, usize> = HashMap::new();
    for (i, raw) in lines[..used].iter().enumerate() {
        let line = i + 1;
        let fields: Vec<&str> = raw.trim().split('\t').collect();
        let name = fields[0].trim();
        if name.is_empty() {
            return Err(bad(line, "blank class name (it would shift every later index)".into()));
        }
        let index = match fields[..] {
            [_] => i,
            [_, index] => {
                index.trim().parse().map_err(|_| bad(line, format!("class index {index:?} is not a number")))?
            }
            _ => return Err(bad(line, "expected `name` or `name<TAB>index`".into())),
        };
        if let Some(first) = seen_names.insert(name, line) {
            return Err(bad(line, format!("class {name:?} already on line {first}")));
        }
        if let Some((other, other_line)) = by_index.insert(index, (name.to_string(), line)) {
            return Err(bad(line, format!("index {index} already given to {other:?} on line {other_line}")));
        }
    }
    let count = by_index.len();
    if count == 0 {
        return Err(bad(0, "no classes".into()));
    }
    if let Some((&index, (name, line))) = by_index.iter().find(|(&index, _)| index >= count) {
        return Err(bad(
            *line,
            format!("index {index} of {name:?} leaves a gap: {count} classes need indices 0..{count}"),
        ));
    }
    Ok(by_index.into_values().map(|(name, _)| name).collect())
}

/// The original's feature file for a row name: the last `/` component up to its first `.`, plus `.pkl`.
pub fn feature_path(data_dir: &Path, name: &str) -> PathBuf {
    let file = name.rsplit('/').next().unwrap_or(name);
    let stem = file.split('.').next().unwrap_or(file);
    data_dir.join(FEATURE_DIR).join(format!("{stem}.pkl"))
}

/// A split-file row that passed the text rules and waits for its features.
struct Row {
    line: usize,
    name: String,
    title: String,
    labels: Vec<usize>,
}

/// Loads `data_dir/<split_file>` with its feature files and `data_dir/class.txt`.
pub fn load_split(data_dir: &Path, split_file: &str, opts: &LoadOptions) -> Result<Dataset, DatasetError> {
    let classes = read_classes(&data_dir.join("class.txt"))?;
    let class_index: HashMap<&str, usize> = classes.iter().enumerate().map(|(i, c)| (c.as_str(), i)).collect();
    let list = data_dir.join(split_file);
    let bytes = std::fs::read(&list).map_err(|source| DatasetError::Io { path: list.clone(), source })?;
    let mut report = LoadReport { split: split_file.to_string(), ..LoadReport::default() };
    let mut rows = Vec::new();
    let mut kept_lines: HashMap<String, usize> = HashMap::new();
    for (i, raw) in list_lines(&bytes).enumerate() {
        let line = i + 1;
        // One line that is not UTF-8 costs that row only (the original's Python would stop at it).
        let raw = match std::str::from_utf8(raw) {
            Ok(raw) if raw.trim().is_empty() => continue,
            Ok(raw) => raw,
            Err(_) => {
                report.rows += 1;
                let (field, error) = first_bad_field(raw);
                let name = String::from_utf8_lossy(raw.split(|&b| b == b'\t').next().unwrap_or(raw)).trim().into();
                report.skipped.push(SkippedRow { line, name, reason: SkipReason::NotUtf8 { field, error } });
                continue;
            }
        };
        report.rows += 1;
        let fields: Vec<&str> = raw.split('\t').collect();
        let name = fields[0].trim().to_string();
        let mut skip = |reason| report.skipped.push(SkippedRow { line, name: name.clone(), reason });
        if name.is_empty() {
            skip(SkipReason::BadRow("empty name".into()));
            continue;
        }
        if fields.iter().skip(3).any(|f| !f.trim().is_empty()) {
            skip(SkipReason::BadRow(format!("{} tab-separated fields, expected at most 3", fields.len())));
            continue;
        }
        // The original checks names against the rows it kept before looking at labels.
        if let Some(&first_line) = kept_lines.get(&name) {
            skip(SkipReason::Duplicate { first_line });
            continue;
        }
        let title = fields.get(1).map_or("", |t| t.trim()).to_string();
        let mut labels = Vec::new();
        let mut unknown = Vec::new();
        for label in fields.get(2).map_or("", |l| l.trim()).split(',').map(str::trim).filter(|l| !l.is_empty()) {
            match class_index.get(label) {
                Some(&index) if !labels.contains(&index) => labels.push(index),
                Some(_) => {}
                None => unknown.push(label.to_string()),
            }
        }
        if labels.is_empty() && !opts.keep_unlabeled {
            skip(if unknown.is_empty() { SkipReason::NoLabels } else { SkipReason::UnknownLabels(unknown) });
            continue;
        }
        for label in unknown {
            *report.unknown_labels.entry(label).or_default() += 1;
        }
        kept_lines.insert(name.clone(), line);
        rows.push(Row { line, name, title, labels });
    }

    let mut videos = Vec::with_capacity(rows.len());
    for (row, loaded) in rows.iter().zip(read_features(data_dir, &rows, opts)) {
        match loaded? {
            Ok((rgb, audio, padded)) => {
                report.padded_audio += usize::from(padded);
                videos.push(Video {
                    line: row.line,
                    name: row.name.clone(),
                    title: row.title.clone(),
                    labels: row.labels.clone(),
                    rgb,
                    audio,
                });
            }
            Err(reason) => report.skipped.push(SkippedRow { line: row.line, name: row.name.clone(), reason }),
        }
    }
    report.skipped.sort_by_key(|s| s.line);
    Ok(Dataset { classes, videos, report })
}

/// The lines of a list file's bytes, without their line ends ("\n" or "\r\n") and without a leading byte order
/// mark, as `str::lines` gives them.
fn list_lines(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    let bytes = bytes.strip_prefix("\u{feff}".as_bytes()).unwrap_or(bytes);
    let bytes = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    bytes.split(|&b| b == b'\n').map(|line| line.strip_suffix(b"\r").unwrap_or(line))
}

/// The first tab-separated field of a line that is not UTF-8 (a tab is never part of a multi-byte sequence).
fn first_bad_field(line: &[u8]) -> (&'static str, std::str::Utf8Error) {
    let mut fields =
        line.split(|&b| b == b'\t').zip(["name", "title", "labels"].into_iter().chain(std::iter::repeat("field")));
    fields
        .find_map(|(field, what)| std::str::from_utf8(field).err().map(|e| (what, e)))
        .unwrap_or_else(|| ("line", std::str::from_utf8(line).unwrap_err()))
}

/// A row's features, or why it is skipped; a width that contradicts the configuration is an error.
type Features = Result<Result<(Array2<f32>, Array2<f32>, bool), SkipReason>, DatasetError>;

/// Reads the rows' feature files on all cores (decoding dominates), keeping row order.
fn read_features(data_dir: &Path, rows: &[Row], opts: &LoadOptions) -> Vec<Features> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(rows.len().max(1));
    let chunk = rows.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let workers: Vec<_> = rows
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    part.iter().map(|row| read_one(&feature_path(data_dir, &row.name), opts)).collect::<Vec<_>>()
                })
            })
            .collect();
        workers.into_iter().flat_map(|w| w.join().expect("feature reader thread panicked")).collect()
    })
}

fn read_one(path: &Path, opts: &LoadOptions) -> Features {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Err(SkipReason::MissingFeatureFile(path.to_owned())))
        }
        Err(e) => {
            let error = FeatureFileError::Io(Arc::new(e));
            return Ok(Err(SkipReason::UnreadableFeatureFile { path: path.to_owned(), error }));
        }
    };
    let file = match read_feature_file(&bytes) {
        Ok(file) => file,
        Err(e) => return Ok(Err(SkipReason::UnreadableFeatureFile { path: path.to_owned(), error: e.into() })),
    };
    if file.rgb.nrows() == 0 {
        return Ok(Err(SkipReason::NoImageFrames(path.to_owned())));
    }
    let check = |feature, found: usize, expected| {
        if found == expected {
            Ok(())
        } else {
            Err(DatasetError::FeatureDim { path: path.to_owned(), feature, found, expected })
        }
    };
    check("image", file.rgb.ncols(), opts.rgb_dim)?;
    let padded = file.audio.nrows() == 0;
    if !padded {
        check("audio", file.audio.ncols(), opts.audio_dim)?;
    }
    if let Some(reason) = non_finite(path, "image", &file.rgb).or_else(|| non_finite(path, "audio", &file.audio)) {
        return Ok(Err(reason));
    }
    if let Some(max_frames) = opts.max_frames {
        let over = [("image frames", file.rgb.nrows()), ("audio segments", file.audio.nrows())]
            .into_iter()
            .find(|&(_, found)| found > max_frames);
        if let Some((what, found)) = over {
            return Ok(Err(SkipReason::TooManyFrames { path: path.to_owned(), what, found, max_frames }));
        }
    }
    Ok(Ok((file.rgb, pad_empty_audio(file.audio, opts.audio_dim), padded)))
}

/// The first NaN or infinite value of `features`, as a skip reason naming the file, the frame and the column.
fn non_finite(path: &Path, what: &'static str, features: &Array2<f32>) -> Option<SkipReason> {
    let ((frame, column), &value) = features.indexed_iter().find(|(_, v)| !v.is_finite())?;
    let value = if value.is_nan() {
        "NaN"
    } else if value > 0.0 {
        "inf"
    } else {
        "-inf"
    };
    Some(SkipReason::NonFinite { path: path.to_owned(), what, frame, column, value })
}

fn read_text(path: &Path) -> Result<String, DatasetError> {
    let io = |source| DatasetError::Io { path: path.to_owned(), source };
    let bytes = std::fs::read(path).map_err(io)?;
    let text = String::from_utf8(bytes)
        .map_err(|e| io(std::io::Error::new(std::io::ErrorKind::InvalidData, NotUtf8(e.utf8_error()))))?;
    Ok(text.strip_prefix('\u{feff}').map(str::to_string).unwrap_or(text))
}

/// A text file that is not UTF-8: the message of [`DatasetError::Io`] (kind `InvalidData`), the decoding error its
/// source.
#[derive(Debug, thiserror::Error)]
#[error("not UTF-8: {0}")]
struct NotUtf8(#[source] std::str::Utf8Error);

/// Counts and distributions of a loaded split, printed by `mvt dataset`.
#[derive(Clone, Debug)]
pub struct Summary {
    pub report: LoadReport,
    pub classes: Vec<String>,
    pub videos: usize,
    pub rgb_dim: Option<usize>,
    pub audio_dim: Option<usize>,
    /// (min, mean, max) image frames per video.
    pub frames: Option<(usize, f64, usize)>,
    /// (min, mean, max) audio segments per video (after padding).
    pub segments: Option<(usize, f64, usize)>,
    pub empty_titles: usize,
    /// Videos per class, by class index.
    pub label_counts: Vec<usize>,
    /// Videos per number of labels: labels -> videos.
    pub labels_per_video: BTreeMap<usize, usize>,
}

impl Dataset {
    pub fn summary(&self) -> Summary {
        let stats = |lengths: Vec<usize>| {
            let (min, max) = (lengths.iter().min()?, lengths.iter().max()?);
            Some((*min, lengths.iter().sum::<usize>() as f64 / lengths.len() as f64, *max))
        };
        let mut label_counts = vec![0; self.classes.len()];
        let mut labels_per_video = BTreeMap::new();
        for video in &self.videos {
            for &label in &video.labels {
                label_counts[label] += 1;
            }
            *labels_per_video.entry(video.labels.len()).or_default() += 1;
        }
        Summary {
            report: self.report.clone(),
            classes: self.classes.clone(),
            videos: self.videos.len(),
            rgb_dim: self.videos.first().map(|v| v.rgb.ncols()),
            audio_dim: self.videos.first().map(|v| v.audio.ncols()),
            frames: stats(self.videos.iter().map(|v| v.rgb.nrows()).collect()),
            segments: stats(self.videos.iter().map(|v| v.audio.nrows()).collect()),
            empty_titles: self.videos.iter().filter(|v| v.title.is_empty()).count(),
            label_counts,
            labels_per_video,
        }
    }
}

/// How many skipped rows `Summary` prints one by one (the rest are counted).
const SHOWN_SKIPPED_ROWS: usize = 20;

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = &self.report;
        writeln!(
            f,
            "{}: {} videos from {} rows ({} skipped), {} classes",
            r.split,
            self.videos,
            r.rows,
            r.skipped.len(),
            self.classes.len()
        )?;
        let dim = |d: Option<usize>| d.map_or("-".to_string(), |d| d.to_string());
        let lengths = |s: Option<(usize, f64, usize)>| {
            s.map_or("-".to_string(), |(min, mean, max)| format!("min {min}, mean {mean:.1}, max {max}"))
        };
        writeln!(f, "  image features: {}-d, frames per video: {}", dim(self.rgb_dim), lengths(self.frames))?;
        writeln!(
            f,
            "  audio features: {}-d, segments per video: {} ({} empty tracks padded with {EMPTY_AUDIO_FRAMES} zero rows)",
            dim(self.audio_dim),
            lengths(self.segments),
            r.padded_audio
        )?;
        writeln!(f, "  titles: {} empty of {}", self.empty_titles, self.videos)?;
        let per_video: Vec<String> = self.labels_per_video.iter().map(|(n, v)| format!("{n} label(s): {v}")).collect();
        writeln!(f, "  labels per video: {}", per_video.join(", "))?;
        write_unknown_labels(f, r)?;
        writeln!(f, "  label histogram (videos per class):")?;
        let widest = self.label_counts.iter().copied().max().unwrap_or(0).max(1);
        for (name, &count) in self.classes.iter().zip(&self.label_counts) {
            let bar = "#".repeat((count * 40).div_ceil(widest));
            writeln!(f, "    {count:>6} {bar:<40} {name}")?;
        }
        write_skipped(f, r)
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error;

    use super::*;

    #[test]
    fn causes_are_kept() {
        let path = std::env::temp_dir().join(format!("mvt-formats-not-utf8-{}.txt", std::process::id()));
        std::fs::write(&path, b"a\xffb").unwrap();
        let err = read_text(&path).unwrap_err();
        std::fs::remove_file(&path).unwrap();
        let message =
            format!("cannot read {}: not UTF-8: invalid utf-8 sequence of 1 bytes from index 1", path.display());
        assert_eq!(err.to_string(), message);
        let io = err.source().and_then(|e| e.downcast_ref::<std::io::Error>()).expect("an io::Error source");
        assert_eq!(io.kind(), std::io::ErrorKind::InvalidData);
        assert!(io.source().is_some_and(|e| e.is::<std::str::Utf8Error>()));

        let pickle = FeatureFileError::from(read_feature_file(b"\x80\x03N.").unwrap_err());
        assert!(matches!(pickle, FeatureFileError::Pickle(PickleError::NotFeatureFile(_))));
        assert_eq!(pickle.to_string(), "not a feature file: the top level is a None, not a dict");
    }

    #[test]
    fn non_finite_features_name_the_file_frame_and_column() {
        let path = Path::new("feature_files/a.pkl");
        let mut rgb = Array2::<f32>::zeros((3, 4));
        assert_eq!(non_finite(path, "image", &rgb), None);
        rgb[[2, 1]] = f32::NEG_INFINITY;
        rgb[[1, 3]] = f32::NAN;
        let reason = non_finite(path, "image", &rgb).unwrap();
        let expected =
            SkipReason::NonFinite { path: path.to_owned(), what: "image", frame: 1, column: 3, value: "NaN" };
        assert_eq!(reason, expected);
        assert_eq!(reason.kind(), "non-finite features");
        assert_eq!(
            reason.to_string(),
            "features not finite in feature_files/a.pkl: image feature at frame 1, column 3 is NaN"
        );
        let audio = Array2::from_elem((1, 2), f32::INFINITY);
        assert!(non_finite(path, "audio", &audio)
            .unwrap()
            .to_string()
            .ends_with("audio feature at frame 0, column 0 is inf"));
    }

    #[test]
    fn the_load_report_summary_counts_and_lists_the_skipped_rows() {
        let skipped = |line, reason| SkippedRow { line, name: format!("v{line}.mp4"), reason };
        let mut report = LoadReport {
            split: "train.txt".into(),
            rows: 40,
            skipped: vec![skipped(2, SkipReason::NoLabels)],
            ..LoadReport::default()
        };
        report
            .skipped
            .extend((3..=24).map(|line| skipped(line, SkipReason::MissingFeatureFile(format!("v{line}.pkl").into()))));
        report.unknown_labels.insert("cats".into(), 2);
        assert_eq!(report.unusable_share(), 23.0 / 40.0);
        let text = report.summary();
        assert!(text.starts_with("train.txt: 17 videos from 40 rows (23 skipped)\n"), "{text}");
        for expected in [
            "  unknown labels dropped from kept rows: cats x2\n",
            "  skipped rows (missing feature file: 22, no labels: 1):\n",
            "    line 2 v2.mp4: no labels\n",
            "    line 21 v21.mp4: missing feature file v21.pkl\n",
            "    ... and 3 more\n",
        ] {
            assert!(text.contains(expected), "{expected:?} not in:\n{text}");
        }
        assert!(!text.contains("line 22 "), "{text}");
        assert_eq!(LoadReport::default().unusable_share(), 0.0);
    }
}
