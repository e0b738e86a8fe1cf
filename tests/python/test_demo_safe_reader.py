"""Hardening #11: the Python demo reads feature files through libmvt's safe reader (Model.open_dataset over the C
ABI's mvt_dataset_*), never Python's pickle, so a hostile .pkl cannot run anything; skipped rows are reported.

The existing byte-for-byte comparison with `mvt infer` on the fixture is test_python_demo.py's
test_demo_output_json_is_the_clis_byte_for_byte; here the same comparison runs on a dataset with hostile rows.
"""
import pickle
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fixture_paths import ROOT, BIN, MODEL, DATA, import_demo
from hostile_pickle import Hostile
import mvt  # the installed package (python/mvt)

demo = import_demo()  # python_demo/demo.py


def val_rows():
    return (DATA / "val.txt").read_text(encoding="utf-8").splitlines()


@pytest.fixture()
def hostile_data(tmp_path):
    """A copy of the fixture's val split with two hostile pickles (one a whole file, one inside a feature record),
    a row without a feature file, a duplicate and a bad row among the good rows. Returns (data dir, marker path)."""
    data = tmp_path / "data"
    (data / "feature_files").mkdir(parents=True)
    shutil.copy(DATA / "class.txt", data / "class.txt")
    rows = val_rows()
    for row in rows:
        stem = row.split("\t")[0].rsplit("/", 1)[-1].split(".", 1)[0]
        shutil.copy(DATA / "feature_files" / f"{stem}.pkl", data / "feature_files" / f"{stem}.pkl")
    marker = tmp_path / "PWNED"
    command = f"touch {shlex.quote(str(marker))}"
    with open(data / "feature_files" / "evilwhole.pkl", "wb") as f:
        pickle.dump(Hostile(command), f, protocol=2)
    record = {"video": "evilnested.mp4", "feature": {"image_pkl": Hostile(command), "audio_pkl": Hostile(command)},
              "label": [0]}
    with open(data / "feature_files" / "evilnested.pkl", "wb") as f:
        pickle.dump(record, f, protocol=2)
    extra = ["evilwhole.mp4\ta title", "evilnested.mp4\tanother title\t" + rows[0].split("\t")[2],
             "nofeatures.mp4\tno file", rows[1], "bad\trow\twith\tfour fields"]
    (data / "val.txt").write_text("\n".join(rows[:3] + extra + rows[3:]) + "\n", encoding="utf-8")
    return data, marker


def test_a_hostile_pickle_is_refused_and_reported_and_never_executed(hostile_data, tmp_path, capsys, monkeypatch):
    data, marker = hostile_data

    def no_pickle(*args, **kwargs):
        raise AssertionError("the demo used Python's pickle")

    for name in ("load", "loads", "Unpickler"):
        monkeypatch.setattr(pickle, name, no_pickle)
    assert demo.main(["--model", str(MODEL), "--data", str(data), "--out", str(tmp_path / "py.json")]) == 0
    assert not marker.exists(), "a feature file ran a command"
    err = capsys.readouterr().err
    assert re.search(r"val\.txt line 4 \(evilwhole\.mp4\): skipped: unreadable feature file .*evilwhole\.pkl: "
                     r"refused global posix\.system", err), err
    assert re.search(r"val\.txt line 5 \(evilnested\.mp4\): skipped: unreadable feature file .*evilnested\.pkl: "
                     r"refused global posix\.system", err), err
    assert re.search(r"line 6 \(nofeatures\.mp4\): skipped: missing feature file .*nofeatures\.pkl", err), err
    assert re.search(r"line 7 \(.*\): skipped: duplicate of line 2", err), err
    assert "line 8 (bad): skipped: bad row: 4 tab-separated fields, expected at most 3" in err
    assert "warning: 5 rows of val.txt skipped" in err

    # The kept rows are tagged exactly as the CLI tags them (which skips the same rows).
    subprocess.run([str(BIN / "mvt"), "infer", "--model", str(MODEL), "--data", str(data), "--list", "val.txt",
                    "--out", str(tmp_path / "cli.json")], check=True, capture_output=True)
    assert not marker.exists()
    assert (tmp_path / "py.json").read_bytes() == (tmp_path / "cli.json").read_bytes()
    assert b"evil" not in (tmp_path / "py.json").read_bytes()


