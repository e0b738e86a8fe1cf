"""`make bench`: the model at the original's sizes, FP32 and INT8, against every baseline, side by side in one run.

Models (random weights; speed does not depend on them): our export of a checkpoint at the original's default sizes
(ERNIE-base-size encoder: 12 layers, 768 hidden, 12 heads, 3072 FFN, relu, vocab 18000; bi-LSTM 512 over
2048-d frames, bi-LSTM 128 over 128-d audio; TextCNN 2/3/4 x 256; text-guided pooling; 110 classes) in FP32 and
INT8 (`mvt-train export --precision`, and INT8 with `--keep-fp32 lstm`), onnxruntime's `quantize_dynamic` of our FP32 file (per-channel QInt8, with
LSTM), and ../shared/bench/ref_model.py's PyTorch model of the same sizes, exported by PyTorch (opset 17) and run
eager.

Sides, all on 2 intra-op threads, T=60 frames and 60 audio segments:
- libmvt FP32 / INT8 / INT8 with the LSTMs kept FP32 (`--keep-fp32 lstm`): the C ABI (the `mvt` package's ctypes calls): titles in, tokenization, padding, ONNX
  Runtime and the result objects all inside libmvt;
- onnxruntime FP32 / INT8: Python onnxruntime on the same files with the same inputs already tokenized and padded
  (a bare session run; libmvt's overhead is libmvt over this);
- quantize_dynamic, PyTorch-exported graph: Python onnxruntime;
- PyTorch eager: the reference model under torch.no_grad.
Settings: batch 1 with titles of L=50 and L=20 tokens, batch 16 with L=50. libmvt's overhead over a bare run has its
own phase per setting (the four libmvt and bare sides only, twice the rounds), since a few percent is below the drift
of a round through every side. Each round runs every side once, in
turn (every other round in reverse order), after a pause that lets the previous side's threads go idle (the machine
is shared and noisy); the table has
each side's median, the goals the median over rounds of the ratio within a round.

Writes OUT/README.md (tables, goals, machine), OUT/results.json and OUT/chart.png (`mvt-train bar-chart`).
Usage: .venv/bin/python scripts/bench.py [--out out/bench] [--work DIR] [--rounds 11] [--bin target/release]
"""
import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
REF_DIR = ROOT.parent / "shared" / "bench"
T, THREADS, VOCAB = 60, 2, 18000
SETTINGS = [("batch 1, L=50", 1, 50), ("batch 1, L=20", 1, 20), ("batch 16, L=50", 16, 50)]
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def default_config(text_max_len=50):
    """The resolved Config (checkpoint config.json) of the original's default model."""
    encoder = {
        "kind": "pretrained", "vocab_size": VOCAB, "hidden_size": 768, "num_hidden_layers": 12,
        "num_attention_heads": 12, "intermediate_size": 3072, "hidden_act": "relu",
        "max_position_embeddings": 512, "type_vocab_size": 2, "layer_norm_eps": 1e-12,
    }
    model = {
        "num_classes": 110, "rgb_dim": 2048, "audio_dim": 128, "lstm_size_img": 512, "lstm_size_audio": 128,
        "drop_rate": 0.5, "text_max_len": text_max_len, "pool_mode": "text_guide", "use_rgb": True,
        "use_audio": True, "use_text": True, "text_encoder": encoder, "ernie_freeze": True,
        "textcnn_windows": [2, 3, 4], "textcnn_filters": 256, "loss_type": "sigmoid",
    }
    train = {
        "epochs": 1, "learning_rate": 7e-4, "decay_gamma": 0.2, "decay_epochs": [5], "l2_weight_decay": 8e-4,
        "batch_size": 64, "valid_batch_size": 64, "early_stop": 5, "title_drop_rate": 0.0,
    }
    return {"model": model, "train": train, "infer": {"threshold": 0.5, "batch_size": 16}}


def synthetic_vocab(path: Path) -> None:
    """BERT's special tokens, then `tok0 tok1 ...`: a title of n such words is n tokens long."""
    path.write_text("\n".join(SPECIALS + [f"tok{i}" for i in range(VOCAB - len(SPECIALS))]) + "\n")


