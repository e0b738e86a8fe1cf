"""libmvt from Python (the mvt package) and the proofs across the four ways of running an exported model.

Uses the shared fixtures of `make fixtures`: $MVT_BUILD_DIR/tiny (the synthetic dataset), $MVT_BUILD_DIR/tiny.onnx
(exported from $MVT_BUILD_DIR/tiny-train, trained on it) and the C++ demo built by `make test-cpp`
in $MVT_BUILD_DIR/cpp_demo. Binaries come from $MVT_BIN_DIR.
"""
import json
import subprocess
import sys
import threading

import numpy as np
import onnx
import pytest

from fixture_paths import ROOT, BIN, BUILD, MODEL, DATA, import_demo
import mvt  # the installed package (python/mvt)

demo = import_demo()  # python_demo/demo.py

CHECKPOINT = BUILD / "tiny-train"
CPP_DEMO = BUILD / "cpp_demo" / "mvt_demo"
TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def model():
    with mvt.Model(MODEL, sessions=2) as loaded:
        yield loaded


@pytest.fixture(scope="module")
def videos(model):
    return demo.read_videos(model, DATA, "val.txt")


def run(*command):
    done = subprocess.run([str(c) for c in command], capture_output=True, text=True)
    assert done.returncode == 0, f"{command}: {done.stderr}"
    return done


def test_demo_output_json_is_the_clis_byte_for_byte(tmp_path):
    run(BIN / "mvt", "infer", "--model", MODEL, "--data", DATA, "--list", "val.txt", "--out", tmp_path / "cli.json")
    assert demo.main(["--model", str(MODEL), "--data", str(DATA), "--out", str(tmp_path / "py.json")]) == 0
    assert (tmp_path / "py.json").read_bytes() == (tmp_path / "cli.json").read_bytes()
    entries = json.loads((tmp_path / "cli.json").read_text(encoding="utf-8"))
    assert len(entries) > 50 and any(entry["labels"] for entry in entries)


def test_cpp_demo_python_demo_cli_and_trainer_agree_on_every_probability(tmp_path, model, videos):
    """The same videos through the C++ demo, the Python wrapper, `mvt infer` and `mvt-train eval`: <= 1e-5."""
    python = {name: p.probabilities for (name, *_), p in
              zip(videos, model.predict([(rgb, audio, title) for _, rgb, audio, title in videos]))}

    run(CPP_DEMO, "--model", MODEL, "--data", DATA, "--probs", tmp_path / "cpp.json")
    cpp = json.loads((tmp_path / "cpp.json").read_text(encoding="utf-8"))

    # Threshold 0 makes the CLI list every class with its score, in class order.
    run(BIN / "mvt", "infer", "--model", MODEL, "--data", DATA, "--threshold", "0", "--out", tmp_path / "cli.json")
    cli = {e["video_id"]: [score for _, score in e["labels"]] for e in json.loads((tmp_path / "cli.json").read_text("utf-8"))}

    run(BIN / "mvt-train", "eval", "--checkpoint", CHECKPOINT, "--data", DATA, "--split", "val",
        "--report", tmp_path / "report.json", "--predictions", tmp_path / "trainer.json")
    trainer = {e["video_id"]: e["probs"] for e in json.loads((tmp_path / "trainer.json").read_text("utf-8"))}

    assert len(python) == len(videos) > 50
    for name, probs in python.items():
        for other, source in [(cpp, "C++ demo"), (cli, "mvt infer"), (trainer, "mvt-train eval")]:
            assert len(other[name]) == len(probs), source
            difference = np.abs(np.asarray(other[name], np.float64) - probs).max()
            assert difference <= TOLERANCE, f"{source} differs by {difference} on {name}"


