"""Average precision and mAP of `mvt-train metrics` equal scikit-learn's on random scores (with ties)."""
import json
import os
import subprocess
from pathlib import Path

import numpy as np
from sklearn.metrics import average_precision_score

BIN = Path(os.environ.get("MVT_BIN_DIR", "target/release")) / "mvt-train"


def run_metrics(tmp_path, probs, labels):
    path = tmp_path / "input.json"
    path.write_text(json.dumps({"probs": probs.tolist(), "labels": labels}))
    out = subprocess.run([str(BIN), "metrics", "--input", str(path)], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def test_ap_and_map_match_scikit_learn(tmp_path):
    rng = np.random.default_rng(11)
    videos, classes = 200, 9
    # One decimal: many tied scores, which scikit-learn treats as one threshold.
    probs = np.round(rng.random((videos, classes)), 1).astype(np.float32)
    labels = [sorted(rng.choice(classes - 1, size=rng.integers(1, 4), replace=False).tolist()) for _ in range(videos)]
    truth = np.zeros((videos, classes), dtype=int)
    for v, ls in enumerate(labels):
        truth[v, ls] = 1
    report = run_metrics(tmp_path, probs, labels)

    expected = []
    for c in range(classes):
        got = report["per_class"][c]
        assert got["support"] == truth[:, c].sum()
        if truth[:, c].sum() == 0:  # the last class never occurs: AP undefined, left out of mAP
            assert got["ap"] is None
            continue
        ap = average_precision_score(truth[:, c], probs[:, c])
        assert abs(got["ap"] - ap) < 1e-9, (c, got["ap"], ap)
        expected.append(ap)
    assert abs(report["map"] - np.mean(expected)) < 1e-9
    assert report["videos"] == videos


def test_bad_input_is_a_clear_error(tmp_path):
    path = tmp_path / "input.json"
    path.write_text(json.dumps({"probs": [[0.1, 0.2]], "labels": [[5]]}))
    out = subprocess.run([str(BIN), "metrics", "--input", str(path)], capture_output=True, text=True)
    assert out.returncode != 0
    assert "label index" in out.stderr