def export_ours(bin_dir: Path, work: Path) -> dict:
    """Checkpoint at the original's sizes -> ours FP32 and INT8 files; returns their paths and export seconds."""
    train = str(bin_dir / "mvt-train")
    (work / "config.json").write_text(json.dumps(default_config()))
    synthetic_vocab(work / "vocab.txt")
    subprocess.run([train, "init-checkpoint", "--config", work / "config.json", "--vocab", work / "vocab.txt",
                    "--out", work / "ckpt"], check=True, stdout=subprocess.DEVNULL)
    files, seconds = {}, {}
    for name, flags in (("fp32", ["--precision", "fp32"]), ("int8", ["--precision", "int8"]),
                        ("int8_lstm_fp32", ["--precision", "int8", "--keep-fp32", "lstm"])):
        files[name] = work / f"ours_{name}.onnx"
        start = time.perf_counter()
        subprocess.run([train, "export", "--checkpoint", work / "ckpt", "--out", files[name], *flags], check=True,
                       stdout=subprocess.DEVNULL)
        seconds[name] = time.perf_counter() - start
    return {"files": files, "export_seconds": seconds}


def quantize_dynamic_file(fp32: Path, out: Path) -> float:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    start = time.perf_counter()
    quantize_dynamic(str(fp32), str(out), per_channel=True, weight_type=QuantType.QInt8,
                     op_types_to_quantize=["MatMul", "Gemm", "LSTM"])
    return time.perf_counter() - start


def reference_model(work: Path):
    """ref_model.py's model (seeded as its main) and its PyTorch exports, one per title length: the exporter
    bakes the traced length into the attention's reshapes."""
    import torch
    sys.path.insert(0, str(REF_DIR))
    import ref_model

    torch.set_num_threads(THREADS)
    torch.backends.mha.set_fastpath_enabled(False)  # as ref_model.main: the fused fast path has no ONNX export
    torch.manual_seed(0)
    model = ref_model.Model(True).eval()
    paths = {}
    for length in sorted({length for _, _, length in SETTINGS}):
        ref_model.L = length
        paths[length] = work / f"ref_L{length}.onnx"
        with torch.no_grad():
            torch.onnx.export(model, ref_model.inputs(1), str(paths[length]), input_names=["rgb", "audio", "ids", "mask"],
                              output_names=["p"], opset_version=17, dynamo=False,
                              dynamic_axes={k: {0: "B", 1: "T"} for k in ["rgb", "audio", "ids", "mask"]})
    return model, paths


def session(path: Path):
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.intra_op_num_threads = THREADS
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


class Workload:
    """One setting's videos and every side's inputs for them (the same features and titles everywhere)."""

    def __init__(self, library, batch: int, length: int, rng):
        self.length = length
        self.videos = []
        for _ in range(batch):
            words = " ".join(f"tok{rng.integers(0, VOCAB - len(SPECIALS))}" for _ in range(length - 2))
            self.videos.append((rng.standard_normal((T, 2048), dtype=np.float32),
                                rng.standard_normal((T, 128), dtype=np.float32), words))
        ids = np.array([library.tokenize(title) for _, _, title in self.videos], np.int64)
        assert ids.shape == (batch, length), ids.shape
        rgb = np.stack([v[0] for v in self.videos])
        audio = np.stack([v[1] for v in self.videos])
        lengths = np.full(batch, T, np.int64)
        self.ours = {"rgb": rgb, "rgb_len": lengths, "audio": audio, "audio_len": lengths, "text_ids": ids,
                     "text_mask": np.ones_like(ids)}
        self.reference = {"rgb": rgb, "audio": audio, "ids": ids, "mask": np.ones_like(ids)}


def sides(libraries, sessions, eager):
    import torch

    def eager_run(w):
        with torch.no_grad():
            eager(*(torch.from_numpy(w.reference[k]) for k in ("rgb", "audio", "ids", "mask")))

    # Each libmvt side right before its bare run, so that the pair sees the same machine load.
    return {
        "libmvt FP32 (C ABI)": lambda w: libraries["fp32"].predict(w.videos),
        "onnxruntime FP32 (same file, bare run)": lambda w: sessions["fp32"].run(None, w.ours),
        "libmvt INT8 (C ABI)": lambda w: libraries["int8"].predict(w.videos),
        "onnxruntime INT8 (same file, bare run)": lambda w: sessions["int8"].run(None, w.ours),
        "libmvt INT8, LSTMs kept FP32 (C ABI)": lambda w: libraries["int8_lstm_fp32"].predict(w.videos),
        "onnxruntime quantize_dynamic of our FP32": lambda w: sessions["qdynamic"].run(["probs"], w.ours),
        "onnxruntime PyTorch-exported FP32": lambda w: sessions[f"reference_L{w.length}"].run(None, w.reference),
        "PyTorch eager FP32": eager_run,
    }


