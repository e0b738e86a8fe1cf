"""Tag videos from Python through libmvt: a demo of the `mvt` package (python/mvt; `pip install` the wheel from
`make wheel`, or `make setup`'s editable install in .venv). `python -m mvt infer` is the production command (the
`mvt infer` CLI's arguments and output); this demo shows the API it is built on.

Reads the videos of a list file from a dataset in the original layout (class.txt, val.txt,
feature_files/<name>.pkl) with libmvt's reader (a restricted unpickler that never executes anything in a feature
file; Python's pickle is never used), reports the rows it skipped, tags the videos, prints each video's tags, and
optionally writes the original's output.json (the same bytes as `mvt infer`) and every probability. Files are
written atomically (mvt.cli.write_atomically): a failed write leaves the previous file as it was.

    python demo.py --model model.onnx --data DIR [--list val.txt] [--out output.json] [--probs probs.json]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Optional, Sequence

import mvt
from mvt.cli import read_videos, write_atomically  # shared with `python -m mvt infer`

__all__ = ["main", "read_videos", "write_atomically"]


def main(argv: Optional[Sequence[str]] = None) -> int:
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
    except (mvt.MvtError, TypeError, ValueError) as error:
        print(f"cannot load {args.model}: {error}", file=sys.stderr)
        return 1
    with model:
        print(f"libmvt {mvt.version()}, ONNX Runtime {model.ort_version}, {model.num_classes} classes on "
              f"{model.provider}")
        try:
            rows = read_videos(model, args.data, args.list)
        except (mvt.MvtError, TypeError, ValueError, OSError) as error:
            print(f"cannot read {args.list} in {args.data}: {error}", file=sys.stderr)
            return 1
        videos = [(rgb, audio, title) for _, rgb, audio, title in rows]
        predictions = model.predict(videos)
        for (name, *_), prediction in zip(rows, predictions):
            tags = ", ".join(f"{tag} ({score:.3f})" for tag, _, score in prediction.tags) or "(none)"
            print(f"{name}: {tags}")
        outputs = []
        if args.out:
            outputs.append((args.out, model.predict_json(videos, [name for name, *_ in rows])))
        if args.probs:
            probs = {name: [float(p) for p in prediction.probabilities]
                     for (name, *_), prediction in zip(rows, predictions)}
            outputs.append((args.probs, json.dumps(probs, ensure_ascii=False, indent=1)))
    for path, text in outputs:
        try:
            write_atomically(path, text)
        except OSError as error:
            print(f"cannot write {path}: {error} (the previous file, if any, is unchanged)", file=sys.stderr)
            return 1
    print(f"tagged {len(rows)} videos")
    return 0


if __name__ == "__main__":
    sys.exit(main())
