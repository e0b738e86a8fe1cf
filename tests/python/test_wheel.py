"""The `mvt` Python package as users get it (issue 13): `make wheel` builds dist/mvt-<version>-py3-none-<platform>.whl
with libmvt.so inside; a fresh venv installs only that wheel and the dependencies it declares (numpy, onnxruntime
1.31.1: pip gets them from its cache or PyPI, at requirements.txt's versions through `-c requirements.txt`), and,
from a folder outside the checkout with MVT_LIBRARY / MVT_ORT_LIB / PYTHONPATH cleared:

- `python -m mvt info` and `python -m mvt infer` print and write what the `mvt` CLI does, byte for byte;
- the package loads its bundled libmvt.so and the venv's own onnxruntime wheel's libonnxruntime;
- the wrapper's own test files (those that need neither torch nor onnx) pass against the installed wheel.
"""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from fixture_paths import BIN, DATA, MODEL, ROOT

HERE = Path(__file__).resolve().parent
# The test files that exercise the wrapper and the demo alone (numpy + pytest): run against the wheel.
WRAPPER_TESTS = ["test_argument_checks.py", "test_model_close.py", "test_demo_safe_reader.py",
                 "test_demo_atomic_write.py"]


def run(command, **kwargs):
    done = subprocess.run([str(c) for c in command], capture_output=True, **kwargs)
    assert done.returncode == 0, f"{command}: {done.stdout!r} {done.stderr!r}"
    return done


@pytest.fixture(scope="module")
def wheel():
    run(["make", "--no-print-directory", "-C", ROOT, "wheel"], timeout=1800)
    [found] = sorted((ROOT / "dist").glob("mvt-*.whl"))
    return found


@pytest.fixture(scope="module")
def venv(wheel, tmp_path_factory):
    """A fresh venv with only the wheel, its declared dependencies and pytest; returns (python, clean env, a folder
    outside the checkout to run in)."""
    folder = tmp_path_factory.mktemp("wheel")
    venv = folder / "venv"
    run([sys.executable, "-m", "venv", venv], timeout=300)
    python = venv / "bin" / "python"
    run([python, "-m", "pip", "install", "-q", "-c", ROOT / "requirements.txt", wheel, "pytest"], timeout=1800)
    env = {k: v for k, v in os.environ.items()
           if k not in ("MVT_LIBRARY", "MVT_ORT_LIB", "PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    env["PATH"] = os.pathsep.join([str(venv / "bin")] + [p for p in env.get("PATH", "").split(os.pathsep)
                                                         if p and not p.startswith(str(ROOT))])
    outside = folder / "work"
    outside.mkdir()
    assert not str(outside).startswith(str(ROOT))
    return python, env, outside, venv


def test_the_wheel_bundles_libmvt_and_declares_its_dependencies(wheel):
    import zipfile
    assert wheel.name.endswith("-py3-none-linux_x86_64.whl"), wheel.name
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        assert {"mvt/__init__.py", "mvt/cli.py", "mvt/__main__.py", "mvt/libmvt.so", "mvt/py.typed"} <= names
        [metadata] = [n for n in names if n.endswith(".dist-info/METADATA")]
        text = archive.read(metadata).decode()
    assert "Requires-Dist: onnxruntime==1.31.1" in text and "Requires-Dist: numpy" in text
    version = (ROOT / "Cargo.toml").read_text().split("[workspace.package]")[1].split('version = "')[1].split('"')[0]
    assert f"Version: {version}\n" in text and wheel.name.startswith(f"mvt-{version}-")


