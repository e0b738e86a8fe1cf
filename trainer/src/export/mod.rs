//! `mvt-train export`: one self-describing ONNX file from a checkpoint, computing exactly docs/model.md.
//!
//! The graph is written directly from the trained weights with the prost messages of `mvt_formats::onnx` (tch has no
//! ONNX exporter and no Python is involved). It targets ONNX IR 8 / opset 17 so that old onnxruntime releases
//! load it. Choices made for speed, all exact rewrites of the definition:
//! - the text-guided attention FC `[seq_t ; text] W^T` is split into `seq W_seq^T` (one MatMul over [B, T, 2H])
//!   plus `text W_text^T + b` computed once per video and broadcast over time;
//! - BERT's query, key and value projections are one MatMul, with `1/sqrt(d_head)` folded into the query weights;
//! - the TextCNN's convolutions are one MatMul over every (window, tap) pair plus shifted sums;
//! - the encoder works on `[B * L, hidden]` rows, so ONNX Runtime fuses each projection's MatMul + bias (+ ReLU)
//!   into a Gemm.
//!
//! `--precision int8` changes only how the weight products are written (`graph.rs`: ONNX Runtime's quantized
//! operators, int8 weights per output channel) and the encoder's self-attention (one fused QAttention).

mod graph;

use std::collections::HashMap;
use std::path::PathBuf;

use anyhow::{ensure, Context, Result};
use mvt_formats::config::{EncoderConfig, LossType, ModelConfig, PoolMode, TextEncoder};
use mvt_formats::model_file::{input_signature, output_signature, sealed, ModelMetadata, Precision, Provenance};
use mvt_formats::onnx::{
    AttributeProto, DataType, GraphProto, ModelProto, OperatorSetIdProto, StringStringEntryProto, TensorProto,
    IR_VERSION, OPSET_VERSION,
};
use tch::{Kind, Tensor};

pub use self::graph::Component;
use self::graph::{int8_method, Graph, MS_DOMAIN};
use crate::checkpoint;
use crate::encoder::Activation;
use crate::model::{head_width, MASKED};
use crate::weights_check::{check_safetensors_length, check_tensors_finite};

/// BERT's additive attention-mask value for padding tokens.
const BERT_MASK: f32 = -10000.0;

/// Named trained weights: a VarStore's variables or a checkpoint's safetensors.
pub struct Weights(HashMap<String, Tensor>);

impl Weights {
    pub fn new(named: impl IntoIterator<Item = (String, Tensor)>) -> Self {
        Weights(named.into_iter().collect())
    }

    /// The f32 CPU tensor `name`, which must have `shape`.
    fn get(&self, name: &str, shape: &[usize]) -> Result<Tensor> {
        let tensor = self.0.get(name).with_context(|| format!("the weights have no `{name}` (docs/model.md)"))?;
        let expected: Vec<i64> = shape.iter().map(|&n| n as i64).collect();
        ensure!(tensor.size() == expected, "`{name}` has shape {:?}, the config implies {expected:?}", tensor.size());
        Ok(tensor.to_device(tch::Device::Cpu).to_kind(Kind::Float).detach())
    }
}

