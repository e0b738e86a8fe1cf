"""The hostile-input catalogue: every bad or hostile input we know of, across the C ABI (a C program under
valgrind), model files, the ONNX Runtime lookup, the `mvt` CLI, `mvt-train` and the Python wrapper. Each case
asserts the specific status, exit code or exception and a fragment of the message; for writes, that the previous
file survives byte for byte. Issue 9's items are named in the comments ("#1" .. "#12", "weak spot").

The C part is cpp_demo/tests/catalogue.c (built by `make test-cpp`); this file makes the hostile model files and
data it reads, runs it once under valgrind, and turns each of its lines into a test case.
"""
import hashlib
import json
import os
import pickle
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest

from fixture_paths import BIN, BUILD, DATA, MODEL, ROOT
from hostile_pickle import Hostile
import mvt  # the installed package (python/mvt)

CATALOGUE = BUILD / "cpp_demo" / "catalogue"
MVT = BIN / "mvt"
MVT_TRAIN = BIN / "mvt-train"
VALGRIND = ["valgrind", "--error-exitcode=99", "--leak-check=full", "--errors-for-leak-kinds=definite,possible",
            "--show-leak-kinds=definite,possible", f"--suppressions={ROOT}/cpp_demo/tests/onnxruntime.supp"]


# --- hostile model files ---------------------------------------------------------------------------------------

def metadata(model):
    return {p.key: p.value for p in model.metadata_props}


def set_metadata(model, key, value):
    for prop in model.metadata_props:
        if prop.key == key:
            prop.value = value
            return
    model.metadata_props.add(key=key, value=value)


def seal(model):
    """Recompute mvt.digest as docs/model-file.md defines it (the SHA-256 of the file's bytes without the digest
    entry), so that a hostile value reaches the check meant for it instead of being stopped by the digest."""
    kept = [p for p in model.metadata_props if p.key != "mvt.digest"]
    del model.metadata_props[:]
    model.metadata_props.extend(kept)
    digest = hashlib.sha256(model.SerializeToString()).hexdigest()
    model.metadata_props.add(key="mvt.digest", value=f"sha256:{digest}")


def save(model, path, *, sealed=True):
    if sealed:
        seal(model)
    path.write_bytes(model.SerializeToString())


def edited(key, value):
    def edit(model):
        set_metadata(model, key, value)
    return edit


def edited_json(key, change):
    def edit(model):
        set_metadata(model, key, json.dumps(change(json.loads(metadata(model)[key])), ensure_ascii=False))
    return edit


def flip_byte_inside(data: bytes, needle: bytes) -> bytes:
    at = data.index(needle) + len(needle) // 2
    return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1:]


