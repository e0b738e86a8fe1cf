#!/usr/bin/env python3
"""The layout rules `make lint` enforces on every crate of the workspace (README, "The crates"):

1. no import circles: no module refers in code (`crate::m`, `super::m`, `use crate::{m, ..}`; comments aside) to a
   module that refers back to it, directly or through others;
2. no hand-written Rust file over 700 lines.

A module is a source file (`src/a.rs` or `src/a/mod.rs` is `a`, `src/a/b.rs` is `a::b`); a reference counts for the
longest module path it names. A file's own `#[cfg(test)] mod tests` may use `super::*` (that is itself).
Exits 1 and prints every cycle and every long file; prints a one-line summary otherwise.
"""

import re
import sys
from pathlib import Path

MAX_LINES = 700
ROOT = Path(__file__).resolve().parent.parent
CRATES = ["src", "crates/mvt-formats/src", "crates/mvt-runtime/src", "crates/mvt-cli/src", "crates/mvt-synth/src",
          "trainer/src", "tests/support/src"]


def module_path(src: Path, file: Path) -> tuple:
    parts = list(file.relative_to(src).with_suffix("").parts)
    if parts[-1] in ("mod", "lib", "main"):
        parts = parts[:-1]
    return tuple(parts)


def referenced_paths(text: str, own: tuple) -> set:
    """Module paths (as tuples of names) that `text`, the file of module `own`, refers to."""
    found = set()
    # `use crate::{a, b::c}` and `use super::{a, b}` groups: each item is a path of its own.
    for prefix, group in re.findall(r"\b(crate|super)::\{([^}]*)\}", text):
        base = () if prefix == "crate" else own[:-1]
        for item in group.split(","):
            names = [n for n in item.strip().split("::") if re.fullmatch(r"[a-z_][a-z0-9_]*", n)]
            if names:
                found.add(base + tuple(names))
    for prefix, rest in re.findall(r"\b(crate|super)::((?:[a-z_][a-z0-9_]*::)*[A-Za-z_][A-Za-z0-9_]*)", text):
        base = () if prefix == "crate" else own[:-1]
        names = [n for n in rest.split("::") if re.fullmatch(r"[a-z_][a-z0-9_]*", n)]
        found.add(base + tuple(names))
    return found


def check_crate(src: Path) -> list:
    files = {module_path(src, f): f for f in sorted(src.rglob("*.rs"))}
    edges = {}
    for own, file in files.items():
        # Comments (doc links included) are not imports.
        text = re.sub(r"//.*", "", file.read_text())
        # `super::*` inside a file's own test module means the file itself.
        text = re.sub(r"#\[cfg\(test\)\]\s*mod tests \{\s*use super::\*;", "", text)
        targets = set()
        for path in referenced_paths(text, own):
            while path and path not in files:
                path = path[:-1]
            if path and path != own:
                targets.add(path)
        edges[own] = targets
    problems = []
    # Tarjan's strongly connected components: any component of two or more modules is a circle.
    index, low, stack, on_stack, counter = {}, {}, [], set(), [0]

    def visit(node):
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in edges.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                names = sorted("::".join(c) or "(crate root)" for c in component)
                problems.append(f"{src}: import circle between {', '.join(names)}")

    for node in edges:
        if node not in index:
            visit(node)
    for own, file in files.items():
        lines = file.read_text().count("\n")
        if lines > MAX_LINES:
            problems.append(f"{file.relative_to(ROOT)}: {lines} lines (at most {MAX_LINES})")
    return problems


def main() -> int:
    problems = []
    modules = 0
    for crate in CRATES:
        src = ROOT / crate
        modules += len(list(src.rglob("*.rs")))
        problems += check_crate(src)
    for problem in problems:
        print(problem)
    if problems:
        return 1
    print(f"layout: {modules} modules in {len(CRATES)} crates, no import circles, none over {MAX_LINES} lines")
    return 0


if __name__ == "__main__":
    sys.exit(main())
