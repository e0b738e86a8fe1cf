"""Speed of the exported graph against PyTorch's exporter, side by side in one run.

Makes a random-weight checkpoint at the original's default sizes (ERNIE-base-size encoder: 12 layers, 768 hidden,
12 heads, 3072 FFN, relu, vocab 18000; bi-LSTM 512 over 2048-d frames, bi-LSTM 128 over 128-d audio, TextCNN
2/3/4 x 256, text-guided pooling, 110 classes) with `mvt-train init-checkpoint`, exports it with `mvt-train export`,
exports ../shared/bench/ref_model.py's model of the same sizes with torch.onnx.export, and times both with
onnxruntime (2 intra-op threads, the same inputs: T=60, L=50, batch 1 and 16). Rounds alternate between the two
graphs and the median per graph is reported, since the machine is shared and noisy.

Usage: .venv/bin/python scripts/bench_export.py [--bin target/release] [--work DIR] [--rounds 5]
Prints a JSON summary (milliseconds per batch, and ours / reference ratios).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
REF_DIR = ROOT.parent / "shared" / "bench"
T, L, THREADS = 60, 50, 2


def default_config():
    """The resolved Config (checkpoint config.json) of the original's default model."""
    encoder = {
        "kind": "pretrained", "vocab_size": 18000, "hidden_size": 768, "num_hidden_layers": 12,
        "num_attention_heads": 12, "intermediate_size": 3072, "hidden_act": "relu",
        "max_position_embeddings": 512, "type_vocab_size": 2, "layer_norm_eps": 1e-12,
    }
    model = {
        "num_classes": 110, "rgb_dim": 2048, "audio_dim": 128, "lstm_size_img": 512, "lstm_size_audio": 128,
        "drop_rate": 0.5, "text_max_len": L, "pool_mode": "text_guide", "use_rgb": True, "use_audio": True,
        "use_text": True, "text_encoder": encoder, "ernie_freeze": True, "textcnn_windows": [2, 3, 4],
        "textcnn_filters": 256, "loss_type": "sigmoid",
    }
    train = {
        "epochs": 1, "learning_rate": 7e-4, "decay_gamma": 0.2, "decay_epochs": [5], "l2_weight_decay": 8e-4,
        "batch_size": 64, "valid_batch_size": 64, "early_stop": 5, "title_drop_rate": 0.0,
    }
    return {"model": model, "train": train, "infer": {"threshold": 0.5, "batch_size": 16}}


def export_ours(bin_dir, work):
    config = work / "config.json"
    config.write_text(json.dumps(default_config()))
    vocab = work / "vocab.txt"
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    vocab.write_text("\n".join(specials + [f"tok{i}" for i in range(18000 - len(specials))]) + "\n")
    ckpt, out = work / "ckpt", work / "ours.onnx"
    train = str(Path(bin_dir) / "mvt-train")
    subprocess.run([train, "init-checkpoint", "--config", str(config), "--vocab", str(vocab), "--out", str(ckpt)], check=True)
    t0 = time.perf_counter()
    subprocess.run([train, "export", "--checkpoint", str(ckpt), "--out", str(out)], check=True)
    return out, time.perf_counter() - t0


def export_reference(work):
    import torch
    sys.path.insert(0, str(REF_DIR))
    import ref_model

    # As ref_model.main: the fused MHA fast path has no ONNX export.
    torch.set_num_threads(THREADS)
    torch.backends.mha.set_fastpath_enabled(False)
    torch.manual_seed(0)
    model = ref_model.Model(True).eval()
    out = work / "ref.onnx"
    with torch.no_grad():
        torch.onnx.export(model, ref_model.inputs(1), str(out), input_names=["rgb", "audio", "ids", "mask"],
                          output_names=["p"], dynamic_axes={k: {0: "B", 1: "T"} for k in ["rgb", "audio", "ids", "mask"]},
                          opset_version=17, dynamo=False)
    return out


def feeds(batch, rng):
    rgb = rng.standard_normal((batch, T, 2048), dtype=np.float32)
    audio = rng.standard_normal((batch, T, 128), dtype=np.float32)
    ids = rng.integers(0, 18000, (batch, L), dtype=np.int64)
    mask = np.ones((batch, L), dtype=np.int64)
    lengths = np.full(batch, T, dtype=np.int64)
    ours = {"rgb": rgb, "rgb_len": lengths, "audio": audio, "audio_len": lengths, "text_ids": ids, "text_mask": mask}
    ref = {"rgb": rgb, "audio": audio, "ids": ids, "mask": mask}
    return ours, ref


def time_run(session, feed, n):
    t0 = time.perf_counter()
    for _ in range(n):
        session.run(None, feed)
    return (time.perf_counter() - t0) / n * 1e3


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bin", default=os.environ.get("MVT_BIN_DIR", str(ROOT / "target" / "release")))
    parser.add_argument("--work", help="keep the checkpoint and both ONNX files here (default: a temp dir)")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    import onnxruntime as ort

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.work or tmp)
        work.mkdir(parents=True, exist_ok=True)
        ours_path, export_s = export_ours(args.bin, work)
        ref_path = export_reference(work)
        options = ort.SessionOptions()
        options.intra_op_num_threads = THREADS
        sessions = {name: ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
                    for name, path in (("ours", ours_path), ("reference", ref_path))}
        rng = np.random.default_rng(0)
        result = {"onnxruntime": ort.__version__, "threads": THREADS, "T": T, "L": L, "export_seconds": round(export_s, 1)}
        for batch, n in ((1, 10), (16, 2)):
            ours_feed, ref_feed = feeds(batch, rng)
            feed = {"ours": ours_feed, "reference": ref_feed}
            for name, session in sessions.items():
                for _ in range(2):
                    session.run(None, feed[name])
            times = {name: [] for name in sessions}
            for _ in range(args.rounds):
                for name, session in sessions.items():
                    times[name].append(time_run(session, feed[name], n))
            medians = {name: statistics.median(t) for name, t in times.items()}
            result[f"b{batch}"] = {
                "ours_ms": round(medians["ours"], 1),
                "reference_ms": round(medians["reference"], 1),
                "ratio": round(medians["ours"] / medians["reference"], 3),
                "ours_rounds_ms": [round(t, 1) for t in times["ours"]],
                "reference_rounds_ms": [round(t, 1) for t in times["reference"]],
            }
            print(json.dumps(result[f"b{batch}"]), flush=True)
        print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