def write_hostile_models(folder: Path):
    good = MODEL.read_bytes()
    (folder / "empty.onnx").write_bytes(b"")
    (folder / "text.onnx").write_text("this is not a model\n")
    (folder / "truncated.onnx").write_bytes(good[: len(good) // 2])
    weight = onnx.load_from_string(good).graph.initializer[0]
    raw = onnx.numpy_helper.to_array(weight).tobytes()
    (folder / "byte_flipped_weight.onnx").write_bytes(flip_byte_inside(good, raw[:64]))
    classes = metadata(onnx.load_from_string(good))["mvt.classes"].encode()
    (folder / "byte_flipped_classes.onnx").write_bytes(flip_byte_inside(good, classes))

    def variant(name, edit, *, sealed=True):
        model = onnx.load_from_string(good)
        edit(model)
        save(model, folder / name, sealed=sealed)

    def drop(key):
        def edit(model):
            kept = [p for p in model.metadata_props if p.key != key]
            del model.metadata_props[:]
            model.metadata_props.extend(kept)
        return edit

    variant("no_digest.onnx", drop("mvt.digest"), sealed=False)
    variant("no_metadata.onnx", lambda m: m.ClearField("metadata_props"), sealed=False)
    variant("future_version.onnx", edited("mvt.format_version", "999"))
    variant("empty_audio_frames_1e11.onnx", edited("mvt.empty_audio_frames", "100000000000"))
    variant("empty_audio_frames_over_max_frames.onnx", edited("mvt.empty_audio_frames", "5000"))
    variant("rgb_dim_huge.onnx", edited("mvt.rgb_dim", str(1 << 40)))
    variant("text_max_len_huge.onnx", edited("mvt.text_max_len", str(1 << 40)))
    meta = metadata(onnx.load_from_string(good))
    variant("text_max_len_disagrees_with_tokenizer.onnx",
            lambda m: (edited("mvt.text_max_len", str(int(meta["mvt.text_max_len"]) + 1))(m),
                       edited_json("mvt.model_config", lambda c: {**c, "text_max_len": c["text_max_len"] + 1})(m)))
    variant("class_count_mismatch.onnx", edited_json("mvt.classes", lambda c: c[:-1]))
    variant("duplicate_class.onnx", edited_json("mvt.classes", lambda c: [c[0]] + c[:-1]))
    variant("nul_in_class.onnx", edited_json("mvt.classes", lambda c: [c[0] + "\u0000x"] + c[1:]))
    variant("duplicate_key.onnx", lambda m: m.metadata_props.add(key="mvt.threshold", value="0.5"))
    variant("threshold_out_of_range.onnx", edited("mvt.threshold", "7"))
    variant("tokenizer_not_json.onnx", edited("mvt.tokenizer", "{not json"))
    variant("tokenizer_huge_vocab.onnx", edited_json(
        "mvt.tokenizer", lambda t: {**t, "model": {**t["model"], "vocab": {
            **t["model"]["vocab"], **{f"extra{i}": len(t["model"]["vocab"]) + i for i in range(2_000_000)}}}}))

    def wrong_width(model):
        model.graph.input[0].type.tensor_type.shape.dim[2].dim_value += 1
    variant("wrong_input_width.onnx", wrong_width)


# --- hostile data ---------------------------------------------------------------------------------------------

def good_rows():
    return (DATA / "val.txt").read_text(encoding="utf-8").splitlines()


def stem(row):
    return row.split("\t")[0].rsplit("/", 1)[-1].split(".", 1)[0]


def feature_record(row):
    """The fixture's feature record of a row, read with Python's pickle (our own trusted fixture)."""
    with open(DATA / "feature_files" / f"{stem(row)}.pkl", "rb") as f:
        return pickle.load(f)


def write_feature(folder, name, record):
    with open(folder / "feature_files" / f"{name}.pkl", "wb") as f:
        pickle.dump(record, f, protocol=2)


def write_hostile_data(folder: Path, marker: Path):
    """class.txt and list.txt: line 1 a good video, 2 a hostile pickle, 3 NaN features, 4 a missing file."""
    (folder / "feature_files").mkdir(parents=True)
    shutil.copy(DATA / "class.txt", folder / "class.txt")
    row = good_rows()[0]
    write_feature(folder, "good", feature_record(row))
    write_feature(folder, "evil", Hostile(f"touch {marker}"))
    record = feature_record(row)
    record["feature"]["image_pkl"][1, 2] = np.nan
    write_feature(folder, "nan", record)
    title, labels = row.split("\t")[1:3]
    (folder / "list.txt").write_text("".join(f"{name}.mp4\t{title}\t{labels}\n"
                                             for name in ("good", "evil", "nan", "missing")), encoding="utf-8")


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hostile")
    write_hostile_models(folder)
    marker = folder / "PWNED"
    write_hostile_data(folder / "data", marker)
    yield folder
    assert not marker.exists(), "a hostile pickle ran a command"


# --- the C ABI, under valgrind ----------------------------------------------------------------------------------

def c_case_names():
    if not CATALOGUE.exists():
        return ["catalogue binary missing: run make test-cpp"]
    listed = subprocess.run([str(CATALOGUE), "--list"], check=True, capture_output=True, text=True).stdout.split()
    return listed + ["library_prints_nothing_to_stderr"]


@pytest.fixture(scope="module")
def c_results(hostile):
    done = subprocess.run(VALGRIND + [str(CATALOGUE), str(MODEL), str(DATA), str(hostile)], capture_output=True,
                          text=True, timeout=1800)
    assert done.returncode in (0, 1), f"valgrind or the program failed ({done.returncode}):\n{done.stderr[-4000:]}"
    # Everything on stderr but valgrind's own lines ("==pid== ...") came from the library: it must print nothing.
    lines = {"library_prints_nothing_to_stderr": (True, "")}
    printed = [line for line in done.stderr.splitlines() if not line.startswith("==")]
    if printed:
        lines["library_prints_nothing_to_stderr"] = (False, "\n".join(printed[:20]))
    for line in done.stdout.splitlines():
        ok, _, rest = line.partition(" ")
        if ok == "not":
            rest = rest.removeprefix("ok ")
        name, _, why = rest.partition(": ")
        lines[name] = (ok == "ok", why)
    return lines


@pytest.mark.parametrize("name", c_case_names())
def test_c_abi(c_results, name):
    assert name in c_results, f"the C catalogue printed nothing for {name}"
    ok, why = c_results[name]
    assert ok, why


# --- the ONNX Runtime lookup: one process each (the first library a process loads stays) --------------------------

FAKE_OLD_ORT = r"""typedef struct { const void *(*GetApi)(unsigned); const char *(*GetVersionString)(void); } OrtApiBase;
static const void *get_api(unsigned version) { (void)version; return 0; }
static const char *version_string(void) { return "1.10.0"; }
static const OrtApiBase base = { get_api, version_string };
const OrtApiBase *OrtGetApiBase(void) { return &base; }
"""


@pytest.fixture(scope="module")
def runtimes(tmp_path_factory):
    """Libraries that are not a usable ONNX Runtime: a missing file, a text file, a real library without
    OrtGetApiBase, and one that reports version 1.10."""
    folder = tmp_path_factory.mktemp("runtimes")
    (folder / "libonnxruntime.so.text").write_text("not a library")
    (folder / "fake_ort.c").write_text(FAKE_OLD_ORT)
    subprocess.run(["cc", "-shared", "-fPIC", "-o", str(folder / "libonnxruntime.so.1.10.0"),
                    str(folder / "fake_ort.c")], check=True)
    return folder


def load_in_child(model, *, ort_library=None, env=None):
    """Loads `model` through the Python wrapper in a fresh interpreter; returns (exit code, stdout, stderr). The
    child prints the MvtError's code and message."""
    code = ("import sys, mvt\n"
            "try:\n"
            f"    mvt.Model({str(model)!r}, ort_library={ort_library!r}).close()\n"
            "    print('loaded')\n"
            "except mvt.MvtError as e:\n"
            "    print(e.code, e.message)\n")
    child_env = {**os.environ, **(env or {})}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=child_env, timeout=120)
    return done.returncode, done.stdout.strip(), done.stderr


RUNTIME_CASES = {
    # name: (ort_library, MVT_ORT_LIB, status, message fragment)
    "option_names_a_missing_file": ("{dir}/libonnxruntime.so.404", None, 9, "libonnxruntime.so.404 (options.ort_library)"),
    "env_names_a_missing_file": (None, "{dir}/nowhere.so", 9, "nowhere.so (MVT_ORT_LIB)"),
    "option_names_a_text_file": ("{dir}/libonnxruntime.so.text", None, 9, "libonnxruntime.so.text"),
    "env_names_a_text_file": (None, "{dir}/libonnxruntime.so.text", 9, "libonnxruntime.so.text"),
    "option_names_libc": ("libc.so.6", None, 9, "not an ONNX Runtime library"),
    "env_names_libc": (None, "libc.so.6", 9, "not an ONNX Runtime library"),
    "option_names_an_old_runtime": ("{dir}/libonnxruntime.so.1.10.0", None, 10, "needs ONNX Runtime >= 1.17"),
    "env_names_an_old_runtime": (None, "{dir}/libonnxruntime.so.1.10.0", 10, "version 1.10.0"),
    "option_names_a_folder": ("{dir}", None, 9, "options.ort_library"),
}


@pytest.mark.parametrize("name", RUNTIME_CASES)
def test_onnx_runtime_lookup(runtimes, name):
    option, env, status, fragment = RUNTIME_CASES[name]
    option = option and option.format(dir=runtimes)
    env = {"MVT_ORT_LIB": env.format(dir=runtimes)} if env else {"MVT_ORT_LIB": ""}
    code, out, err = load_in_child(MODEL, ort_library=option, env=env)
    assert code == 0, err
    assert out.startswith(f"{status} ") and fragment in out, out
    assert err == "", f"the library printed to the host's stderr: {err}"


# --- the Python wrapper (#9, #10, #11) --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def model():
    with mvt.Model(MODEL, sessions=2) as loaded:
        yield loaded


def video(model, title="a title"):
    return (np.zeros((3, model.rgb_dim), np.float32), np.zeros((2, model.audio_dim), np.float32), title)


PYTHON_CASES = {
    # name: (call on the loaded model, exception, message fragment)
    "title_int": (lambda m: m.predict([video(m, 5)]), TypeError, "video 0: title must be str"),
    "title_list": (lambda m: m.predict([video(m, [1, 2])]), TypeError, "video 0: title must be str"),
    "title_ndarray": (lambda m: m.predict([video(m, np.zeros(3))]), TypeError, "video 0: title must be str"),
    "title_none": (lambda m: m.predict([video(m, None)]), TypeError, "video 0: title must be str"),
    "title_invalid_utf8_bytes": (lambda m: m.predict([video(m, b"\xff")]), mvt.MvtError, "UTF-8"),
    "predict_json_int_id": (lambda m: m.predict_json([video(m)], video_ids=[7]), TypeError, "video_ids"),
    "rgb_wrong_width": (lambda m: m.predict([(np.zeros((3, 5), np.float32),) + video(m)[1:]]), mvt.MvtError,
                        "features have width 5, the model expects"),
    "rgb_nan": (lambda m: m.predict([(np.full((3, m.rgb_dim), np.nan, np.float32),) + video(m)[1:]]),
                mvt.MvtError, "is NaN (features must be finite)"),
    "rgb_strings": (lambda m: m.predict([(np.array([["a"] * m.rgb_dim]),) + video(m)[1:]]), TypeError,
                    "image features"),
    "tokenize_int": (lambda m: m.tokenize(3), TypeError, "title must be str"),
    "open_dataset_missing_list": (lambda m: m.open_dataset(DATA, "nope.txt"), mvt.MvtError, "nope.txt"),
    "open_dataset_path_int": (lambda m: m.open_dataset(5, "val.txt"), TypeError, "data_dir"),
}


@pytest.mark.parametrize("name", PYTHON_CASES)
def test_python_wrapper(model, name):
    call, exception, fragment = PYTHON_CASES[name]
    with pytest.raises(exception) as raised:
        call(model)
    assert fragment in str(raised.value)


LOAD_CASES = {
    "path_none": (dict(path=None), TypeError, "path must be"),
    "path_int": (dict(path=3), TypeError, "path must be"),
    "sessions_negative": (dict(sessions=-1), ValueError, "sessions"),
    "top_k_negative": (dict(top_k=-2), ValueError, "top_k"),
    "max_frames_negative": (dict(max_frames=-1), ValueError, "max_frames"),
    "sessions_too_many": (dict(sessions=2000), mvt.MvtError, "sessions"),
    "device_unknown": (dict(device="tpu"), ValueError, "device must be one of"),
    "threshold_text": (dict(threshold="0.5"), TypeError, "threshold"),
}


@pytest.mark.parametrize("name", LOAD_CASES)
def test_python_wrapper_load(name):
    arguments, exception, fragment = LOAD_CASES[name]
    arguments = {"path": MODEL, **arguments}
    with pytest.raises(exception) as raised:
        mvt.Model(arguments.pop("path"), **arguments)
    assert fragment in str(raised.value)


def test_python_close_while_predicting_waits(model):
    """#9: close() while other threads predict neither crashes nor frees under them (tests/python/close_race.py
    runs the full race in subprocesses)."""
    import threading
    with mvt.Model(MODEL, sessions=2) as local:
        errors = []

        def work():
            try:
                for _ in range(20):
                    local.predict([video(local)])
            except mvt.ClosedError:
                pass
            except Exception as e:  # noqa: BLE001 - any other failure is the bug this case looks for
                errors.append(e)

        threads = [threading.Thread(target=work) for _ in range(4)]
        for t in threads:
            t.start()
        local.close()
        for t in threads:
            t.join()
        assert errors == []
        with pytest.raises(mvt.ClosedError):
            local.predict([video(model)])


def test_python_demo_never_unpickles(hostile, tmp_path):
    """#11: the demo reads the hostile dataset through libmvt's reader: the evil pickle is reported, never run."""
    done = subprocess.run([sys.executable, str(ROOT / "python_demo" / "demo.py"), "--model", str(MODEL),
                           "--data", str(hostile / "data"), "--list", "list.txt", "--out", str(tmp_path / "o.json")],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "refused global posix.system" in done.stderr
    assert not (hostile / "PWNED").exists()


# --- the `mvt` CLI ----------------------------------------------------------------------------------------------

def mvt_cli(*args, limit_file_blocks=None, timeout=600):
    command = [str(MVT), *map(str, args)]
    if limit_file_blocks is not None:  # ulimit -f: writes past the limit fail part-way (SIGXFSZ ignored)
        command = ["sh", "-c", f'trap "" XFSZ; ulimit -f {limit_file_blocks}; exec "$@"', "sh", *command]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def rows_data(tmp_path_factory):
    """The fixture's val rows plus one bad row of each kind the CLI skips: NaN features (line 2), more frames than
    --max-frames 40 allows (line 3), an invalid UTF-8 title (line 4), a missing file (line 5), a 24 MB title
    (line 6, tagged)."""
    folder = tmp_path_factory.mktemp("rows")
    (folder / "feature_files").mkdir()
    shutil.copy(DATA / "class.txt", folder / "class.txt")
    rows = good_rows()
    for row in rows:
        shutil.copy(DATA / "feature_files" / f"{stem(row)}.pkl", folder / "feature_files" / f"{stem(row)}.pkl")
    record = feature_record(rows[0])
    record["feature"]["audio_pkl"][0, 0] = np.inf
    write_feature(folder, "inf", record)
    long = feature_record(rows[0])
    long["feature"]["image_pkl"] = np.repeat(long["feature"]["image_pkl"][:1], 41, axis=0)
    write_feature(folder, "long", long)
    write_feature(folder, "latin", feature_record(rows[0]))
    write_feature(folder, "huge", feature_record(rows[0]))
    write_feature(folder, "hugeword", feature_record(rows[0]))
    lines = [rows[0].encode(), b"inf.mp4\ta title", b"long.mp4\ta title", b"latin.mp4\tcaf\xe9 au lait",
             b"missing.mp4\ta title", b"huge.mp4\t" + b"word " * ((24 << 20) // 5),
             b"hugeword.mp4\t" + b"a" * (2 << 20)] + [r.encode() for r in rows[1:]]
    (folder / "list.txt").write_bytes(b"\n".join(lines) + b"\n")
    (folder / "all_missing.txt").write_text("gone1.mp4\tx\ngone2.mp4\ty\n")
    return folder


def test_cli_infer_skips_bad_rows_naming_line_and_file(rows_data, tmp_path):
    """#3 and weak spots: a non-finite feature, a video over --max-frames, an invalid UTF-8 title, a missing file
    and a title whose word pieces lie too far in (one 2 MB word) are skipped with a warning naming the list line and
    the file; the rest is tagged; the 24 MB title of words costs a bounded prefix."""
    out = tmp_path / "out.json"
    done = mvt_cli("infer", "--model", MODEL, "--data", rows_data, "--list", "list.txt", "--out", out,
                   "--max-frames", 40, "--batch-size", 3)
    assert done.returncode == 0, done.stderr
    err = done.stderr
    assert "line 2 (inf.mp4)" in err and "inf.pkl" in err and "not finite" in err, err
    assert "line 3 (long.mp4)" in err and "41" in err, err
    assert "line 4 (latin.mp4)" in err and "UTF-8" in err, err
    assert "line 5 (missing.mp4)" in err and "missing feature file" in err, err
    assert "line 7 (hugeword.mp4)" in err and "word pieces do not lie within" in err, err
    tagged = [entry["video_id"] for entry in json.loads(out.read_text())]
    assert "huge.mp4" in tagged and "inf.mp4" not in tagged and len(tagged) == len(good_rows()) + 1


CLI_CASES = {
    # name: (arguments, exit code, stderr fragment)
    "infer_all_rows_missing": (["infer", "--model", MODEL, "--data", "{rows}", "--list", "all_missing.txt",
                                "--out", "{tmp}/o.json"], 3, "nothing"),
    "infer_missing_model": (["infer", "--model", "/nonexistent.onnx", "--data", DATA, "--out", "{tmp}/o.json"], 1,
                            "/nonexistent.onnx"),
    "infer_batch_size_zero": (["infer", "--model", MODEL, "--data", DATA, "--out", "{tmp}/o.json",
                               "--batch-size", "0"], 1, "batch_size"),
    "infer_max_frames_zero": (["infer", "--model", MODEL, "--data", DATA, "--out", "{tmp}/o.json",
                               "--max-frames", "0"], 1, "max_frames"),
    "infer_negative_top_k": (["infer", "--model", MODEL, "--data", DATA, "--out", "{tmp}/o.json", "--top-k", "-1"],
                             2, "unexpected argument '-1'"),
    "infer_missing_list": (["infer", "--model", MODEL, "--data", DATA, "--list", "nope.txt", "--out",
                            "{tmp}/o.json"], 1, "nope.txt"),
    "infer_unwritable_out": (["infer", "--model", MODEL, "--data", DATA, "--out", "/proc/mvt-out.json"], 1,
                             "cannot write /proc/mvt-out.json"),
    "info_empty_file": (["info", "{hostile}/empty.onnx"], 1, "not an ONNX file"),
    "info_dev_zero": (["info", "/dev/zero"], 1, "not a regular file"),
    "info_tokenizer_disagrees": (["info", "{hostile}/text_max_len_disagrees_with_tokenizer.onnx"], 1, "tokenizer"),
    "info_corrupted": (["info", "{hostile}/byte_flipped_weight.onnx"], 1, "corrupted"),
    "info_duplicate_key": (["info", "{hostile}/duplicate_key.onnx"], 1, "more than once"),
    "info_empty_audio_frames_1e11": (["info", "{hostile}/empty_audio_frames_1e11.onnx"], 1,
                                     "mvt.empty_audio_frames"),
    "dataset_hostile_pickle": (["dataset", "--data", "{hostile}/data", "--split", "list.txt", "--config",
                                ROOT / "conf" / "tiny.txt"], 0,
                               "refused global posix.system"),
}


@pytest.mark.parametrize("name", CLI_CASES)
def test_cli(name, hostile, rows_data, tmp_path):
    arguments, code, fragment = CLI_CASES[name]
    arguments = [str(a).format(hostile=hostile, rows=rows_data, tmp=tmp_path) for a in arguments]
    done = mvt_cli(*arguments)
    assert done.returncode == code, done.stderr
    assert fragment in done.stdout + done.stderr, done.stdout + done.stderr
    assert "panicked" not in done.stderr


def test_cli_infer_failing_write_keeps_the_previous_output(tmp_path):
    """#4: `mvt infer --out` over a good output.json, the write failing part-way (ulimit -f): the old file
    survives byte for byte and no temporary file is left."""
    out = tmp_path / "output.json"
    previous = b'[{"video_id": "previous", "labels": []}]' * 100
    out.write_bytes(previous)
    done = mvt_cli("infer", "--model", MODEL, "--data", DATA, "--out", out, limit_file_blocks=1)
    assert done.returncode == 1, done.stderr
    assert f"cannot write {out}" in done.stderr
    assert out.read_bytes() == previous
    assert sorted(p.name for p in tmp_path.iterdir()) == ["output.json"]


# --- `mvt-train` --------------------------------------------------------------------------------------------------

CHECKPOINT = BUILD / "tiny-train" / "best"


def mvt_train(*args, limit_file_blocks=None, timeout=900):
    command = [str(MVT_TRAIN), *map(str, args)]
    if limit_file_blocks is not None:
        command = ["sh", "-c", f'trap "" XFSZ; ulimit -f {limit_file_blocks}; exec "$@"', "sh", *command]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=ROOT)


def snapshot(folder: Path):
    """Every file under `folder` with its bytes, and where each symlink points."""
    return {str(p.relative_to(folder)): (os.readlink(p) if p.is_symlink() else p.read_bytes())
            for p in sorted(folder.rglob("*")) if p.is_symlink() or p.is_file()}


@pytest.fixture(scope="module")
def hostile_train_data(tmp_path_factory):
    """The tiny dataset whose first training row's feature file is a hostile pickle and whose second has a NaN."""
    folder = tmp_path_factory.mktemp("train_data")
    shutil.copytree(DATA, folder / "data")
    data = folder / "data"
    rows = (data / "train.txt").read_text(encoding="utf-8").splitlines()
    marker = folder / "PWNED"
    write_feature(data, stem(rows[0]), Hostile(f"touch {marker}"))
    record = feature_record(rows[1])
    record["feature"]["image_pkl"][0, 0] = np.nan
    write_feature(data, stem(rows[1]), record)
    yield data, stem(rows[0]), stem(rows[1])
    assert not marker.exists(), "a hostile pickle ran a command"


def safetensors_with_nan(source: Path, target: Path):
    """A copy of a safetensors file whose first F32 tensor starts with a NaN."""
    data = bytearray(source.read_bytes())
    header_len = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + header_len])
    name, entry = next((k, v) for k, v in header.items() if k != "__metadata__" and v["dtype"] == "F32")
    start = 8 + header_len + entry["data_offsets"][0]
    data[start:start + 4] = struct.pack("<f", float("nan"))
    target.write_bytes(bytes(data))
    return name


