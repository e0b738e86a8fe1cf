//! The ONNX graph under construction, and the one place where the export precision changes what is written:
//! every product with a trained weight matrix goes through [`Graph::matmul_weight`], [`Graph::lstm`] or
//! [`Graph::quantized_attention`].
//!
//! INT8 is ONNX Runtime's dynamic quantization written directly (no float graph rewritten afterwards): weights
//! become int8, symmetric (zero point 0, range -127..127), one scale per output channel, computed here from the
//! trained values; activations are quantized to uint8 per tensor at run time by the operators themselves
//! (`com.microsoft` DynamicQuantizeMatMul, QAttention and DynamicQuantizeLSTM, whose u8 x s8 kernels are the fast
//! VNNI path on x86). Everything else (embeddings, attention scores and softmax, layer norms, the masks) stays f32.

use std::collections::HashSet;

use anyhow::{Context, Result};
use mvt_formats::model_file::Precision;
use mvt_formats::onnx::{AttributeProto, NodeProto, TensorProto};
use tch::{Kind, Tensor};

/// ONNX Runtime's contrib-operator domain.
pub const MS_DOMAIN: &str = "com.microsoft";

/// The parts of the model whose weight products INT8 quantizes; `mvt-train export --keep-fp32` names the ones to
/// leave in f32 (docs/model-file.md "Precision": which parts carry the INT8 error on trained models).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Component {
    /// The pretrained text encoder (BERT/ERNIE): its projections and self-attention.
    Encoder,
    /// The TextCNN's convolutions.
    TextCnn,
    /// The image and audio bidirectional LSTMs.
    Lstm,
    /// The attention pooling's FCs (sequence and text parts).
    Pooling,
    /// The classification head.
    Head,
}

impl Component {
    pub fn name(self) -> &'static str {
        match self {
            Component::Encoder => "encoder",
            Component::TextCnn => "textcnn",
            Component::Lstm => "lstm",
            Component::Pooling => "pooling",
            Component::Head => "head",
        }
    }
}

/// `mvt.quantization` of an INT8 file: how it was made (`keep_fp32`: the components left in f32 on request).
pub fn int8_method(keep_fp32: &[Component]) -> String {
    let kept = match keep_fp32 {
        [] => String::new(),
        parts => {
            format!(" Kept f32 by --keep-fp32: {}.", parts.iter().map(|c| c.name()).collect::<Vec<_>>().join(", "))
        }
    };
    format!("{INT8_METHOD}{kept}")
}

const INT8_METHOD: &str = "mvt-train export --precision int8: dynamic quantization. Weights of every MatMul \
    (encoder, TextCNN, attention pooling, head) and both LSTMs: int8, symmetric, one scale per output channel \
    (com.microsoft DynamicQuantizeMatMul, QAttention for the encoder's self-attention, DynamicQuantizeLSTM). \
    Activations: uint8, asymmetric, one scale per tensor, computed at run time. Kept f32: embedding tables, layer \
    norms, attention scores and softmax, the attention-pooling score vector, masks.";

/// The ONNX graph under construction: nodes in topological order and the initializers they read.
pub struct Graph {
    pub nodes: Vec<NodeProto>,
    pub initializers: Vec<TensorProto>,
    /// Initializer names: shared constants are added once however often they are asked for.
    initialized: HashSet<String>,
    next_id: usize,
    precision: Precision,
    keep_fp32: Vec<Component>,
}

impl Graph {
    /// A graph whose weight products are in `precision`, but those of `keep_fp32` in f32.
    pub fn new(precision: Precision, keep_fp32: &[Component]) -> Self {
        let keep_fp32 = keep_fp32.to_vec();
        Graph { nodes: vec![], initializers: vec![], initialized: HashSet::new(), next_id: 0, precision, keep_fp32 }
    }

    /// Whether `component`'s weight products are quantized.
    pub fn quantizes(&self, component: Component) -> bool {
        self.precision == Precision::Int8 && !self.keep_fp32.contains(&component)
    }

    /// Append a node with outputs `outs`.
    pub fn node_n(&mut self, op: &str, inputs: &[&str], attributes: Vec<AttributeProto>, outs: &[String]) {
        self.nodes.push(NodeProto {
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: outs.to_vec(),
            name: format!("{op}:{}", outs[0]),
            op_type: op.into(),
            attribute: attributes,
            ..Default::default()
        });
    }

    /// Append a node with one output named `out`; returns `out`.
    pub fn node(&mut self, op: &str, inputs: &[&str], attributes: Vec<AttributeProto>, out: &str) -> String {
        self.node_n(op, inputs, attributes, &[out.to_string()]);
        out.to_string()
    }

    /// A fresh value name derived from `hint`.
    pub fn fresh(&mut self, hint: &str, what: &str) -> String {
        self.next_id += 1;
        format!("{hint}/{what}_{}", self.next_id)
    }

    /// Append a node whose one output gets a fresh name derived from `hint`.
    pub fn op(&mut self, hint: &str, op: &str, inputs: &[&str], attributes: Vec<AttributeProto>) -> String {
        let out = self.fresh(hint, op);
        self.node(op, inputs, attributes, &out)
    }

