"""Batch tagging at scale on Ray: `mvt infer` spread over a Ray cluster, with the same output.json.

    python -m mvt.distributed --model M --data DIR --list val.txt --out output.json --workers N
                              [--address ADDR] [--batch-size B] [--shards DIR] [--shard-rows R]
                              [--cpus-per-worker C] [--intra-threads T] [--max-retries K]

The driver reads the list file (relative to --data, or absolute) as bytes and cuts it into shards of consecutive
lines. Each shard travels to the cluster as data (its first line number and its lines), so only --model and --data
must be readable on every node, at the same path. A Ray Dataset of the shards (`ray.data.from_items`, one block
per shard) is mapped by a pool of `--workers` actors (`map_batches(..., concurrency=N)`, one shard per call). Each
actor loads the model ONCE in its constructor; per shard it writes the shard's lines to a list file of its own,
opens it with the library's safe reader (`Model.open_dataset`), tags the videos with `Model.predict_json` (the
bytes `mvt infer` writes for them) and returns the shard id, that JSON, the skipped rows and the failed videos.
The driver keeps one result per shard id and joins the shards' entries in shard order: list order, byte for byte
the file `mvt infer --model M --data DIR --list L --out X` writes (it relies on the library's promise that padding
a batch never changes a result, so how videos are batched does not matter).

Rows are reported on stderr as `mvt infer` reports them (`warning: L line N (name): reason; skipped`, N the line
in the whole list): the reader's skips, duplicates (first wins across the whole list: the driver finds them before
sharding, as the reader would, and blanks them out of their shard) and videos whose prediction fails (a failing
batch is retried video by video, so one bad video costs only itself). Exit status as `mvt infer`: 0 at least one
video tagged and the output written; 1 an error (model, class.txt or list unreadable, output not writable, the
cluster lost a shard for good); 2 bad usage; 3 nothing to tag. On 1 and 3 nothing is written.

Retries: a shard is a pure function of its lines, so recomputing it is harmless. An actor that dies (its process
killed, out of memory, a node lost) is restarted by Ray (`max_restarts`) and the shard it was working on is run
again (`max_task_retries`, both --max-retries); the driver takes the first result of each shard id and ignores any
other, so no video is lost or written twice. Errors of the data itself (unreadable class.txt, a bad model file)
are returned as results, not raised, so they are reported once instead of retried.

Test hook (for tests/python/test_distributed.py only): when the driver's environment has
MVT_DISTRIBUTED_TEST_CRASH_ONCE=<path>, the first actor to start a shard creates <path> (O_EXCL: exactly one
actor on the cluster wins) and kills its own process with os._exit before tagging anything. The path must be on
storage every node sees. Never set it outside tests.

Files are written atomically: a temporary file in the same folder, fsynced, then renamed (and the folder fsynced).
`--shards DIR` also writes each shard's output as DIR/shard-NNNNN.json (a valid output.json of the shard's videos)
and DIR/shards.json (each shard's file, first and last list line and video count), written as results arrive.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from mvt import Model, MvtError
from mvt.cli import write_atomically

CRASH_ENV = "MVT_DISTRIBUTED_TEST_CRASH_ONCE"
EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_NOTHING_TAGGED = 0, 1, 2, 3

# Rust's `str::trim` (the reader's): Unicode White_Space, which lacks the \x1c-\x1f that Python's str.strip() adds.
_RUST_WHITESPACE = ("\t\n\x0b\x0c\r \x85\xa0\u1680" + "".join(chr(c) for c in range(0x2000, 0x200B))
                    + "\u2028\u2029\u202f\u205f\u3000")
_BOM = "\ufeff".encode("utf-8")


def _trim(text: str) -> str:
    return text.strip(_RUST_WHITESPACE)


# ---------------------------------------------------------------------------------------------------------------
# The list file, read once by the driver.


def list_lines(data: bytes) -> List[bytes]:
    """The lines of a list file as the reader splits them (leading BOM and one final newline dropped), each with
    its "\\r" if it had one: line k+1 of the file is element k."""
    data = data[len(_BOM):] if data.startswith(_BOM) else data
    data = data[:-1] if data.endswith(b"\n") else data
    return data.split(b"\n")


class ListPlan:
    """What the driver knows of the list before anything is tagged: rows (non-blank lines, as the reader counts
    them), the line of each name the reader will keep (first wins), and the later duplicates, which are blanked
    out of the shards (a blank line is no row to the reader, so shard line numbers stay those of the list)."""

    def __init__(self, lines: List[bytes]):
        self.lines = list(lines)
        self.rows = 0
        self.name_line: Dict[str, int] = {}
        self.duplicates: List[Tuple[int, str, str]] = []
        for index, raw in enumerate(lines):
            line = index + 1
            raw = raw[:-1] if raw.endswith(b"\r") else raw
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                self.rows += 1  # the reader reports it in its shard
                continue
            if not _trim(text):
                continue
            self.rows += 1
            fields = text.split("\t")
            name = _trim(fields[0])
            if not name or any(_trim(field) for field in fields[3:]):
                continue  # a bad row: the reader reports it
            if name in self.name_line:
                self.duplicates.append((line, name, f"duplicate of line {self.name_line[name]}"))
                self.lines[index] = b""
            else:
                self.name_line[name] = line

    def shards(self, lines_per_shard: int) -> List[Dict[str, Any]]:
        """Units of consecutive list lines, `lines_per_shard` each; at least one (an empty list still goes to a
        worker, whose reader checks class.txt as `mvt infer` does)."""
        size = max(1, lines_per_shard)
        return [self.unit(k, range(start + 1, min(start + size, len(self.lines)) + 1))
                for k, start in enumerate(range(0, max(len(self.lines), 1), size))]

    def unit(self, unit: int, line_numbers: Sequence[int]) -> Dict[str, Any]:
        """A unit of work: these list lines (1-based), as a list file of their own and the line number of each."""
        line_numbers = list(line_numbers)
        lines = b"\n".join(self.lines[line - 1] for line in line_numbers if line <= len(self.lines))
        return {"unit": unit, "line_numbers": json.dumps(line_numbers), "lines": lines + b"\n"}


# ---------------------------------------------------------------------------------------------------------------
# output.json pieces: `[` entries `\n]`, one entry per video ("\n    {...}"), joined by ",". Strings inside are
# JSON-escaped, so a raw newline followed by four spaces only ever appears between entries.

_ENTRY_START = "\n    {"


def json_entries(text: str) -> List[str]:
    """The entries of an output.json text (the library's layout), one string per video, in order."""
    if text == "[]":
        return []
    if not (text.startswith("[" + _ENTRY_START) and text.endswith("\n    }\n]")):
        raise ValueError("not the library's output.json layout")
    parts = text[1:-2].split("," + _ENTRY_START)
    return [parts[0]] + [_ENTRY_START + part for part in parts[1:]]


def join_entries(entries: Sequence[str]) -> str:
    """An output.json text from entries (json_entries), in the order given: `mvt infer`'s bytes."""
    return "[" + ",".join(entries) + "\n]" if entries else "[]"


# ---------------------------------------------------------------------------------------------------------------
# The worker: one model per actor, one unit (a list of lines) per call.


def tag_unit(model: Model, data_dir: str, unit: int, line_numbers: Sequence[int], lines: bytes,
             batch_size: int) -> Dict[str, Any]:
    """Tags the rows of one unit (its list lines; line_numbers[k] is the list line of its line k+1). Never raises
    for the data's faults. The kept videos are predicted in chunks of `batch_size` from the unit's first one,
    exactly as `mvt infer` chunks its whole list; each video comes back as [name, chunk, entry] (chunk -1 - k: the
    chunk failed and video k was predicted alone), with the skipped rows [(list line, name, reason)], the failed
    videos [(name, error)], an error message ("" if none) and the seconds it took."""
    started = time.perf_counter()
    result: Dict[str, Any] = {"unit": unit, "videos": [], "skipped": [], "failed": [], "error": ""}
    with tempfile.TemporaryDirectory(prefix="mvt-unit-") as folder:
        list_path = os.path.join(folder, f"unit-{unit:05d}.txt")
        with open(list_path, "wb") as handle:
            handle.write(lines)
        try:
            dataset = model.open_dataset(data_dir, list_path)
        except (MvtError, TypeError, ValueError, OSError) as error:
            result["error"] = str(error)
            result["seconds"] = time.perf_counter() - started
            return result
    with dataset:
        result["skipped"] = [(line_numbers[row.line - 1] if 0 < row.line <= len(line_numbers) else row.line,
                              row.name, row.reason) for row in dataset.skipped]
        rows = [(video.video_id, (video.rgb, video.audio, video.title)) for video in dataset]
    for chunk, start in enumerate(range(0, len(rows), batch_size)):
        part = rows[start:start + batch_size]
        try:
            entries = json_entries(model.predict_json([v for _, v in part], [n for n, _ in part]))
            result["videos"] += [[name, chunk, entry] for (name, _), entry in zip(part, entries)]
        except (MvtError, TypeError, ValueError):
            for k, (name, video) in enumerate(part, start):  # one bad video fails its chunk: keep the others
                try:
                    [entry] = json_entries(model.predict_json([video], [name]))
                    result["videos"].append([name, -1 - k, entry])
                except (MvtError, TypeError, ValueError) as error:
                    result["failed"].append((name, str(error)))
    result["seconds"] = time.perf_counter() - started
    return result


class UnitTagger:
    """Ray Data's callable class: loads the model once per actor, tags one unit per batch row."""

    def __init__(self, model: str, data: str, batch_size: int, intra_threads: int,
                 crash_marker: Optional[str] = None):
        self.data = data
        self.batch_size = batch_size
        self.crash_marker = crash_marker
        self.load_error = ""
        self.model: Optional[Model] = None
        try:
            self.model = Model(model, sessions=1, intra_threads=intra_threads, batch_size=batch_size)
        except (MvtError, TypeError, ValueError, OSError) as error:
            self.load_error = f"cannot load {model}: {error}"

    def _crash_once(self) -> None:
        """The test hook (module docstring): a real process death, once per cluster."""
        if not self.crash_marker:
            return
        try:
            fd = os.open(self.crash_marker, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            return
        os.write(fd, f"{os.getpid()}\n".encode())
        os.fsync(fd)
        os.close(fd)
        os._exit(86)

    def __call__(self, batch: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
        self._crash_once()
        results = []
        for unit, line_numbers, lines in zip(batch["unit"], batch["line_numbers"], batch["lines"]):
            if self.model is None:
                results.append({"unit": int(unit), "videos": [], "skipped": [], "failed": [],
                                "error": self.load_error, "seconds": 0.0})
            else:
                results.append(tag_unit(self.model, self.data, int(unit), json.loads(line_numbers), bytes(lines),
                                        self.batch_size))
        return {
            "unit": np.array([r["unit"] for r in results], dtype=np.int64),
            "result": np.array([json.dumps({k: r[k] for k in ("videos", "skipped", "failed", "error")},
                                           ensure_ascii=False) for r in results], dtype=object),
            "seconds": np.array([r["seconds"] for r in results], dtype=np.float64),
            "pid": np.array([os.getpid()] * len(results), dtype=np.int64),
        }


# ---------------------------------------------------------------------------------------------------------------
# The driver.


def parse_args(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m mvt.distributed", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="the mvt model file (.onnx), at this path on every node")
    parser.add_argument("--data", required=True, help="dataset folder (class.txt, feature_files/), on every node")
    parser.add_argument("--list", default="val.txt", help="list file, relative to --data or absolute (driver only)")
    parser.add_argument("--out", help="write the whole output.json here (as `mvt infer --out`)")
    parser.add_argument("--shards", help="also write each shard's output.json and shards.json into this folder")
    parser.add_argument("--workers", type=int, default=1, help="actors in the pool (default 1)")
    parser.add_argument("--address", help="Ray cluster: auto, HOST:PORT or ray://HOST:10001 (default: a local one)")
    parser.add_argument("--batch-size", type=int, default=64, help="videos per model run (as `mvt infer`, 64)")
    parser.add_argument("--shard-rows", type=int, help="list lines per shard, rounded up to a multiple of "
                        "--batch-size (default: about 4 shards per worker, at most 16 batches)")
    parser.add_argument("--cpus-per-worker", type=float, default=1.0, help="Ray CPUs each actor reserves (default 1)")
    parser.add_argument("--intra-threads", type=int, help="ONNX Runtime threads per actor (default: "
                        "--cpus-per-worker rounded up)")
    parser.add_argument("--max-retries", type=int, default=3, help="restarts of a dead actor and reruns of its "
                        "shard (default 3; -1 forever)")
    args = parser.parse_args(argv)
    if not args.out and not args.shards:
        parser.error("give --out, --shards or both")
    if args.workers < 1:
        parser.error("--workers must be >= 1")
    for name in ("batch_size", "shard_rows", "intra_threads"):
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1")
    if args.cpus_per_worker <= 0:
        parser.error("--cpus-per-worker must be > 0")
    if args.max_retries < -1:
        parser.error("--max-retries must be >= -1")
    return args


def _init_ray(args: argparse.Namespace):
    import ray

    if not ray.is_initialized():
        options: Dict[str, Any] = {"logging_level": "ERROR", "include_dashboard": False}
        if args.address:
            options["address"] = args.address
        else:  # a local cluster with room for the pool
            options["num_cpus"] = max(os.cpu_count() or 1, math.ceil(args.workers * args.cpus_per_worker))
        ray.init(**options)
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    context.print_on_execution_start = False
    return ray


class RunFailed(Exception):
    """A unit reported an error of the data (or the model): the run stops with exit status 1."""


def _run_units(ray, args: argparse.Namespace, units: List[Dict[str, Any]], model_path: str, data_dir: str,
               stats: Dict[str, Any]) -> Dict[int, Dict[str, Any]]:
    """Every unit through an actor pool; the first result of each unit id (a rerun's duplicate is dropped)."""
    from ray.data import ActorPoolStrategy

    intra_threads = args.intra_threads or max(1, math.ceil(args.cpus_per_worker))
    with warnings.catch_warnings():
        # Ray 2.60 takes the actors' max_restarts / max_task_retries only as free keyword arguments, which it
        # calls deprecated (to go in 2.64, where these two must find their new place); its own default is -1.
        warnings.simplefilter("ignore", DeprecationWarning)
        dataset = ray.data.from_items(units, override_num_blocks=len(units)).map_batches(
            UnitTagger,
            fn_constructor_kwargs={"model": model_path, "data": data_dir, "batch_size": args.batch_size,
                                   "intra_threads": intra_threads,
                                   "crash_marker": os.environ.get(CRASH_ENV) or None},
            batch_size=1, compute=ActorPoolStrategy(size=args.workers), num_cpus=args.cpus_per_worker,
            max_restarts=args.max_retries, max_task_retries=args.max_retries)
    results: Dict[int, Dict[str, Any]] = {}
    for row in dataset.iter_rows():
        unit = int(row["unit"])
        if unit in results:
            continue
        result = json.loads(row["result"])
        if result["error"]:
            raise RunFailed(result["error"])
        results[unit] = result
        stats["worker_seconds"] += float(row["seconds"])
        stats["pids"].add(int(row["pid"]))
    missing = sorted(set(unit["unit"] for unit in units) - set(results))
    if missing:
        raise RunFailed(f"units {missing} returned no result")
    return results


def _misaligned(kept: List[Tuple[str, int, int]], batch_size: int) -> List[int]:
    """The starts (in `kept`, the kept videos in list order as (name, shard, chunk)) of the model batches of
    `mvt infer` that no worker predicted as one chunk: those entries may differ in the last bits of a score."""
    sizes: Dict[Tuple[int, int], int] = {}
    for _, shard, chunk in kept:
        sizes[(shard, chunk)] = sizes.get((shard, chunk), 0) + 1
    starts = []
    for start in range(0, len(kept), batch_size):
        batch = kept[start:start + batch_size]
        chunks = {(shard, chunk) for _, shard, chunk in batch}
        if len(chunks) != 1 or sizes[next(iter(chunks))] != len(batch):
            starts.append(start)
    return starts


def run(args: argparse.Namespace) -> int:
    data_dir = os.path.abspath(args.data)
    model_path = os.path.abspath(args.model)
    list_path = Path(data_dir) / args.list
    try:
        plan = ListPlan(list_lines(list_path.read_bytes()))
    except OSError as error:
        print(f"error: cannot read {list_path}: {error}", file=sys.stderr)
        return EXIT_ERROR
    batch = args.batch_size
    per_shard = args.shard_rows or max(1, min(16, math.ceil(len(plan.lines) / (4 * args.workers * batch)))) * batch
    per_shard = math.ceil(per_shard / batch) * batch
    shards = plan.shards(per_shard)
    stats: Dict[str, Any] = {"worker_seconds": 0.0, "pids": set(), "repaired": 0}
    started = time.perf_counter()
    ray = _init_ray(args)
    ready = time.perf_counter()
    try:
        results = _run_units(ray, args, shards, model_path, data_dir, stats)
        kept = [(name, shard, chunk) for shard in sorted(results) for name, chunk, _ in results[shard]["videos"]]
        entries = {name: entry for shard in results.values() for name, _, entry in shard["videos"]}
        owner = {name: shard for name, shard, _ in kept}
        # A skipped row shifts `mvt infer`'s batches: predict the batches it left misaligned again, each as one
        # chunk (a unit of whole batches), so every score is the CLI's to the last bit.
        starts = _misaligned(kept, batch)
        if starts:
            per_unit = max(1, per_shard // batch)
            repairs = [plan.unit(len(shards) + k, [plan.name_line[name] for start in group
                                                   for name, _, _ in kept[start:start + batch]])
                       for k, group in enumerate(starts[i:i + per_unit] for i in range(0, len(starts), per_unit))]
            for unit in _run_units(ray, args, repairs, model_path, data_dir, stats).values():
                for name, _, entry in unit["videos"]:
                    entries[name] = entry
                    stats["repaired"] += 1
                changed = unit["skipped"] + [(plan.name_line.get(n, 0), n, e) for n, e in unit["failed"]]
                for line, name, reason in changed:
                    print(f"warning: {args.list} line {line} ({name}): changed since it was read: {reason}",
                          file=sys.stderr)
    except RunFailed as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_ERROR
    except Exception as error:  # the cluster gave up on a unit (retries spent) or could not run the pool
        print(f"error: the Ray run failed: {type(error).__name__}: {error}", file=sys.stderr)
        return EXIT_ERROR
    done = time.perf_counter()

    warnings = list(plan.duplicates)
    for shard in sorted(results):
        warnings += [tuple(row) for row in results[shard]["skipped"]]
        warnings += [(plan.name_line.get(name, 0), name, f"prediction failed: {error}")
                     for name, error in results[shard]["failed"]]
    for line, name, reason in sorted(warnings, key=lambda w: w[0]):
        print(f"warning: {args.list} line {line} ({name}): {reason}; skipped", file=sys.stderr)
    tagged = len(kept)
    skipped = f"{len(warnings)} skipped"
    if tagged == 0:
        print(f"error: nothing to tag: {plan.rows} rows in {args.list}, {skipped}; "
              f"{args.out or args.shards} not written", file=sys.stderr)
        return EXIT_NOTHING_TAGGED
    try:
        if args.shards:
            _write_shards(args.shards, shards, kept, owner, entries)
        if args.out:
            write_atomically(Path(args.out), join_entries([entries[name] for name, _, _ in kept]))
    except OSError as error:
        print(f"error: cannot write {error.filename or args.out}: {error}", file=sys.stderr)
        return EXIT_ERROR
    pipeline = done - ready
    print(f"{tagged} videos tagged, {skipped} on {args.workers} Ray workers, {len(shards)} shards, "
          f"{stats['repaired']} videos re-predicted for batch alignment ({len(stats['pids'])} worker processes): "
          f"Ray start {ready - started:.2f} s, pipeline {pipeline:.2f} s ({tagged / pipeline:.1f} videos/s), "
          f"tagging {stats['worker_seconds']:.2f} worker-s -> {args.out or args.shards}", file=sys.stderr)
    return EXIT_OK


def _write_shards(folder: str, shards: List[Dict[str, Any]], kept: List[Tuple[str, int, int]],
                  owner: Dict[str, int], entries: Dict[str, str]) -> None:
    """DIR/shard-NNNNN.json (the output.json of each shard's videos, in list order) and DIR/shards.json."""
    os.makedirs(folder, exist_ok=True)
    names: Dict[int, List[str]] = {shard["unit"]: [] for shard in shards}
    for name, _, _ in kept:
        names[owner[name]].append(name)
    manifest = []
    for shard in shards:
        unit, lines = shard["unit"], json.loads(shard["line_numbers"])
        file = f"shard-{unit:05d}.json"
        write_atomically(Path(folder) / file, join_entries([entries[n] for n in names[unit]]))
        manifest.append({"shard": unit, "file": file, "first_line": lines[0] if lines else 1,
                         "last_line": lines[-1] if lines else 0, "videos": len(names[unit])})
    write_atomically(Path(folder) / "shards.json", json.dumps(manifest, indent=1) + "\n")


def main(argv: Optional[Sequence[str]] = None) -> int:
    """The command line; returns the exit status (argparse exits with 2 on bad usage)."""
    return run(parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