def measure(functions, workload, rounds, calls):
    for function in functions.values():  # warm-up
        function(workload)
    times = {name: [] for name in functions}
    for round_index in range(rounds):
        # Every other round in reverse order, so that no side always runs first or right after another one.
        order = list(functions.items())
        for name, function in order if round_index % 2 == 0 else order[::-1]:
            # The previous side's thread pool (onnxruntime's, libmvt's, PyTorch's OpenMP) spin-waits a little after
            # its last call; on 2 cores that would be charged to this side.
            time.sleep(0.2)
            start = time.perf_counter()
            for _ in range(calls):
                function(workload)
            times[name].append((time.perf_counter() - start) / calls * 1000.0)
    return {name: {"median_ms": statistics.median(t), "rounds_ms": [round(x, 2) for x in t]}
            for name, t in times.items()}


def agreement(libraries, sessions, workload):
    """libmvt against a bare run of the same file (same inputs): the comparison is only fair if equal."""
    out = {}
    for precision in ("fp32", "int8"):
        ours = np.stack([p.probabilities for p in libraries[precision].predict(workload.videos)])
        bare = sessions[precision].run(["probs"], workload.ours)[0]
        out[precision] = float(np.abs(ours - bare).max())
    fp32 = sessions["fp32"].run(["probs"], workload.ours)[0]
    out["int8_vs_fp32"] = float(np.abs(sessions["int8"].run(["probs"], workload.ours)[0] - fp32).max())
    out["qdynamic_vs_fp32"] = float(np.abs(sessions["qdynamic"].run(["probs"], workload.ours)[0] - fp32).max())
    return out


def goals(results):
    def ratio(setting, side, baseline):
        """The median over rounds of side / baseline within a round: the machine's load drifts between rounds."""
        sides = results["settings"][setting]["sides"]
        return statistics.median(a / b for a, b in zip(sides[side]["rounds_ms"], sides[baseline]["rounds_ms"]))

    rows = []
    for setting, bound in (("batch 1, L=50", 0.45), ("batch 1, L=20", 0.45), ("batch 16, L=50", 0.33)):
        rows.append((f"INT8 / FP32 through libmvt, {setting}",
                     ratio(setting, "libmvt INT8 (C ABI)", "libmvt FP32 (C ABI)"), "<=", bound))
    for setting, _, _ in SETTINGS:
        for precision in ("FP32", "INT8"):
            sides = results["overhead"][setting]["sides"]
            rounds = zip(sides[f"libmvt {precision} (C ABI)"]["rounds_ms"],
                         sides[f"onnxruntime {precision} (same file, bare run)"]["rounds_ms"])
            overhead = statistics.median(a / b for a, b in rounds) - 1
            rows.append((f"libmvt {precision} overhead over a bare session run, {setting} (own phase)", overhead,
                         "<=", 0.03))
    rows.append(("INT8 through libmvt / PyTorch eager, batch 1, L=50",
                 ratio("batch 1, L=50", "libmvt INT8 (C ABI)", "PyTorch eager FP32"), "<=", 0.30))
    return [{"goal": g, "measured": round(v, 3), "bound": f"{op} {b}", "met": v <= b} for g, v, op, b in rows]


def machine():
    import onnxruntime
    import torch
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    return {"cpu": cpu, "cpus": os.cpu_count(), "onnxruntime": onnxruntime.__version__, "torch": torch.__version__,
            "python": platform.python_version(), "threads": THREADS, "frames": T,
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}


