//! The AttentionLstmErnie fusion model, exactly as docs/model.md defines it (parameter names are the contract
//! the exporter reads): text encoder -> TextCNN, bidirectional LSTMs over image frames and audio segments with
//! masked attention pooling, and a linear head.
//!
//! Variable lengths are exact: the LSTMs run on packed sequences (each backward pass starts at the sequence's
//! own last frame) and every reduction over time or tokens masks padding by selection, so a video scores the
//! same alone as inside a batch of longer videos.

use std::collections::HashMap;

use anyhow::{bail, Result};
use mvt_formats::config::{LossType, ModelConfig, PoolMode};
use tch::nn::{self, Module};
use tch::{Device, Kind, Tensor};

use crate::batch::Batch;
use crate::encoder::{TextEncoderModule, ENCODER_PREFIX};

/// What masked-out positions get before a max or a softmax (docs/model.md): far below any real score, yet finite.
pub const MASKED: f64 = -1e9;

/// The model's outputs for one batch.
pub struct Output {
    /// [B, C] before the sigmoid / softmax (what the training loss reads).
    pub logits: Tensor,
    /// [B, C].
    pub probs: Tensor,
    /// [B, T1] attention over frames: 0 on padding, all 0 when the image branch is off.
    pub rgb_attention: Tensor,
    /// [B, T2].
    pub audio_attention: Tensor,
}

/// Title ids -> [B, L, E] -> TextCNN -> [B, text_dim].
struct TextBranch {
    encoder: TextEncoderModule,
    /// (window, conv) for each window size.
    convs: Vec<(i64, nn::Conv1D)>,
}

impl TextBranch {
    fn new(p: &nn::Path, cfg: &ModelConfig) -> Result<Self> {
        let encoder = TextEncoderModule::new(p, &cfg.text_encoder)?;
        let dim = cfg.text_encoder.output_dim() as i64;
        let convs = cfg
            .textcnn_windows
            .iter()
            .map(|&k| {
                let k = k as i64;
                let conv_cfg = nn::ConvConfig { padding: k / 2, ..Default::default() };
                (k, nn::conv1d(p / format!("conv{k}"), dim, cfg.textcnn_filters as i64, k, conv_cfg))
            })
            .collect();
        Ok(TextBranch { encoder, convs })
    }

    /// The TextCNN over an encoded title sequence `x` [B, L, E] (zero on padding).
    fn textcnn(&self, x: &Tensor, mask: &Tensor) -> Tensor {
        let len = x.size()[1];
        let x = x.transpose(1, 2); // [B, E, L]
        let valid = mask.to_kind(Kind::Bool).unsqueeze(1); // [B, 1, L]
        let pooled: Vec<Tensor> = self
            .convs
            .iter()
            .map(|(_, conv)| {
                let y = conv.forward(&x).narrow(2, 0, len).tanh();
                y.where_scalarother(&valid, MASKED).amax([2].as_slice(), false)
            })
            .collect();
        Tensor::cat(&pooled, 1)
    }
}

/// Bidirectional LSTM + attention pooling over one kind of sequence (image frames or audio segments).
struct SequenceBranch {
    hidden: i64,
    /// PyTorch's flat LSTM weights: w_ih, w_hh, b_ih, b_hh, then the same for the reverse direction.
    lstm: Vec<Tensor>,
    /// text-guided pooling only: [seq_t ; text] -> 2H.
    att: Option<nn::Linear>,
    score: nn::Linear,
}

impl SequenceBranch {
    fn new(p: &nn::Path, input: usize, hidden: usize, text_dim: Option<usize>) -> Self {
        let (d, h) = (input as i64, hidden as i64);
        let lstm_path = p / "lstm";
        // PyTorch's LSTM initialization: U(-1/sqrt(H), 1/sqrt(H)) for every weight and bias.
        let bound = 1.0 / (hidden as f64).sqrt();
        let init = nn::Init::Uniform { lo: -bound, up: bound };
        let mut lstm = Vec::with_capacity(8);
        for suffix in ["", "_reverse"] {
            lstm.push(lstm_path.var(&format!("weight_ih_l0{suffix}"), &[4 * h, d], init));
            lstm.push(lstm_path.var(&format!("weight_hh_l0{suffix}"), &[4 * h, h], init));
            lstm.push(lstm_path.var(&format!("bias_ih_l0{suffix}"), &[4 * h], init));
            lstm.push(lstm_path.var(&format!("bias_hh_l0{suffix}"), &[4 * h], init));
        }
        let att = text_dim.map(|t| nn::linear(p / "att", 2 * h + t as i64, 2 * h, Default::default()));
        let score = nn::linear(p / "score", 2 * h, 1, Default::default());
        SequenceBranch { hidden: h, lstm, att, score }
    }