def test_train_refuses_a_non_empty_run_folder(tmp_path):
    """#7: `train --out` over an existing run is refused and the run is left as it was."""
    run = tmp_path / "run"
    shutil.copytree(BUILD / "tiny-train", run, symlinks=True)
    before = snapshot(run)
    done = mvt_train("train", "--config", "conf/tiny.txt", "--data", DATA, "--out", run, "--epochs", 1,
                     "--device", "cpu")
    assert done.returncode == 1, done.stderr
    assert "--resume" in done.stderr and "--overwrite" in done.stderr, done.stderr
    assert snapshot(run) == before


def test_train_reports_unusable_rows_and_stops_above_the_limit(hostile_train_data, tmp_path):
    """#5, #6: the hostile pickle and the NaN row are reported with their reasons; above --max-unusable the run
    stops before writing anything."""
    data, evil, nan = hostile_train_data
    run = tmp_path / "run"
    done = mvt_train("train", "--config", "conf/tiny.txt", "--data", data, "--out", run, "--epochs", 1,
                     "--device", "cpu", "--max-unusable", 0)
    assert done.returncode == 1, done.stderr
    output = done.stdout + done.stderr
    assert "refused global posix.system" in output and f"{evil}.pkl" in output, output
    assert "not finite" in output and f"{nan}.pkl" in output, output
    assert "more than --max-unusable 0" in done.stderr, done.stderr
    assert not run.exists() or not any(run.iterdir())


