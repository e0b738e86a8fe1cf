"""Every file the Python demo writes (output.json, probs) is written atomically: a temporary file in the same folder,
flushed and fsynced, then os.replace. A write that fails part-way leaves the previous file intact and no
temporary file behind, and the demo says so and exits with 1.
"""
import errno
import os
import resource
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from fixture_paths import ROOT, MODEL, DATA, import_demo

demo = import_demo()  # python_demo/demo.py

DEMO = ROOT / "python_demo" / "demo.py"
OLD = '["the previous file", "must survive"]\n'.encode("utf-8")


def leftovers(folder: Path, keep) -> list:
    return sorted(p.name for p in folder.iterdir() if p.name not in keep)


def test_write_atomically_writes_the_whole_text_with_ordinary_modes(tmp_path):
    target = tmp_path / "out.json"
    demo.write_atomically(target, "第一 first\n")
    assert target.read_text(encoding="utf-8") == "第一 first\n"
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask
    target.chmod(0o600)
    demo.write_atomically(str(target), "second")
    assert target.read_text(encoding="utf-8") == "second" and stat.S_IMODE(target.stat().st_mode) == 0o600
    assert leftovers(tmp_path, {"out.json"}) == []


@pytest.mark.parametrize("option", ["--out", "--probs"])
@pytest.mark.parametrize("failure", ["fsync", "write part-way", "replace"])
def test_a_failed_write_keeps_the_previous_file(tmp_path, monkeypatch, capsys, option, failure):
    target = tmp_path / "previous.json"
    target.write_bytes(OLD)
    real_write = os.write

    def full_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    def half_then_full(fd, data):
        if len(data) > 64:
            real_write(fd, bytes(data[: len(data) // 2]))
        raise OSError(errno.ENOSPC, "No space left on device")

    patch = {"fsync": ("fsync", full_disk), "write part-way": ("write", half_then_full),
             "replace": ("replace", full_disk)}[failure]
    monkeypatch.setattr(os, *patch)
    status = demo.main(["--model", str(MODEL), "--data", str(DATA), option, str(target)])
    monkeypatch.undo()
    assert target.read_bytes() == OLD
    assert leftovers(tmp_path, {"previous.json"}) == []
    assert status == 1
    err = capsys.readouterr().err
    assert f"cannot write {target}: [Errno {errno.ENOSPC}] No space left on device (the previous file, if any, is " \
           "unchanged)" in err


@pytest.mark.parametrize("option", ["--out", "--probs"])
def test_a_file_size_limit_hit_part_way_keeps_the_previous_file(tmp_path, option):
    """RLIMIT_FSIZE in a child process: the write fails with EFBIG after LIMIT bytes (Python ignores SIGXFSZ)."""
    full = tmp_path / "full.json"
    subprocess.run([sys.executable, "-B", str(DEMO), "--model", str(MODEL), "--data", str(DATA), option, str(full)],
                   check=True, capture_output=True)
    limit = 4096
    assert full.stat().st_size > 2 * limit  # the new file is cut part-way

    target = tmp_path / "previous.json"
    target.write_bytes(OLD)

    def limit_file_size():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    done = subprocess.run([sys.executable, "-B", str(DEMO), "--model", str(MODEL), "--data", str(DATA),
                           option, str(target)], capture_output=True, text=True, preexec_fn=limit_file_size,
                          timeout=300)
    assert target.read_bytes() == OLD
    assert leftovers(tmp_path, {"previous.json", "full.json"}) == []
    assert done.returncode == 1, done.stderr
    assert f"cannot write {target}: [Errno {errno.EFBIG}] File too large" in done.stderr

    done = subprocess.run([sys.executable, "-B", str(DEMO), "--model", str(MODEL), "--data", str(DATA),
                           option, str(target)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert target.read_bytes() == full.read_bytes()