/// The whole graph of `config`'s model with `weights` (docs/model.md "Forward", eval mode), its weight
/// products in `precision`, but those of `keep_fp32` in f32.
pub fn build_graph(
    config: &ModelConfig,
    weights: &Weights,
    precision: Precision,
    keep_fp32: &[Component],
) -> Result<GraphProto> {
    ensure!(config.use_rgb || config.use_audio || config.use_text, "the model has no branch switched on");
    ensure!(!config.textcnn_windows.is_empty() && config.textcnn_filters > 0, "the TextCNN has no window or filter");
    let mut g = Graph::new(precision, keep_fp32);

    let text = if config.needs_text() { Some(text_branch(&mut g, config, weights)?) } else { None };
    let guide = text.as_deref().filter(|_| config.pool_mode == PoolMode::TextGuide);
    let mut parts = Vec::new();
    for (prefix, on, dim, hidden) in [
        ("rgb", config.use_rgb, config.rgb_dim, config.lstm_size_img),
        ("audio", config.use_audio, config.audio_dim, config.lstm_size_audio),
    ] {
        let attention = format!("{prefix}_attention");
        if on {
            let branch = SequenceBranch { prefix, dim, hidden, text_dim: config.text_dim() };
            parts.push(branch.build(&mut g, weights, guide, &attention)?);
        } else {
            // All-zero attention of the input's [B, T] shape.
            let shape =
                g.op(prefix, "Shape", &[prefix], vec![AttributeProto::int("start", 0), AttributeProto::int("end", 2)]);
            let zero = AttributeProto::tensor("value", TensorProto::from_f32("zero", &[1], &[0.0]));
            g.node("ConstantOfShape", &[&shape], vec![zero], &attention);
        }
    }
    if config.use_text {
        parts.push(text.clone().expect("use_text implies the text branch"));
    }

    let head_in = if parts.len() == 1 {
        parts.pop().expect("one part")
    } else {
        let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
        g.op("head", "Concat", &parts, vec![AttributeProto::int("axis", 1)])
    };
    let width = head_width(config);
    let c = config.num_classes;
    let logits = g.linear(
        Component::Head,
        "head",
        &head_in,
        &weights.get("head.weight", &[c, width])?,
        &weights.get("head.bias", &[c])?,
    )?;
    match config.loss_type {
        LossType::Sigmoid => g.node("Sigmoid", &[&logits], vec![], "probs"),
        LossType::Softmax => g.node("Softmax", &[&logits], vec![AttributeProto::int("axis", -1)], "probs"),
    };

    Ok(GraphProto {
        node: g.nodes,
        name: "AttentionLstmErnie".into(),
        initializer: g.initializers,
        input: input_signature(config.rgb_dim, config.audio_dim),
        output: output_signature(c),
        ..Default::default()
    })
}

