"""Hardening #9: Model.close() while other threads use the model. close() refuses new calls at once, waits for
the ones in flight, then frees the handle; every later call raises mvt.ClosedError (an MvtError and a ValueError).

The racy scenario runs in child processes (tests/python/close_race.py) so that a crash (the SIGSEGV this used to
be) fails the test instead of killing pytest.
"""
import gc
import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from fixture_paths import MODEL, DATA
import mvt  # the installed package (python/mvt)


def random_video(model, frames=40, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.random((frames, model.rgb_dim), dtype=np.float32),
            rng.random((8, model.audio_dim), dtype=np.float32), "标题 title")


@pytest.mark.parametrize("run", range(3))
def test_close_while_four_threads_predict_never_crashes(run):
    rounds = 4
    done = subprocess.run([sys.executable, str(Path(__file__).with_name("close_race.py")), str(MODEL), str(rounds)],
                          capture_output=True, text=True, timeout=300)
    if done.returncode < 0:
        pytest.fail(f"the process died of {signal.Signals(-done.returncode).name}: {done.stderr[-2000:]}")
    assert done.returncode == 0, done.stderr[-2000:]
    reports = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(reports) == rounds, done.stdout
    for report in reports:
        assert report["errors"] == [], report
        assert report["closed"] == 4, report          # every thread was stopped by ClosedError, none crashed
        assert all("model is closed" in m and "Model.close() was called" in m for m in report["messages"]), report
        assert report["after_close"].startswith("ClosedError: ") and "model is closed" in report["after_close"]
    assert sum(report["ok"] for report in reports) > 0   # the threads did predict before the close


def test_close_waits_for_the_call_in_flight():
    model = mvt.Model(MODEL, sessions=1)
    big = [random_video(model, frames=600, seed=k) for k in range(64)]
    expected = [p.probabilities for p in model.predict(big[:2])]
    outcome = {}

    def predict():
        try:
            outcome["predictions"] = model.predict(big)
        except BaseException as error:  # noqa: BLE001 - reported below
            outcome["error"] = error

    thread = threading.Thread(target=predict)
    thread.start()
    deadline = time.monotonic() + 30
    while model._guard.in_flight == 0 and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.0005)
    in_flight_when_closing = model._guard.in_flight
    model.close()  # must block until the C call in flight has returned (its results are then read in Python)
    assert in_flight_when_closing == 1 and model._guard.in_flight == 0
    thread.join()
    assert "error" not in outcome, outcome.get("error")
    assert len(outcome["predictions"]) == len(big)
    for prediction, probabilities in zip(outcome["predictions"], expected):
        np.testing.assert_array_equal(prediction.probabilities, probabilities)
    assert model.closed


def test_every_call_after_close_raises_closed_error():
    model = mvt.Model(MODEL)
    video = random_video(model)
    model.close()
    model.close()  # idempotent
    calls = {
        "predict": lambda: model.predict([video]),
        "predict_json": lambda: model.predict_json([video], ["a"]),
        "tokenize": lambda: model.tokenize("a title"),
        "open_dataset": lambda: model.open_dataset(DATA, "val.txt"),
    }
    for name, call in calls.items():
        with pytest.raises(mvt.ClosedError) as error:
            call()
        assert isinstance(error.value, mvt.MvtError) and isinstance(error.value, ValueError), name
        assert "the model is closed (Model.close() was called" in str(error.value), name
    assert model.closed and len(model.classes) == model.num_classes  # the Python-side facts stay readable


def test_context_manager_closes_and_results_outlive_the_model():
    with mvt.Model(MODEL) as model:
        [prediction] = model.predict([random_video(model)])
    assert model.closed
    with pytest.raises(mvt.ClosedError, match="model is closed"):
        model.predict([random_video(model)])
    assert prediction.probabilities.shape == (model.num_classes,) and np.isfinite(prediction.probabilities).all()


def test_close_and_del_of_a_model_whose_load_failed_are_harmless(tmp_path):
    with pytest.raises(mvt.MvtError):
        mvt.Model(tmp_path / "missing.onnx")
    with pytest.raises(TypeError):
        mvt.Model(None)
    gc.collect()  # __del__ of the half-made objects must not raise or free anything


def test_dataset_close_while_threads_read_is_safe_and_later_reads_raise():
    with mvt.Model(MODEL) as model:
        dataset = model.open_dataset(DATA, "val.txt")
    stopped, failures = [], []

    def reader():
        while True:
            for index in range(len(dataset)):
                try:
                    video = dataset[index]
                except mvt.ClosedError as error:
                    stopped.append(str(error))
                    return
                except BaseException as error:  # noqa: BLE001
                    failures.append(repr(error))
                    return
                if video.rgb.shape[1] != model.rgb_dim:
                    failures.append("bad shape")

    threads = [threading.Thread(target=reader) for _ in range(4)]
    for thread in threads:
        thread.start()
    time.sleep(0.05)
    dataset.close()
    for thread in threads:
        thread.join()
    assert failures == []
    assert len(stopped) == 4 and all("dataset is closed (Dataset.close() was called" in m for m in stopped)
