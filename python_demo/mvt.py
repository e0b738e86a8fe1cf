"""ctypes wrapper of libmvt: numpy arrays in, Python objects out, errors as MvtError carrying mvt_last_error().

    from mvt import Model
    with Model("model.onnx") as model:
        [p] = model.predict([(rgb, audio, "title")])      # rgb [frames, rgb_dim], audio [segments, audio_dim]
        print(p.tags)                                      # [(name, index, score), ...] best first

The library is target/release/libmvt.so of this checkout unless MVT_LIBRARY names another file. One model
handle may be used from many threads at once (the library pools ONNX Runtime sessions; ctypes releases the GIL).
"""
from __future__ import annotations

import ctypes
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional, Sequence

import numpy as np

ABI_VERSION = 1

# mvt_status values (mvt.h).
STATUS_NAMES = {
    0: "MVT_OK", 1: "MVT_ERR_NULL_POINTER", 2: "MVT_ERR_INVALID_ARGUMENT", 3: "MVT_ERR_DIMENSION",
    4: "MVT_ERR_FRAME_COUNT", 5: "MVT_ERR_NON_FINITE", 6: "MVT_ERR_INVALID_UTF8", 7: "MVT_ERR_MODEL_FILE",
    8: "MVT_ERR_MODEL_METADATA", 9: "MVT_ERR_RUNTIME_MISSING", 10: "MVT_ERR_RUNTIME_VERSION", 11: "MVT_ERR_DEVICE",
    12: "MVT_ERR_INFERENCE", 13: "MVT_ERR_DATASET", 14: "MVT_ERR_INTERNAL",
}
DEVICES = {"cpu": 0, "cuda": 1, "auto": 2}


class MvtError(Exception):
    """A failed libmvt call: `status` (an mvt_status name such as "MVT_ERR_DIMENSION") and the library's message."""

    def __init__(self, code: int, message: str):
        self.code = code
        self.status = STATUS_NAMES.get(code, f"status {code}")
        self.message = message
        super().__init__(f"{self.status}: {message}")


class _Options(ctypes.Structure):
    _fields_ = [
        ("struct_size", ctypes.c_size_t), ("ort_library", ctypes.c_char_p), ("device", ctypes.c_int32),
        ("device_id", ctypes.c_int32), ("sessions", ctypes.c_size_t), ("intra_threads", ctypes.c_size_t),
        ("batch_size", ctypes.c_size_t), ("max_frames", ctypes.c_size_t), ("threshold", ctypes.c_double),
        ("top_k", ctypes.c_size_t),
    ]


class _Video(ctypes.Structure):
    _fields_ = [
        ("rgb", ctypes.POINTER(ctypes.c_float)), ("rgb_frames", ctypes.c_size_t), ("rgb_dim", ctypes.c_size_t),
        ("audio", ctypes.POINTER(ctypes.c_float)), ("audio_frames", ctypes.c_size_t), ("audio_dim", ctypes.c_size_t),
        ("title", ctypes.c_char_p), ("title_len", ctypes.c_size_t),
    ]


class _Tag(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("index", ctypes.c_size_t), ("score", ctypes.c_float)]


class _Info(ctypes.Structure):
    _fields_ = [
        ("struct_size", ctypes.c_size_t), ("num_classes", ctypes.c_size_t), ("rgb_dim", ctypes.c_size_t),
        ("audio_dim", ctypes.c_size_t), ("text_max_len", ctypes.c_size_t), ("empty_audio_frames", ctypes.c_size_t),
        ("threshold", ctypes.c_double), ("sessions", ctypes.c_size_t), ("provider", ctypes.c_char_p),
        ("ort_version", ctypes.c_char_p), ("ort_library", ctypes.c_char_p),
    ]


def _library_path() -> Path:
    named = os.environ.get("MVT_LIBRARY")
    if named:
        return Path(named)
    return Path(__file__).resolve().parent.parent / "target" / "release" / "libmvt.so"