/// Title ids and mask -> encoder -> masked TextCNN -> `[B, text_dim]`.
fn text_branch(g: &mut Graph, config: &ModelConfig, weights: &Weights) -> Result<String> {
    let mask_f = g.op("text", "Cast", &["text_mask"], vec![AttributeProto::int("to", DataType::Float as i64)]);
    let x = match &config.text_encoder {
        TextEncoder::Embedding { vocab_size, dim } => {
            let table =
                g.weight("text.embedding.weight", &weights.get("text.embedding.weight", &[*vocab_size, *dim])?)?;
            g.op("text", "Gather", &[&table, "text_ids"], vec![AttributeProto::int("axis", 0)])
        }
        TextEncoder::Pretrained(encoder) => bert(g, encoder, weights, &mask_f)?,
    };
    // Padding rows become exactly 0, so the convolution sees zeros past the title.
    let axis2 = g.ints("const.axis2", &[2]);
    let mask_col = g.op("text", "Unsqueeze", &[&mask_f, &axis2], vec![]);
    let x = g.op("text", "Mul", &[&x, &mask_col], vec![]); // [B, L, E]

    // The convolutions as one GEMM: every (window k, tap j) pair projects each position once,
    // P[t, (k, j)] = x_t W_k[:, :, j]^T, and window k's output at t sums its taps' rows t - k/2 + j
    // (zero outside the title, as the convolution's zero padding): one MatMul plus slices of a padded P,
    // several times faster in ONNX Runtime than Conv's im2col for these shapes.
    let windows = &config.textcnn_windows;
    let left = windows.iter().map(|k| k / 2).max().expect("at least one window");
    let right = windows.iter().map(|k| k - 1 - k / 2).max().expect("at least one window");
    let (dim, filters) = (config.text_encoder.output_dim(), config.textcnn_filters);
    let taps: usize = windows.iter().sum();
    let mut columns = Vec::with_capacity(taps);
    for &k in windows {
        let w = weights.get(&format!("text.conv{k}.weight"), &[filters, dim, k])?;
        columns.extend((0..k as i64).map(|j| w.select(2, j).tr()));
    }
    let taps_w = Tensor::cat(&columns, 1); // [E, taps * F]
    let projected = g.matmul_weight(Component::TextCnn, "text", &x, "text.conv.taps_weight", &taps_w, None)?;
    let split_taps = g.ints("text.const.split_taps", &[0, 0, taps as i64, filters as i64]);
    let projected = g.op("text", "Reshape", &[&projected, &split_taps], vec![]); // [B, L, taps, F]
    let pads = g.ints("text.const.pads", &[0, left as i64, 0, 0, 0, right as i64, 0, 0]);
    let padded = g.op("text", "Pad", &[&projected, &pads], vec![]); // [B, left + L + right, taps, F]
    let slice_axes = g.ints("text.const.slice_axes", &[1, 2]);
    let mut outputs = Vec::with_capacity(windows.len());
    let mut tap = 0i64;
    for &k in windows {
        let mut terms = Vec::with_capacity(k + 1);
        for j in 0..k {
            // Rows start .. start + L of the padded P; the end counts from the back since L is dynamic.
            let start = (left - k / 2 + j) as i64;
            let from_end = (left + right) as i64 - start;
            let end = if from_end == 0 { i64::MAX } else { -from_end };
            let starts = g.ints(&format!("text.const.starts_{start}_{tap}"), &[start, tap]);
            let ends = g.ints(&format!("text.const.ends_{start}_{tap}"), &[end, tap + 1]);
            terms.push(g.op("text", "Slice", &[&padded, &starts, &ends, &slice_axes], vec![])); // [B, L, 1, F]
            tap += 1;
        }
        terms.push(g.weight(&format!("text.conv{k}.bias"), &weights.get(&format!("text.conv{k}.bias"), &[filters])?)?);
        let terms: Vec<&str> = terms.iter().map(String::as_str).collect();
        outputs.push(g.op("text", "Sum", &terms, vec![]));
    }
    let outputs: Vec<&str> = outputs.iter().map(String::as_str).collect();
    let y = g.op("text", "Concat", &outputs, vec![AttributeProto::int("axis", 2)]); // [B, L, windows, F]
    let y = g.op("text", "Tanh", &[&y], vec![]);
    // Positions past each title are excluded from the max by selection (the mask is a prefix).
    let valid = g.op("text", "Cast", &["text_mask"], vec![AttributeProto::int("to", DataType::Bool as i64)]);
    let axes23 = g.ints("const.axes23", &[2, 3]);
    let valid = g.op("text", "Unsqueeze", &[&valid, &axes23], vec![]); // [B, L, 1, 1]
    let masked = g.scalar_f32("const.masked", MASKED as f32);
    let y = g.op("text", "Where", &[&valid, &y, &masked], vec![]);
    let y =
        g.op("text", "ReduceMax", &[&y], vec![AttributeProto::ints("axes", &[1]), AttributeProto::int("keepdims", 0)]);
    let flat = g.ints("text.const.flat", &[0, config.text_dim() as i64]);
    Ok(g.op("text", "Reshape", &[&y, &flat], vec![])) // [B, windows * F], window-major as the trainer's concat
}

