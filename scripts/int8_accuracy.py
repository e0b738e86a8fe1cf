"""INT8 against FP32 on trained models: the accuracy table of docs/model-file.md "Precision".

For each trained checkpoint: `mvt-train export` in FP32 and in INT8 (ours), and onnxruntime's own
`quantize_dynamic` (per-channel QInt8 weights on MatMul, Gemm and LSTM) applied to the FP32 file; each file is
scored on the split by `mvt-train eval` through libmvt (`--predictions`), and the table compares Hit@1, mAP and the
largest |probability difference| with FP32, against the bounds below. Where our INT8 file misses a bound, the
script finds which parts of the model carry the error: each part kept f32 in turn (`--keep-fp32 PART`), then greedily
the smallest set of parts to keep f32 that meets every bound. Not a test: it prints and writes numbers to record.

Usage: .venv/bin/python scripts/int8_accuracy.py --data DIR --model NAME=CHECKPOINT_DIR [--model ...]
                                                  [--split val] [--work DIR] [--out FILE.md]
"""
import argparse
import hashlib
import json
import subprocess
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / "target" / "release"
# The bounds (docs/model-file.md "Precision").
HIT_AT_1_POINTS, MAP_BOUND, PROB_BOUND = 0.3, 0.005, 0.02


def seal_quantize_dynamic(fp32: Path, out: Path) -> None:
    """onnxruntime's quantize_dynamic of `fp32`, with the mvt metadata it keeps marked int8 and sealed anew (its
    graph changed, so the old `mvt.digest` no longer holds; docs/model-file.md's recipe)."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    staged = out.with_suffix(".unsealed.onnx")
    quantize_dynamic(str(fp32), str(staged), per_channel=True, weight_type=QuantType.QInt8,
                     op_types_to_quantize=["MatMul", "Gemm", "LSTM"])
    model = onnx.load(str(staged))
    kept = [p for p in model.metadata_props if p.key not in ("mvt.digest", "mvt.precision", "mvt.quantization")]
    del model.metadata_props[:]
    model.metadata_props.extend(kept)
    for key, value in (("mvt.precision", "int8"),
                       ("mvt.quantization", "onnxruntime.quantization.quantize_dynamic(per_channel=True, "
                                            "weight_type=QInt8, op_types_to_quantize=[MatMul, Gemm, LSTM])")):
        model.metadata_props.add(key=key, value=value)
    digest = "sha256:" + hashlib.sha256(model.SerializeToString()).hexdigest()
    model.metadata_props.add(key="mvt.digest", value=digest)
    out.write_bytes(model.SerializeToString())
    staged.unlink()


def evaluate(model: Path, data: Path, split: str, work: Path) -> dict:
    report, predictions = work / f"{model.stem}.eval.json", work / f"{model.stem}.predictions.json"
    subprocess.run([BIN / "mvt-train", "eval", "--checkpoint", model, "--data", data, "--split", split,
                    "--report", report, "--predictions", predictions, "--threads", "2"],
                   check=True, stdout=subprocess.DEVNULL)
    scores = json.loads(report.read_text())
    rows = json.loads(predictions.read_text())
    return {"hit_at_1": 100 * scores["hit_at_1"], "map": scores["map"],
            "names": [r["video_id"] for r in rows], "probs": np.array([r["probs"] for r in rows], np.float64)}


def export(checkpoint, out: Path, precision: str, keep_fp32=()) -> Path:
    keep = ["--keep-fp32", ",".join(keep_fp32)] if keep_fp32 else []
    subprocess.run([BIN / "mvt-train", "export", "--checkpoint", checkpoint, "--out", out, "--precision", precision,
                    *keep], check=True, stdout=subprocess.DEVNULL)
    return out


def row(name, label, r, base):
    """The table row of result `r` against FP32's `base`, and whether it is within every bound."""
    d_hit, d_map = r["hit_at_1"] - base["hit_at_1"], r["map"] - base["map"]
    d_prob = float(np.abs(r["probs"] - base["probs"]).max())
    ok = abs(d_hit) <= HIT_AT_1_POINTS and abs(d_map) <= MAP_BOUND and d_prob <= PROB_BOUND
    return (f"| {name} | {label} | {r['hit_at_1']:.2f} | {r['map']:.4f} | {d_hit:+.2f} | {d_map:+.4f} | "
            f"{d_prob:.4f} | {'yes' if ok else 'NO'} |", ok, d_prob)


