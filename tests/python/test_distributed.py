"""`python -m mvt.distributed` (python/mvt/distributed.py) on a local Ray cluster that this module starts and stops:
the same output.json as `mvt infer` byte for byte with 1 and 2 workers, a worker killed mid-run (a real process
death through the module's test hook) costing nothing, hostile rows reported and skipped, and the exit statuses.

Uses the fixtures of `make fixtures`: $MVT_BUILD_DIR/tiny.onnx and $MVT_BUILD_DIR/tiny (100 validation videos);
`mvt infer` from $MVT_BIN_DIR.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import ray  # pinned in requirements.txt: a missing install fails here, it is not skipped

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(os.environ.get("MVT_BIN_DIR", ROOT / "target" / "release"))
BUILD = Path(os.environ.get("MVT_BUILD_DIR", ROOT / "build"))
MODEL = BUILD / "tiny.onnx"
DATA = BUILD / "tiny"

from mvt import distributed  # noqa: E402  (python/mvt, installed editable into .venv)


@pytest.fixture(scope="module")
def cluster():
    """A small local cluster in this process (2 CPUs, 200 MB object store); its workers import mvt as we do."""
    package_root = str(Path(distributed.__file__).resolve().parents[1])
    saved = os.environ.get("PYTHONPATH")
    paths = [p for p in (saved or "").split(os.pathsep) if p]
    os.environ["PYTHONPATH"] = os.pathsep.join([package_root] + [p for p in paths if p != package_root])
    try:
        ray.init(num_cpus=2, object_store_memory=200 * 1024 ** 2, include_dashboard=False, logging_level="ERROR")
        try:
            yield ray.get_runtime_context().gcs_address
        finally:
            ray.shutdown()
    finally:
        if saved is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = saved


def mvt_infer(out: Path, list_file: str = "val.txt", *extra) -> subprocess.CompletedProcess:
    done = subprocess.run([str(BIN / "mvt"), "infer", "--model", str(MODEL), "--data", str(DATA), "--list",
                           str(list_file), "--out", str(out), *map(str, extra)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done


def distributed_args(out: Path, list_file: str = "val.txt", *extra) -> list:
    return ["--model", str(MODEL), "--data", str(DATA), "--list", str(list_file), "--out", str(out),
            *map(str, extra)]


@pytest.mark.parametrize("workers", [1, 2])
def test_output_is_mvt_infers_byte_for_byte(cluster, tmp_path, workers):
    mvt_infer(tmp_path / "cli.json")
    shards = tmp_path / "shards"
    assert distributed.main(distributed_args(tmp_path / "ray.json", "val.txt", "--workers", workers,
                                             "--shards", shards)) == 0
    expected = (tmp_path / "cli.json").read_bytes()
    assert (tmp_path / "ray.json").read_bytes() == expected
    assert len(json.loads(expected)) == 100
    # The shard files are the whole output cut in list order; nothing else is left in the folders.
    manifest = json.loads((shards / "shards.json").read_text())
    joined = [entry for shard in manifest for entry in json.loads((shards / shard["file"]).read_text("utf-8"))]
    assert joined == json.loads(expected)
    assert sorted(p.name for p in shards.iterdir()) == sorted([s["file"] for s in manifest] + ["shards.json"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cli.json", "ray.json", "shards"]


def test_a_worker_killed_mid_run_loses_and_duplicates_nothing(cluster, tmp_path, monkeypatch):
    """The first actor to take a shard os._exit()s (distributed.CRASH_ENV); Ray restarts it and reruns the shard."""
    marker = tmp_path / "crashed"
    monkeypatch.setenv(distributed.CRASH_ENV, str(marker))
    mvt_infer(tmp_path / "cli.json", "val.txt", "--batch-size", 16)
    assert distributed.main(distributed_args(tmp_path / "ray.json", "val.txt", "--workers", 2, "--batch-size", 16,
                                             "--shard-rows", 16)) == 0
    pid = int(marker.read_text())  # a worker really took the hook...
    with pytest.raises(ProcessLookupError):  # ...and its process is gone
        os.kill(pid, 0)
    assert (tmp_path / "ray.json").read_bytes() == (tmp_path / "cli.json").read_bytes()
    names = [entry["video_id"] for entry in json.loads((tmp_path / "ray.json").read_text("utf-8"))]
    assert len(names) == len(set(names)) == 100


def test_hostile_rows_are_reported_and_skipped_as_mvt_infer_does(cluster, tmp_path, capfd):
    lines = (DATA / "val.txt").read_bytes().split(b"\n")
    lines.insert(4, b"nosuchvideo.mp4\ta title whose feature file is missing")
    lines.insert(10, b"")
    lines.insert(20, lines[2])  # a duplicate name: first wins across shards
    hostile = tmp_path / "hostile.txt"
    hostile.write_bytes(b"\n".join(lines))
    cli = mvt_infer(tmp_path / "cli.json", hostile, "--batch-size", 16)
    capfd.readouterr()
    assert distributed.main(distributed_args(tmp_path / "ray.json", hostile, "--workers", 2, "--batch-size", 16,
                                             "--shard-rows", 16)) == 0
    stderr = capfd.readouterr().err
    warnings = [line for line in cli.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 2 and "line 5 (nosuchvideo.mp4): missing feature file" in warnings[0]
    assert [line for line in stderr.splitlines() if line.startswith("warning:")] == warnings
    assert (tmp_path / "ray.json").read_bytes() == (tmp_path / "cli.json").read_bytes()


def test_exit_statuses(cluster, tmp_path, capfd):
    # 3: nothing to tag, through the real command line connecting to the running cluster; nothing written.
    (tmp_path / "missing.txt").write_text("gone1.mp4\tt\ngone2.mp4\tt\n", encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "mvt.distributed", "--address", cluster,
                           *distributed_args(tmp_path / "none.json", tmp_path / "missing.txt")],
                          capture_output=True, text=True, env=os.environ.copy(), timeout=120)
    assert done.returncode == 3, done.stderr
    assert "error: nothing to tag: 2 rows" in done.stderr and not (tmp_path / "none.json").exists()
    # 1: a model file that is not one; an unreadable list.
    (tmp_path / "bad.onnx").write_bytes(b"not a model")
    args = distributed_args(tmp_path / "bad.json")
    args[1] = str(tmp_path / "bad.onnx")
    assert distributed.main(args) == 1
    assert "cannot load" in capfd.readouterr().err and not (tmp_path / "bad.json").exists()
    assert distributed.main(distributed_args(tmp_path / "x.json", tmp_path / "no-such-list.txt")) == 1
    # 2: bad usage.
    for argv in (["--model", str(MODEL)], distributed_args(tmp_path / "x.json", "val.txt", "--workers", 0)):
        with pytest.raises(SystemExit) as exit_:
            distributed.main(argv)
        assert exit_.value.code == 2
    assert not (tmp_path / "x.json").exists()


def test_output_json_pieces_join_back():
    text = ('[\n    {\n        "video_id": "a",\n        "labels": []\n    },\n    {\n        "video_id": "b\\n    },",'
            '\n        "labels": []\n    }\n]')
    entries = distributed.json_entries(text)
    assert len(entries) == 2 and distributed.join_entries(entries) == text
    assert distributed.json_entries("[]") == [] and distributed.join_entries([]) == "[]"
    plan = distributed.ListPlan(distributed.list_lines("\ufeffa\tx\r\n\n \t\nb\ny\t\t\na\tdup\n".encode()))
    assert plan.rows == 4 and plan.name_line == {"a": 1, "b": 4, "y": 5}
    assert plan.duplicates == [(6, "a", "duplicate of line 1")]