def _load_library() -> ctypes.CDLL:
    lib = ctypes.CDLL(str(_library_path()))
    P, size_t, status = ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int
    size_p, float_p, tag_p = ctypes.POINTER(size_t), ctypes.POINTER(ctypes.c_float), ctypes.POINTER(_Tag)
    signatures = {
        "mvt_abi_version": (ctypes.c_uint32, []),
        "mvt_version": (ctypes.c_char_p, []),
        "mvt_last_error": (ctypes.c_char_p, []),
        "mvt_default_options": (status, [ctypes.POINTER(_Options), size_t]),
        "mvt_load": (status, [ctypes.c_char_p, ctypes.POINTER(_Options), ctypes.POINTER(P)]),
        "mvt_free": (None, [P]),
        "mvt_model_info": (status, [P, ctypes.POINTER(_Info)]),
        "mvt_class_name": (ctypes.c_char_p, [P, size_t]),
        "mvt_tokenize": (status, [P, ctypes.c_char_p, size_t, ctypes.POINTER(ctypes.c_int64), size_t, size_p]),
        "mvt_predict": (status, [P, ctypes.POINTER(_Video), size_t, ctypes.POINTER(P)]),
        "mvt_result_free": (None, [P]),
        "mvt_result_count": (size_t, [P]),
        "mvt_result_probabilities": (float_p, [P, size_t, size_p]),
        "mvt_result_tags": (tag_p, [P, size_t, size_p]),
        "mvt_result_top_k": (tag_p, [P, size_t, size_p]),
        "mvt_result_rgb_attention": (float_p, [P, size_t, size_p]),
        "mvt_result_audio_attention": (float_p, [P, size_t, size_p]),
        "mvt_result_json": (P, [P, ctypes.POINTER(ctypes.c_char_p)]),
        "mvt_string_free": (None, [P]),
    }
    for name, (restype, argtypes) in signatures.items():
        function = getattr(lib, name)
        function.restype, function.argtypes = restype, argtypes
    if lib.mvt_abi_version() != ABI_VERSION:
        raise ImportError(f"{_library_path()} has ABI {lib.mvt_abi_version()}, this wrapper speaks {ABI_VERSION}")
    return lib


_lib = _load_library()


def _check(code: int) -> None:
    if code != 0:
        raise MvtError(code, _lib.mvt_last_error().decode("utf-8", "replace"))


def version() -> str:
    return _lib.mvt_version().decode()


@dataclass
class Prediction:
    probabilities: np.ndarray          # float32 [classes], class order
    tags: list                         # [(name, index, score)] with score >= threshold, best first
    top_k: list                        # the top_k best [(name, index, score)], best first
    rgb_attention: np.ndarray          # one weight per image frame
    audio_attention: np.ndarray        # one weight per audio segment the model saw


def _floats(pointer, count: int) -> np.ndarray:
    return np.ctypeslib.as_array(pointer, shape=(count,)).copy() if count else np.zeros(0, np.float32)


def _tags(pointer, count: int) -> list:
    return [(pointer[k].name.decode("utf-8"), int(pointer[k].index), float(pointer[k].score)) for k in range(count)]


def _features(array, width: int, what: str) -> np.ndarray:
    """C-contiguous float32 [frames, width]; an empty track may be given as any empty array."""
    array = np.asarray(array, dtype=np.float32)
    if array.size == 0:
        return np.zeros((0, width), np.float32)
    if array.ndim != 2:
        raise ValueError(f"{what} features must be a 2-D array [frames, dim], got shape {array.shape}")
    return np.ascontiguousarray(array)


