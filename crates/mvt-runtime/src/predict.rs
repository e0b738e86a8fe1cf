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

use mvt_formats::model_file::{keys, model_metadata_from_bytes, ModelFileError, ModelMetadata};
use mvt_formats::onnx::read_file;
use mvt_formats::tokenizer::{TitleTokenizer, TokenizerError};

use crate::error::MvtError;
use crate::onnxruntime::{runtime, Device, Provider, Runtime};

/// How to load and run a model. `Options::default()` suits a CPU service.
#[derive(Clone, Debug)]
pub struct Options {
    /// libonnxruntime to load (else `MVT_ORT_LIB`, next to libmvt.so, the project's .venv; see `runtime`).
    pub ort_library: Option<PathBuf>,
    pub device: Device,
    /// ONNX Runtime sessions in the pool: how many `predict` calls run at the same time (1 to
    /// [`limits::MAX_SESSIONS`]).
    pub sessions: usize,
    /// Threads each session uses inside an operator; 0 lets ONNX Runtime choose (one per core). At most
    /// [`limits::MAX_INTRA_THREADS`].
    pub intra_threads: usize,
    /// Videos per ONNX Runtime run; larger batches are processed in chunks of this size (1 to
    /// [`limits::MAX_BATCH_SIZE`]).
    pub batch_size: usize,
    /// Most image frames or audio segments a video may have (1 to [`limits::MAX_FRAMES`]): a guard against a wrong
    /// frame count that would make the padded batch huge.
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
        // Read once (bounded: a regular file within the size limit): the metadata is checked on the same bytes
        // every session is then built from.
        let bytes = read_file(path).map_err(|e| model_file_error(path, e.into()))?;
        let meta =
            model_metadata_from_bytes(&bytes, &path.display().to_string()).map_err(|e| model_file_error(path, e))?;
        // The tokenizer is checked against the metadata by the same function `mvt info` relies on.
        let tokenizer = meta.tokenizer().map_err(|e| model_file_error(path, e))?;
        if meta.empty_audio_frames > options.max_frames {
            return Err(MvtError::ModelMetadata {
                path: path.to_path_buf(),
                message: format!(
                    "`{}` is {}, more than max_frames {}: every video without audio would exceed the frame limit",
                    keys::EMPTY_AUDIO_FRAMES,
                    meta.empty_audio_frames,
                    options.max_frames
                ),
            });
        }
        let runtime = runtime(options.ort_library.as_deref())?;
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

    /// Tag `videos`; one prediction per video, in order. Checks all inputs (titles included) first; fails as a
    /// whole.
    pub fn predict(&self, videos: &[VideoInput<'_>]) -> Result<Vec<Prediction>, MvtError> {
        for (index, video) in videos.iter().enumerate() {
            self.check_video(index, video)?;
        }
        let title_ids = videos
            .iter()
            .enumerate()
            .map(|(index, video)| self.title_ids(video.title, &format!("video {index}: the title")))
            .collect::<Result<Vec<_>, _>>()?;
        let mut predictions = Vec::with_capacity(videos.len());
        for (chunk, ids) in videos.chunks(self.batch_size).zip(title_ids.chunks(self.batch_size)) {
            predictions.extend(self.predict_chunk(chunk, ids)?);
        }
        Ok(predictions)
    }

    /// The ids the model gives a title ([`TitleTokenizer::encode`]); a title the tokenizer refuses (its word
    /// pieces lie too far in) is an invalid argument, its message starting with `which` (e.g. "video 2: the title").
    pub fn title_ids(&self, title: &str, which: &str) -> Result<Vec<i64>, MvtError> {
        self.tokenizer.encode(title).map_err(|e| match e {
            TokenizerError::TitleTooLong { .. } => MvtError::InvalidArgument(format!("{which}: {e}")),
            other => MvtError::Internal(format!("tokenizing {which}: {other}")),
        })
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
            // The width first (with a wrong width the frame count is meaningless too); no rows carry no width.
            if rows > 0 && features.ncols() != expected {
                let field = if what == "image" { "image (rgb_dim)" } else { "audio (audio_dim)" };
                return Err(MvtError::Dimension { video, what: field, got: features.ncols(), expected });
            }
            self.check_frame_count(video, what, rows)?;
            if let Some(((frame, column), &value)) = features.indexed_iter().find(|(_, v)| !v.is_finite()) {
                return Err(MvtError::NonFinite { video, what, frame, column, value });
            }
        }
        Ok(())
    }

    /// Run one padded batch through a free session.
    fn predict_chunk(&self, videos: &[VideoInput<'_>], title_ids: &[Vec<i64>]) -> Result<Vec<Prediction>, MvtError> {
        let batch = videos.len();
        let (rgb_dim, audio_dim) = (self.meta.rgb_dim, self.meta.audio_dim);
        let rgb_lens: Vec<usize> = videos.iter().map(|v| v.rgb.nrows()).collect();
        let audio_lens: Vec<usize> = videos
            .iter()
            .map(|v| if v.audio.nrows() == 0 { self.meta.empty_audio_frames } else { v.audio.nrows() })
            .collect();
        let t1 = rgb_lens.iter().copied().max().unwrap_or(1);
        let t2 = audio_lens.iter().copied().max().unwrap_or(1);
        let rgb = pad(videos.iter().map(|v| v.rgb), t1, rgb_dim, "image")?;
        // An empty track stays all zeros in its padded slot: exactly the `empty_audio_frames` zero rows.
        let audio = pad(videos.iter().map(|v| v.audio), t2, audio_dim, "audio")?;
        let (ids, mask, text_len) = self.tokenizer.pad_batch(title_ids);

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

/// Row-major [videos, frames, width] with each video's rows first and zeros after. The size is computed with
/// checked arithmetic and reserved fallibly: a batch too large to address or allocate is an error, not an abort.
fn pad<'a>(
    features: impl ExactSizeIterator<Item = ArrayView2<'a, f32>>,
    frames: usize,
    width: usize,
    what: &str,
) -> Result<Vec<f32>, MvtError> {
    let videos = features.len();
    let too_large = |detail: String| {
        MvtError::InvalidArgument(format!(
            "the padded {what} batch ({videos} videos x {frames} frames x {width} values) is too large: {detail}"
        ))
    };
    let len = videos
        .checked_mul(frames)
        .and_then(|n| n.checked_mul(width))
        .filter(|&n| n.checked_mul(std::mem::size_of::<f32>()).is_some_and(|b| b <= isize::MAX as usize))
        .ok_or_else(|| too_large("its size overflows".into()))?;
    let mut out = Vec::new();
    out.try_reserve_exact(len).map_err(|e| too_large(e.to_string()))?;
    for video in features {
        let start = out.len();
        out.extend(video.iter().copied());
        out.resize(start + frames * width, 0.0);
    }
    Ok(out)
}

#[cfg(test)]
mod pad_tests {
    use ndarray::Array2;

    use super::*;

    #[test]
    fn pads_with_zeros_and_refuses_what_cannot_be_addressed_or_allocated() {
        let a = Array2::from_elem((1, 2), 1.0f32);
        let b = Array2::from_elem((2, 2), 2.0f32);
        let padded = pad([a.view(), b.view()].into_iter(), 3, 2, "image").unwrap();
        assert_eq!(padded, [1., 1., 0., 0., 0., 0., 2., 2., 2., 2., 0., 0.]);
        let none = Array2::<f32>::zeros((0, 4));
        let e = pad(std::iter::once(none.view()), usize::MAX / 2, 4, "audio").unwrap_err();
        assert!(e.to_string().contains("the padded audio batch (1 videos x"), "{e}");
        assert!(e.to_string().ends_with("is too large: its size overflows"), "{e}");
        // 2^48 floats (1 PiB): addressable, but no allocator hands it out, and the failure is an error.
        let e = pad(std::iter::once(none.view()), 1 << 38, 1 << 10, "audio").unwrap_err();
        assert!(matches!(e, MvtError::InvalidArgument(_)), "{e}");
        assert!(e.to_string().contains("is too large: memory allocation failed"), "{e}");
    }
}

/// Upper limits of [`Options`]: far above any useful setting, low enough that a typo or a wrapped-around negative
/// number fails at once instead of spawning millions of threads or sessions.
pub mod limits {
    /// `Options::sessions`: each session holds its own copy of the activations and a thread pool.
    pub const MAX_SESSIONS: usize = 256;
    /// `Options::intra_threads` per session.
    pub const MAX_INTRA_THREADS: usize = 1024;
    /// `Options::batch_size`: videos per ONNX Runtime run.
    pub const MAX_BATCH_SIZE: usize = 65_536;
    /// `Options::max_frames`: 24 hours at one frame per second.
    pub const MAX_FRAMES: usize = 86_400;
    /// `Device::Cuda` / `Device::Auto` device ids.
    pub const MAX_DEVICE_ID: i32 = 1023;
}

fn check_options(options: &Options) -> Result<(), MvtError> {
    use limits::*;
    let in_range = |name: &str, value: usize, min: usize, max: usize| {
        if (min..=max).contains(&value) {
            Ok(())
        } else {
            Err(MvtError::InvalidArgument(format!("{name} is {value}; it must be between {min} and {max}")))
        }
    };
    in_range("sessions", options.sessions, 1, MAX_SESSIONS)?;
    in_range("intra_threads", options.intra_threads, 0, MAX_INTRA_THREADS)?;
    in_range("batch_size", options.batch_size, 1, MAX_BATCH_SIZE)?;
    in_range("max_frames", options.max_frames, 1, MAX_FRAMES)?;
    if let Device::Cuda { device_id } | Device::Auto { device_id } = options.device {
        if !(0..=MAX_DEVICE_ID).contains(&device_id) {
            return Err(MvtError::InvalidArgument(format!(
                "device_id is {device_id}; it must be between 0 and {MAX_DEVICE_ID}"
            )));
        }
    }
    if let Some(t) = options.threshold {
        if !(0.0..=1.0).contains(&t) {
            return Err(MvtError::InvalidArgument(format!("threshold {t} is outside [0, 1]")));
        }
    }
    Ok(())
}

fn model_file_error(path: &Path, error: ModelFileError) -> MvtError {
    let path = path.to_path_buf();
    let message = error.to_string();
    match error {
        // Not readable, not ONNX, or changed after export: the file, not its metadata, is at fault.
        ModelFileError::Onnx(_) | ModelFileError::Corrupted { .. } => MvtError::ModelFile { path, message },
        _ => MvtError::ModelMetadata { path, message },
    }
}

impl Prediction {
    /// The tags (classes at or above the threshold) in class order, as the original's output.json lists them.
    pub fn labels_in_class_order(&self) -> Vec<&Tag> {
        let mut labels: Vec<&Tag> = self.tags.iter().collect();
        labels.sort_by_key(|t| t.index);
        labels
    }
}
