//! The safe Rust API: load an mvt model file once, tag batches of videos from any number of threads.
//!
//! [`Model::predict`] applies the trainer's input rules (empty audio -> zero rows, titles through the model file's
//! tokenizer, mixed lengths zero-padded: padding never changes a result, docs/model.md) and checks every input
//! before any work, so a bad video fails the call with its index and position instead of producing garbage.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};

use ndarray::ArrayView2;
use ort::session::builder::PrepackedWeights;
use ort::session::Session;
use ort::value::Tensor;

use crate::error::MvtError;
use mvt_formats::model_file::{read_model_metadata, ModelFileError, ModelMetadata};
use crate::onnxruntime::{runtime, Device, Provider, Runtime};
use mvt_formats::tokenizer::TitleTokenizer;

/// How to load and run a model. `Options::default()` suits a CPU service.
#[derive(Clone, Debug)]
pub struct Options {
    /// libonnxruntime to load (else `MVT_ORT_LIB`, next to libmvt.so, the project's .venv; see `runtime`).
    pub ort_library: Option<PathBuf>,
    pub device: Device,
    /// ONNX Runtime sessions in the pool: how many `predict` calls run at the same time (>= 1).
    pub sessions: usize,
    /// Threads each session uses inside an operator; 0 lets ONNX Runtime choose (one per core).
    pub intra_threads: usize,
    /// Videos per ONNX Runtime run; larger batches are processed in chunks of this size (>= 1).
    pub batch_size: usize,
    /// Most image frames or audio segments a video may have (>= 1): a guard against a wrong frame count that would
    /// make the padded batch huge.
    pub max_frames: usize,
    /// Tag threshold on the probabilities; `None` uses the model file's.
    pub threshold: Option<f64>,
    /// How many best classes each prediction lists in `top_k` (0: none).
    pub top_k: usize,
}

/// Default pool: up to 4 sessions, the cores split between them, so concurrent calls do not oversubscribe the CPU.
fn default_pool() -> (usize, usize) {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let sessions = cores.clamp(1, 4);
    (sessions, (cores / sessions).max(1))
}

impl Default for Options {
    fn default() -> Self {
        let (sessions, intra_threads) = default_pool();
        Options {
            ort_library: None,
            device: Device::Cpu,
            sessions,
            intra_threads,
            batch_size: 64,
            max_frames: 3600,
            threshold: None,
            top_k: 0,
        }
    }
}

/// One video to tag, borrowed from the caller.
#[derive(Clone, Copy, Debug)]
pub struct VideoInput<'a> {
    /// Image features, one row per frame: [frames, rgb_dim], at least one frame.
    pub rgb: ArrayView2<'a, f32>,
    /// Audio features, one row per segment: [segments, audio_dim]. Zero segments means "no audio" and becomes the
    /// model file's `empty_audio_frames` zero rows, as in training.
    pub audio: ArrayView2<'a, f32>,
    /// The video's title (may be empty).
    pub title: &'a str,
}

/// A class with its probability.
#[derive(Clone, Debug, PartialEq)]
pub struct Tag {
    pub name: String,
    pub index: usize,
    pub score: f32,
}

/// What the model says about one video.
#[derive(Clone, Debug, PartialEq)]
pub struct Prediction {
    /// One probability per class, in the model's class order.
    pub probabilities: Vec<f32>,
    /// Classes with probability >= threshold, best first (ties: lower index first).
    pub tags: Vec<Tag>,
    /// The `top_k` best classes whatever their probability, best first (empty when `top_k` is 0).
    pub top_k: Vec<Tag>,
    /// Attention over the video's frames (sums to 1 over the image branch; empty when the branch is off).
    pub rgb_attention: Vec<f32>,
    /// Attention over the audio segments the model saw (for a video without audio, its zero rows).
    pub audio_attention: Vec<f32>,
}

/// A loaded model: metadata, tokenizer and a pool of ONNX Runtime sessions. `Send + Sync`: share it by reference
/// or `Arc` between threads.
pub struct Model {
    path: PathBuf,
    meta: ModelMetadata,
    tokenizer: TitleTokenizer,
    runtime: &'static Runtime,
    sessions: Vec<Mutex<Session>>,
    next_session: AtomicUsize,
    provider: Provider,
    threshold: f64,
    top_k: usize,
    batch_size: usize,
    max_frames: usize,
}