TRAIN_CASES = {
    # name: (arguments, exit code, stderr fragment)
    "max_unusable_not_a_fraction": (["train", "--config", "conf/tiny.txt", "--data", DATA, "--out", "{tmp}/run",
                                     "--max-unusable", "1.5"], 1, "not a fraction in [0, 1]"),
    "eval_truncated_weights": (["eval", "--checkpoint", "{truncated}", "--data", DATA, "--split", "val"], 1,
                               "is truncated"),
    "eval_nan_weights": (["eval", "--checkpoint", "{nan_weights}", "--data", DATA, "--split", "val"], 1,
                         "weights are not finite"),
    "eval_missing_checkpoint": (["eval", "--checkpoint", "{tmp}/nothing", "--data", DATA, "--split", "val"], 1,
                                "nothing"),
    "export_unwritable": (["export", "--checkpoint", CHECKPOINT, "--out", "/proc/nowhere/model.onnx"], 1,
                          "cannot write /proc/nowhere/model.onnx"),
    "export_truncated_weights": (["export", "--checkpoint", "{truncated}", "--out", "{tmp}/m.onnx"], 1,
                                 "is truncated"),
    "export_nan_weights": (["export", "--checkpoint", "{nan_weights}", "--out", "{tmp}/m.onnx"], 1,
                           "weights are not finite"),
    "resume_with_overwrite": (["train", "--data", DATA, "--resume", "{tmp}", "--overwrite"], 2,
                              "cannot be used with"),
    "resume_without_state": (["train", "--config", "conf/tiny.txt", "--data", DATA, "--resume", "{tmp}"], 1,
                             "no resume state there"),
    "train_init_from_nan_weights": (["train", "--config", "conf/tiny.txt", "--data", DATA, "--out", "{tmp}/run",
                                     "--init", "{nan_weights}", "--epochs", "1", "--device", "cpu"], 1,
                                    "weights are not finite"),
}


