"""Hardening #10: every argument of the Python wrapper is checked before anything reaches the C library.

Text is str (or UTF-8 bytes), paths are str / bytes / os.PathLike, integer options are non-negative ints, features
are real-number arrays [frames, dim]; anything else raises a TypeError (wrong type) or ValueError (bad value)
whose message names the argument and, for videos, the video's index. The `no_c_calls` fixture replaces the
library by an object that fails the test on any use, proving that the refusal happens in Python.
"""
import os

import numpy as np
import pytest

from fixture_paths import MODEL, DATA
import mvt  # the installed package (python/mvt)


class _NoLibrary:
    def __getattr__(self, name):
        raise AssertionError(f"the wrapper called {name} before refusing a bad argument")


@pytest.fixture(scope="module")
def model():
    with mvt.Model(MODEL, sessions=2) as loaded:
        yield loaded


@pytest.fixture()
def no_c_calls(monkeypatch):
    monkeypatch.setattr(mvt, "_lib", _NoLibrary())


@pytest.fixture(scope="module")
def good(model):
    rng = np.random.default_rng(3)
    return (rng.random((12, model.rgb_dim), dtype=np.float32), rng.random((4, model.audio_dim), dtype=np.float32),
            "一个好标题")


# --- titles -------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("title", [5, 0, [1, 2], np.array([1, 2]), None, 3.5, object(), {"a": 1}],
                         ids=["int", "zero", "list", "ndarray", "None", "float", "object", "dict"])
def test_a_title_that_is_not_text_is_a_type_error_naming_the_video(model, good, no_c_calls, title):
    rgb, audio, _ = good
    with pytest.raises(TypeError) as error:
        model.predict([good, (rgb, audio, title)])
    assert "video 1: title must be str (or UTF-8 bytes), got " + type(title).__name__ in str(error.value)


def test_a_title_with_a_lone_surrogate_is_a_value_error(model, good, no_c_calls):
    rgb, audio, _ = good
    with pytest.raises(ValueError, match=r"video 0: title is not valid Unicode text \(surrogates not allowed"):
        model.predict([(rgb, audio, "bad \ud800 title")])


def test_titles_as_str_and_as_utf8_bytes_tag_the_same(model, good):
    rgb, audio, title = good
    as_str, as_bytes = model.predict([(rgb, audio, title), (rgb, audio, title.encode("utf-8"))])
    np.testing.assert_array_equal(as_str.probabilities, as_bytes.probabilities)
    assert model.tokenize(title) == model.tokenize(title.encode("utf-8"))


def test_bytes_titles_that_are_not_utf8_are_refused_by_the_library(model, good):
    rgb, audio, _ = good
    with pytest.raises(mvt.MvtError) as error:
        model.tokenize(b"\xff\xfe")
    assert error.value.status == "MVT_ERR_INVALID_UTF8"
    with pytest.raises(mvt.MvtError) as error:
        model.predict([good, (rgb, audio, b"ok \xc3")])
    assert error.value.status == "MVT_ERR_INVALID_UTF8" and "video 1" in error.value.message


@pytest.mark.parametrize("title", [5, None, ["a"]], ids=["int", "None", "list"])
def test_tokenize_refuses_non_text(model, no_c_calls, title):
    with pytest.raises(TypeError, match=f"title must be str \\(or UTF-8 bytes\\), got {type(title).__name__}"):
        model.tokenize(title)


# --- video ids ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("video_id", [7, None, 1.5, ["x"]], ids=["int", "None", "float", "list"])
def test_a_video_id_that_is_not_text_is_a_type_error(model, good, no_c_calls, video_id):
    with pytest.raises(TypeError) as error:
        model.predict_json([good, good], ["first", video_id])
    assert f"video_ids[1] (video 1) must be str (or UTF-8 bytes), got {type(video_id).__name__}" in str(error.value)


