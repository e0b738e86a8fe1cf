"""The exported model file, checked by the onnx package and run by ONNX Runtime (pinned and oldest supported).

Exports two variants from random-weight checkpoints (`mvt-train init-checkpoint`, then `mvt-train export`):
a small BERT encoder with text-guided pooling, and an embedding-only text branch with self-attention and the
audio branch off; each in FP32 and in INT8 (`--precision int8`, ONNX Runtime's com.microsoft quantized operators). The oldest-onnxruntime check runs in a separate interpreter ($MVT_OLDEST_ORT_PYTHON, default
.venv-ort-oldest/bin/python) since one environment cannot hold two onnxruntime versions.
"""
import hashlib
import json
import os
import subprocess
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from fixture_paths import ROOT, BIN

OLDEST_ORT_PYTHON = Path(os.environ.get("MVT_OLDEST_ORT_PYTHON", ROOT / ".venv-ort-oldest" / "bin" / "python"))
OLDEST_ORT = "1.15.0"
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
VOCAB = 40

BERT = {"kind": "pretrained", "vocab_size": VOCAB, "hidden_size": 16, "num_hidden_layers": 2, "num_attention_heads": 4,
        "intermediate_size": 32, "hidden_act": "gelu", "max_position_embeddings": 32}
VARIANTS = {
    "bert_text_guide": {"text_encoder": BERT, "pool_mode": "text_guide", "use_audio": True},
    "embedding_self_no_audio": {"text_encoder": {"kind": "embedding", "vocab_size": VOCAB, "dim": 12},
                                "pool_mode": "self_attention", "use_audio": False},
}


def config(variant):
    model = {"num_classes": 5, "rgb_dim": 10, "audio_dim": 6, "lstm_size_img": 8, "lstm_size_audio": 4, "drop_rate": 0.5,
             "text_max_len": 12, "use_rgb": True, "use_text": True, "ernie_freeze": True, "textcnn_windows": [2, 3, 4],
             "textcnn_filters": 6, "loss_type": "sigmoid", **VARIANTS[variant]}
    train = {"epochs": 1, "learning_rate": 7e-4, "decay_gamma": 0.2, "decay_epochs": [5], "l2_weight_decay": 8e-4,
             "batch_size": 4, "valid_batch_size": 4, "early_stop": 3, "title_drop_rate": 0.0}
    return {"model": model, "train": train, "infer": {"threshold": 0.5, "batch_size": 4}}


# INT8 against FP32, and an INT8 video against itself in another batch (dynamic quantization computes one
# activation scale per tensor, so batch mates and their padding move a result, within this bound):
# docs/model-file.md "Precision".
INT8_PROBS_TOLERANCE = 0.02


@pytest.fixture(scope="module", params=[(v, p) for v in sorted(VARIANTS) for p in ("fp32", "int8")],
                ids=lambda param: "-".join(param))
def exported(request, tmp_path_factory):
    variant, precision = request.param
    work = tmp_path_factory.mktemp(variant)
    (work / "config.json").write_text(json.dumps(config(variant)))
    (work / "vocab.txt").write_text("\n".join(SPECIALS + [f"w{i}" for i in range(VOCAB - len(SPECIALS))]) + "\n")
    train = str(BIN / "mvt-train")
    subprocess.run([train, "init-checkpoint", "--config", str(work / "config.json"), "--vocab", str(work / "vocab.txt"),
                    "--out", str(work / "ckpt"), "--seed", "3"], check=True)
    subprocess.run([train, "export", "--checkpoint", str(work / "ckpt"), "--out", str(work / "model.onnx"),
                    "--threshold", "0.4"], check=True)
    if precision == "int8":
        subprocess.run([train, "export", "--checkpoint", str(work / "ckpt"), "--out", str(work / "int8.onnx"),
                        "--threshold", "0.4", "--precision", "int8"], check=True)
        return work / "int8.onnx", config(variant)["model"]
    return work / "model.onnx", config(variant)["model"]


def is_int8(path):
    return path.name == "int8.onnx"


