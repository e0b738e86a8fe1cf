"""The synthetic benchmark fixture ($MVT_BUILD_DIR/tiny, `mvt-train synth --preset tiny --seed 7`) as real
Python sees it: every feature file loads with pickle + numpy (warnings are errors), refers only to numpy's array
reconstruction, agrees with class.txt / train.txt / val.txt / benchmark.json, and its values have the structure
docs/benchmark.md documents. (trainer/tests/synth.rs checks the values bit for bit against our reader.)"""

import json
import os
import pickle
import pickletools
import warnings
from pathlib import Path

import numpy as np
import pytest

DATA = Path(os.environ.get("MVT_BUILD_DIR", "build")) / "tiny"
ALLOWED_GLOBALS = {"numpy.core.multiarray _reconstruct", "numpy ndarray", "numpy dtype"}


@pytest.fixture(scope="module")
def dataset():
    assert (DATA / "benchmark.json").exists(), f"{DATA} is missing: run `make fixtures`"
    bench = json.loads((DATA / "benchmark.json").read_text(encoding="utf-8"))
    classes = (DATA / "class.txt").read_text(encoding="utf-8").splitlines()
    rows = []
    for split in ("train.txt", "val.txt"):
        for line in (DATA / split).read_text(encoding="utf-8").splitlines():
            name, title, labels = line.split("\t")
            rows.append((name, title, labels.split(",")))
    videos = {}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for name, _, _ in rows:
            with open(DATA / "feature_files" / (name.split(".")[0] + ".pkl"), "rb") as f:
                videos[name] = pickle.load(f, encoding="iso-8859-1")
    return bench, classes, rows, videos


def test_every_feature_file_loads_with_the_original_structure(dataset):
    bench, classes, rows, videos = dataset
    assert len(classes) == bench["classes"] == 8
    assert len(rows) == bench["train_videos"] + bench["val_videos"] == 400
    for name, _, label_names in rows:
        d = videos[name]
        assert list(d) == ["video", "feature", "label"]
        assert d["video"] == name
        assert d["label"] == [classes.index(n) for n in label_names]
        assert list(d["feature"]) == ["image_pkl", "audio_pkl"]
        rgb, audio = d["feature"]["image_pkl"], d["feature"]["audio_pkl"]
        for array, dim in ((rgb, bench["rgb_dim"]), (audio, bench["audio_dim"])):
            assert isinstance(array, np.ndarray) and array.dtype == np.float32
            assert array.ndim == 2 and array.shape[1] == dim and array.flags.c_contiguous
        assert bench["min_frames"] <= rgb.shape[0] <= bench["max_frames"]
        assert np.isfinite(rgb).all() and np.isfinite(audio).all()
    assert sum(v["feature"]["audio_pkl"].shape[0] == 0 for v in videos.values()) >= 20


def test_pickles_name_only_numpy_array_reconstruction(dataset):
    _, _, rows, _ = dataset
    for name, _, _ in rows[:50]:
        data = (DATA / "feature_files" / (name.split(".")[0] + ".pkl")).read_bytes()
        ops = list(pickletools.genops(data))
        assert ops[0][0].name == "PROTO" and ops[0][1] == 3
        found = {arg for op, arg, _ in ops if op.name in ("GLOBAL", "STACK_GLOBAL")}
        assert found == ALLOWED_GLOBALS, found


def test_frames_are_background_or_one_of_two_patterns(dataset):
    """A frame is noise_std * N(0, I), or that plus amplitude * (class + aspect prototype) (orthonormal), and a
    video shows at most two patterns that differ in class and aspect. So a frame's squared norm is about D or
    D + 2 A^2, and two pattern frames' dot product is about 2 A^2 (same pattern) or 0 (the other one)."""
    bench, _, _, videos = dataset
    amp2 = bench["process"]["amplitude"] ** 2
    assert bench["process"]["noise_std"] == 1.0
    norms, dots = [], []
    for d in videos.values():
        for x in (d["feature"]["image_pkl"], d["feature"]["audio_pkl"]):
            x = x.astype(np.float64)
            sq = (x * x).sum(axis=1)
            norms.append(sq - x.shape[1])
            patterns = x[sq - x.shape[1] > amp2]
            gram = patterns @ patterns.T
            dots.append(gram[np.triu_indices(len(patterns), 1)])
    norms, dots = np.concatenate(norms), np.concatenate(dots)
    # Between the modes (excess norm 0 vs 2 A^2; dot 0 vs 2 A^2) lies little mass.
    assert np.mean(np.abs(norms - amp2) < amp2 / 3) < 0.03
    pattern_share = np.mean(norms > amp2)
    assert 0.3 < pattern_share < 0.8, pattern_share
    assert np.mean(np.abs(dots - amp2) < amp2 / 3) < 0.03
    same = np.mean(dots > amp2)
    assert 0.3 < same < 0.9, same


def test_split_rows_and_titles_follow_the_original_format(dataset):
    _, classes, rows, _ = dataset
    for name in classes:
        first, second = name.split("-")
        assert first and second
    names = [r[0] for r in rows]
    assert len(set(names)) == len(names)
    for name, title, labels in rows:
        stem, ext = name.split(".")
        assert ext == "mp4" and len(stem) == 32 and all(c in "0123456789abcdef" for c in stem)
        assert "\t" not in title and "\n" not in title
        assert 1 <= len(labels) <= 2 and len(set(labels)) == len(labels)
        assert all(label in classes for label in labels)
    titles = [r[1] for r in rows]
    assert sum(t == "" for t in titles) >= 10
    assert sum(any("\u4e00" <= c <= "\u9fff" for c in t) for t in titles) >= 300