/// The post-LN BERT encoder: `[B, L]` ids -> `[B, L, hidden]`. Activations stay `[B * L, hidden]` between
/// layers so that every projection is a 2-D MatMul + bias (+ ReLU), which ONNX Runtime fuses into one Gemm.
fn bert(g: &mut Graph, c: &EncoderConfig, weights: &Weights, mask_f: &str) -> Result<String> {
    ensure!(
        c.num_attention_heads > 0 && c.hidden_size % c.num_attention_heads == 0,
        "hidden size {} is not a multiple of the {} attention heads",
        c.hidden_size,
        c.num_attention_heads
    );
    let activation = Activation::from_hf_name(&c.hidden_act)?;
    let p = "text.encoder";
    let h = c.hidden_size;
    let heads = c.num_attention_heads as i64;
    let head_dim = (h / c.num_attention_heads) as i64;
    let eps = c.layer_norm_eps as f32;
    let get = |name: &str, shape: &[usize]| weights.get(&format!("{p}.{name}"), shape);

    let word =
        g.weight(&format!("{p}.word_embeddings"), &get("embeddings.word_embeddings.weight", &[c.vocab_size, h])?)?;
    // Every token has type 0, so the type embedding joins the position table once, here.
    let position = get("embeddings.position_embeddings.weight", &[c.max_position_embeddings, h])?;
    let token_type = get("embeddings.token_type_embeddings.weight", &[c.type_vocab_size, h])?;
    let position = g.weight(&format!("{p}.position_and_type"), &(position + token_type.get(0)))?;
    let x = g.op(p, "Gather", &[&word, "text_ids"], vec![AttributeProto::int("axis", 0)]);
    let len = g.op(p, "Shape", &["text_ids"], vec![AttributeProto::int("start", 1), AttributeProto::int("end", 2)]);
    let zero = g.ints("const.zero", &[0]);
    let position = g.op(p, "Slice", &[&position, &zero, &len, &zero], vec![]);
    let x = g.op(p, "Add", &[&x, &position], vec![]);
    let x = layer_norm(g, &format!("{p}.embeddings.LayerNorm"), &x, h, eps, weights)?;
    let rows = g.ints(&format!("{p}.const.rows"), &[-1, h as i64]);
    let mut x = g.op(p, "Reshape", &[&x, &rows], vec![]); // [B * L, hidden]

    // [B, L, hidden], from the ids' dynamic [B, L].
    let batch_len = g.op(p, "Shape", &["text_ids"], vec![]);
    let hidden_dim = g.ints(&format!("{p}.const.hidden_dim"), &[h as i64]);
    let out_shape = g.op(p, "Concat", &[&batch_len, &hidden_dim], vec![AttributeProto::int("axis", 0)]);
    let attention = if g.quantizes(Component::Encoder) {
        let mask_index = g.op(p, "Cast", &["text_mask"], vec![AttributeProto::int("to", DataType::Int32 as i64)]);
        SelfAttention::Quantized { heads, mask_index, out_shape: out_shape.clone() }
    } else {
        // (1 - m) * -10000 as [B, 1, 1, L], added to every head's scores.
        let one = g.scalar_f32("const.one", 1.0);
        let mask_value = g.scalar_f32("const.bert_mask", BERT_MASK);
        let pad = g.op(p, "Sub", &[&one, mask_f], vec![]);
        let pad = g.op(p, "Mul", &[&pad, &mask_value], vec![]);
        let axes = g.ints("const.axes12", &[1, 2]);
        let mask_bias = g.op(p, "Unsqueeze", &[&pad, &axes], vec![]);
        let qkv_dims = g.ints(&format!("{p}.const.qkv_dims"), &[3, heads, head_dim]);
        let qkv_shape = g.op(p, "Concat", &[&batch_len, &qkv_dims], vec![AttributeProto::int("axis", 0)]);
        let thirds = g.ints(&format!("{p}.const.thirds"), &[1, 1, 1]);
        SelfAttention::Unfused { scale: 1.0 / (head_dim as f64).sqrt(), mask_bias, qkv_shape, thirds }
    };

    let layers = BertLayers { hidden: h, intermediate: c.intermediate_size, eps, activation, rows, attention };
    for i in 0..c.num_hidden_layers {
        x = layers.layer(g, weights, &format!("{p}.encoder.layer.{i}"), &x)?;
    }
    Ok(g.op(p, "Reshape", &[&x, &out_shape], vec![]))
}

/// How a BERT layer's self-attention is written, with the graph values [`bert`] computes once for all layers.
enum SelfAttention {
    /// FP32: one packed QKV projection (1/sqrt(d_head) folded into the query's weights), a 5-D reshape and
    /// transposes to heads, masked softmax.
    Unfused {
        scale: f64,
        /// `[B, 1, 1, L]`: 0 on tokens, -10000 on padding.
        mask_bias: String,
        /// `[B, L, 3, heads, d]`, and the Split sizes `[1, 1, 1]`.
        qkv_shape: String,
        thirds: String,
    },
    /// INT8: ONNX Runtime's fused QAttention (int8 QKV weights; no transposes; its own 1/sqrt(d_head) and
    /// -10000 on padding, the same as BERT's).
    Quantized {
        heads: i64,
        /// `text_mask` as int32 `[B, L]`.
        mask_index: String,
        /// `[B, L, hidden]`.
        out_shape: String,
    },
}

/// What every BERT layer reads: its sizes and activation, and the graph values [`bert`] computes once for all.
struct BertLayers {
    hidden: usize,
    intermediate: usize,
    eps: f32,
    activation: Activation,
    /// The shape `[B * L, hidden]`.
    rows: String,
    attention: SelfAttention,
}

