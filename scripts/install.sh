#!/usr/bin/env bash
# Install libmvt as a C library (`make install`, `make uninstall`, `make dist`; README "Install"):
#   PREFIX/lib/libmvt.so.X.Y.Z, libmvt.so.0 -> it, libmvt.so -> libmvt.so.0
#   PREFIX/lib/libonnxruntime.so.<pinned>    (found by libmvt next to itself: no environment variable needed)
#   PREFIX/include/mvt.h, mvt.hpp
#   PREFIX/lib/pkgconfig/mvt.pc              (relative to its own folder: the tree can be moved)
#   PREFIX/lib/cmake/mvt/mvtConfig.cmake, mvtConfigVersion.cmake (imported target mvt::mvt, relocatable too)
#   PREFIX/bin/mvt                           (the CLI; finds ONNX Runtime in ../lib)
#   PREFIX/share/doc/mvt/                    (our licence, ONNX Runtime's licence and notices, README)
#   PREFIX/share/mvt/install_manifest.txt    (what `uninstall` removes, and nothing else)
# Usage: scripts/install.sh install|uninstall PREFIX [DESTDIR];  scripts/install.sh dist OUT_DIR
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$root/Cargo.toml" | head -1)
bin="${MVT_BIN_DIR:-$root/target/release}"
manifest_rel=share/mvt/install_manifest.txt

ort_library() {
    local found=("$root"/.venv/lib/python3.*/site-packages/onnxruntime/capi/libonnxruntime.so.*)
    [[ -f "${found[0]}" ]] || { echo "no pinned libonnxruntime.so.* in $root/.venv: run make setup" >&2; exit 1; }
    echo "${found[0]}"
}

# Creates the folder $tree/$1 and the missing ones above it, recording each one it creates ("dir/" lines; on a
# reinstall, those the first install created), outermost first, so that uninstall removes exactly those.
folder() {
    [[ "$1" == "." ]] && return
    grep -qxF "$1/" "$manifest" && return
    if [[ -d "$tree/$1" ]]; then
        grep -qxF "$1/" <<< "$previous" || return 0
    else
        folder "$(dirname "$1")"
        mkdir "$tree/$1"
    fi
    folder "$(dirname "$1")"
    echo "$1/" >> "$manifest"
}

# Copies $1 to $tree/$2 with mode $3, atomically (a temporary file beside it, synced, renamed over the old one:
# a failed copy never leaves a broken library where a good one was), and records $2 in the manifest.
put() {
    folder "$(dirname "$2")"
    put_file "$@"
    echo "$2" >> "$manifest"
}

put_file() {
    local temporary; temporary="$tree/$(dirname "$2")/.mvt-tmp-$$-$(basename "$2")"
    install -m "$3" "$1" "$temporary"
    sync "$temporary"
    mv -f "$temporary" "$tree/$2"
}

link() {  # link TARGET NAME: $tree/NAME -> TARGET (relative), switched atomically
    folder "$(dirname "$2")"
    ln -sfn "$1" "$tree/$2.mvt-tmp-$$"
    mv -fT "$tree/$2.mvt-tmp-$$" "$tree/$2"
    echo "$2" >> "$manifest"
}

install_tree() {
    tree="$1"
    mkdir -p "$tree"
    # The manifest is built beside the tree and put in last; a reinstall keeps the folders the first one made.
    manifest=$(mktemp)
    previous=""
    if [[ -f "$tree/$manifest_rel" ]]; then
        previous=$(cat "$tree/$manifest_rel")
    fi
    local ort; ort=$(ort_library)
    put "$bin/libmvt.so" "lib/libmvt.so.$version" 755
    link "libmvt.so.$version" lib/libmvt.so.0
    link libmvt.so.0 lib/libmvt.so
    put "$ort" "lib/$(basename "$ort")" 755
    put "$root/include/mvt.h" include/mvt.h 644
    put "$root/include/mvt.hpp" include/mvt.hpp 644
    put "$bin/mvt" bin/mvt 755
    local staging; staging=$(mktemp -d)
    sed "s/@VERSION@/$version/g" "$root/packaging/mvt.pc.in" > "$staging/mvt.pc"
    sed "s/@VERSION@/$version/g" "$root/packaging/mvtConfig.cmake.in" > "$staging/mvtConfig.cmake"
    sed "s/@VERSION@/$version/g" "$root/packaging/mvtConfigVersion.cmake.in" > "$staging/mvtConfigVersion.cmake"
    put "$staging/mvt.pc" lib/pkgconfig/mvt.pc 644
    put "$staging/mvtConfig.cmake" lib/cmake/mvt/mvtConfig.cmake 644
    put "$staging/mvtConfigVersion.cmake" lib/cmake/mvt/mvtConfigVersion.cmake 644
    rm -rf "$staging"
    local onnxruntime_dir; onnxruntime_dir=$(dirname "$(dirname "$ort")")
    put "$root/LICENSE" share/doc/mvt/LICENSE 644
    put "$onnxruntime_dir/LICENSE" share/doc/mvt/onnxruntime/LICENSE 644
    put "$onnxruntime_dir/ThirdPartyNotices.txt" share/doc/mvt/onnxruntime/ThirdPartyNotices.txt 644
    put "$root/packaging/README.md" share/doc/mvt/README.md 644
    folder "$(dirname "$manifest_rel")"
    echo "$manifest_rel" >> "$manifest"
    put_file "$manifest" "$manifest_rel" 644
    rm -f "$manifest"
    # Files of the previous install that this one no longer has (another version's library).
    if [[ -n "$previous" ]]; then
        grep -v '/$' <<< "$previous" | grep -vxF -f "$tree/$manifest_rel" | while IFS= read -r stale; do
            rm -f "$tree/$stale"
        done || true
    fi
}

uninstall_tree() {
    tree="$1"
    [[ -f "$tree/$manifest_rel" ]] || { echo "nothing to uninstall: no $tree/$manifest_rel" >&2; exit 1; }
    local folders=()
    while IFS= read -r entry; do
        case "$entry" in
            */) folders=("${entry%/}" "${folders[@]}") ;;  # made by install: removed last, deepest first
            ?*) rm -f "$tree/$entry" ;;
        esac
    done < "$tree/$manifest_rel"
    for dir in "${folders[@]}"; do
        rmdir "$tree/$dir" 2>/dev/null || echo "kept $tree/$dir: it holds files install did not put there" >&2
    done
}

case "${1:-}" in
    # (not `f && echo`: errexit does not apply inside a function called on the left of &&)
    install)
        install_tree "${3:-}$2"
        echo "installed mvt $version into ${3:-}$2"
        ;;
    uninstall)
        uninstall_tree "${3:-}$2"
        echo "uninstalled mvt from ${3:-}$2"
        ;;
    dist)
        name="libmvt-$version-linux-$(uname -m)"
        staging=$(mktemp -d)
        install_tree "$staging/$name"
        mkdir -p "$2"
        tar -C "$staging" -czf "$2/$name.tar.gz.tmp" "$name"
        mv "$2/$name.tar.gz.tmp" "$2/$name.tar.gz"
        rm -rf "$staging"
        echo "$2/$name.tar.gz"
        ;;
    *) echo "usage: $0 install|uninstall PREFIX [DESTDIR] | dist OUT_DIR" >&2; exit 2 ;;
esac
