"""Where the Python tests find what `make fixtures` built: binaries ($MVT_BIN_DIR), the tiny model and dataset
($MVT_BUILD_DIR), and the demo script. `import mvt` is the installed package (`make setup` installs python/ into
.venv in editable form; test_wheel.py runs some of these files against the wheel in a fresh venv); the demo, a
script users read rather than a module, is loaded from its file by import_demo()."""
import importlib.util
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(os.environ.get("MVT_BIN_DIR", ROOT / "target" / "release"))
BUILD = Path(os.environ.get("MVT_BUILD_DIR", ROOT / "build"))
MODEL = BUILD / "tiny.onnx"
DATA = BUILD / "tiny"
PYTHON_DEMO = ROOT / "python_demo"
DEMO = PYTHON_DEMO / "demo.py"


def import_demo():
    """python_demo/demo.py as the module `demo` (loaded once), without putting its folder on sys.path."""
    if "demo" not in sys.modules:
        spec = importlib.util.spec_from_file_location("demo", DEMO)
        module = importlib.util.module_from_spec(spec)
        sys.modules["demo"] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules["demo"]
            raise
    return sys.modules["demo"]