@pytest.fixture(scope="module")
def broken_checkpoints(tmp_path_factory):
    folder = tmp_path_factory.mktemp("checkpoints")
    source = CHECKPOINT.resolve()
    truncated = folder / "truncated"
    shutil.copytree(source, truncated)
    weights = truncated / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-100])
    nan_weights = folder / "nan_weights"
    shutil.copytree(source, nan_weights)
    safetensors_with_nan(source / "model.safetensors", nan_weights / "model.safetensors")
    return {"truncated": truncated, "nan_weights": nan_weights}


@pytest.mark.parametrize("name", TRAIN_CASES)
def test_trainer(name, broken_checkpoints, tmp_path):
    arguments, code, fragment = TRAIN_CASES[name]
    arguments = [str(a).format(tmp=tmp_path, **broken_checkpoints) for a in arguments]
    done = mvt_train(*arguments)
    assert done.returncode == code, done.stderr
    assert fragment in done.stderr, done.stderr
    assert "panicked" not in done.stderr


def test_train_stops_on_a_non_finite_loss(tmp_path):
    """#6: a loss that turns NaN (learning rate 1e38) stops the run with an error naming epoch and step, and no
    checkpoint holds non-finite metrics."""
    config = tmp_path / "explode.txt"
    config.write_text((ROOT / "conf" / "tiny.txt").read_text().replace("learning_rate = 0.002",
                                                                       "learning_rate = 1e38"))
    run = tmp_path / "run"
    done = mvt_train("train", "--config", config, "--data", DATA, "--out", run, "--epochs", 2, "--device", "cpu")
    assert done.returncode == 1, done.stderr
    assert "the training loss is not finite (NaN) at epoch 1, step" in done.stderr, done.stderr
    for provenance in run.rglob("provenance.json"):
        text = provenance.read_text()
        assert "NaN" not in text and "null" not in text, text


