//! Checks of a checkpoint's weights that name what is wrong, where libtorch's own errors would not: a
//! `model.safetensors` shorter than its header says (a truncated copy, an interrupted write), and weights that
//! are NaN or infinite.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use anyhow::{anyhow, bail, Result};
use tch::nn::VarStore;
use tch::{Kind, Tensor};

/// Refuses a safetensors file shorter than its header says, naming the file and both sizes. The format: an
/// 8-byte little-endian header length, the JSON header, then the data, each tensor at its `data_offsets`.
pub fn check_safetensors_length(path: &Path) -> Result<()> {
    let shown = path.display();
    let mut file = File::open(path).map_err(|e| anyhow!("cannot read {shown}: {e}"))?;
    let actual = file.metadata().map_err(|e| anyhow!("cannot read {shown}: {e}"))?.len();
    if actual < 8 {
        bail!("{shown} is truncated: {actual} bytes, less than the 8-byte length of a safetensors header");
    }
    let mut length = [0; 8];
    file.read_exact(&mut length).map_err(|e| anyhow!("cannot read {shown}: {e}"))?;
    let header_len = u64::from_le_bytes(length);
    if header_len > actual - 8 {
        bail!(
            "{shown} is truncated (or not a safetensors file): {actual} bytes, but its header length alone needs {}",
            header_len.saturating_add(8)
        );
    }
    let mut header = vec![0; header_len as usize];
    file.read_exact(&mut header).map_err(|e| anyhow!("cannot read {shown}: {e}"))?;
    let header: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&header)
        .map_err(|e| anyhow!("{shown} is not a safetensors file (its header is not a JSON object: {e})"))?;
    let data_end = header
        .iter()
        .filter(|(name, _)| name.as_str() != "__metadata__")
        .filter_map(|(_, tensor)| tensor.get("data_offsets")?.get(1)?.as_u64())
        .max()
        .unwrap_or(0);
    let expected = 8 + header_len + data_end;
    if actual < expected {
        bail!("{shown} is truncated: {actual} bytes, but its safetensors header says {expected}");
    }
    Ok(())
}

/// Refuses weights with a NaN or infinite value, naming the first such tensor (by name) and `source`, the file
/// they came from.
pub fn check_finite(vs: &VarStore, source: &Path) -> Result<()> {
    check_tensors_finite(vs.variables(), source)
}

/// [`check_finite`] for named tensors read from `source` (e.g. by `Tensor::read_safetensors`).
pub fn check_tensors_finite(tensors: impl IntoIterator<Item = (String, Tensor)>, source: &Path) -> Result<()> {
    let mut variables: Vec<_> = tensors.into_iter().collect();
    variables.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, tensor) in variables {
        if !tensor.is_floating_point() {
            continue;
        }
        let bad = tensor.isfinite().logical_not().sum(Kind::Int64).int64_value(&[]);
        if bad > 0 {
            let nan = tensor.isnan().sum(Kind::Int64).int64_value(&[]);
            bail!(
                "the checkpoint's weights are not finite: tensor {name} of {} has {bad} non-finite values \
                 ({nan} NaN, {} infinite) of {}",
                source.display(),
                bad - nan,
                tensor.numel()
            );
        }
    }
    Ok(())
}