    /// `x` [B, T, D], `len` [B] -> (pooled [B, 2H], attention [B, T]).
    fn forward(&self, x: &Tensor, len: &Tensor, text: Option<&Tensor>, drop: f64, train: bool) -> (Tensor, Tensor) {
        let (batch, steps) = (x.size()[0], x.size()[1]);
        let seq = self.lstm(x, len).dropout(drop, train); // [B, T, 2H], 0 past each length
        let scores = match (&self.att, text) {
            (Some(att), Some(text)) => {
                let text = text.unsqueeze(1).expand([batch, steps, text.size()[1]], false);
                self.score.forward(&att.forward(&Tensor::cat(&[&seq, &text], 2)).tanh())
            }
            _ => self.score.forward(&seq),
        }
        .squeeze_dim(2);
        let valid = Tensor::arange(steps, (Kind::Int64, x.device())).unsqueeze(0).lt_tensor(&len.unsqueeze(1));
        let attention = scores.where_scalarother(&valid, MASKED).softmax(1, Kind::Float);
        let pooled = (&seq * attention.unsqueeze(2)).sum_dim_intlist([1].as_slice(), false, Kind::Float);
        (pooled, attention)
    }

    /// Bidirectional LSTM on the packed sequence: each direction sees exactly the real steps.
    fn lstm(&self, x: &Tensor, len: &Tensor) -> Tensor {
        let (batch, steps) = (x.size()[0], x.size()[1]);
        // Packing wants lengths on the CPU, longest first.
        let (sorted_len, order) = len.to_device(Device::Cpu).sort(0, true);
        let order_here = order.to_device(x.device());
        let (data, batch_sizes) = x.index_select(0, &order_here).internal_pack_padded_sequence(&sorted_len, true);
        let zeros = Tensor::zeros([2, batch, self.hidden], (Kind::Float, x.device()));
        let (out, _, _) = Tensor::lstm_data(
            &data,
            &batch_sizes,
            &[&zeros, &zeros],
            &self.lstm.iter().collect::<Vec<_>>(),
            true,
            1,
            0.0,
            false,
            true,
        );
        let (padded, _) = Tensor::internal_pad_packed_sequence(&out, &batch_sizes, true, 0.0, steps);
        padded.index_select(0, &order_here.argsort(0, false))
    }
}

/// The fused model; build it inside a `VarStore` root so the parameter names match docs/model.md.
pub struct FusionModel {
    config: ModelConfig,
    text: Option<TextBranch>,
    rgb: Option<SequenceBranch>,
    audio: Option<SequenceBranch>,
    head: nn::Linear,
}

impl FusionModel {
    pub fn new(root: &nn::Path, config: &ModelConfig) -> Result<Self> {
        if !(config.use_rgb || config.use_audio || config.use_text) {
            bail!("the model needs at least one of the image, audio and text branches");
        }
        if config.textcnn_windows.is_empty() || config.textcnn_filters == 0 {
            bail!("the TextCNN needs at least one window size and one filter");
        }
        let text = if config.needs_text() { Some(TextBranch::new(&(root / "text"), config)?) } else { None };
        let guide = (config.pool_mode == PoolMode::TextGuide).then_some(config.text_dim());
        let rgb =
            config.use_rgb.then(|| SequenceBranch::new(&(root / "rgb"), config.rgb_dim, config.lstm_size_img, guide));
        let audio = config
            .use_audio
            .then(|| SequenceBranch::new(&(root / "audio"), config.audio_dim, config.lstm_size_audio, guide));
        let head = nn::linear(root / "head", head_width(config) as i64, config.num_classes as i64, Default::default());
        Ok(FusionModel { config: config.clone(), text, rgb, audio, head })
    }

    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    /// The encoder's output `[B, L, E]` for padded titles, in inference mode and without gradient: what the
    /// frozen-encoder cache stores. `None` when the model has no text branch.
    pub fn encode_titles(&self, ids: &Tensor, mask: &Tensor) -> Option<Tensor> {
        self.text.as_ref().map(|text| tch::no_grad(|| text.encoder.forward(ids, mask, false)))
    }