impl Model {
    /// Read and check the model file, find ONNX Runtime, and create the session pool.
    pub fn load(path: &Path, options: &Options) -> Result<Model, MvtError> {
        check_options(options)?;
        let meta = read_model_metadata(path).map_err(|e| model_file_error(path, e))?;
        let tokenizer = TitleTokenizer::from_json(&meta.tokenizer_json).map_err(|e| MvtError::ModelMetadata {
            path: path.to_path_buf(),
            message: format!("the embedded tokenizer does not load: {e}"),
        })?;
        if tokenizer.max_len() != meta.text_max_len {
            return Err(MvtError::ModelMetadata {
                path: path.to_path_buf(),
                message: format!(
                    "the tokenizer truncates to {} tokens but the model says text_max_len {}",
                    tokenizer.max_len(),
                    meta.text_max_len
                ),
            });
        }
        let runtime = runtime(options.ort_library.as_deref())?;
        let bytes = std::fs::read(path)
            .map_err(|e| MvtError::ModelFile { path: path.to_path_buf(), message: e.to_string() })?;
        // Every session of the pool shares one container, so weights ONNX Runtime pre-packs exist once.
        let prepacked = PrepackedWeights::new();
        let mut sessions = Vec::with_capacity(options.sessions);
        let mut provider = Provider::Cpu;
        // Later sessions must run where the first one landed (`auto` must not mix CUDA and CPU sessions).
        let mut device = options.device;
        for _ in 0..options.sessions {
            let (session, used) =
                runtime.session(&bytes, device, options.intra_threads, &prepacked).map_err(|e| match e {
                    MvtError::Inference(message) => MvtError::ModelFile { path: path.to_path_buf(), message },
                    other => other,
                })?;
            provider = used;
            device = match used {
                Provider::Cpu => Device::Cpu,
                Provider::Cuda { device_id } => Device::Cuda { device_id },
            };
            sessions.push(Mutex::new(session));
        }
        Ok(Model {
            path: path.to_path_buf(),
            threshold: options.threshold.unwrap_or(meta.threshold),
            meta,
            tokenizer,
            runtime,
            sessions,
            next_session: AtomicUsize::new(0),
            provider,
            top_k: options.top_k,
            batch_size: options.batch_size,
            max_frames: options.max_frames,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The model file's metadata (classes, dims, tokenizer, config, provenance).
    pub fn metadata(&self) -> &ModelMetadata {
        &self.meta
    }

    pub fn classes(&self) -> &[String] {
        &self.meta.classes
    }

    /// The threshold tags are cut at (the option's, else the model file's).
    pub fn threshold(&self) -> f64 {
        self.threshold
    }

    /// The execution provider the sessions run on.
    pub fn provider(&self) -> Provider {
        self.provider
    }

    pub fn runtime(&self) -> &'static Runtime {
        self.runtime
    }

    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    pub fn tokenizer(&self) -> &TitleTokenizer {
        &self.tokenizer
    }

    /// Tag `videos`; one prediction per video, in order. Checks all inputs first; fails as a whole.
    pub fn predict(&self, videos: &[VideoInput<'_>]) -> Result<Vec<Prediction>, MvtError> {
        for (index, video) in videos.iter().enumerate() {
            self.check_video(index, video)?;
        }
        let mut predictions = Vec::with_capacity(videos.len());
        for chunk in videos.chunks(self.batch_size) {
            predictions.extend(self.predict_chunk(chunk)?);
        }
        Ok(predictions)
    }

    /// Videos per ONNX Runtime run (`Options::batch_size`).
    pub fn batch_size(&self) -> usize {
        self.batch_size
    }

    /// The most frames or segments a video may have (`Options::max_frames`).
    pub fn max_frames(&self) -> usize {
        self.max_frames
    }

    /// Fails when `what` ("image" or "audio") has too many rows, or the image has none.
    pub fn check_frame_count(&self, video: usize, what: &str, rows: usize) -> Result<(), MvtError> {
        if rows > self.max_frames {
            return Err(MvtError::FrameCount {
                video,
                message: format!("{rows} {what} frames, more than max_frames {}", self.max_frames),
            });
        }
        if rows == 0 && what == "image" {
            return Err(MvtError::FrameCount { video, message: "no image frames (at least one is required)".into() });
        }
        Ok(())
    }

    fn check_video(&self, video: usize, input: &VideoInput<'_>) -> Result<(), MvtError> {
        for (what, features, expected) in
            [("image", &input.rgb, self.meta.rgb_dim), ("audio", &input.audio, self.meta.audio_dim)]
        {
            let rows = features.nrows();
            self.check_frame_count(video, what, rows)?;
            // An empty audio track carries no width to check.
            if rows > 0 && features.ncols() != expected {
                return Err(MvtError::Dimension { video, what, got: features.ncols(), expected });
            }
            if let Some(((frame, column), &value)) = features.indexed_iter().find(|(_, v)| !v.is_finite()) {
                return Err(MvtError::NonFinite { video, what, frame, column, value });
            }
        }
        Ok(())
    }

    /// Run one padded batch through a free session.
    fn predict_chunk(&self, videos: &[VideoInput<'_>]) -> Result<Vec<Prediction>, MvtError> {
        let batch = videos.len();
        let (rgb_dim, audio_dim) = (self.meta.rgb_dim, self.meta.audio_dim);
        let rgb_lens: Vec<usize> = videos.iter().map(|v| v.rgb.nrows()).collect();
        let audio_lens: Vec<usize> = videos
            .iter()
            .map(|v| if v.audio.nrows() == 0 { self.meta.empty_audio_frames } else { v.audio.nrows() })
            .collect();
        let t1 = rgb_lens.iter().copied().max().unwrap_or(1);
        let t2 = audio_lens.iter().copied().max().unwrap_or(1);
        let rgb = pad(videos.iter().map(|v| v.rgb), t1, rgb_dim);
        // An empty track stays all zeros in its padded slot: exactly the `empty_audio_frames` zero rows.
        let audio = pad(videos.iter().map(|v| v.audio), t2, audio_dim);
        let titles: Vec<&str> = videos.iter().map(|v| v.title).collect();
        let (ids, mask, text_len) =
            self.tokenizer.encode_batch(&titles).map_err(|e| MvtError::Internal(format!("tokenizing titles: {e}")))?;

        let tensor_error = |e: ort::Error| MvtError::Internal(format!("building an input tensor: {e}"));
        let as_i64 = |v: &[usize]| v.iter().map(|&n| n as i64).collect::<Vec<i64>>();
        let (b, t1_, t2_, l) = (batch as i64, t1 as i64, t2 as i64, text_len as i64);
        let inputs = ort::inputs![
            "rgb" => Tensor::from_array(([b, t1_, rgb_dim as i64], rgb)).map_err(tensor_error)?,
            "rgb_len" => Tensor::from_array(([b], as_i64(&rgb_lens))).map_err(tensor_error)?,
            "audio" => Tensor::from_array(([b, t2_, audio_dim as i64], audio)).map_err(tensor_error)?,
            "audio_len" => Tensor::from_array(([b], as_i64(&audio_lens))).map_err(tensor_error)?,
            "text_ids" => Tensor::from_array(([b, l], ids)).map_err(tensor_error)?,
            "text_mask" => Tensor::from_array(([b, l], mask)).map_err(tensor_error)?,
        ];

        let mut session = self.free_session();
        let outputs = session.run(inputs).map_err(|e| MvtError::Inference(e.to_string()))?;
        let output = |name: &str, width: usize| -> Result<Vec<f32>, MvtError> {
            let value =
                outputs.get(name).ok_or_else(|| MvtError::Inference(format!("the model has no `{name}` output")))?;
            let (shape, data) =
                value.try_extract_tensor::<f32>().map_err(|e| MvtError::Inference(format!("output `{name}`: {e}")))?;
            if **shape != [batch as i64, width as i64] {
                return Err(MvtError::Inference(format!(
                    "output `{name}` has shape {shape:?}, expected [{batch}, {width}]"
                )));
            }
            Ok(data.to_vec())
        };
        let classes = self.meta.classes.len();
        let probs = output("probs", classes)?;
        let rgb_attention = output("rgb_attention", t1)?;
        let audio_attention = output("audio_attention", t2)?;
        drop(outputs);
        drop(session);

        Ok((0..batch)
            .map(|i| {
                let probabilities = probs[i * classes..(i + 1) * classes].to_vec();
                Prediction {
                    tags: self.tags_above_threshold(&probabilities),
                    top_k: self.best(&probabilities, self.top_k),
                    rgb_attention: rgb_attention[i * t1..i * t1 + rgb_lens[i]].to_vec(),
                    audio_attention: audio_attention[i * t2..i * t2 + audio_lens[i]].to_vec(),
                    probabilities,
                }
            })
            .collect())
    }

    /// A session nobody is using, else (all busy) the next in turn, waited for.
    fn free_session(&self) -> MutexGuard<'_, Session> {
        let start = self.next_session.fetch_add(1, Ordering::Relaxed);
        let n = self.sessions.len();
        for k in 0..n {
            if let Ok(guard) = self.sessions[(start + k) % n].try_lock() {
                return guard;
            }
        }
        // A session poisoned by a panic mid-run holds no broken state of ours: ONNX Runtime runs are independent.
        self.sessions[start % n].lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn tags_above_threshold(&self, probabilities: &[f32]) -> Vec<Tag> {
        let mut tags: Vec<Tag> = probabilities
            .iter()
            .enumerate()
            .filter(|(_, &p)| f64::from(p) >= self.threshold)
            .map(|(index, &score)| self.tag(index, score))
            .collect();
        sort_best_first(&mut tags);
        tags
    }

    fn best(&self, probabilities: &[f32], k: usize) -> Vec<Tag> {
        let mut all: Vec<Tag> =
            probabilities.iter().enumerate().map(|(index, &score)| self.tag(index, score)).collect();
        sort_best_first(&mut all);
        all.truncate(k);
        all
    }

    fn tag(&self, index: usize, score: f32) -> Tag {
        Tag { name: self.meta.classes[index].clone(), index, score }
    }
}

fn sort_best_first(tags: &mut [Tag]) {
    tags.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.index.cmp(&b.index)));
}

/// Row-major [videos, frames, width] with each video's rows first and zeros after.
fn pad<'a>(features: impl Iterator<Item = ArrayView2<'a, f32>>, frames: usize, width: usize) -> Vec<f32> {
    let mut out = Vec::new();
    for video in features {
        let start = out.len();
        out.extend(video.iter().copied());
        out.resize(start + frames * width, 0.0);
    }
    out
}

fn check_options(options: &Options) -> Result<(), MvtError> {
    let invalid = |m: String| Err(MvtError::InvalidArgument(m));
    if options.sessions == 0 {
        return invalid("sessions must be at least 1".into());
    }
    if options.batch_size == 0 {
        return invalid("batch_size must be at least 1".into());
    }
    if options.max_frames == 0 {
        return invalid("max_frames must be at least 1".into());
    }
    if let Some(t) = options.threshold {
        if !(0.0..=1.0).contains(&t) {
            return invalid(format!("threshold {t} is outside [0, 1]"));
        }
    }
    Ok(())
}

fn model_file_error(path: &Path, error: ModelFileError) -> MvtError {
    let path = path.to_path_buf();
    let message = error.to_string();
    match error {
        ModelFileError::Onnx(_) => MvtError::ModelFile { path, message },
        _ => MvtError::ModelMetadata { path, message },
    }
}

/// The original inference's output.json: `[{"video_id": ..., "labels": [[name, score], ...]}, ...]`, written as
/// Python's `json.dump(..., ensure_ascii=False, indent=4)` writes it (so files compare byte for byte). Each entry's
/// labels are listed in the order given (the original: [`Prediction::labels_in_class_order`]).
pub fn inference_json<'a>(entries: impl IntoIterator<Item = (&'a str, Vec<&'a Tag>)>) -> String {
    let mut out = String::from("[");
    let mut first = true;
    for (video_id, labels) in entries {
        out.push_str(if first { "\n    {" } else { ",\n    {" });
        first = false;
        out.push_str(&format!("\n        \"video_id\": {},\n        \"labels\": ", json_string(video_id)));
        if labels.is_empty() {
            out.push_str("[]");
        } else {
            out.push('[');
            for (k, tag) in labels.iter().enumerate() {
                out.push_str(if k == 0 { "\n            [" } else { ",\n            [" });
                out.push_str(&format!(
                    "\n                {},\n                {}\n            ]",
                    json_string(&tag.name),
                    python_float_repr(f64::from(tag.score))
                ));
            }
            out.push_str("\n        ]");
        }
        out.push_str("\n    }");
    }
    out.push_str(if first { "]" } else { "\n]" });
    out
}