class Model:
    """A loaded mvt model file. Options are those of mvt_options (None: the library's default)."""

    def __init__(self, path, *, ort_library: Optional[str] = None, device: str = "cpu", device_id: int = 0,
                 sessions: Optional[int] = None, intra_threads: Optional[int] = None,
                 batch_size: Optional[int] = None, max_frames: Optional[int] = None,
                 threshold: Optional[float] = None, top_k: int = 0):
        self._handle = ctypes.c_void_p()
        options = _Options()
        _check(_lib.mvt_default_options(ctypes.byref(options), ctypes.sizeof(_Options)))
        if device not in DEVICES:
            raise ValueError(f"device must be one of {sorted(DEVICES)}")
        options.device, options.device_id, options.top_k = DEVICES[device], device_id, top_k
        options.ort_library = os.fsencode(ort_library) if ort_library else None
        for field, value in [("sessions", sessions), ("intra_threads", intra_threads), ("batch_size", batch_size),
                             ("max_frames", max_frames), ("threshold", threshold)]:
            if value is not None:
                setattr(options, field, value)
        _check(_lib.mvt_load(os.fsencode(str(path)), ctypes.byref(options), ctypes.byref(self._handle)))
        info = _Info()
        info.struct_size = ctypes.sizeof(_Info)
        _check(_lib.mvt_model_info(self._handle, ctypes.byref(info)))
        self.num_classes, self.rgb_dim, self.audio_dim = info.num_classes, info.rgb_dim, info.audio_dim
        self.text_max_len, self.threshold, self.sessions = info.text_max_len, info.threshold, info.sessions
        self.provider, self.ort_version = info.provider.decode(), info.ort_version.decode()
        self.ort_library = os.fsdecode(info.ort_library)
        self.classes = [_lib.mvt_class_name(self._handle, k).decode("utf-8") for k in range(self.num_classes)]

    def close(self) -> None:
        if self._handle:
            _lib.mvt_free(self._handle)
            self._handle = ctypes.c_void_p()

    def __enter__(self) -> "Model":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()

    def tokenize(self, title) -> list:
        """The ids the model gives a title (str, or bytes taken as UTF-8)."""
        raw = title.encode("utf-8") if isinstance(title, str) else bytes(title)
        ids = (ctypes.c_int64 * self.text_max_len)()
        count = ctypes.c_size_t()
        _check(_lib.mvt_tokenize(self._handle, raw, len(raw), ids, self.text_max_len, ctypes.byref(count)))
        return list(ids[: count.value])

    def _run(self, videos: Sequence):
        """mvt_predict on (rgb, audio, title) triples; returns the result handle (the caller frees it)."""
        keep = []  # arrays and bytes that must outlive the call
        c_videos = (_Video * max(len(videos), 1))()
        for i, (rgb, audio, title) in enumerate(videos):
            rgb = _features(rgb, self.rgb_dim, "image")
            audio = _features(audio, self.audio_dim, "audio")
            raw = title.encode("utf-8") if isinstance(title, str) else bytes(title)
            keep += [rgb, audio, raw]
            float_p = ctypes.POINTER(ctypes.c_float)
            c_videos[i] = _Video(rgb.ctypes.data_as(float_p), rgb.shape[0], rgb.shape[1],
                                 audio.ctypes.data_as(float_p) if audio.size else None, audio.shape[0], audio.shape[1],
                                 raw, len(raw))
        result = ctypes.c_void_p()
        _check(_lib.mvt_predict(self._handle, c_videos, len(videos), ctypes.byref(result)))
        return result

    def predict(self, videos: Iterable) -> list:
        """Tag videos given as (rgb [frames, rgb_dim], audio [segments, audio_dim] or empty, title) triples."""
        result = self._run(list(videos))
        try:
            out = []
            n = ctypes.c_size_t()
            for i in range(_lib.mvt_result_count(result)):
                probabilities = _floats(_lib.mvt_result_probabilities(result, i, ctypes.byref(n)), n.value)
                tags = _tags(_lib.mvt_result_tags(result, i, ctypes.byref(n)), n.value)
                top_k = _tags(_lib.mvt_result_top_k(result, i, ctypes.byref(n)), n.value)
                rgb_attention = _floats(_lib.mvt_result_rgb_attention(result, i, ctypes.byref(n)), n.value)
                audio_attention = _floats(_lib.mvt_result_audio_attention(result, i, ctypes.byref(n)), n.value)
                out.append(Prediction(probabilities, tags, top_k, rgb_attention, audio_attention))
            return out
        finally:
            _lib.mvt_result_free(result)

    def predict_json(self, videos: Sequence, video_ids: Sequence[str]) -> str:
        """The original inference's output.json text for these videos (the bytes `mvt infer` writes)."""
        videos = list(videos)
        if len(video_ids) != len(videos):
            raise ValueError("one video id per video")
        result = self._run(videos)
        try:
            ids = (ctypes.c_char_p * max(len(videos), 1))(*[i.encode("utf-8") for i in video_ids])
            text = _lib.mvt_result_json(result, ids)
            if not text:
                _check(14)
            try:
                return ctypes.string_at(text).decode("utf-8")
            finally:
                _lib.mvt_string_free(text)
        finally:
            _lib.mvt_result_free(result)