impl BertLayers {
    /// Adds the layer whose weights are named `{l}.*` on `x` `[B * L, hidden]`; returns its output, same shape.
    fn layer(&self, g: &mut Graph, weights: &Weights, l: &str, x: &str) -> Result<String> {
        let (h, ff, eps) = (self.hidden, self.intermediate, self.eps);
        let a = format!("{l}.attention.self");
        let lw = |name: &str, shape: &[usize]| weights.get(&format!("{l}.{name}"), shape);
        let qkv = |scale: f64| -> Result<(Tensor, Tensor)> {
            let q_w = lw("attention.self.query.weight", &[h, h])? * scale;
            let q_b = lw("attention.self.query.bias", &[h])? * scale;
            let w = [q_w, lw("attention.self.key.weight", &[h, h])?, lw("attention.self.value.weight", &[h, h])?];
            let b = [q_b, lw("attention.self.key.bias", &[h])?, lw("attention.self.value.bias", &[h])?];
            Ok((Tensor::cat(&w, 0), Tensor::cat(&b, 0))) // [3 * hidden, hidden], [3 * hidden]
        };
        let context = match &self.attention {
            SelfAttention::Unfused { scale, mask_bias, qkv_shape, thirds } => {
                let (qkv_w, qkv_b) = qkv(*scale)?;
                let qkv = g.linear(Component::Encoder, &format!("{a}.qkv"), x, &qkv_w, &qkv_b)?; // [B * L, 3 * hidden]
                let qkv = g.op(&a, "Reshape", &[&qkv, qkv_shape], vec![]);
                let qkv = g.op(&a, "Transpose", &[&qkv], vec![AttributeProto::ints("perm", &[2, 0, 3, 1, 4])]); // [3, B, heads, L, d]
                let names: Vec<String> = ["q", "k", "v"].iter().map(|s| g.fresh(&a, s)).collect();
                g.node_n("Split", &[&qkv, thirds], vec![AttributeProto::int("axis", 0)], &names); // each [1, B, heads, L, d]
                let k_t = g.op(&a, "Transpose", &[&names[1]], vec![AttributeProto::ints("perm", &[0, 1, 2, 4, 3])]);
                let scores = g.op(&a, "MatMul", &[&names[0], &k_t], vec![]);
                let scores = g.op(&a, "Add", &[&scores, mask_bias], vec![]);
                let probs = g.op(&a, "Softmax", &[&scores], vec![AttributeProto::int("axis", -1)]);
                let context = g.op(&a, "MatMul", &[&probs, &names[2]], vec![]); // [1, B, heads, L, d]
                g.op(&a, "Transpose", &[&context], vec![AttributeProto::ints("perm", &[0, 1, 3, 2, 4])])
            }
            SelfAttention::Quantized { heads, mask_index, out_shape } => {
                let (qkv_w, qkv_b) = qkv(1.0)?;
                let x = g.op(&a, "Reshape", &[x, out_shape], vec![]); // [B, L, hidden]
                g.quantized_attention(&format!("{a}.qkv"), &x, &qkv_w.tr(), &qkv_b, *heads, mask_index)?
            }
        };
        let context = g.op(&a, "Reshape", &[&context, &self.rows], vec![]);
        let o = format!("{l}.attention.output");
        let out = g.linear(
            Component::Encoder,
            &format!("{o}.dense"),
            &context,
            &lw("attention.output.dense.weight", &[h, h])?,
            &lw("attention.output.dense.bias", &[h])?,
        )?;
        let sum = g.op(&o, "Add", &[x, &out], vec![]);
        let x = layer_norm(g, &format!("{o}.LayerNorm"), &sum, h, eps, weights)?;

        let mid = g.linear(
            Component::Encoder,
            &format!("{l}.intermediate.dense"),
            &x,
            &lw("intermediate.dense.weight", &[ff, h])?,
            &lw("intermediate.dense.bias", &[ff])?,
        )?;
        let mid = activation_node(g, &format!("{l}.intermediate"), &mid, self.activation);
        let out = g.linear(
            Component::Encoder,
            &format!("{l}.output.dense"),
            &mid,
            &lw("output.dense.weight", &[h, ff])?,
            &lw("output.dense.bias", &[h])?,
        )?;
        let sum = g.op(l, "Add", &[&x, &out], vec![]);
        layer_norm(g, &format!("{l}.output.LayerNorm"), &sum, h, eps, weights)
    }
}