impl Prediction {
    /// The tags (classes at or above the threshold) in class order, as the original's output.json lists them.
    pub fn labels_in_class_order(&self) -> Vec<&Tag> {
        let mut labels: Vec<&Tag> = self.tags.iter().collect();
        labels.sort_by_key(|t| t.index);
        labels
    }
}

/// A JSON string literal with non-ASCII left as is (`ensure_ascii=False`); serde_json escapes exactly the
/// characters Python's encoder does (quote, backslash, control characters).
fn json_string(text: &str) -> String {
    serde_json::to_string(text).expect("a string serializes to JSON")
}

/// Python's `repr(float)`: the shortest digits that round-trip, fixed notation for 1e-4 <= |x| < 1e16, else
/// `d.ddde-05` style; integral values keep a `.0`.
pub fn python_float_repr(x: f64) -> String {
    if x.is_nan() {
        return "NaN".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "Infinity".into() } else { "-Infinity".into() };
    }
    if x == 0.0 {
        return if x.is_sign_negative() { "-0.0".into() } else { "0.0".into() };
    }
    // Rust's `{:e}` prints the shortest round-trip digits: "-6.376440525054932e-1".
    let scientific = format!("{:e}", x.abs());
    let (mantissa, exponent) = scientific.split_once('e').expect("`{:e}` output has an exponent");
    let exponent: i32 = exponent.parse().expect("`{:e}` exponent is an integer");
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let sign = if x < 0.0 { "-" } else { "" };
    let body = if (-4..16).contains(&exponent) {
        let point = exponent + 1; // digits before the decimal point
        if point <= 0 {
            format!("0.{}{digits}", "0".repeat((-point) as usize))
        } else if (point as usize) >= digits.len() {
            format!("{digits}{}.0", "0".repeat(point as usize - digits.len()))
        } else {
            format!("{}.{}", &digits[..point as usize], &digits[point as usize..])
        }
    } else {
        let (head, tail) = digits.split_at(1);
        let fraction = if tail.is_empty() { String::new() } else { format!(".{tail}") };
        format!("{head}{fraction}e{}{:02}", if exponent < 0 { '-' } else { '+' }, exponent.abs())
    };
    format!("{sign}{body}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_print_like_python_repr() {
        for (x, python) in [
            (0.6376440525054932, "0.6376440525054932"),
            (f64::from(0.5f32), "0.5"),
            (1.0, "1.0"),
            (0.0001, "0.0001"),
            (0.00001234, "1.234e-05"),
            (1e16, "1e+16"),
            (123456789012345.6, "123456789012345.6"),
            (-2.5e-7, "-2.5e-07"),
            (100.0, "100.0"),
        ] {
            assert_eq!(python_float_repr(x), python, "{x}");
        }
    }

    #[test]
    fn inference_json_matches_pythons_indented_layout() {
        let tag = |name: &str, index, score| Tag { name: name.into(), index, score };
        let prediction = Prediction {
            probabilities: vec![0.75, 0.1, 0.5],
            tags: vec![tag("b-\"x\"", 2, 0.75), tag("游戏-沙盒", 0, 0.5)],
            top_k: vec![],
            rgb_attention: vec![],
            audio_attention: vec![],
        };
        let empty = Prediction { tags: vec![], ..prediction.clone() };
        let json = inference_json([("v1", prediction.labels_in_class_order()), ("v2", empty.labels_in_class_order())]);
        let expected = "[\n    {\n        \"video_id\": \"v1\",\n        \"labels\": [\n            [\n                \"游戏-沙盒\",\n                0.5\n            ],\n            [\n                \"b-\\\"x\\\"\",\n                0.75\n            ]\n        ]\n    },\n    {\n        \"video_id\": \"v2\",\n        \"labels\": []\n    }\n]";
        assert_eq!(json, expected);
        assert_eq!(inference_json([]), "[]");
    }
}