def feed(model_config, batch=3, frames=(7, 1, 3), segments=(5, 2, 1), tokens=(6, 2, 4), seed=0):
    """A padded batch: every length differs, one title is empty ([CLS] [SEP])."""
    rng = np.random.default_rng(seed)
    t1, t2, width = max(frames), max(segments), max(tokens)
    mask = (np.arange(width)[None, :] < np.array(tokens)[:, None]).astype(np.int64)
    rgb = rng.standard_normal((batch, t1, model_config["rgb_dim"]), dtype=np.float32)
    rgb *= (np.arange(t1)[None, :] < np.array(frames)[:, None])[..., None]
    audio = rng.standard_normal((batch, t2, model_config["audio_dim"]), dtype=np.float32)
    audio *= (np.arange(t2)[None, :] < np.array(segments)[:, None])[..., None]
    return {"rgb": rgb, "rgb_len": np.array(frames, dtype=np.int64), "audio": audio,
            "audio_len": np.array(segments, dtype=np.int64),
            "text_ids": rng.integers(len(SPECIALS), VOCAB, (batch, width)) * mask, "text_mask": mask}


def test_full_check_passes_and_the_file_describes_itself(exported):
    path, model_config = exported
    model = onnx.load(str(path))
    # The onnx package knows no com.microsoft operator, so its shape inference (full_check) runs on FP32 only.
    onnx.checker.check_model(model, full_check=not is_int8(path))
    assert model.ir_version == 8
    contrib = [("com.microsoft", 1)] if is_int8(path) else []
    assert [(o.domain, o.version) for o in model.opset_import] == [("", 17)] + contrib
    ops = {(n.domain, n.op_type) for n in model.graph.node}
    if is_int8(path):
        assert meta_precision(model) == ("int8", True)
        # Every weight product is quantized but the attention pooling's score vector ([2H, 1]).
        weights = {i.name for i in model.graph.initializer}
        float_products = [n for n in model.graph.node
                          if n.op_type in ("MatMul", "Gemm", "LSTM") and any(i in weights for i in n.input)]
        assert all(n.op_type == "MatMul" and n.input[1].endswith(".score.weight_t") for n in float_products)
        assert ("com.microsoft", "DynamicQuantizeMatMul") in ops and ("com.microsoft", "DynamicQuantizeLSTM") in ops
        assert (("com.microsoft", "QAttention") in ops) == (model_config["text_encoder"]["kind"] == "pretrained")
    else:
        assert meta_precision(model) == ("fp32", False)
        assert all(domain == "" for domain, _ in ops)
    assert model.producer_name == "mvt-train" and model.doc_string
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta["mvt.format_version"] == "2"
    # docs/model-file.md's recipe: the SHA-256 of the file without its digest entry, which is its last field.
    unsealed = onnx.ModelProto()
    unsealed.CopyFrom(model)
    kept = [p for p in unsealed.metadata_props if p.key != "mvt.digest"]
    del unsealed.metadata_props[:]
    unsealed.metadata_props.extend(kept)
    assert meta["mvt.digest"] == "sha256:" + hashlib.sha256(unsealed.SerializeToString()).hexdigest()
    assert json.loads(meta["mvt.classes"]) == [f"class{i}" for i in range(5)]
    assert float(meta["mvt.threshold"]) == 0.4
    assert json.loads(meta["mvt.tokenizer"])["model"]["vocab"]["[CLS]"] == 2
    saved = json.loads(meta["mvt.model_config"])
    assert {k: v for k, v in saved.items() if k != "text_encoder"} == {k: v for k, v in model_config.items() if k != "text_encoder"}
    assert saved["text_encoder"]["kind"] == model_config["text_encoder"]["kind"]
    assert (meta["mvt.text_max_len"], meta["mvt.rgb_dim"], meta["mvt.audio_dim"]) == ("12", "10", "6")
    assert meta["mvt.empty_audio_frames"] == "10"
    assert json.loads(meta["mvt.provenance"])["exporter_version"].startswith("mvt-train ")
    dims = {i.name: [d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim] for i in model.graph.input}
    assert dims == {"rgb": ["B", "T1", 10], "rgb_len": ["B"], "audio": ["B", "T2", 6], "audio_len": ["B"],
                    "text_ids": ["B", "L"], "text_mask": ["B", "L"]}
    assert [o.name for o in model.graph.output] == ["probs", "rgb_attention", "audio_attention"]