    /// [`Graph::op`] for an operator of ONNX Runtime's `com.microsoft` domain.
    fn ms_op(&mut self, hint: &str, op: &str, inputs: &[&str], attributes: Vec<AttributeProto>) -> String {
        let out = self.op(hint, op, inputs, attributes);
        self.nodes.last_mut().expect("op appended a node").domain = MS_DOMAIN.into();
        out
    }

    fn initializer(&mut self, tensor: TensorProto) -> String {
        let name = tensor.name.clone();
        if self.initialized.insert(name.clone()) {
            self.initializers.push(tensor);
        }
        name
    }

    /// An f32 initializer holding `tensor` (any shape).
    pub fn weight(&mut self, name: &str, tensor: &Tensor) -> Result<String> {
        anyhow::ensure!(!self.initialized.contains(name), "two weights named `{name}`");
        let flat = Vec::<f32>::try_from(&tensor.contiguous().view(-1)).with_context(|| format!("reading `{name}`"))?;
        Ok(self.initializer(TensorProto::from_f32(name, &tensor.size(), &flat)))
    }

    /// `tensor` quantized along `axis` ([`quantize_symmetric`]) as three initializers `{name}_int8`,
    /// `{name}_scale` and `{name}_zero_point` (the scales' shape: `tensor`'s without `axis`); returns their names.
    fn int8_weight(&mut self, name: &str, tensor: &Tensor, axis: i64) -> Result<[String; 3]> {
        let (q, scale) = quantize_symmetric(tensor, axis);
        let values = Vec::<i8>::try_from(&q.contiguous().view(-1)).with_context(|| format!("reading `{name}`"))?;
        let q = self.initializer(TensorProto::from_i8(&format!("{name}_int8"), &tensor.size(), &values));
        let scale_name = self.weight(&format!("{name}_scale"), &scale)?;
        let zeros = vec![0i8; scale.numel()];
        let zero_point = self.initializer(TensorProto::from_i8(&format!("{name}_zero_point"), &scale.size(), &zeros));
        Ok([q, scale_name, zero_point])
    }

    /// A 1-D i64 constant.
    pub fn ints(&mut self, name: &str, values: &[i64]) -> String {
        self.initializer(TensorProto::from_i64(name, &[values.len() as i64], values))
    }

    pub fn scalar_i64(&mut self, name: &str, value: i64) -> String {
        self.initializer(TensorProto::from_i64(name, &[], &[value]))
    }

    pub fn scalar_f32(&mut self, name: &str, value: f32) -> String {
        self.initializer(TensorProto::from_f32(name, &[], &[value]))
    }

    /// `x w_t (+ bias)` for `component`'s trained `w_t` `[in, out]` stored as `name`, the bias `(name, values)`
    /// as given. FP32: MatMul (+ Add). INT8: one DynamicQuantizeMatMul, `w_t` per output column, the bias in f32.
    pub fn matmul_weight(
        &mut self,
        component: Component,
        hint: &str,
        x: &str,
        name: &str,
        w_t: &Tensor,
        bias: Option<(&str, &Tensor)>,
    ) -> Result<String> {
        if self.quantizes(component) {
            let [q, scale, zero_point] = self.int8_weight(name, w_t, 0)?;
            let bias = bias.map(|(bias_name, values)| self.weight(bias_name, values)).transpose()?;
            let mut inputs: Vec<&str> = vec![x, &q, &scale, &zero_point];
            inputs.extend(bias.as_deref());
            return Ok(self.ms_op(hint, "DynamicQuantizeMatMul", &inputs, vec![]));
        }
        let w = self.weight(name, w_t)?;
        let bias = bias.map(|(bias_name, values)| self.weight(bias_name, values)).transpose()?;
        let y = self.op(hint, "MatMul", &[x, &w], vec![]);
        Ok(match bias {
            Some(b) => self.op(hint, "Add", &[&y, &b], vec![]),
            None => y,
        })
    }

    /// `x W^T + b` for `component`'s PyTorch Linear (`weight` [out, in]) named `hint`.
    pub fn linear(
        &mut self,
        component: Component,
        hint: &str,
        x: &str,
        weight: &Tensor,
        bias: &Tensor,
    ) -> Result<String> {
        let bias_name = format!("{hint}.bias");
        self.matmul_weight(component, hint, x, &format!("{hint}.weight_t"), &weight.tr(), Some((&bias_name, bias)))
    }