fn layer_norm(g: &mut Graph, name: &str, x: &str, width: usize, eps: f32, weights: &Weights) -> Result<String> {
    let gamma = g.weight(&format!("{name}.weight"), &weights.get(&format!("{name}.weight"), &[width])?)?;
    let beta = g.weight(&format!("{name}.bias"), &weights.get(&format!("{name}.bias"), &[width])?)?;
    let attrs = vec![AttributeProto::int("axis", -1), AttributeProto::float("epsilon", eps)];
    Ok(g.op(name, "LayerNormalization", &[x, &gamma, &beta], attrs))
}

/// The encoder's feed-forward activation, written in the forms ONNX Runtime fuses (Gemm + Relu, Gelu).
fn activation_node(g: &mut Graph, hint: &str, x: &str, activation: Activation) -> String {
    let inner = match activation {
        Activation::Relu => return g.op(hint, "Relu", &[x], vec![]),
        Activation::Gelu => {
            // 0.5 x (1 + erf(x / sqrt 2))
            let sqrt2 = g.scalar_f32("const.sqrt2", std::f32::consts::SQRT_2);
            let t = g.op(hint, "Div", &[x, &sqrt2], vec![]);
            g.op(hint, "Erf", &[&t], vec![])
        }
        Activation::GeluTanh => {
            // 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
            let cubic = g.scalar_f32("const.gelu_cubic", 0.044715);
            let k = g.scalar_f32("const.sqrt_2_over_pi", (2.0 / std::f64::consts::PI).sqrt() as f32);
            let three = g.scalar_f32("const.three", 3.0);
            let t = g.op(hint, "Pow", &[x, &three], vec![]);
            let t = g.op(hint, "Mul", &[&t, &cubic], vec![]);
            let t = g.op(hint, "Add", &[x, &t], vec![]);
            let t = g.op(hint, "Mul", &[&t, &k], vec![]);
            g.op(hint, "Tanh", &[&t], vec![])
        }
    };
    let half = g.scalar_f32("const.half", 0.5);
    let one = g.scalar_f32("const.one", 1.0);
    let t = g.op(hint, "Add", &[&inner, &one], vec![]);
    let t = g.op(hint, "Mul", &[x, &t], vec![]);
    g.op(hint, "Mul", &[&t, &half], vec![])
}

/// One bidirectional LSTM + attention pooling branch (`rgb` or `audio`).
struct SequenceBranch {
    prefix: &'static str,
    dim: usize,
    hidden: usize,
    text_dim: usize,
}

