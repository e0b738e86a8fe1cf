# Source this to build or test by hand exactly as the Makefile does:  . scripts/env.sh
_mvt_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export VIRTUAL_ENV="$_mvt_root/.venv"
export PATH="$_mvt_root/.venv/bin:$PATH"
export LIBTORCH_USE_PYTORCH=1
export MVT_BIN_DIR="$_mvt_root/target/release"
export MVT_BUILD_DIR="$_mvt_root/build"