    /// INT8 multi-head self-attention over `x` `[B, L, hidden]`: `x` quantized at run time
    /// (DynamicQuantizeLinear), then ONNX Runtime's QAttention with `qkv_w_t` `[hidden, 3 * hidden]` (query, key,
    /// value columns, heads contiguous) in int8 per output column, f32 `qkv_b`, `heads` heads scaled by
    /// 1/sqrt(d_head), and `mask_index` (int32 `[B, L]`, 0 = padding). Returns the context `[B, L, hidden]`.
    pub fn quantized_attention(
        &mut self,
        hint: &str,
        x: &str,
        qkv_w_t: &Tensor,
        qkv_b: &Tensor,
        heads: i64,
        mask_index: &str,
    ) -> Result<String> {
        let [w, w_scale, w_zero] = self.int8_weight(&format!("{hint}.weight_t"), qkv_w_t, 0)?;
        let b = self.weight(&format!("{hint}.bias"), qkv_b)?;
        let quantized: Vec<String> =
            ["x_uint8", "x_scale", "x_zero_point"].iter().map(|s| self.fresh(hint, s)).collect();
        self.node_n("DynamicQuantizeLinear", &[x], vec![], &quantized);
        let [x_q, x_scale, x_zero] = [&quantized[0], &quantized[1], &quantized[2]].map(String::as_str);
        let inputs = [x_q, &w, &b, x_scale, &w_scale, mask_index, x_zero, &w_zero];
        Ok(self.ms_op(hint, "QAttention", &inputs, vec![AttributeProto::int("num_heads", heads)]))
    }

    /// A bidirectional LSTM over `x` `[T, B, D]` with ONNX's `w` `[2, 4H, D]`, `r` `[2, 4H, H]`, `b` `[2, 8H]`
    /// (named `{hint}.lstm.W/R/B`) and `lens` (int32 `[B]`); returns `Y` `[T, 2, B, H]`.
    /// INT8: DynamicQuantizeLSTM, whose weights are `[2, D, 4H]` / `[2, H, 4H]`, one scale per (direction, gate row).
    #[allow(clippy::too_many_arguments)]
    pub fn lstm(
        &mut self,
        hint: &str,
        x: &str,
        w: &Tensor,
        r: &Tensor,
        b: &Tensor,
        lens: &str,
        hidden: usize,
    ) -> Result<String> {
        let attrs = vec![
            AttributeProto::int("hidden_size", hidden as i64),
            AttributeProto::string("direction", "bidirectional"),
        ];
        let b = self.weight(&format!("{hint}.lstm.B"), b)?;
        if self.quantizes(Component::Lstm) {
            let [w, w_scale, w_zero] = self.int8_weight(&format!("{hint}.lstm.W_t"), &w.transpose(1, 2), 1)?;
            let [r, r_scale, r_zero] = self.int8_weight(&format!("{hint}.lstm.R_t"), &r.transpose(1, 2), 1)?;
            let inputs = [x, &w, &r, &b, lens, "", "", "", &w_scale, &w_zero, &r_scale, &r_zero];
            return Ok(self.ms_op(hint, "DynamicQuantizeLSTM", &inputs, attrs));
        }
        let w = self.weight(&format!("{hint}.lstm.W"), w)?;
        let r = self.weight(&format!("{hint}.lstm.R"), r)?;
        Ok(self.op(hint, "LSTM", &[x, &w, &r, &b, lens], attrs))
    }
}

/// Symmetric int8 quantization of `w` with one scale per index of every axis but `axis` (the reduced one):
/// `scale = max |w| / 127` over `axis` (1 where that is 0), `q = round(w / scale)` in -127..=127, as ONNX
/// Runtime's `quantize_dynamic` does for QInt8 weights. Returns `q` (int8, `w`'s shape) and `scale` (f32,
/// `w`'s shape without `axis`).
pub fn quantize_symmetric(w: &Tensor, axis: i64) -> (Tensor, Tensor) {
    let w = w.to_kind(Kind::Float);
    let absmax = w.abs().amax([axis].as_slice(), true);
    let scale = absmax / 127.0;
    let scale = scale.where_self(&scale.gt(0.0), &scale.ones_like());
    let q = (&w / &scale).round().clamp(-127.0, 127.0).to_kind(Kind::Int8);
    (q, scale.squeeze_dim(axis))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantize_symmetric_scales_each_channel_by_its_largest_magnitude() {
        // Columns (axis 0 reduced): max |w| 2.54, 0.5, and an all-zero column.
        let w = Tensor::from_slice(&[2.54f32, 0.3, 0.0, -1.0, -0.5, 0.0]).view([2, 3]);
        let (q, scale) = quantize_symmetric(&w, 0);
        let scale_values = Vec::<f32>::try_from(&scale).unwrap();
        for (got, expected) in scale_values.iter().zip([2.54f32 / 127.0, 0.5 / 127.0, 1.0]) {
            assert!((got - expected).abs() <= 1e-9, "{scale_values:?}");
        }
        assert_eq!(Vec::<i8>::try_from(&q.view(-1)).unwrap(), [127, 76, 0, -50, -127, 0]);
        // Dequantized, every weight is within half a step of its channel.
        let back = q.to_kind(Kind::Float) * scale.unsqueeze(0);
        let error = Vec::<f32>::try_from(&(back - &w).abs().view(-1)).unwrap();
        let half_step = [0.01f32, 0.25 / 127.0, 0.5];
        assert_eq!(error.len(), 6);
        assert!(error.iter().enumerate().all(|(i, e)| *e <= half_step[i % 3] + 1e-7), "{error:?}");
    }
}
