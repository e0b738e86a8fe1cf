"""INT8 on a trained model: the `tiny` fixture (`make fixtures`: $MVT_BUILD_DIR/tiny-train) exported in FP32
($MVT_BUILD_DIR/tiny.onnx) and INT8 ($MVT_BUILD_DIR/tiny-int8.onnx), run through libmvt (docs/model-file.md
"Precision")."""
import json
import subprocess

import numpy as np
import pytest

from fixture_paths import BIN, BUILD, DATA, MODEL
import mvt

INT8_MODEL = BUILD / "tiny-int8.onnx"
CHECKPOINT = BUILD / "tiny-train" / "best"
PROBS_TOLERANCE = 0.02


@pytest.fixture(scope="module")
def val_videos():
    with mvt.Model(MODEL) as model, model.open_dataset(DATA, "val.txt") as dataset:
        return [(video.rgb, video.audio, video.title) for video in dataset]


def probabilities(path, videos, batch_size=16):
    with mvt.Model(path, batch_size=batch_size) as model:
        return np.stack([p.probabilities for p in model.predict(videos)])


def test_int8_agrees_with_fp32_on_the_trained_fixture(val_videos):
    fp32, int8 = probabilities(MODEL, val_videos), probabilities(INT8_MODEL, val_videos)
    difference = np.abs(int8 - fp32)
    assert difference.max() <= PROBS_TOLERANCE, difference.max()
    assert difference.max() > 0  # the quantized graph really runs
    assert np.mean(int8.argmax(1) == fp32.argmax(1)) >= 0.95


def test_int8_batch_mates_move_a_result_within_the_bound(val_videos):
    """One activation scale per tensor: batched and one-by-one INT8 results differ, within the bound."""
    batched = probabilities(INT8_MODEL, val_videos[:32], batch_size=16)
    alone = probabilities(INT8_MODEL, val_videos[:32], batch_size=1)
    assert np.abs(batched - alone).max() <= PROBS_TOLERANCE


def test_mvt_info_shows_the_precision():
    info = subprocess.run([BIN / "mvt", "info", INT8_MODEL], capture_output=True, text=True, check=True).stdout
    line = next(line for line in info.splitlines() if line.startswith("precision: "))
    assert line.startswith("precision: int8 (mvt-train export --precision int8: dynamic quantization.")
    fp32_info = subprocess.run([BIN / "mvt", "info", MODEL], capture_output=True, text=True, check=True).stdout
    assert "precision: fp32\n" in fp32_info
    # `python -m mvt info` prints the CLI's bytes for both.
    from mvt.cli import info_text
    assert info_text(INT8_MODEL) == info and info_text(MODEL) == fp32_info


def test_mvt_train_eval_scores_the_int8_file_like_the_fp32_file(tmp_path):
    reports = {}
    for name, path in (("fp32", MODEL), ("int8", INT8_MODEL)):
        reports[name] = tmp_path / f"{name}.json"
        subprocess.run([BIN / "mvt-train", "eval", "--checkpoint", path, "--data", DATA, "--report", reports[name]],
                       check=True, capture_output=True)
    fp32, int8 = (json.loads(reports[name].read_text()) for name in ("fp32", "int8"))
    assert fp32["videos"] == int8["videos"] > 50
    # One video of the fixture's val split is 1/videos of Hit@1; a handful may flip on near-ties.
    assert abs(int8["hit_at_1"] - fp32["hit_at_1"]) <= 3 / fp32["videos"]
    assert abs(int8["map"] - fp32["map"]) <= 0.02


@pytest.mark.parametrize("flags, message", [
    (["--keep-fp32", "lstm"], "--keep-fp32 applies to --precision int8 only"),
    (["--precision", "int8", "--keep-fp32", "encoder,textcnn,lstm,pooling,head"],
     "--keep-fp32 keeps every part of this model in f32"),
    (["--precision", "int4"], "invalid value 'int4'"),
    (["--precision", "int8", "--keep-fp32", "attention"], "invalid value 'attention'"),
])
def test_export_refuses_meaningless_precision_options(tmp_path, flags, message):
    out = tmp_path / "model.onnx"
    done = subprocess.run([BIN / "mvt-train", "export", "--checkpoint", CHECKPOINT, "--out", out, *flags],
                          capture_output=True, text=True)
    assert done.returncode != 0 and message in done.stderr, done.stderr
    assert not out.exists()


def test_keep_fp32_writes_the_named_parts_in_f32(tmp_path):
    import onnx
    out = tmp_path / "model.onnx"
    subprocess.run([BIN / "mvt-train", "export", "--checkpoint", CHECKPOINT, "--out", out, "--precision", "int8",
                    "--keep-fp32", "lstm,head"], check=True, capture_output=True)
    model = onnx.load(str(out))
    ops = [node.op_type for node in model.graph.node]
    assert "LSTM" in ops and "DynamicQuantizeLSTM" not in ops and "DynamicQuantizeMatMul" in ops
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta["mvt.precision"] == "int8"
    assert meta["mvt.quantization"].endswith("Kept f32 by --keep-fp32: lstm, head.")
    # The head (its weights are `head.weight_t`) is a float MatMul again.
    assert "head.weight_t" in {i.name for i in model.graph.initializer}
    with mvt.Model(out) as kept, mvt.Model(MODEL) as fp32, fp32.open_dataset(DATA, "val.txt") as dataset:
        videos = [(v.rgb, v.audio, v.title) for v in list(dataset)[:16]]
        a = np.stack([p.probabilities for p in kept.predict(videos)])
        b = np.stack([p.probabilities for p in fp32.predict(videos)])
    assert np.abs(a - b).max() <= PROBS_TOLERANCE