def test_the_installed_package_uses_its_own_libmvt_and_the_venvs_onnx_runtime(venv):
    python, env, outside, folder = venv
    code = ("import mvt\n"
            f"with mvt.Model({str(MODEL)!r}) as m:\n"
            "    print(mvt.__file__); print(mvt.library_path()); print(m.ort_library); print(mvt.version())\n")
    package, library, ort, version = run([python, "-c", code], cwd=outside, env=env, text=True).stdout.split("\n")[:4]
    site = folder / "lib"
    assert Path(package).resolve().is_relative_to(site.resolve()), package
    assert Path(library).resolve() == Path(package).resolve().parent / "libmvt.so"
    assert Path(ort).resolve().is_relative_to(site.resolve()) and "/onnxruntime/capi/libonnxruntime.so" in ort, ort
    assert version == run([BIN / "mvt", "--version"], text=True).stdout.split()[-1]


def test_python_m_mvt_info_prints_what_the_cli_prints(venv):
    python, env, outside, _ = venv
    python_out = run([python, "-m", "mvt", "info", MODEL], cwd=outside, env=env).stdout
    cli_out = run([BIN / "mvt", "info", MODEL], cwd=outside).stdout
    assert python_out == cli_out and b"classes: " in cli_out


@pytest.mark.parametrize("options", [[], ["--top-k", "2", "--threshold", "0.3", "--batch-size", "7"]],
                         ids=["threshold", "top_k"])
def test_python_m_mvt_infer_writes_the_clis_output_json(venv, options):
    python, env, outside, _ = venv
    arguments = ["infer", "--model", MODEL, "--data", DATA, "--list", "val.txt", *options]
    done = run([python, "-m", "mvt", *arguments, "--out", outside / "py.json"], cwd=outside, env=env, text=True)
    run([BIN / "mvt", *arguments, "--out", outside / "cli.json"], cwd=outside)
    assert (outside / "py.json").read_bytes() == (outside / "cli.json").read_bytes()
    assert "videos tagged, 0 skipped on cpu (ONNX Runtime 1.31.1 from " in done.stderr
    assert str(outside.parent / "venv") in done.stderr.split(" from ")[1], done.stderr


def test_python_m_mvt_exit_statuses_are_the_clis(venv, tmp_path):
    python, env, outside, _ = venv
    (tmp_path / "data").mkdir()
    shutil.copy(DATA / "class.txt", tmp_path / "data" / "class.txt")
    (tmp_path / "data" / "val.txt").write_text("missing.mp4\ta title\n", encoding="utf-8")
    cases = {
        "nothing tagged": (["--data", tmp_path / "data"], 3),
        "no dataset": (["--data", tmp_path / "nowhere"], 1),
        "bad usage": (["--data", DATA, "--top-k", "-1"], 2),
    }
    for name, (arguments, status) in cases.items():
        command = ["infer", "--model", MODEL, *arguments, "--out", tmp_path / "out.json"]
        python_done = subprocess.run([str(c) for c in [python, "-m", "mvt", *command]], cwd=outside, env=env,
                                     capture_output=True, text=True)
        cli_done = subprocess.run([str(c) for c in [BIN / "mvt", *command]], capture_output=True, text=True)
        assert python_done.returncode == cli_done.returncode == status, (name, python_done.stderr, cli_done.stderr)
        assert not (tmp_path / "out.json").exists()
    nothing = subprocess.run([str(c) for c in [python, "-m", "mvt", "infer", "--model", MODEL, "--data",
                                               tmp_path / "data", "--out", tmp_path / "out.json"]],
                             cwd=outside, env=env, capture_output=True, text=True)
    assert "error: nothing to tag: 1 rows in val.txt, 1 skipped (missing feature file: 1)" in nothing.stderr


def test_the_wrapper_tests_pass_against_the_installed_wheel(venv):
    python, env, outside, _ = venv
    env = {**env, "MVT_BIN_DIR": str(BIN), "MVT_BUILD_DIR": str(MODEL.parent)}
    done = subprocess.run([str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(outside),
                           *[str(HERE / name) for name in WRAPPER_TESTS]],
                          cwd=outside, env=env, capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert " passed" in done.stdout and " failed" not in done.stdout
    # and the package those tests imported was the wheel's
    where = run([python, "-c", "import mvt; print(mvt.__file__)"], cwd=outside, env=env, text=True).stdout
    assert str(outside.parent / "venv") in where
