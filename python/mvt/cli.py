"""`python -m mvt`: the `mvt` command line's `infer` and `info` on the Python package, with the same arguments, the
same output.json bytes, the same messages and the same exit statuses (EXIT_*), plus the helpers the demo
(python_demo/demo.py) shares: `read_videos` and `write_atomically`.

    python -m mvt infer --model model.onnx --data DIR [--list val.txt] --out output.json [--threshold T]
                        [--top-k K] [--batch-size N] [--max-frames N]
    python -m mvt info model.onnx
"""
from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import stat
import sys
from collections import Counter
from pathlib import Path
from typing import Any, List, Optional, Sequence, TextIO, Tuple, Union

import numpy as np

import mvt
from mvt._model_file import metadata_props

EXIT_TAGGED = 0            # at least one video tagged and the output written
EXIT_ERROR = 1             # model, list or class.txt unreadable, output not writable
EXIT_USAGE = 2             # bad arguments (argparse's status, as clap's)
EXIT_NOTHING_TAGGED = 3    # every row skipped, or no rows: nothing written

Row = Tuple[str, np.ndarray, np.ndarray, str]

# The defaults of `mvt infer` (crates/mvt-cli/src/main.rs; max_frames: mvt_runtime::predict::Options::default()).
DEFAULT_BATCH_SIZE = 64
DEFAULT_MAX_FRAMES = 3600


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


# ---------------------------------------------------------------------------------------------------------------
# infer


# A skipped row's reason (mvt_formats::dataset::SkipReason's Display) -> its kind (SkipReason::kind), for the
# summary's counts. The reasons start with fixed words, except "too many frames", which starts with the path.
_SKIP_KINDS = [
    ("bad row: ", "bad row"), ("no labels", "no labels"),
    ("no label is in class.txt", "only unknown labels"), ("duplicate of line ", "duplicate name"),
    ("missing feature file ", "missing feature file"), ("unreadable feature file ", "unreadable feature file"),
    ("no image frames in ", "no image frames"), ("features not finite in ", "non-finite features"),
]
_TOO_MANY_FRAMES = re.compile(r" has \d+ .*, more than max_frames \d+\Z", re.S)


def _skip_kind(reason: str) -> str:
    if reason.startswith("the ") and " is not valid UTF-8 (" in reason:
        return "not UTF-8"
    for prefix, kind in _SKIP_KINDS:
        if reason.startswith(prefix):
            return kind
    if _TOO_MANY_FRAMES.search(reason):
        return "too many frames"
    return "unusable title"


def _skip_summary(skipped: Sequence[mvt.SkippedRow]) -> str:
    """"2 skipped (missing feature file: 1, too many frames: 1)", or "0 skipped" (the CLI's words)."""
    if not skipped:
        return "0 skipped"
    counts = Counter(_skip_kind(row.reason) for row in skipped)
    return f"{len(skipped)} skipped ({', '.join(f'{kind}: {n}' for kind, n in sorted(counts.items()))})"


def _top_k_json(video_ids: Sequence[str], predictions: Sequence[mvt.Prediction]) -> str:
    """output.json with each video's top-k tags, best first (`mvt infer --top-k`). The library's mvt_result_json
    lists the tags above the threshold only; the format is Python's json.dump(ensure_ascii=False, indent=4), which
    the library's writer reproduces byte for byte (scores are the float32 scores widened, as there)."""
    entries = [{"video_id": video_id, "labels": [[name, score] for name, _, score in prediction.top_k]}
               for video_id, prediction in zip(video_ids, predictions)]
    return json.dumps(entries, ensure_ascii=False, indent=4)