impl SequenceBranch {
    /// Adds the branch; its attention becomes the graph output `attention`; returns pooled `[B, 2H]`.
    fn build(&self, g: &mut Graph, weights: &Weights, text: Option<&str>, attention: &str) -> Result<String> {
        let (p, h, d) = (self.prefix, self.hidden, self.dim);
        let axis1 = g.ints("const.axis1", &[1]);
        let axis2 = g.ints("const.axis2", &[2]);
        let len = format!("{p}_len");
        let x = g.op(p, "Transpose", &[p], vec![AttributeProto::ints("perm", &[1, 0, 2])]); // [T, B, D]
        let lens = g.op(p, "Cast", &[&len], vec![AttributeProto::int("to", DataType::Int32 as i64)]);
        let (mut w, mut r, mut b) = (vec![], vec![], vec![]);
        for suffix in ["", "_reverse"] {
            let get = |name: &str, shape: &[usize]| weights.get(&format!("{p}.lstm.{name}_l0{suffix}"), shape);
            w.push(onnx_gate_order(&get("weight_ih", &[4 * h, d])?));
            r.push(onnx_gate_order(&get("weight_hh", &[4 * h, h])?));
            b.push(Tensor::cat(
                &[onnx_gate_order(&get("bias_ih", &[4 * h])?), onnx_gate_order(&get("bias_hh", &[4 * h])?)],
                0,
            ));
        }
        let (w, r, b) = (Tensor::stack(&w, 0), Tensor::stack(&r, 0), Tensor::stack(&b, 0));
        let y = g.lstm(p, &x, &w, &r, &b, &lens, h)?; // [T, 2, B, H], 0 past each length
        let y = g.op(p, "Transpose", &[&y], vec![AttributeProto::ints("perm", &[2, 0, 1, 3])]);
        let both = g.ints(&format!("{p}.const.both_directions"), &[0, 0, 2 * h as i64]);
        let seq = g.op(p, "Reshape", &[&y, &both], vec![]); // [B, T, 2H] = [h_fwd, h_bwd]

        let score_w =
            g.weight(&format!("{p}.score.weight_t"), &weights.get(&format!("{p}.score.weight"), &[1, 2 * h])?.tr())?;
        let scored = match text {
            Some(text) => {
                // att([seq_t ; text]) = seq_t W_seq^T + (text W_text^T + b): the text part once per video.
                let att_w = weights.get(&format!("{p}.att.weight"), &[2 * h, 2 * h + self.text_dim])?;
                let att_b = weights.get(&format!("{p}.att.bias"), &[2 * h])?;
                let seq_w = att_w.narrow(1, 0, 2 * h as i64).tr();
                let text_part = g.linear(
                    Component::Pooling,
                    &format!("{p}.att.text"),
                    text,
                    &att_w.narrow(1, 2 * h as i64, self.text_dim as i64),
                    &att_b,
                )?;
                let text_part = g.op(p, "Unsqueeze", &[&text_part, &axis1], vec![]);
                let e = g.matmul_weight(Component::Pooling, p, &seq, &format!("{p}.att.seq_weight_t"), &seq_w, None)?;
                let e = g.op(p, "Add", &[&e, &text_part], vec![]);
                let e = g.op(p, "Tanh", &[&e], vec![]);
                g.op(p, "MatMul", &[&e, &score_w], vec![])
            }
            None => g.op(p, "MatMul", &[&seq, &score_w], vec![]),
        };
        let score_b = g.weight(&format!("{p}.score.bias"), &weights.get(&format!("{p}.score.bias"), &[1])?)?;
        let scores = g.op(p, "Squeeze", &[&scored, &axis2], vec![]);
        let scores = g.op(p, "Add", &[&scores, &score_b], vec![]); // [B, T]

        // valid[b, t] = t < len[b]; padding gets MASKED by selection, so its softmax weight is exactly 0.
        let steps = g.op(p, "Shape", &[p], vec![AttributeProto::int("start", 1), AttributeProto::int("end", 2)]);
        let zero = g.scalar_i64("const.zero_scalar", 0);
        let one = g.scalar_i64("const.one_scalar", 1);
        let axis0 = g.ints("const.axis0", &[0]);
        let steps = g.op(p, "Squeeze", &[&steps, &axis0], vec![]);
        let positions = g.op(p, "Range", &[&zero, &steps, &one], vec![]);
        let positions = g.op(p, "Unsqueeze", &[&positions, &axis0], vec![]);
        let lengths = g.op(p, "Unsqueeze", &[&len, &axis1], vec![]);
        let valid = g.op(p, "Less", &[&positions, &lengths], vec![]);
        let masked = g.scalar_f32("const.masked", MASKED as f32);
        let scores = g.op(p, "Where", &[&valid, &scores, &masked], vec![]);
        g.node("Softmax", &[&scores], vec![AttributeProto::int("axis", -1)], attention);

        let weights_row = g.op(p, "Unsqueeze", &[attention, &axis1], vec![]); // [B, 1, T]
        let pooled = g.op(p, "MatMul", &[&weights_row, &seq], vec![]);
        Ok(g.op(p, "Squeeze", &[&pooled, &axis1], vec![]))
    }
}

/// PyTorch's LSTM gate blocks i, f, g, o (along dim 0) reordered to ONNX's i, o, f, c.
fn onnx_gate_order(t: &Tensor) -> Tensor {
    let gates = t.chunk(4, 0);
    Tensor::cat(&[&gates[0], &gates[3], &gates[1], &gates[2]], 0)
}