def test_video_ids_with_nul_or_bad_utf8_or_of_the_wrong_shape_are_refused(model, good, no_c_calls):
    with pytest.raises(ValueError, match=r"video_ids\[0\] \(video 0\) contains a NUL character"):
        model.predict_json([good], ["a\0b"])
    with pytest.raises(mvt.MvtError) as error:
        model.predict_json([good], [b"\xff"])
    assert error.value.status == "MVT_ERR_INVALID_UTF8"
    assert "video_ids[0] (video 0) is not valid UTF-8" in str(error.value)
    with pytest.raises(TypeError, match="video_ids must be a sequence of str, one per video, got str"):
        model.predict_json([good, good, good], "abc")
    with pytest.raises(TypeError, match="video_ids must be a sequence of str, one per video, got NoneType"):
        model.predict_json([good], None)
    with pytest.raises(ValueError, match="one video id per video: 2 ids for 1 videos"):
        model.predict_json([good], ["a", "b"])


def test_str_and_bytes_video_ids_give_the_same_json(model, good):
    assert model.predict_json([good], ["视频"]) == model.predict_json([good], ["视频".encode("utf-8")])
    assert '"video_id": "视频"' in model.predict_json((v for v in [good]), iter(["视频"]))


# --- paths ----------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", [None, 5, ["model.onnx"], 1.0], ids=["None", "int", "list", "float"])
def test_a_model_path_that_is_not_a_path_is_a_type_error(no_c_calls, path):
    message = f"path must be a path \\(str, bytes or os.PathLike\\), got {type(path).__name__}"
    with pytest.raises(TypeError, match=message):
        mvt.Model(path)


def test_empty_or_nul_model_paths_are_value_errors(no_c_calls):
    with pytest.raises(ValueError, match="path is empty"):
        mvt.Model("")
    with pytest.raises(ValueError, match="path contains a NUL character"):
        mvt.Model(str(MODEL) + "\0.ignored")
    with pytest.raises(TypeError, match="ort_library must be a path"):
        mvt.Model(MODEL, ort_library=5)


def test_model_paths_as_str_bytes_and_pathlike_load(tmp_path):
    for path in (str(MODEL), os.fsencode(MODEL), MODEL):
        with mvt.Model(path) as model:
            assert model.num_classes > 0


# --- integer, float and device options ------------------------------------------------------------------------------

SIZE_OPTIONS = ["sessions", "top_k", "max_frames", "batch_size", "intra_threads", "device_id"]


@pytest.mark.parametrize("name", SIZE_OPTIONS)
def test_negative_options_are_value_errors_instead_of_wrapping(no_c_calls, name):
    with pytest.raises(ValueError, match=f"^{name} must be >= 0, got -1$"):
        mvt.Model(MODEL, **{name: -1})


@pytest.mark.parametrize("name", SIZE_OPTIONS)
def test_oversized_options_are_value_errors_instead_of_wrapping(no_c_calls, name):
    too_big = 2 ** 31 if name == "device_id" else 2 ** 64
    with pytest.raises(ValueError, match=f"^{name} must be <= {too_big - 1}, got {too_big}$"):
        mvt.Model(MODEL, **{name: too_big})


@pytest.mark.parametrize("value", [True, 2.0, "4", [1]], ids=["bool", "float", "str", "list"])
@pytest.mark.parametrize("name", SIZE_OPTIONS)
def test_non_integer_options_are_type_errors(no_c_calls, name, value):
    with pytest.raises(TypeError, match=f"^{name} must be an int, got {type(value).__name__}$"):
        mvt.Model(MODEL, **{name: value})


def test_numpy_integers_and_in_range_options_are_accepted():
    with mvt.Model(MODEL, sessions=np.int64(2), top_k=np.uint8(3), batch_size=5, max_frames=100) as model:
        assert model.sessions == 2
    with pytest.raises(mvt.MvtError) as error:  # range rules beyond the sign stay the library's
        mvt.Model(MODEL, sessions=0)
    assert error.value.status == "MVT_ERR_INVALID_ARGUMENT" and "sessions is 0" in error.value.message


def test_bad_device_and_threshold_are_refused(no_c_calls):
    with pytest.raises(TypeError, match=r"device must be a str \(one of \['auto', 'cpu', 'cuda'\]\), got int"):
        mvt.Model(MODEL, device=5)
    with pytest.raises(ValueError, match=r"device must be one of \['auto', 'cpu', 'cuda'\], got 'tpu'"):
        mvt.Model(MODEL, device="tpu")
    with pytest.raises(TypeError, match="device must be a str"):
        mvt.Model(MODEL, device=["cpu"])  # unhashable: no bare "unhashable type" error
    for threshold in ("0.5", True, [0.5]):
        with pytest.raises(TypeError, match=f"threshold must be a float, got {type(threshold).__name__}"):
            mvt.Model(MODEL, threshold=threshold)