def test_library_tokenization_equals_the_reference_bert_tokenizer(tmp_path, model, videos):
    """The model file's tokenizer (the trainer's, embedded at export) gives transformers' BERT ids."""
    props = {p.key: p.value for p in onnx.load(str(MODEL), load_external_data=False).metadata_props}
    vocab = json.loads(props["mvt.tokenizer"])["model"]["vocab"]
    (tmp_path / "vocab.txt").write_text("".join(t + "\n" for t in sorted(vocab, key=vocab.get)), encoding="utf-8")
    titles = (ROOT / "tests" / "data" / "titles.txt").read_text(encoding="utf-8").splitlines()
    titles += [title for *_, title in videos]
    request = {"vocab": str(tmp_path / "vocab.txt"), "max_len": model.text_max_len, "titles": titles}
    reference = subprocess.run([sys.executable, str(ROOT / "tests" / "support" / "ref_tokenize.py")],
                               input=json.dumps(request), capture_output=True, text=True, check=True)
    expected = json.loads(reference.stdout)
    mismatches = [(t, model.tokenize(t), e) for t, e in zip(titles, expected) if model.tokenize(t) != e]
    assert not mismatches, mismatches[:3]


def test_empty_audio_becomes_zero_rows_and_inputs_are_not_modified(model, videos):
    _, rgb, _, title = videos[0]
    rgb_before = rgb.copy()
    empty, zeros = model.predict([(rgb, np.zeros((0,), np.float32), title), (rgb, np.zeros((10, model.audio_dim)), title)])
    np.testing.assert_allclose(empty.probabilities, zeros.probabilities, atol=1e-6)
    assert len(empty.audio_attention) == 10
    np.testing.assert_array_equal(rgb, rgb_before)


def test_bad_inputs_raise_with_the_library_message(model, videos, tmp_path):
    _, rgb, audio, title = videos[1]
    cases = [
        ((rgb[:, :-1], audio, title), "MVT_ERR_DIMENSION", "video 0: image (rgb_dim) features have width"),
        ((rgb[:0], audio, title), "MVT_ERR_FRAME_COUNT", "video 0: no image frames"),
        ((np.where(np.arange(rgb.size).reshape(rgb.shape) == 5, np.nan, rgb), audio, title), "MVT_ERR_NON_FINITE", "is NaN"),
        ((rgb, audio, b"bad \xff title"), "MVT_ERR_INVALID_UTF8", "the title is not valid UTF-8"),
    ]
    for video, status, message in cases:
        with pytest.raises(mvt.MvtError) as error:
            model.predict([video])
        assert error.value.status == status and message in error.value.message, error.value
    # Too many frames for the handle's cap (which must hold the model's 10 empty-audio rows, or the load is refused).
    with pytest.raises(mvt.MvtError, match="is 10, more than max_frames 5"):
        mvt.Model(MODEL, max_frames=5)
    with mvt.Model(MODEL, max_frames=12) as capped:
        with pytest.raises(mvt.MvtError, match="more than max_frames 12"):
            capped.predict([(np.zeros((13, capped.rgb_dim)), audio, title)])
    # Files that are not mvt models.
    with pytest.raises(mvt.MvtError) as error:
        mvt.Model(tmp_path / "missing.onnx")
    assert error.value.status == "MVT_ERR_MODEL_FILE"
    foreign = onnx.helper.make_model(
        onnx.helper.make_graph([onnx.helper.make_node("Identity", ["x"], ["y"])], "foreign",
                               [onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1])],
                               [onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1])]),
        ir_version=8, opset_imports=[onnx.helper.make_opsetid("", 17)])
    onnx.save(foreign, str(tmp_path / "foreign.onnx"))
    with pytest.raises(mvt.MvtError) as error:
        mvt.Model(tmp_path / "foreign.onnx")
    assert error.value.status == "MVT_ERR_MODEL_METADATA" and "not an mvt model" in error.value.message


def test_threads_share_one_model_and_match_serial_results(model, videos):
    inputs = [(rgb, audio, title) for _, rgb, audio, title in videos[:12]]
    serial = [model.predict([v])[0].probabilities for v in inputs]
    failures = []

    def worker(offset):
        for k in range(len(inputs)):
            i = (k + offset) % len(inputs)
            if not np.array_equal(model.predict([inputs[i]])[0].probabilities, serial[i]):
                failures.append(i)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures
