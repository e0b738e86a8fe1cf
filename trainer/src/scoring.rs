//! A model's probabilities and mean training loss on a list of videos: from the trainer's model (validation,
//! `eval` of a checkpoint, the ablation rows), or the loss from probabilities alone (an exported model file).

use anyhow::Result;
use mvt_formats::config::LossType;
use mvt_formats::dataset::Video;
use ndarray::{Array2, ArrayView2};
use tch::{Device, Kind, Tensor};

use crate::batch::{multi_hot, Batch};
use crate::checkpoint::Checkpoint;
use crate::data::tokenize;
use crate::model::{EncoderCache, FusionModel};

/// A model's scores on a list of videos.
pub struct Scores {
    /// [videos, classes].
    pub probs: Array2<f32>,
    /// Mean training loss per video.
    pub loss: f64,
}

/// Runs the model (inference mode) over `videos` with their tokenized `titles`, `batch_size` at a time.
pub fn score(
    model: &FusionModel,
    videos: &[Video],
    titles: &[&[i64]],
    pad_id: i64,
    batch_size: usize,
    cache: Option<&EncoderCache>,
    device: Device,
) -> Result<Scores> {
    let classes = model.config().num_classes;
    let mut probs = Vec::with_capacity(videos.len() * classes);
    let mut loss_sum = 0.0;
    tch::no_grad(|| -> Result<()> {
        for (chunk, chunk_titles) in videos.chunks(batch_size.max(1)).zip(titles.chunks(batch_size.max(1))) {
            let refs: Vec<&Video> = chunk.iter().collect();
            let mut batch = Batch::new(&refs, chunk_titles, pad_id, device)?;
            if let Some(cache) = cache {
                cache.fill(&mut batch, chunk_titles)?;
            }
            let out = model.forward(&batch, false);
            loss_sum += model.loss(&out.logits, &multi_hot(&refs, classes, device)).double_value(&[]);
            probs.extend(flat_f32(&out.probs)?);
        }
        Ok(())
    })?;
    let probs = Array2::from_shape_vec((videos.len(), classes), probs)?;
    Ok(Scores { probs, loss: loss_sum / videos.len().max(1) as f64 })
}

/// A checkpoint's scores on `videos` (every title blanked when `blank_titles`), in validation batches.
pub fn score_with_checkpoint(
    ckpt: &Checkpoint,
    model: &FusionModel,
    videos: &[Video],
    blank_titles: bool,
    device: Device,
) -> Result<Scores> {
    let titles = tokenize(&ckpt.tokenizer, videos, blank_titles)?;
    let refs: Vec<&[i64]> = titles.iter().map(Vec::as_slice).collect();
    score(model, videos, &refs, ckpt.tokenizer.pad_id(), ckpt.config.train.valid_batch_size, None, device)
}

/// A [B, C] probability tensor as an ndarray on the CPU.
pub fn to_array(probs: &Tensor) -> Result<Array2<f32>> {
    let size = probs.size();
    Ok(Array2::from_shape_vec((size[0] as usize, size[1] as usize), flat_f32(probs)?)?)
}

/// A tensor's values as f32 on the CPU, in row-major order.
fn flat_f32(tensor: &Tensor) -> Result<Vec<f32>> {
    Ok(Vec::<f32>::try_from(tensor.to_kind(Kind::Float).to_device(Device::Cpu).flatten(0, -1))?)
}

/// Probabilities are kept this far from 0 and 1 before the log, so a probability that rounded to 0 or 1 in f32
/// costs a finite ln(1e-7) ~ -16 instead of infinity.
const PROB_FLOOR: f64 = 1e-7;

/// The mean training loss per video ([`FusionModel::loss`] / videos) from probabilities alone, for models that
/// output no logits. Equals the logit-based loss up to f32 rounding of the probabilities.
pub fn loss_from_probs(probs: ArrayView2<f32>, labels: &[Vec<usize>], loss_type: LossType) -> f64 {
    let ln = |p: f32| f64::from(p).clamp(PROB_FLOOR, 1.0 - PROB_FLOOR).ln();
    let total: f64 = probs
        .rows()
        .into_iter()
        .zip(labels)
        .map(|(row, labels)| match loss_type {
            LossType::Sigmoid => {
                row.iter().enumerate().map(|(c, &p)| if labels.contains(&c) { -ln(p) } else { -ln(1.0 - p) }).sum()
            }
            // Cross-entropy against the uniform distribution over the video's labels.
            LossType::Softmax => -labels.iter().map(|&c| ln(row[c])).sum::<f64>() / labels.len().max(1) as f64,
        })
        .sum();
    total / probs.nrows().max(1) as f64
}