/// The complete model file: graph, opset, producer and the mvt metadata, sealed with its `mvt.digest`.
pub fn model_proto(graph: GraphProto, metadata: &ModelMetadata) -> ModelProto {
    let mut opset_import = vec![OperatorSetIdProto { domain: String::new(), version: OPSET_VERSION }];
    if graph.node.iter().any(|node| node.domain == MS_DOMAIN) {
        opset_import.push(OperatorSetIdProto { domain: MS_DOMAIN.into(), version: 1 });
    }
    sealed(ModelProto {
        ir_version: IR_VERSION,
        opset_import,
        producer_name: "mvt-train".into(),
        producer_version: env!("CARGO_PKG_VERSION").into(),
        doc_string: format!(
            "AttentionLstmErnie multimodal video tagger ({} classes); inputs, outputs and metadata keys: docs/model-file.md",
            metadata.classes.len()
        ),
        graph: Some(graph),
        metadata_props: metadata
            .to_props()
            .into_iter()
            .map(|(key, value)| StringStringEntryProto { key, value })
            .collect(),
        ..Default::default()
    })
}

/// Which checkpoint to export, to where.
#[derive(Clone, Debug)]
pub struct ExportOptions {
    /// Checkpoint directory (model.safetensors, config.json, tokenizer.json, classes.txt, provenance).
    pub checkpoint: PathBuf,
    /// The ONNX file to write.
    pub out: PathBuf,
    /// Default decision threshold stored in the file; `None`: the checkpoint config's INFER threshold.
    pub threshold: Option<f64>,
    /// The weight products' arithmetic (`mvt.precision`).
    pub precision: Precision,
    /// INT8 only: components whose weight products stay f32.
    pub keep_fp32: Vec<Component>,
}

/// Writes the checkpoint's model file.
pub fn run(options: &ExportOptions) -> Result<()> {
    let ckpt = checkpoint::load(&options.checkpoint)?;
    let weights_path = ckpt.dir.join(checkpoint::WEIGHTS);
    check_safetensors_length(&weights_path)?;
    let tensors =
        Tensor::read_safetensors(&weights_path).with_context(|| format!("reading {}", weights_path.display()))?;
    check_tensors_finite(tensors.iter().map(|(name, t)| (name.clone(), t.shallow_clone())), &weights_path)?;
    let weights = Weights::new(tensors);
    let threshold = options.threshold.unwrap_or(ckpt.config.infer.threshold);
    ensure!((0.0..=1.0).contains(&threshold), "--threshold {threshold} is not in [0, 1]");
    let mut metadata = ModelMetadata::new(
        ckpt.config.model.clone(),
        ckpt.classes.clone(),
        threshold,
        ckpt.tokenizer.to_json(),
        provenance(&ckpt.provenance),
    );
    ensure!(
        options.keep_fp32.is_empty() || options.precision == Precision::Int8,
        "--keep-fp32 applies to --precision int8 only"
    );
    metadata.precision = options.precision;
    metadata.quantization = (options.precision == Precision::Int8).then(|| int8_method(&options.keep_fp32));
    let graph = build_graph(&ckpt.config.model, &weights, options.precision, &options.keep_fp32)?;
    ensure!(
        options.precision == Precision::Fp32 || graph.node.iter().any(|node| node.domain == MS_DOMAIN),
        "--keep-fp32 keeps every part of this model in f32: export it with --precision fp32"
    );
    let model = model_proto(graph, &metadata);
    // Written atomically (a temporary file renamed over `out`): a failed write leaves any previous file intact.
    let bytes = prost::Message::encode_to_vec(&model);
    mvt_formats::atomic_file::write_atomic(&options.out, &bytes)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", options.out.display()))?;
    println!("exported {} -> {} ({})", ckpt.dir.display(), options.out.display(), options.precision);
    Ok(())
}

/// The model file's provenance from the checkpoint's.
fn provenance(p: &checkpoint::Provenance) -> Provenance {
    Provenance {
        training_data: serde_json::json!({ "data_dir": p.data_dir, "seed": p.seed, "trainer": p.trainer }),
        epoch: Some(p.epoch),
        validation_metrics: [("loss", p.val_loss), ("hit_at_1", p.val_hit_at_1), ("hit_at_2", p.val_hit_at_2)]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
        exporter_version: format!("mvt-train {}", env!("CARGO_PKG_VERSION")),
    }
}