def infer(model_path: Union[str, os.PathLike], data: Union[str, os.PathLike], out: Union[str, os.PathLike], *,
          list_file: str = "val.txt", threshold: Optional[float] = None, top_k: Optional[int] = None,
          batch_size: int = DEFAULT_BATCH_SIZE, max_frames: int = DEFAULT_MAX_FRAMES,
          report: Optional[TextIO] = None) -> int:
    """`mvt infer`: tags every video of `list_file` in `data` with the model file and writes the original's
    output.json to `out` (atomically; the bytes the CLI writes). Skipped rows and the summary go to `report`
    (None: sys.stderr), in the CLI's words. Returns the CLI's exit status: EXIT_TAGGED, EXIT_ERROR (nothing written)
    or EXIT_NOTHING_TAGGED (nothing written). `top_k` None lists the tags above the threshold in class order; an
    int lists each video's `top_k` best classes, best first (0: none), as `--top-k`."""
    report = report if report is not None else sys.stderr
    try:
        model = mvt.Model(model_path, threshold=threshold, batch_size=batch_size, max_frames=max_frames,
                          top_k=top_k or 0)
    except (mvt.MvtError, TypeError, ValueError) as error:
        print(f"error: cannot load {os.fsdecode(os.fspath(model_path))}: {error}", file=report)
        return EXIT_ERROR
    with model:
        try:
            with model.open_dataset(data, list_file) as dataset:
                skipped = dataset.skipped
                videos = [(video.rgb, video.audio, video.title) for video in dataset]
                video_ids = list(dataset.video_ids)
        except (mvt.MvtError, TypeError, ValueError) as error:
            print(f"error: cannot read {list_file} in {os.fsdecode(os.fspath(data))}: {error}", file=report)
            return EXIT_ERROR
        for row in skipped:
            print(f"warning: {list_file} line {row.line} ({row.name}): {row.reason}; skipped", file=report)
        summary = _skip_summary(skipped)
        out_name = os.fsdecode(os.fspath(out))
        if not videos:
            print(f"error: nothing to tag: {len(skipped)} rows in {list_file}, {summary}; {out_name} not written",
                  file=report)
            return EXIT_NOTHING_TAGGED
        try:
            if top_k is None:
                text = model.predict_json(videos, video_ids)
            else:
                text = _top_k_json(video_ids, model.predict(videos))
        except mvt.MvtError as error:
            print(f"error: {error}", file=report)
            return EXIT_ERROR
        try:
            write_atomically(out, text)
        except OSError as error:
            print(f"error: cannot write {out_name}: {error}", file=report)
            return EXIT_ERROR
        print(f"{len(videos)} videos tagged, {summary} on {model.provider} (ONNX Runtime {model.ort_version} from "
              f"{model.ort_library}) -> {out_name}", file=report)
    return EXIT_TAGGED


# ---------------------------------------------------------------------------------------------------------------
# info


class _Number(str):
    """A JSON number kept as the file wrote it (serde_json), so that printing it again gives the same digits."""


def _json(value: Any, *, indent: Optional[int], level: int = 0, sort_keys: bool = False) -> str:
    """serde_json's to_string (indent None) or to_string_pretty (indent 2) of a value parsed with numbers kept
    as _Number: non-ASCII as is, the same escapes as Python's json."""
    if isinstance(value, _Number):
        return str(value)
    if value is None or isinstance(value, (bool, str)):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, dict):
        items = sorted(value.items()) if sort_keys else list(value.items())
        parts = [f"{json.dumps(key, ensure_ascii=False)}:{'' if indent is None else ' '}"
                 f"{_json(item, indent=indent, level=level + 1, sort_keys=sort_keys)}" for key, item in items]
        opening, closing = "{", "}"
    else:
        parts = [_json(item, indent=indent, level=level + 1, sort_keys=sort_keys) for item in value]
        opening, closing = "[", "]"
    if not parts:
        return opening + closing
    if indent is None:
        return opening + ",".join(parts) + closing
    inner, outer = " " * (indent * (level + 1)), " " * (indent * level)
    return opening + "\n" + ",\n".join(inner + part for part in parts) + "\n" + outer + closing


def _parse(text: str) -> Any:
    return json.loads(text, parse_float=_Number, parse_int=_Number)


def _rust_float(value: float) -> str:
    """Rust's `{}` of an f64: the shortest digits that round-trip, never an exponent, no ".0" on integers."""
    return np.format_float_positional(value, trim="-")


def _vocab_size(tokenizer_json: str) -> int:
    """The tokenizer's vocabulary with its added tokens (tokenizers' get_vocab_size(true))."""
    tokenizer = json.loads(tokenizer_json)
    vocab = set((tokenizer.get("model") or {}).get("vocab") or {})
    added = {token.get("content") for token in tokenizer.get("added_tokens") or []}
    return len(vocab | added)


def _precision_line(props: dict) -> str:
    """`precision: fp32`, or `precision: int8 (how it was quantized)`; files without `mvt.precision` are fp32."""
    precision = props.get("mvt.precision", "fp32")
    how = props.get("mvt.quantization")
    return f"precision: {precision} ({how})" if how is not None else f"precision: {precision}"


