"""Tag videos from Python through libmvt (python_demo/mvt.py).

Reads the videos of a list file from a dataset in the original layout (class.txt, val.txt,
feature_files/<name>.pkl) with libmvt's reader (a restricted unpickler that never executes anything in a feature
file; Python's pickle is never used), reports the rows it skipped, tags the videos, prints each video's tags, and
optionally writes the original's output.json (the same bytes as `mvt infer`) and every probability. Files are
written atomically: a failed write leaves the previous file as it was.

    python demo.py --model model.onnx --data DIR [--list val.txt] [--out output.json] [--probs probs.json]
"""
from __future__ import annotations

import argparse
import json
import os
import secrets
import stat
import sys
from pathlib import Path
from typing import List, Optional, Sequence, TextIO, Tuple, Union

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import mvt  # noqa: E402

Row = Tuple[str, np.ndarray, np.ndarray, str]


def read_videos(model: mvt.Model, data: Union[str, os.PathLike], list_file: str = "val.txt",
                report: Optional[TextIO] = None) -> List[Row]:
    """(name, rgb, audio, title) of every row libmvt's reader keeps (the original skipped the others); each skipped
    row is reported as a warning line on `report` (None: sys.stderr). The reader never executes anything in a feature
    file: a hostile pickle is refused and its row skipped."""
    with model.open_dataset(data, list_file) as dataset:
        report = report if report is not None else sys.stderr
        for row in dataset.skipped:
            print(f"warning: {dataset.list_file} line {row.line} ({row.name}): skipped: {row.reason}", file=report)
        if dataset.skipped:
            print(f"warning: {len(dataset.skipped)} rows of {dataset.list_file} skipped", file=report)
        return [tuple(video) for video in dataset]


def write_atomically(path: Union[str, os.PathLike], text: str) -> None:
    """Writes `text` (UTF-8) to `path` so that readers see the old file or the whole new one, never a part: a
    temporary file in the same folder, flushed and fsynced, then renamed over `path` (os.replace) and the folder
    fsynced. On any failure the temporary file is removed and `path` is left untouched. A new file gets the mode
    an ordinary create would (0o666 less the umask), a replaced file keeps its mode. A symbolic link at `path` is
    replaced by the file, not followed."""
    path = Path(path)
    folder = path.parent
    data = text.encode("utf-8")
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        mode = None
    while True:
        temporary = folder / f".{path.name}.{secrets.token_hex(6)}.tmp"
        try:
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
            break
        except FileExistsError:
            continue
    try:
        try:
            if mode is not None:
                os.fchmod(fd, mode)
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise
    try:
        directory = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return
    try:
        os.fsync(directory)
    except OSError:
        pass  # some file systems cannot fsync a folder; the rename itself is done
    finally:
        os.close(directory)


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
