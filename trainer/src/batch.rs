//! Padding a list of videos into the model's input tensors (docs/model.md "Inputs"): zero-padded features with
//! their real lengths, and `[CLS] tokens [SEP]` ids padded with the tokenizer's pad id plus a 0/1 mask.

use anyhow::{bail, Result};
use mvt_formats::dataset::Video;
use ndarray::Array2;
use tch::{Device, Kind, Tensor};

/// One padded batch, the six inputs of the model (and of the exported ONNX graph).
pub struct Batch {
    /// [B, T1, rgb_dim] f32, zero after `rgb_len[b]`.
    pub rgb: Tensor,
    /// [B] i64, real frames per video.
    pub rgb_len: Tensor,
    /// [B, T2, audio_dim] f32, zero after `audio_len[b]`.
    pub audio: Tensor,
    /// [B] i64.
    pub audio_len: Tensor,
    /// [B, L] i64.
    pub text_ids: Tensor,
    /// [B, L] i64, 1 on real tokens.
    pub text_mask: Tensor,
    /// The frozen encoder's output for these titles when already known ([B, L, E], zero on padding): the
    /// training cache fills it so the encoder does not run again for a title it has seen.
    pub text_encoded: Option<Tensor>,
}

impl Batch {
    /// Pads `videos` with their tokenized titles (`titles[b]` = ids of video b, [CLS] and [SEP] included).
    pub fn new(videos: &[&Video], titles: &[&[i64]], pad_id: i64, device: Device) -> Result<Batch> {
        if videos.is_empty() || videos.len() != titles.len() {
            bail!(
                "a batch needs at least one video and one title per video ({} videos, {} titles)",
                videos.len(),
                titles.len()
            );
        }
        let (rgb, rgb_len) = pad_features(videos, |v| &v.rgb, "image", device)?;
        let (audio, audio_len) = pad_features(videos, |v| &v.audio, "audio", device)?;
        let (text_ids, text_mask) = pad_titles(titles, pad_id, device)?;
        Ok(Batch { rgb, rgb_len, audio, audio_len, text_ids, text_mask, text_encoded: None })
    }

    pub fn size(&self) -> i64 {
        self.rgb_len.size()[0]
    }
}

/// `[B, T, D]` zero-padded features and `[B]` lengths; every video needs >= 1 row of one common width.
fn pad_features(
    videos: &[&Video],
    features: impl Fn(&Video) -> &Array2<f32>,
    what: &str,
    device: Device,
) -> Result<(Tensor, Tensor)> {
    let width = features(videos[0]).ncols();
    let longest = videos.iter().map(|v| features(v).nrows()).max().unwrap_or(0);
    let mut flat = vec![0f32; videos.len() * longest * width];
    let mut lengths = Vec::with_capacity(videos.len());
    for (b, video) in videos.iter().enumerate() {
        let x = features(video);
        if x.nrows() == 0 {
            bail!("video {}: no {what} frames (every video needs at least one)", video.name);
        }
        if x.ncols() != width {
            bail!("video {}: {what} features have width {}, others in the batch {width}", video.name, x.ncols());
        }
        let start = b * longest * width;
        for (t, row) in x.rows().into_iter().enumerate() {
            let at = start + t * width;
            flat[at..at + width].iter_mut().zip(row.iter()).for_each(|(dst, &src)| *dst = src);
        }
        lengths.push(x.nrows() as i64);
    }
    let padded = Tensor::from_slice(&flat).view([videos.len() as i64, longest as i64, width as i64]);
    Ok((padded.to_device(device), Tensor::from_slice(&lengths).to_device(device)))
}

/// `[B, L]` ids padded with `pad_id` and the matching `[B, L]` mask; every title needs >= 2 ids.
pub fn pad_titles(titles: &[&[i64]], pad_id: i64, device: Device) -> Result<(Tensor, Tensor)> {
    let longest = titles.iter().map(|t| t.len()).max().unwrap_or(0);
    let mut ids = Vec::with_capacity(titles.len() * longest);
    let mut mask = Vec::with_capacity(titles.len() * longest);
    for (b, title) in titles.iter().enumerate() {
        if title.len() < 2 {
            bail!("title {b} has {} ids; a tokenized title is at least [CLS] [SEP]", title.len());
        }
        ids.extend_from_slice(title);
        ids.resize(ids.len() + longest - title.len(), pad_id);
        mask.extend((0..longest).map(|t| i64::from(t < title.len())));
    }
    let shape = [titles.len() as i64, longest as i64];
    Ok((
        Tensor::from_slice(&ids).view(shape).to_device(device),
        Tensor::from_slice(&mask).view(shape).to_device(device),
    ))
}

/// `[B, C]` f32 multi-hot targets from each video's class indices.
pub fn multi_hot(videos: &[&Video], num_classes: usize, device: Device) -> Tensor {
    let mut flat = vec![0f32; videos.len() * num_classes];
    for (b, video) in videos.iter().enumerate() {
        for &class in &video.labels {
            flat[b * num_classes + class] = 1.0;
        }
    }
    Tensor::from_slice(&flat).view([videos.len() as i64, num_classes as i64]).to_kind(Kind::Float).to_device(device)
}
