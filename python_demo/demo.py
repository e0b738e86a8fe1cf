"""Tag videos from Python through libmvt (python_demo/mvt.py).

Reads the videos of a list file from a dataset in the original layout (class.txt, val.txt,
feature_files/<name>.pkl, read with Python's pickle as the original did), tags them, prints each video's tags, and
optionally writes the original's output.json (the same bytes as `mvt infer`) and every probability.

    python demo.py --model model.onnx --data DIR [--list val.txt] [--out output.json] [--probs probs.json]
"""
import argparse
import json
import pickle
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import mvt  # noqa: E402


def read_videos(data: Path, list_file: str):
    """(name, rgb, audio, title) of every row whose feature file exists (the original skipped the others)."""
    videos = []
    for line in (data / list_file).read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        fields = line.split("\t")
        name, title = fields[0].strip(), (fields[1].strip() if len(fields) > 1 else "")
        stem = name.rsplit("/", 1)[-1].split(".", 1)[0]
        path = data / "feature_files" / f"{stem}.pkl"
        if not path.exists():
            print(f"warning: no feature file for {name}", file=sys.stderr)
            continue
        with open(path, "rb") as f:
            record = pickle.load(f, encoding="iso-8859-1")
        features = record["feature"]
        videos.append((name, features["image_pkl"], features["audio_pkl"], title))
    return videos


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True)
    parser.add_argument("--data", required=True, type=Path)
    parser.add_argument("--list", default="val.txt")
    parser.add_argument("--out", help="write the original's output.json here")
    parser.add_argument("--probs", help="write {video id: [probability per class]} here")
    parser.add_argument("--threshold", type=float)
    parser.add_argument("--top-k", type=int, default=0)
    args = parser.parse_args(argv)

    try:
        model = mvt.Model(args.model, threshold=args.threshold, top_k=args.top_k)
    except mvt.MvtError as error:
        print(f"cannot load {args.model}: {error}", file=sys.stderr)
        return 1
    print(f"libmvt {mvt.version()}, ONNX Runtime {model.ort_version}, {model.num_classes} classes on {model.provider}")
    rows = read_videos(args.data, args.list)
    videos = [(rgb, audio, title) for _, rgb, audio, title in rows]
    predictions = model.predict(videos)
    for (name, *_), prediction in zip(rows, predictions):
        tags = ", ".join(f"{tag} ({score:.3f})" for tag, _, score in prediction.tags) or "(none)"
        print(f"{name}: {tags}")
    if args.out:
        Path(args.out).write_text(model.predict_json(videos, [name for name, *_ in rows]), encoding="utf-8")
    if args.probs:
        probs = {name: [float(p) for p in prediction.probabilities] for (name, *_), prediction in zip(rows, predictions)}
        Path(args.probs).write_text(json.dumps(probs, ensure_ascii=False, indent=1), encoding="utf-8")
    print(f"tagged {len(rows)} videos")
    return 0


if __name__ == "__main__":
    sys.exit(main())