def readme(results):
    names = list(next(iter(results["settings"].values()))["sides"])
    lines = ["# `make bench`: the original-size model, FP32 and INT8, side by side", "",
             "Written by `scripts/bench.py` (its docstring says what each side runs). Machine: "
             + ", ".join(f"{k} {v}" for k, v in results["machine"].items()) + ".", "",
             "Milliseconds per call (median of the rounds; batch 16: per call of 16 videos), and each side's time "
             "over libmvt FP32's in the same setting:", "",
             "| side | " + " | ".join(f"{s} (ms) | x FP32" for s, _, _ in SETTINGS) + " |",
             "|---|" + "---|---|" * len(SETTINGS)]
    for name in names:
        cells = []
        for setting, _, _ in SETTINGS:
            sides = results["settings"][setting]["sides"]
            value = sides[name]["median_ms"]
            cells.append(f"{value:.1f} | {value / sides['libmvt FP32 (C ABI)']['median_ms']:.3f}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", "Goals (ratios in this one run: the median over rounds of the two sides' ratio within a round):", "", "| goal | measured | bound | met |", "|---|---|---|---|"]
    lines += [f"| {g['goal']} | {g['measured']} | {g['bound']} | {'yes' if g['met'] else 'no'} |"
              for g in results["goals"]]
    lines += ["", "Agreement on the batch-16 inputs (max |delta prob|): "
              + ", ".join(f"{k} {v:.2e}" for k, v in results["agreement"].items()) + ".",
              "", "Export seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in results["export_seconds"].items()) + ".",
              "", "![chart](chart.png)", ""]
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bin", type=Path, default=Path(os.environ.get("MVT_BIN_DIR", ROOT / "target" / "release")))
    parser.add_argument("--out", type=Path, default=ROOT / "out" / "bench")
    parser.add_argument("--work", type=Path, help="where the checkpoint and model files go (default OUT/work)")
    parser.add_argument("--rounds", type=int, default=11)
    args = parser.parse_args()
    import mvt

    work = args.work or args.out / "work"
    work.mkdir(parents=True, exist_ok=True)
    ours = export_ours(args.bin, work)
    export_seconds = {f"ours {k}": v for k, v in ours["export_seconds"].items()}
    export_seconds["quantize_dynamic"] = quantize_dynamic_file(ours["files"]["fp32"], work / "qdynamic.onnx")
    eager, reference_paths = reference_model(work)
    files = {"fp32": ours["files"]["fp32"], "int8": ours["files"]["int8"], "qdynamic": work / "qdynamic.onnx",
             **{f"reference_L{length}": path for length, path in reference_paths.items()}}
    sessions = {name: session(path) for name, path in files.items()}
    libraries = {name: mvt.Model(path, sessions=1, intra_threads=THREADS, batch_size=16)
                 for name, path in ours["files"].items()}
    functions = sides(libraries, sessions, eager)

    rng = np.random.default_rng(0)
    results = {"machine": machine(), "settings": {}, "export_seconds": export_seconds}
    for setting, batch, length in SETTINGS:
        workload = Workload(libraries["fp32"], batch, length, rng)
        calls = 5 if batch == 1 else 1
        results["settings"][setting] = {"batch": batch, "title_tokens": length,
                                        "sides": measure(functions, workload, args.rounds, calls)}
        print(setting, json.dumps({k: round(v["median_ms"], 1) for k, v in results["settings"][setting]["sides"].items()}),
              flush=True)
        # libmvt against its bare run alone, twice the rounds: a few percent is below the other sides' drift.
        pairs = {name: function for name, function in functions.items() if "same file" in name or
                 name in ("libmvt FP32 (C ABI)", "libmvt INT8 (C ABI)")}
        results.setdefault("overhead", {})[setting] = {"sides": measure(pairs, workload, 2 * args.rounds, calls)}
        if batch == 16:
            results["agreement"] = agreement(libraries, sessions, workload)
    results["goals"] = goals(results)

    args.out.mkdir(parents=True, exist_ok=True)
    from mvt.cli import write_atomically
    write_atomically(args.out / "results.json", json.dumps(results, indent=1) + "\n")
    write_atomically(args.out / "chart.json", json.dumps(chart(results), indent=1) + "\n")
    subprocess.run([args.bin / "mvt-train", "bar-chart", "--input", args.out / "chart.json",
                    "--out", args.out / "chart.png"], check=True, stdout=subprocess.DEVNULL)
    write_atomically(args.out / "README.md", readme(results))
    print(readme(results))


def chart(results):
    """`mvt-train bar-chart`'s input: milliseconds per video, one panel per setting."""
    panels = [{"title": setting, "bars": [{"label": name, "value": side["median_ms"] / values["batch"]}
                                          for name, side in values["sides"].items()]}
              for setting, values in results["settings"].items()]
    return {"title": f"mvt at the original's sizes: T={T}, {THREADS} threads, median of the rounds",
            "unit": "milliseconds per video", "panels": panels}


if __name__ == "__main__":
    main()