def test_a_run_killed_mid_training_leaves_whole_checkpoints(tmp_path):
    """#4, #8: SIGKILL while training: `best` and `last` resolve to complete folders (a half-written one only ever
    exists under a temporary name), and --resume then continues the same run."""
    import signal
    import time
    run = tmp_path / "run"
    child = subprocess.Popen([str(MVT_TRAIN), "train", "--config", "conf/tiny.txt", "--data", str(DATA), "--out",
                              str(run), "--epochs", "30", "--device", "cpu"], cwd=ROOT, stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, text=True)
    saved = 0
    for line in child.stdout:
        saved += "saved" in line
        if saved == 2:
            time.sleep(0.3)  # into the next epoch's writes
            break
    child.send_signal(signal.SIGKILL)
    child.wait()
    whole = {"model.safetensors", "config.json", "tokenizer.json", "classes.txt", "provenance.json"}
    for link in ("best", "last"):
        assert {p.name for p in (run / link).resolve().iterdir()} >= whole, link
    for folder in run.iterdir():
        if folder.is_dir() and not folder.is_symlink() and not folder.name.startswith(".mvt-tmp-"):
            assert {p.name for p in folder.iterdir()} >= whole, folder
    done = mvt_train("train", "--data", DATA, "--resume", run, "--epochs", 4, "--device", "cpu")
    assert done.returncode == 0, done.stderr
    assert not list(run.glob(".mvt-tmp-*"))
    epochs = [json.loads(line)["epoch"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert epochs == sorted(set(epochs)) and epochs[0] == 1, epochs


@pytest.mark.parametrize("standard", ["-std=c99", "-std=c11", "-std=c++17"])
def test_the_header_compiles_strictly(tmp_path, standard):
    """#12: mvt.h (and, for C++, mvt.hpp) under -Wall -Wextra -pedantic -Werror."""
    cpp = standard == "-std=c++17"
    source = tmp_path / ("use.cpp" if cpp else "use.c")
    source.write_text('#include "mvt.hpp"\nint main() { return mvt_abi_version() == MVT_ABI_VERSION ? 0 : 1; }\n'
                      if cpp else '#include "mvt.h"\nint main(void) { return mvt_abi_version() == MVT_ABI_VERSION ? 0 : 1; }\n')
    done = subprocess.run(["g++" if cpp else "gcc", standard, "-Wall", "-Wextra", "-pedantic", "-Werror",
                           f"-I{ROOT / 'include'}", "-c", str(source), "-o", str(tmp_path / "use.o")],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_export_failing_write_keeps_the_previous_model(tmp_path):
    """#4: `mvt-train export` over a good model, the write failing part-way: the old file survives intact."""
    out = tmp_path / "model.onnx"
    previous = b"the previous good model " * 1000
    out.write_bytes(previous)
    done = mvt_train("export", "--checkpoint", CHECKPOINT, "--out", out, limit_file_blocks=8)
    assert done.returncode == 1, done.stderr
    assert f"cannot write {out}" in done.stderr and "File too large" in done.stderr, done.stderr
    assert out.read_bytes() == previous
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.onnx"]