def components_to_keep(name, checkpoint, data, split, work, base, lines):
    """Where our INT8 file misses a bound: each part of the model kept f32 alone (`--keep-fp32`), then, greedily,
    the part that lowers max |delta prob| most added to the kept set until every bound holds."""
    import onnx
    meta = {p.key: p.value for p in onnx.load(str(work / f"{name}-fp32.onnx"), load_external_data=False).metadata_props}
    parts = ["textcnn", "lstm", "pooling", "head"]
    if json.loads(meta["mvt.model_config"])["text_encoder"]["kind"] == "pretrained":
        parts.insert(0, "encoder")
    kept = []
    while len(kept) < len(parts) - 1:
        trials = {}
        for part in (p for p in parts if p not in kept):
            keep = kept + [part]
            path = export(checkpoint, work / f"{name}-int8-keep-{'-'.join(keep)}.onnx", "int8", keep)
            line, ok, d_prob = row(name, f"INT8 (ours), --keep-fp32 {','.join(keep)}",
                                   evaluate(path, data, split, work), base)
            lines.append(line)
            print(line, flush=True)
            trials[part] = (d_prob, ok)
        best = min(trials, key=lambda part: trials[part][0])
        kept.append(best)
        if trials[best][1]:
            return kept
    return None


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--model", action="append", required=True, help="NAME=CHECKPOINT_DIR")
    parser.add_argument("--split", default="val")
    parser.add_argument("--work", type=Path)
    parser.add_argument("--out", type=Path, help="also write the table here (Markdown)")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="mvt_int8_"))
    work.mkdir(parents=True, exist_ok=True)

    lines = [f"Split `{args.split}` of `{args.data}`; bounds: Hit@1 within {HIT_AT_1_POINTS} points, mAP within "
             f"{MAP_BOUND}, max |delta prob| at most {PROB_BOUND}.", "",
             "| model | file | Hit@1 | mAP | delta Hit@1 | delta mAP | max abs delta prob | within bounds |",
             "|---|---|---|---|---|---|---|---|"]
    summaries = []
    for entry in args.model:
        name, checkpoint = entry.split("=", 1)
        files = {"FP32 (ours)": work / f"{name}-fp32.onnx", "INT8 (ours)": work / f"{name}-int8.onnx",
                 "INT8 (quantize_dynamic)": work / f"{name}-qdynamic.onnx"}
        for precision, path in zip(("fp32", "int8"), files.values()):
            export(checkpoint, path, precision)
        seal_quantize_dynamic(files["FP32 (ours)"], files["INT8 (quantize_dynamic)"])
        results = {label: evaluate(path, args.data, args.split, work) for label, path in files.items()}
        base = results["FP32 (ours)"]
        verdicts = {}
        for label, r in results.items():
            assert r["names"] == base["names"]
            line, verdicts[label], _ = row(name, label, r, base)
            lines.append(line)
            print(line, flush=True)
        if not verdicts["INT8 (ours)"]:
            kept = components_to_keep(name, checkpoint, args.data, args.split, work, base, lines)
            summaries.append(f"- {name}: INT8 misses a bound; " + (
                f"`--keep-fp32 {','.join(kept)}` meets them all." if kept else
                "no set of parts short of all of them meets every bound."))
    table = "\n".join(lines + [""] + summaries) + "\n"
    print("\n" + table)
    if args.out:
        from mvt.cli import write_atomically
        write_atomically(args.out, table)


if __name__ == "__main__":
    main()
