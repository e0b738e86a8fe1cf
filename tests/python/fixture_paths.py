"""Where the Python tests find what `make fixtures` built: binaries ($MVT_BIN_DIR), the tiny model and dataset
($MVT_BUILD_DIR), and the demo folder, which it puts on sys.path so that `import mvt` / `import demo` load the
wrapper and demo users copy."""
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(os.environ.get("MVT_BIN_DIR", ROOT / "target" / "release"))
BUILD = Path(os.environ.get("MVT_BUILD_DIR", ROOT / "build"))
MODEL = BUILD / "tiny.onnx"
DATA = BUILD / "tiny"
PYTHON_DEMO = ROOT / "python_demo"

if str(PYTHON_DEMO) not in sys.path:
    sys.path.insert(0, str(PYTHON_DEMO))