def test_the_demo_in_its_own_process_does_not_run_a_hostile_pickle(hostile_data, tmp_path):
    data, marker = hostile_data
    done = subprocess.run([sys.executable, str(ROOT / "python_demo" / "demo.py"), "--model", str(MODEL),
                           "--data", str(data)], capture_output=True, text=True, timeout=300)
    assert not marker.exists(), "a feature file ran a command"
    assert done.returncode == 0, done.stderr
    assert "evilwhole.mp4): skipped: unreadable feature file" in done.stderr
    assert f"tagged {len(val_rows())} videos" in done.stdout


def test_the_skipped_rows_are_the_ones_the_cli_reports(hostile_data, tmp_path):
    data, _ = hostile_data
    done = subprocess.run([str(BIN / "mvt"), "infer", "--model", str(MODEL), "--data", str(data), "--list", "val.txt",
                           "--out", str(tmp_path / "cli.json")], check=True, capture_output=True, text=True)
    cli = sorted((int(line), name, reason) for line, name, reason
                 in re.findall(r"line (\d+) \((.*?)\): (.*); skipped", done.stderr))
    with mvt.Model(MODEL) as model, model.open_dataset(data, "val.txt") as dataset:
        assert sorted((row.line, row.name, row.reason) for row in dataset.skipped) == cli
        assert len(dataset) == len(val_rows())


def test_open_dataset_yields_copies_that_outlive_the_dataset_and_the_model():
    rows = val_rows()
    with mvt.Model(MODEL) as model:
        dataset = model.open_dataset(DATA, "val.txt")
        rgb_dim, audio_dim = model.rgb_dim, model.audio_dim
    videos = list(dataset)  # the dataset does not need the model any more
    first, last = dataset[0], dataset[-1]
    dataset.close()
    assert len(videos) == len(rows) and dataset.skipped == []
    assert [v.video_id for v in videos] == [row.split("\t")[0] for row in rows]
    assert [v.title for v in videos] == [row.split("\t")[1] for row in rows]
    for video in videos:
        assert isinstance(video, mvt.DatasetVideo) and video.rgb.dtype == video.audio.dtype == np.float32
        assert video.rgb.shape[1] == rgb_dim and video.rgb.shape[0] >= 1 and video.audio.shape[1] == audio_dim
        assert video.rgb.flags.owndata and video.rgb.flags.writeable and video.audio.flags.owndata
        assert np.isfinite(video.rgb).all() and np.isfinite(video.audio).all()
    np.testing.assert_array_equal(first.rgb, videos[0].rgb)
    assert last.video_id == videos[-1].video_id
    with pytest.raises(mvt.ClosedError, match=r"the dataset is closed \(Dataset.close\(\) was called"):
        dataset[0]
    dataset.close()  # idempotent


def test_dataset_indexing_and_errors():
    with mvt.Model(MODEL) as model, model.open_dataset(DATA, Path("val.txt")) as dataset:
        with pytest.raises(IndexError, match="dataset index out of range"):
            dataset[len(dataset)]
        with pytest.raises(IndexError):
            dataset[-len(dataset) - 1]
        with pytest.raises(TypeError, match="dataset index must be an int, got str"):
            dataset["0"]
        assert dataset[np.int64(1)].video_id == dataset[1 - len(dataset)].video_id
    with mvt.Model(MODEL) as model:
        with pytest.raises(mvt.MvtError) as error:
            model.open_dataset(DATA / "missing", "val.txt")
        assert error.value.status == "MVT_ERR_DATASET" and "class.txt" in error.value.message


def test_the_demo_reports_an_unreadable_dataset(tmp_path, capsys):
    assert demo.main(["--model", str(MODEL), "--data", str(tmp_path / "nowhere")]) == 1
    assert "cannot read val.txt in" in capsys.readouterr().err


def test_the_demo_source_does_not_use_pickle():
    source = (ROOT / "python_demo" / "demo.py").read_text(encoding="utf-8")
    assert not re.search(r"^\s*(import|from)\s+(c?pickle|_pickle)\b", source, re.M)
