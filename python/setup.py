"""What python/pyproject.toml cannot say about the `mvt` package.

- The version is the root Cargo.toml's [workspace.package] version: libmvt, the CLI and this package are one
  release, and Cargo.toml is where it is set (mvt.version() reports the library's, mvt.__version__ is that).
  Reading it here at build time leaves one source of truth; a generated or hand-kept _version.py could drift.
- A wheel carries libmvt.so: build_py copies the built library ($MVT_WHEEL_LIBRARY, default the checkout's
  target/release/libmvt.so) into the build folder's mvt/ (never into the source tree), and bdist_wheel tags the
  wheel py3-none-<platform>: a native library for this platform, but no Python extension, so any Python 3.
  An editable install (`make setup`) copies nothing: mvt then loads the checkout's target/release/libmvt.so.
"""
import os
import re
import shutil
from pathlib import Path

from setuptools import Distribution, setup
from setuptools.command.build_py import build_py as _build_py

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def cargo_version() -> str:
    """[workspace.package] version of ../Cargo.toml."""
    text = (ROOT / "Cargo.toml").read_text(encoding="utf-8")
    section = re.search(r"^\[workspace\.package\]\s*$(.*?)(?=^\[|\Z)", text, re.M | re.S)
    version = section and re.search(r'^version\s*=\s*"([^"]+)"\s*$', section.group(1), re.M)
    if not version:
        raise SystemExit(f"no [workspace.package] version in {ROOT / 'Cargo.toml'}")
    return version.group(1)


class build_py(_build_py):
    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return
        library = Path(os.environ.get("MVT_WHEEL_LIBRARY") or ROOT / "target" / "release" / "libmvt.so")
        if not library.is_file():
            raise SystemExit(f"{library} does not exist: build it first (cargo build --release -p mvt, or make wheel)")
        target = Path(self.build_lib) / "mvt" / "libmvt.so"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(library, target)  # the file itself, not a link: the wheel must hold the library
        os.chmod(target, 0o755)


class BinaryDistribution(Distribution):
    """Holds a native library: built into the platform's folder and installed in platlib (not a pure wheel)."""

    def has_ext_modules(self):
        return True


commands = {"build_py": build_py}
try:
    from wheel.bdist_wheel import bdist_wheel as _bdist_wheel

    class bdist_wheel(_bdist_wheel):
        def get_tag(self):
            _, _, platform = super().get_tag()
            return "py3", "none", platform

    commands["bdist_wheel"] = bdist_wheel
except ImportError:  # no wheel package: only an sdist or a legacy install can be built
    pass

setup(version=cargo_version(), cmdclass=commands, distclass=BinaryDistribution)