    pub fn forward(&self, batch: &Batch, train: bool) -> Output {
        let drop = self.config.drop_rate;
        let text = self.text.as_ref().map(|branch| {
            let mask = &batch.text_mask;
            let encoded = match &batch.text_encoded {
                Some(cached) => cached.shallow_clone(),
                None if self.config.ernie_freeze => {
                    tch::no_grad(|| branch.encoder.forward(&batch.text_ids, mask, false))
                }
                None => branch.encoder.forward(&batch.text_ids, mask, train),
            };
            let x = encoded * mask.to_kind(Kind::Float).unsqueeze(2);
            branch.textcnn(&x, mask).dropout(drop, train)
        });
        let guide = text.as_ref().filter(|_| self.config.pool_mode == PoolMode::TextGuide);
        let no_attention = |x: &Tensor| Tensor::zeros([x.size()[0], x.size()[1]], (Kind::Float, x.device()));
        let mut parts = Vec::with_capacity(3);
        let rgb_attention = match &self.rgb {
            Some(branch) => {
                let (pooled, attention) = branch.forward(&batch.rgb, &batch.rgb_len, guide, drop, train);
                parts.push(pooled);
                attention
            }
            None => no_attention(&batch.rgb),
        };
        let audio_attention = match &self.audio {
            Some(branch) => {
                let (pooled, attention) = branch.forward(&batch.audio, &batch.audio_len, guide, drop, train);
                parts.push(pooled);
                attention
            }
            None => no_attention(&batch.audio),
        };
        if self.config.use_text {
            parts.push(text.expect("use_text implies a text branch").shallow_clone());
        }
        let logits = self.head.forward(&Tensor::cat(&parts, 1));
        let probs = match self.config.loss_type {
            LossType::Sigmoid => logits.sigmoid(),
            LossType::Softmax => logits.softmax(1, Kind::Float),
        };
        Output { logits, probs, rgb_attention, audio_attention }
    }

    /// The training loss of a batch, summed over classes and videos (docs/model.md "Training loss").
    pub fn loss(&self, logits: &Tensor, targets: &Tensor) -> Tensor {
        match self.config.loss_type {
            LossType::Sigmoid => {
                logits.binary_cross_entropy_with_logits::<Tensor>(targets, None, None, tch::Reduction::Sum)
            }
            LossType::Softmax => {
                let uniform = targets / targets.sum_dim_intlist([1].as_slice(), true, Kind::Float).clamp_min(1.0);
                -(uniform * logits.log_softmax(1, Kind::Float)).sum(Kind::Float)
            }
        }
    }

    /// Whether the encoder's weights stay fixed in training (its outputs may then be cached per title).
    pub fn encoder_frozen(&self) -> bool {
        self.text.is_some() && self.config.ernie_freeze
    }
}

/// Width of the head's input: the enabled branches' vectors, concatenated.
pub fn head_width(config: &ModelConfig) -> usize {
    2 * config.lstm_size_img * usize::from(config.use_rgb)
        + 2 * config.lstm_size_audio * usize::from(config.use_audio)
        + config.text_dim() * usize::from(config.use_text)
}

/// Holds the encoder's parameters fixed: no gradient, so the optimizer skips them (weight decay included).
pub fn freeze_encoder(vs: &nn::VarStore) {
    for (name, tensor) in vs.variables() {
        if name.starts_with(ENCODER_PREFIX) || name.starts_with("text.embedding.") {
            let _ = tensor.set_requires_grad(false);
        }
    }
}

/// The frozen encoder's output for each distinct title (ids with [CLS]/[SEP]), computed once: the encoder
/// dominates the cost of a training step, and a frozen one gives the same output every epoch.
pub struct EncoderCache {
    /// ids -> [n, E] on the model's device (the real tokens only; padding is zero, restored in `fill`).
    entries: HashMap<Vec<i64>, Tensor>,
}

impl EncoderCache {
    /// Encodes every distinct title among `titles`, `chunk` titles per encoder call.
    pub fn build<'a>(
        model: &FusionModel,
        titles: impl Iterator<Item = &'a [i64]>,
        pad_id: i64,
        chunk: usize,
        device: Device,
    ) -> Result<Self> {
        let mut distinct: Vec<&[i64]> = titles.collect();
        distinct.sort_unstable();
        distinct.dedup();
        let mut entries = HashMap::with_capacity(distinct.len());
        for group in distinct.chunks(chunk.max(1)) {
            let (ids, mask) = crate::batch::pad_titles(group, pad_id, device)?;
            let Some(encoded) = model.encode_titles(&ids, &mask) else {
                bail!("the model has no text branch to cache");
            };
            for (b, title) in group.iter().enumerate() {
                entries.insert(title.to_vec(), encoded.get(b as i64).narrow(0, 0, title.len() as i64));
            }
        }
        Ok(EncoderCache { entries })
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Sets `batch.text_encoded` for `titles` (the batch's titles, in order), padded to the batch's length.
    pub fn fill(&self, batch: &mut Batch, titles: &[&[i64]]) -> Result<()> {
        let longest = batch.text_ids.size()[1];
        let rows = titles
            .iter()
            .map(|title| {
                let Some(x) = self.entries.get(*title) else {
                    bail!("title ids {title:?} are not in the encoder cache");
                };
                let width = x.size()[1];
                let pad = Tensor::zeros([longest - x.size()[0], width], (x.kind(), x.device()));
                Ok(Tensor::cat(&[x, &pad], 0))
            })
            .collect::<Result<Vec<_>>>()?;
        batch.text_encoded = Some(Tensor::stack(&rows, 0));
        Ok(())
    }
}
