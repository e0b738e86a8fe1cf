"""The scenario of test_model_close.py's close-while-predicting test, run in a child process so that a crash
(SIGSEGV) fails the test instead of killing pytest:

    python close_race.py MODEL ROUNDS

`mvt` is the installed package (python/mvt).

Each round loads MODEL, starts 4 threads predicting in a loop, lets them run a moment, closes the model from the
main thread and, at the same time, from a fifth thread, and joins them. Every thread must end on ClosedError;
every prediction it made before must equal the serial one. Prints one JSON line per round: {"ok": predictions
made, "closed": threads ended by ClosedError, "messages": [...], "errors": [unexpected errors], "after_close": what
a call after close raised}.
"""
import json
import random
import sys
import threading
import time

import numpy as np

import mvt

model_path, rounds = sys.argv[1], int(sys.argv[2])

Closed = getattr(mvt, "ClosedError", mvt.MvtError)
THREADS = 4

for round_ in range(rounds):
    model = mvt.Model(model_path, sessions=2)
    rng = np.random.default_rng(round_)
    video = (rng.random((40, model.rgb_dim), dtype=np.float32), rng.random((8, model.audio_dim), dtype=np.float32),
             "一个标题 title")
    expected = model.predict([video])[0].probabilities
    start = threading.Barrier(THREADS + 1)
    lock = threading.Lock()
    stats = {"ok": 0, "closed": 0, "messages": [], "errors": []}

    def worker():
        start.wait()
        while True:
            try:
                [prediction] = model.predict([video])
            except Closed as error:
                with lock:
                    stats["closed"] += 1
                    stats["messages"].append(str(error))
                return
            except BaseException as error:  # noqa: BLE001 - reported to the test
                with lock:
                    stats["errors"].append(repr(error))
                return
            with lock:
                stats["ok"] += 1
                if not np.array_equal(prediction.probabilities, expected):
                    stats["errors"].append("a prediction differs from the serial one")

    threads = [threading.Thread(target=worker) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    start.wait()
    time.sleep(random.uniform(0.01, 0.08))
    second_closer = threading.Thread(target=model.close)  # concurrent close() calls must all be safe
    second_closer.start()
    model.close()
    second_closer.join()
    try:
        model.predict([video])
        stats["after_close"] = "nothing"
    except Exception as error:  # noqa: BLE001
        stats["after_close"] = f"{type(error).__name__}: {error}"
    for thread in threads:
        thread.join()
    print(json.dumps(stats, ensure_ascii=False), flush=True)