def meta_precision(model):
    meta = {p.key: p.value for p in model.metadata_props}
    return meta["mvt.precision"], "mvt.quantization" in meta


def run(path, inputs):
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"]).run(None, inputs)


def test_runs_with_dynamic_shapes_and_masks_padding(exported):
    path, model_config = exported
    inputs = feed(model_config)
    probs, rgb_attention, audio_attention = run(path, inputs)
    assert probs.shape == (3, 5) and np.all((probs > 0) & (probs < 1))
    for attention, lengths, on in ((rgb_attention, inputs["rgb_len"], True),
                                   (audio_attention, inputs["audio_len"], model_config["use_audio"])):
        for row, n in zip(attention, lengths):
            assert np.all(row[n:] == 0)
            assert np.isclose(row.sum(), 1.0 if on else 0.0, atol=1e-6)
    # Padding never changes a result: the third video alone, without padding, scores the same.
    alone = {k: v[2:3] for k, v in inputs.items()}
    alone["rgb"], alone["audio"] = alone["rgb"][:, :3], alone["audio"][:, :1]
    alone["text_ids"], alone["text_mask"] = alone["text_ids"][:, :4], alone["text_mask"][:, :4]
    alone_outputs = run(path, alone)
    tolerance = INT8_PROBS_TOLERANCE if is_int8(path) else 1e-6
    np.testing.assert_allclose(alone_outputs[0], probs[2:3], atol=tolerance)
    np.testing.assert_allclose(alone_outputs[1], rgb_attention[2:3, :3], atol=tolerance)


def test_int8_stays_within_its_bound_of_fp32(exported):
    path, model_config = exported
    if not is_int8(path):
        pytest.skip("compares the INT8 export with its FP32 twin")
    for seed in range(3):
        inputs = feed(model_config, seed=seed)
        int8, fp32 = run(path, inputs), run(path.with_name("model.onnx"), inputs)
        assert np.abs(int8[0] - fp32[0]).max() <= INT8_PROBS_TOLERANCE
        assert np.abs(int8[0] - fp32[0]).max() > 0  # the quantized graph really runs


def test_oldest_supported_onnxruntime_gives_the_same_outputs(exported, tmp_path):
    if not OLDEST_ORT_PYTHON.exists():
        pytest.skip(f"no interpreter with onnxruntime {OLDEST_ORT} at {OLDEST_ORT_PYTHON} (make setup creates it)")
    path, model_config = exported
    inputs = feed(model_config, seed=1)
    np.savez(tmp_path / "inputs.npz", **inputs)
    script = (
        "import sys, numpy as np, onnxruntime as ort\n"
        f"assert ort.__version__ == {OLDEST_ORT!r}, ort.__version__\n"
        "x = dict(np.load(sys.argv[2]))\n"
        "out = ort.InferenceSession(sys.argv[1], providers=['CPUExecutionProvider']).run(None, x)\n"
        "np.savez(sys.argv[3], *out)\n"
    )
    subprocess.run([str(OLDEST_ORT_PYTHON), "-c", script, str(path), str(tmp_path / "inputs.npz"),
                    str(tmp_path / "outputs.npz")], check=True)
    old = np.load(tmp_path / "outputs.npz")
    if is_int8(path):
        # The releases quantize activations with different rounding (a value on a step's edge lands one step
        # apart, 3e-4 here), so the claim is the INT8 one: within the INT8 bound of the FP32 model.
        fp32 = run(path.with_name("model.onnx"), inputs)
        assert np.abs(old["arr_0"] - fp32[0]).max() <= INT8_PROBS_TOLERANCE
        return
    for i, new in enumerate(run(path, inputs)):
        np.testing.assert_allclose(old[f"arr_{i}"], new, atol=1e-5)
