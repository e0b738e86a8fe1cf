"""libmvt shipped as a C library (`make install`, `make uninstall`, `make dist`; scripts/install.sh): an install tree
and a relocatable archive that a C program (pkg-config) and a CMake project (find_package(mvt)) build against and
run, with no LD_LIBRARY_PATH and no MVT_ORT_LIB: libmvt and the `mvt` CLI find the ONNX Runtime installed beside
libmvt. Uninstall leaves the prefix as it was."""
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from fixture_paths import DATA, MODEL, ROOT

# What a user's shell has: none of the variables that would point the library at a runtime or a library folder.
CLEAN_ENV = {k: v for k, v in os.environ.items() if k not in ("MVT_ORT_LIB", "LD_LIBRARY_PATH", "PKG_CONFIG_PATH")}
VERSION = next(line.split('"')[1] for line in (ROOT / "Cargo.toml").read_text().splitlines()
               if line.startswith("version = "))
ORT = next((ROOT / ".venv").glob("lib/python3.*/site-packages/onnxruntime/capi/libonnxruntime.so.*")).name

INSTALLED = {
    "bin/mvt", "include/mvt.h", "include/mvt.hpp", f"lib/libmvt.so.{VERSION}", "lib/libmvt.so.0", "lib/libmvt.so",
    f"lib/{ORT}", "lib/pkgconfig/mvt.pc", "lib/cmake/mvt/mvtConfig.cmake", "lib/cmake/mvt/mvtConfigVersion.cmake",
    "share/doc/mvt/LICENSE", "share/doc/mvt/README.md", "share/doc/mvt/onnxruntime/LICENSE",
    "share/doc/mvt/onnxruntime/ThirdPartyNotices.txt", "share/mvt/install_manifest.txt",
}


def run(*command, env=None, cwd=None):
    done = subprocess.run([str(c) for c in command], capture_output=True, text=True, env=env or CLEAN_ENV, cwd=cwd,
                          timeout=900)
    assert done.returncode == 0, f"{command}: {done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


def make(*arguments):
    return run("make", "--no-print-directory", "-C", ROOT, *arguments)


def snapshot(folder: Path):
    """Every entry under `folder`: folders, files with their bytes, links with their targets."""
    entries = {}
    for path in sorted(folder.rglob("*")):
        rel = str(path.relative_to(folder))
        entries[rel] = ("link", os.readlink(path)) if path.is_symlink() else \
            ("dir",) if path.is_dir() else ("file", path.read_bytes())
    return entries


def files(tree: Path):
    return {str(p.relative_to(tree)) for p in tree.rglob("*") if p.is_file() or p.is_symlink()}


def consumers_work(tree: Path, scratch: Path):
    """A C program built with pkg-config, the C++ demo built with find_package(mvt) and the installed CLI all tag
    with the ONNX Runtime of `tree`."""
    ort = tree.resolve() / "lib" / ORT
    env = {**CLEAN_ENV, "PKG_CONFIG_PATH": str(tree / "lib" / "pkgconfig")}
    assert run("pkg-config", "--modversion", "mvt", env=env).stdout.strip() == VERSION
    flags = run("pkg-config", "--cflags", "--libs", "mvt", env=env).stdout.split()
    c_demo = scratch / "c_demo"
    run("cc", "-std=c11", "-Wall", "-Wextra", "-pedantic", "-Werror", ROOT / "cpp_demo" / "c_demo.c", *flags,
        "-o", c_demo)
    out = run(c_demo, MODEL).stdout
    assert f"ONNX Runtime 1.31.1 from {ort}" in out, out

    build = scratch / "cmake"
    run("cmake", "-S", ROOT / "cpp_demo" / "installed", "-B", build, f"-DCMAKE_PREFIX_PATH={tree}")
    run("cmake", "--build", build)
    done = run(build / "mvt_demo", "--model", MODEL, "--data", DATA, "--list", "val.txt",
               "--out", scratch / "demo.json")
    assert "tagged 100 videos on cpu" in done.stdout + done.stderr

    done = run(tree / "bin" / "mvt", "infer", "--model", MODEL, "--data", DATA, "--out", scratch / "cli.json")
    assert f"from {ort})" in done.stderr, done.stderr
    assert (scratch / "cli.json").read_bytes() == (scratch / "demo.json").read_bytes()


def test_install_then_uninstall_leaves_the_prefix_as_it_was(tmp_path):
    prefix = tmp_path / "prefix"
    (prefix / "lib").mkdir(parents=True)
    (prefix / "lib" / "libother.so").write_text("someone else's library")
    before = snapshot(prefix)

    make("install", f"PREFIX={prefix}")
    assert files(prefix) == INSTALLED | {"lib/libother.so"}
    assert os.readlink(prefix / "lib" / "libmvt.so.0") == f"libmvt.so.{VERSION}"
    assert os.readlink(prefix / "lib" / "libmvt.so") == "libmvt.so.0"
    assert (prefix / "include" / "mvt.h").read_bytes() == (ROOT / "include" / "mvt.h").read_bytes()
    consumers_work(prefix, tmp_path)

    installed = snapshot(prefix)
    make("install", f"PREFIX={prefix}")  # again: the same tree, no temporary file left
    assert snapshot(prefix) == installed

    make("uninstall", f"PREFIX={prefix}")
    assert snapshot(prefix) == before


def test_destdir_stages_the_prefix(tmp_path):
    stage = tmp_path / "stage"
    make("install", "PREFIX=/opt/mvt", f"DESTDIR={stage}")
    assert files(stage / "opt" / "mvt") == INSTALLED
    assert files(stage) == {f"opt/mvt/{f}" for f in INSTALLED}
    consumers_work(stage / "opt" / "mvt", tmp_path)  # paths are relative: the staged tree works where it is
    make("uninstall", "PREFIX=/opt/mvt", f"DESTDIR={stage}")
    assert files(stage) == set()


def test_the_dist_archive_works_after_moving_it(tmp_path):
    make("dist")
    name = f"libmvt-{VERSION}-linux-{os.uname().machine}"
    archive = ROOT / "dist" / f"{name}.tar.gz"
    with tarfile.open(archive) as tar:
        assert {m.name for m in tar.getmembers()} >= {f"{name}/{f}" for f in INSTALLED}
        tar.extractall(tmp_path / "unpacked", filter="tar")
    moved = tmp_path / "elsewhere" / "libmvt"
    moved.parent.mkdir()
    shutil.move(tmp_path / "unpacked" / name, moved)
    # No absolute run path anywhere: the loader needs none (libmvt loads ONNX Runtime by its own folder).
    for binary in (moved / "bin" / "mvt", moved / "lib" / f"libmvt.so.{VERSION}"):
        dynamic = run("readelf", "-d", binary).stdout
        assert "RPATH" not in dynamic and "RUNPATH" not in dynamic, dynamic
    consumers_work(moved, tmp_path)


@pytest.mark.parametrize("target", ["install", "uninstall"])
def test_a_prefix_that_cannot_be_written_fails_clearly(tmp_path, target):
    done = subprocess.run(["make", "--no-print-directory", "-C", str(ROOT), target, "PREFIX=/proc/mvt-prefix"],
                          capture_output=True, text=True, env=CLEAN_ENV, timeout=900)
    assert done.returncode != 0
    message = "/proc/mvt-prefix" if target == "install" else "nothing to uninstall: no /proc/mvt-prefix"
    assert message in done.stderr, done.stderr