def info_text(model_path: Union[str, os.PathLike]) -> str:
    """`mvt info`'s output for a model file. The file is loaded with libmvt first (mvt.Model: every check mvt_load
    runs: the digest, the limits, the metadata against the graph), then its metadata_props are read for what the C
    ABI does not expose (the model config, the tokenizer, the precision, the provenance)."""
    with mvt.Model(model_path, sessions=1, intra_threads=1) as model:
        classes, threshold = model.classes, model.threshold
        rgb_dim, audio_dim = model.rgb_dim, model.audio_dim
        empty_audio_frames, text_max_len = model.empty_audio_frames, model.text_max_len
    props = metadata_props(model_path)
    provenance = _parse(props["mvt.provenance"])
    lines = [f"model file: {os.fsdecode(os.fspath(model_path))}", f"classes: {len(classes)}"]
    lines += [f"  {index}\t{name}" for index, name in enumerate(classes)]
    lines += [
        f"threshold: {_rust_float(float(props['mvt.threshold']))}" if "mvt.threshold" in props
        else f"threshold: {_rust_float(threshold)}",
        f"image features: {rgb_dim}-d, audio features: {audio_dim}-d",
        f"empty audio: {empty_audio_frames} zero rows",
        f"title: at most {text_max_len} tokens, vocabulary of {_vocab_size(props['mvt.tokenizer'])}",
        _precision_line(props),
        f"model config: {_json(_parse(props['mvt.model_config']), indent=2)}",
        f"exported by: {provenance['exporter_version']}",
    ]
    if provenance.get("epoch") is not None:
        lines.append(f"checkpoint epoch: {provenance['epoch']}")
    for metric, value in sorted((provenance.get("validation_metrics") or {}).items()):
        lines.append(f"validation {metric}: {_rust_float(float(value))}")
    if provenance.get("training_data") is not None:
        lines.append(f"training data: {_json(provenance['training_data'], indent=None, sort_keys=True)}")
    return "\n".join(lines) + "\n"


def info(model_path: Union[str, os.PathLike], out: Optional[TextIO] = None, report: Optional[TextIO] = None) -> int:
    """`mvt info`: prints the model file's metadata on `out` (None: sys.stdout); EXIT_ERROR with the reason on
    `report` (None: sys.stderr) for a file that is not a loadable mvt model."""
    try:
        text = info_text(model_path)
    except (mvt.MvtError, OSError, ValueError, KeyError, TypeError) as error:
        what = f"missing metadata {error}" if isinstance(error, KeyError) else str(error)
        print(f"error: reading {os.fsdecode(os.fspath(model_path))}: {what}",
              file=report if report is not None else sys.stderr)
        return EXIT_ERROR
    (out if out is not None else sys.stdout).write(text)
    return EXIT_TAGGED


# ---------------------------------------------------------------------------------------------------------------
# The command line.


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m mvt", description="Native multimodal short-video tagging "
                                     "(the `mvt` command's infer and info, on the Python package)")
    parser.add_argument("-V", "--version", action="version", version=f"mvt {mvt.__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = commands.add_parser(
        "infer", formatter_class=argparse.RawDescriptionHelpFormatter,
        help="Tag every video of a list file with a model file and write the original's output.json",
        description="Tag every video of a list file with a model file and write the original's output.json.\n\n"
                    "A bad row is skipped with a warning naming its list line and file; the summary counts the skips "
                    "per reason.\n\nExit status: 0 at least one video was tagged and the output written; 1 an error "
                    "(model, list or class.txt unreadable, output not writable); 2 bad usage; 3 nothing to tag "
                    "(every row skipped, or no rows). On 1 and 3 the output file is not written: a previous one "
                    "stays as it was.")
    run.add_argument("--model", required=True, type=Path, help="The mvt model file (.onnx, from `mvt-train export`)")
    run.add_argument("--data", required=True, type=Path, help="Folder with class.txt and feature_files/")
    run.add_argument("--list", default="val.txt",
                     help="List file (`name<TAB>title[<TAB>labels]` per line), relative to --data or absolute "
                          "[default: val.txt]")
    run.add_argument("--out", required=True, type=Path, help="Where to write the JSON (the original's output.json)")
    run.add_argument("--threshold", type=float,
                     help="Tag threshold (default: the model file's, 0.5 in the original's [INFER])")
    run.add_argument("--batch-size", type=_count, default=DEFAULT_BATCH_SIZE,
                     help=f"Videos per batch (the original's [INFER] batch_size) [default: {DEFAULT_BATCH_SIZE}]")
    run.add_argument("--top-k", type=_count,
                     help="List each video's K best classes, best first, instead of the classes above the threshold")
    run.add_argument("--max-frames", type=_count, default=DEFAULT_MAX_FRAMES,
                     help="Most image frames or audio segments a video may have; longer videos are skipped with a "
                          f"warning [default: {DEFAULT_MAX_FRAMES}]")
    show = commands.add_parser("info", help="Print a model file's metadata (classes, threshold, dims, tokenizer, "
                                            "config, provenance)")
    show.add_argument("model", type=Path, help="The mvt model file (.onnx)")
    return parser


def _count(text: str) -> int:
    """A non-negative integer argument (clap's usize)."""
    try:
        value = int(text, 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid digit found in string: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"invalid digit found in string: {text!r}")
    return value


def main(argv: Optional[Sequence[str]] = None) -> int:
    """`python -m mvt ARGS`; returns the exit status (argparse exits with 2 itself on bad usage)."""
    args = _parser().parse_args(argv)
    if args.command == "info":
        return info(args.model)
    return infer(args.model, args.data, args.out, list_file=args.list, threshold=args.threshold, top_k=args.top_k,
                 batch_size=args.batch_size, max_frames=args.max_frames)