# --- features and the shape of the videos argument ------------------------------------------------------------------

def test_non_numeric_features_are_type_errors_naming_video_and_track(model, good, no_c_calls):
    rgb, audio, title = good
    cases = [
        ((np.full((2, model.rgb_dim), "1.5"), audio, title), "video 1: image features must hold real numbers", "<U3"),
        ((rgb, np.full((2, model.audio_dim), None), title), "video 1: audio features must hold real numbers", "object"),
        ((rgb.astype(np.complex64), audio, title), "video 1: image features must hold real numbers", "complex64"),
        ((rgb > 0.5, audio, title), "video 1: image features must hold real numbers", "bool"),
        ((None, audio, title), "video 1: image features must be an array [frames, dim] of numbers, got None", ""),
        ((rgb, None, title), "video 1: audio features must be an array [frames, dim] of numbers, got None", ""),
    ]
    for video, message, dtype in cases:
        with pytest.raises(TypeError) as error:
            model.predict([good, video])
        assert message in str(error.value) and dtype in str(error.value), error.value


def test_features_of_the_wrong_shape_are_value_errors(model, good, no_c_calls):
    rgb, audio, title = good
    cases = [
        ((rgb[0], audio, title), "video 0: image features must be a 2-D array [frames, dim], got shape (64,)"),
        ((rgb[None], audio, title), "video 0: image features must be a 2-D array [frames, dim], got shape (1, 12, 64)"),
        ((rgb, audio[0], title), "video 0: audio features must be a 2-D array [frames, dim], got shape (16,)"),
        (([[1.0, 2.0], [3.0]], audio, title), "video 0: image features is not a rectangular array of numbers"),
        ((rgb.astype(np.float64) * 1e300, audio, title), "video 0: image features: the value"),
    ]
    for video, message in cases:
        with pytest.raises(ValueError) as error:
            model.predict([video])
        assert message.replace("(64,)", f"({model.rgb_dim},)").replace("12, 64", f"12, {model.rgb_dim}") \
            .replace("(16,)", f"({model.audio_dim},)") in str(error.value), error.value
    with pytest.raises(ValueError, match="does not fit in float32"):
        model.predict([(rgb.astype(np.float64) * 1e300, audio, title)])


def test_int_and_float64_features_are_converted(model, good):
    rgb, audio, title = good
    whole = np.round(rgb * 4).astype(np.float32)
    a, b, c = model.predict([(whole, audio, title), (whole.astype(np.int16), audio, title),
                             (whole.astype(np.float64).tolist(), audio.astype(np.float64), title)])
    np.testing.assert_array_equal(a.probabilities, b.probabilities)
    np.testing.assert_array_equal(a.probabilities, c.probabilities)


def test_a_video_that_is_not_a_triple_and_videos_that_are_not_a_list_are_type_errors(model, good, no_c_calls):
    rgb, audio, title = good
    for video, got in [((rgb, audio), "tuple of length 2"), ({"rgb": rgb}, "dict"), ("abc", "str"), (None, "NoneType")]:
        with pytest.raises(TypeError, match=rf"video 1 must be an \(rgb, audio, title\) tuple, got {got}"):
            model.predict([good, video])
    for videos in (None, "abc", 5):
        with pytest.raises(TypeError, match="videos must be an iterable of"):
            model.predict(videos)


# --- open_dataset ---------------------------------------------------------------------------------------------------

def test_open_dataset_refuses_bad_arguments(model, no_c_calls):
    with pytest.raises(TypeError, match="data_dir must be a path"):
        model.open_dataset(None, "val.txt")
    with pytest.raises(TypeError, match="list_file must be a str or os.PathLike, got int"):
        model.open_dataset(DATA, 5)
    with pytest.raises(ValueError, match="list_file contains a NUL character"):
        model.open_dataset(DATA, "val.txt\0")
    with pytest.raises(ValueError, match="list_file is empty"):
        model.open_dataset(DATA, "")
