"""mvt: native multimodal short-video tagging from Python, a ctypes wrapper of libmvt: numpy arrays in, Python
objects out, errors as MvtError (one subclass per mvt_status) carrying mvt_last_error().

    from mvt import Model
    with Model("model.onnx") as model:
        [p] = model.predict([(rgb, audio, "title")])      # rgb [frames, rgb_dim], audio [segments, audio_dim]
        print(p.tags)                                      # [(name, index, score), ...] best first
        with model.open_dataset("data", "val.txt") as videos:   # the original layout, read by libmvt's safe reader
            for video_id, rgb, audio, title in videos: ...

`pip install mvt-<version>-py3-none-linux_x86_64.whl` (`make wheel`) brings libmvt.so inside the package and the
pinned onnxruntime wheel as a dependency; `python -m mvt infer ...` / `python -m mvt info MODEL` are the `mvt` CLI's
commands (mvt/cli.py). libmvt.so is found, first hit wins (`library_path()`): the file $MVT_LIBRARY names, the one
bundled in the package (a wheel), the checkout's target/release/libmvt.so (an editable install, `make setup`).
ONNX Runtime: `Model(ort_library=...)`, else libmvt's own search ($MVT_ORT_LIB, then libonnxruntime.so* next to
libmvt.so), else the installed onnxruntime package's capi/libonnxruntime.so.* (`default_ort_library()`).

One model
handle may be used from many threads at once (the library pools ONNX Runtime sessions; ctypes releases the GIL),
and `Model.close()` may be called while they run: it waits for the calls in flight, later calls raise ClosedError.

Every argument is checked here, before anything reaches the C library, and refused with a TypeError (wrong type)
or ValueError (right type, bad value) whose message names the argument (and, for videos, the video's index):

- text (titles, video ids) is `str`; `bytes` is accepted as UTF-8 and invalid UTF-8 raises
  MvtError with status MVT_ERR_INVALID_UTF8 (titles are handed to the library, which reports it; video ids are
  checked here, because mvt_result_json has no status to return); a str with a lone surrogate is a ValueError;
- paths are `str`, `bytes` or `os.PathLike`, non-empty, without NUL characters (a dataset's list file name: `str`
  or `os.PathLike`, UTF-8, as the C API wants);
- integer options are `int` (numpy integers too, never `bool`) in the C field's range; a negative one is a
  ValueError instead of wrapping around to a huge size;
- features are real-number arrays (int or float dtypes, converted to float32) of shape [frames, dim]; an empty
  track may be any empty array. Widths, frame counts and NaN/Inf are checked by the library (MvtError naming the
  video, frame and column).
"""
from __future__ import annotations

import ctypes
import importlib.util
import numbers
import operator
import os
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator, List, NamedTuple, Optional, Sequence, Tuple, Union

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

PathArg = Union[str, bytes, "os.PathLike[str]", "os.PathLike[bytes]"]
Text = Union[str, bytes]

_SIZE_MAX = 2 ** (8 * ctypes.sizeof(ctypes.c_size_t)) - 1
_INT32_MAX = 2 ** 31 - 1


class MvtError(Exception):
    """A failed libmvt call: `code` (the mvt_status number), `status` (its name such as "MVT_ERR_DIMENSION") and the
    library's `message`.

    One subclass per status (`InvalidArgumentError` for MVT_ERR_INVALID_ARGUMENT, `DimensionError`, ...:
    `ERRORS_BY_CODE`); `MvtError(code, message)` itself makes the subclass of `code` (an unknown code stays an
    MvtError), so `except mvt.MvtError` catches them all and `except mvt.DatasetError` one kind. Picklable (with
    code and message), e.g. to cross process boundaries."""

    def __new__(cls, code: int = 0, message: str = "", *args: Any, **kwargs: Any) -> "MvtError":
        if cls is MvtError:
            cls = ERRORS_BY_CODE.get(code, MvtError)
        return super().__new__(cls)

    def __init__(self, code: int, message: str):
        self.code = code
        self.status = STATUS_NAMES.get(code, f"status {code}")
        self.message = message
        super().__init__(f"{self.status}: {message}")

    def __reduce__(self):
        return _restore_error, (type(self), self.code, self.message)


def _restore_error(cls: type, code: int, message: str) -> MvtError:
    """Unpickles an MvtError (of any subclass, ClosedError included, whose constructor takes other arguments)."""
    error = Exception.__new__(cls)
    MvtError.__init__(error, code, message)
    return error


class NullPointerError(MvtError):
    """MVT_ERR_NULL_POINTER (1): a required pointer was NULL (from Python: a freed handle; see ClosedError)."""


class InvalidArgumentError(MvtError):
    """MVT_ERR_INVALID_ARGUMENT (2): an option or argument out of range (e.g. a second, different ort_library)."""


class DimensionError(MvtError):
    """MVT_ERR_DIMENSION (3): a feature array's width is not the model's."""


class FrameCountError(MvtError):
    """MVT_ERR_FRAME_COUNT (4): no image frames, or more frames than max_frames."""


class NonFiniteError(MvtError):
    """MVT_ERR_NON_FINITE (5): a NaN or infinite feature (the message names the video, frame and column)."""


class InvalidUtf8Error(MvtError):
    """MVT_ERR_INVALID_UTF8 (6): a title or video id that is not UTF-8."""


class ModelFileError(MvtError):
    """MVT_ERR_MODEL_FILE (7): the model file is missing, unreadable or not a valid ONNX model."""


class ModelMetadataError(MvtError):
    """MVT_ERR_MODEL_METADATA (8): the model file's mvt metadata is missing, inconsistent or over its limits."""


class RuntimeMissingError(MvtError):
    """MVT_ERR_RUNTIME_MISSING (9): no loadable ONNX Runtime library was found."""


class RuntimeVersionError(MvtError):
    """MVT_ERR_RUNTIME_VERSION (10): the ONNX Runtime found is older than libmvt accepts."""


class DeviceError(MvtError):
    """MVT_ERR_DEVICE (11): the device asked for (CUDA) cannot run."""


class InferenceError(MvtError):
    """MVT_ERR_INFERENCE (12): ONNX Runtime failed while running the model."""


class DatasetError(MvtError):
    """MVT_ERR_DATASET (13): class.txt or the list file unreadable, or features of the wrong width."""


class InternalError(MvtError):
    """MVT_ERR_INTERNAL (14): a bug in libmvt (a caught panic)."""


ERRORS_BY_CODE = {
    1: NullPointerError, 2: InvalidArgumentError, 3: DimensionError, 4: FrameCountError, 5: NonFiniteError,
    6: InvalidUtf8Error, 7: ModelFileError, 8: ModelMetadataError, 9: RuntimeMissingError, 10: RuntimeVersionError,
    11: DeviceError, 12: InferenceError, 13: DatasetError, 14: InternalError,
}


class ClosedError(NullPointerError, ValueError):
    """A call on a Model or Dataset after its close(). Both an MvtError (a NullPointerError, with the status
    MVT_ERR_NULL_POINTER that the library gives a freed handle, as calls after close did before this class existed)
    and a ValueError (as Python's files raise for I/O on a closed file)."""

    def __init__(self, what: str):
        super().__init__(1, f"the {what} is closed ({what.capitalize()}.close() was called and freed its handle)")


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
        # c_void_p, not c_char_p: reading the field back must not stop at a NUL inside the title.
        ("title", ctypes.c_void_p), ("title_len", ctypes.c_size_t),
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


_PACKAGE_DIR = Path(__file__).resolve().parent
# Where an editable install from the checkout (python/mvt/) finds the build tree's library.
_BUILD_TREE_LIBRARY = _PACKAGE_DIR.parent.parent / "target" / "release" / "libmvt.so"


def library_path() -> Path:
    """The libmvt.so this package loads, first hit wins: the file $MVT_LIBRARY names (used as given, even when it
    does not exist: the load then fails naming it), the libmvt.so bundled in the package (a wheel from `make wheel`),
    the checkout's target/release/libmvt.so (an editable install, `make setup`). ImportError when there is none."""
    named = os.environ.get("MVT_LIBRARY")
    if named:
        return Path(named)
    candidates = [_PACKAGE_DIR / "libmvt.so", _BUILD_TREE_LIBRARY]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise ImportError("mvt cannot find libmvt.so: MVT_LIBRARY is not set and there is no "
                      + " nor ".join(str(c) for c in candidates)
                      + " (install the mvt wheel, build the checkout with `cargo build --release -p mvt`, or set "
                        "MVT_LIBRARY to the library's path)")


def _onnxruntime_files(folder: Path) -> List[Path]:
    """libonnxruntime.so and libonnxruntime.so.* in `folder`, shortest name first (libmvt's order)."""
    try:
        names = [entry.name for entry in os.scandir(folder)]
    except OSError:
        return []
    found = [folder / n for n in names if n == "libonnxruntime.so" or n.startswith("libonnxruntime.so.")]
    return sorted(found, key=lambda p: (len(str(p)), str(p)))


def default_ort_library() -> Optional[Path]:
    """The ONNX Runtime a Model given no `ort_library` hands to libmvt, or None to let libmvt search.

    None when $MVT_ORT_LIB is set (libmvt uses it) or libonnxruntime.so* lies next to the loaded libmvt.so (libmvt
    prefers it: an install tree, `make install`); otherwise the installed onnxruntime package's
    capi/libonnxruntime.so.* (the dependency the wheel declares), found with importlib.util.find_spec without
    importing onnxruntime; None when that package is not installed either (libmvt then searches the checkout's
    .venv and reports what it searched)."""
    if os.environ.get("MVT_ORT_LIB"):
        return None
    if _onnxruntime_files(Path(_LIBRARY_PATH).parent):
        return None
    try:
        spec = importlib.util.find_spec("onnxruntime")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin:
        return None
    found = _onnxruntime_files(Path(spec.origin).parent / "capi")
    return found[0] if found else None


def _load_library() -> ctypes.CDLL:
    lib = ctypes.CDLL(str(_LIBRARY_PATH))
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
        "mvt_tokenize": (status, [P, ctypes.c_void_p, size_t, ctypes.POINTER(ctypes.c_int64), size_t, size_p]),
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
        "mvt_dataset_open": (status, [P, ctypes.c_char_p, ctypes.c_char_p, ctypes.POINTER(P)]),
        "mvt_dataset_count": (size_t, [P]),
        "mvt_dataset_video": (status, [P, size_t, ctypes.POINTER(_Video), ctypes.POINTER(ctypes.c_char_p)]),
        "mvt_dataset_skipped_count": (size_t, [P]),
        "mvt_dataset_skipped": (status, [P, size_t, ctypes.POINTER(size_t), ctypes.POINTER(ctypes.c_char_p),
                                         ctypes.POINTER(ctypes.c_char_p)]),
        "mvt_dataset_free": (None, [P]),
    }
    for name, (restype, argtypes) in signatures.items():
        function = getattr(lib, name)
        function.restype, function.argtypes = restype, argtypes
    if lib.mvt_abi_version() != ABI_VERSION:
        raise ImportError(f"{_LIBRARY_PATH} has ABI {lib.mvt_abi_version()}, this wrapper speaks {ABI_VERSION}")
    return lib


_LIBRARY_PATH = library_path()
_lib = _load_library()


def _check(code: int) -> None:
    if code != 0:
        raise MvtError(code, _lib.mvt_last_error().decode("utf-8", "replace"))


def version() -> str:
    """The library's version, e.g. "0.1.0"."""
    return _lib.mvt_version().decode()


# The package's version is the library's: both come from the root Cargo.toml (python/setup.py reads it).
__version__: str = version()


# ---------------------------------------------------------------------------------------------------------------
# Argument checks: everything below runs before any call into C.


def _type_name(value: Any) -> str:
    return type(value).__name__


def _path(value: Any, what: str) -> bytes:
    """A file system path as the NUL-terminated bytes C wants: str, bytes or os.PathLike, non-empty, without NUL."""
    if not isinstance(value, (str, bytes, os.PathLike)):
        raise TypeError(f"{what} must be a path (str, bytes or os.PathLike), got {_type_name(value)}")
    raw = os.fsencode(os.fspath(value))
    if not raw:
        raise ValueError(f"{what} is empty")
    if b"\0" in raw:
        raise ValueError(f"{what} contains a NUL character: {os.fsdecode(raw)!r}")
    return raw


def _text(value: Any, what: str, *, nul_ok: bool) -> bytes:
    """UTF-8 bytes of a str, or bytes taken as they are (the library checks that they are UTF-8)."""
    if isinstance(value, str):
        try:
            raw = value.encode("utf-8")
        except UnicodeEncodeError as error:
            raise ValueError(f"{what} is not valid Unicode text ({error.reason} at position {error.start})") from None
    elif isinstance(value, (bytes, bytearray)):
        raw = bytes(value)
    else:
        raise TypeError(f"{what} must be str (or UTF-8 bytes), got {_type_name(value)}")
    if not nul_ok and b"\0" in raw:
        raise ValueError(f"{what} contains a NUL character: {value!r}")
    return raw


def _integer(value: Any, what: str, maximum: int) -> int:
    """A non-negative int (numpy integers accepted, bool refused) that fits the C field."""
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{what} must be an int, got bool")
    try:
        number = operator.index(value)
    except TypeError:
        raise TypeError(f"{what} must be an int, got {_type_name(value)}") from None
    if number < 0:
        raise ValueError(f"{what} must be >= 0, got {number}")
    if number > maximum:
        raise ValueError(f"{what} must be <= {maximum}, got {number}")
    return number


def _real(value: Any, what: str) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{what} must be a float, got {_type_name(value)}")
    return float(value)


def _features(array: Any, width: int, what: str) -> np.ndarray:
    """C-contiguous float32 [frames, width]; an empty track may be given as any empty array.

    Refuses non-numeric data (TypeError) and shapes other than [frames, dim] (ValueError); widths, frame counts and
    NaN / Inf are the library's to check (its messages name the frame and column).
    """
    if array is None:
        raise TypeError(f"{what} must be an array [frames, dim] of numbers, got None")
    try:
        source = np.asarray(array)
    except (ValueError, TypeError) as error:
        raise ValueError(f"{what} is not a rectangular array of numbers: {error}") from None
    if source.size == 0:
        return np.zeros((0, width), np.float32)
    if source.dtype.kind not in "iuf":
        raise TypeError(f"{what} must hold real numbers (int or float dtype), got dtype {source.dtype}")
    if source.ndim != 2:
        raise ValueError(f"{what} must be a 2-D array [frames, dim], got shape {source.shape}")
    with np.errstate(over="ignore"):  # overflow is reported below, naming the value
        converted = np.ascontiguousarray(source, dtype=np.float32)
    if source.dtype.kind == "f" and source.dtype.itemsize > 4:
        overflow = np.isinf(converted) & np.isfinite(source)
        if overflow.any():
            frame, column = (int(k) for k in np.argwhere(overflow)[0])
            raise ValueError(f"{what}: the value {source[frame, column]!r} at frame {frame}, column {column} "
                             "does not fit in float32")
    return converted


def _video_triple(video: Any, index: int) -> Tuple[Any, Any, Any]:
    if not isinstance(video, (tuple, list)) or len(video) != 3:
        length = f" of length {len(video)}" if isinstance(video, (tuple, list)) else ""
        raise TypeError(f"video {index} must be an (rgb, audio, title) tuple, got {_type_name(video)}{length}")
    return video[0], video[1], video[2]


def _video_list(videos: Any, what: str = "videos") -> list:
    if isinstance(videos, (str, bytes, bytearray, dict)) or videos is None:
        raise TypeError(f"{what} must be an iterable of (rgb, audio, title) tuples, got {_type_name(videos)}")
    try:
        return list(videos)
    except TypeError:
        raise TypeError(f"{what} must be an iterable of (rgb, audio, title) tuples, got {_type_name(videos)}") from None


class _Guard:
    """Counts the calls in flight on a native handle so that close() frees it only when none uses it.

    use() admits a call unless closing has begun (then ClosedError); close() refuses new calls at once, waits until
    the admitted ones have returned, then frees the handle exactly once. Concurrent close() calls all wait for that.
    """

    def __init__(self, what: str, handle: ctypes.c_void_p, free) -> None:
        self._what = what
        self._handle = handle
        self._free = free
        self._condition = threading.Condition()
        self._in_flight = 0
        self._closing = False

    @property
    def closed(self) -> bool:
        return self._closing

    @property
    def in_flight(self) -> int:
        return self._in_flight

    @contextmanager
    def use(self) -> Iterator[ctypes.c_void_p]:
        with self._condition:
            if self._closing or not self._handle:
                raise ClosedError(self._what)
            self._in_flight += 1
        try:
            yield self._handle
        finally:
            with self._condition:
                self._in_flight -= 1
                if self._in_flight == 0:
                    self._condition.notify_all()

    def close(self) -> None:
        with self._condition:
            self._closing = True
            self._condition.wait_for(lambda: self._in_flight == 0)
            if self._handle:
                handle, self._handle = self._handle, ctypes.c_void_p()
                self._free(handle)  # only ever called with a handle, which comes with its free function


class _NativeHandle:
    """What Model and Dataset share: a _Guard over their library handle, `closed`, `with` and freeing on collection.
    Subclasses set `self._guard` and document their close()."""

    _guard: _Guard

    @property
    def closed(self) -> bool:
        return self._guard.closed

    def close(self) -> None:
        self._guard.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        guard = getattr(self, "_guard", None)
        if guard is not None:
            try:
                guard.close()
            except Exception:  # interpreter shutdown: module globals may be gone
                pass


# ---------------------------------------------------------------------------------------------------------------
# Results.


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


def _matrix(pointer, rows: int, columns: int) -> np.ndarray:
    """A copy of a row-major float32 [rows, columns] array owned by the library."""
    if rows == 0 or columns == 0 or not pointer:
        return np.zeros((rows, columns), np.float32)
    return np.ctypeslib.as_array(pointer, shape=(rows, columns)).copy()


# ---------------------------------------------------------------------------------------------------------------
# Datasets.


class DatasetVideo(NamedTuple):
    """One video of a Dataset; the arrays are copies the caller owns (they outlive the dataset and the model)."""
    video_id: str                      # the list file's first field
    rgb: np.ndarray                    # float32 [frames, rgb_dim], at least one frame
    audio: np.ndarray                  # float32 [segments, audio_dim]; no audio: empty_audio_frames zero rows
    title: str


@dataclass(frozen=True)
class SkippedRow:
    """A list-file row that is not in the dataset: its 1-based line, its name and why."""
    line: int
    name: str
    reason: str


def _skipped_rows(handle: ctypes.c_void_p) -> List[SkippedRow]:
    """The list-file rows mvt_dataset_open left out, with the reader's own reasons."""
    rows = []
    for index in range(int(_lib.mvt_dataset_skipped_count(handle))):
        line, name, reason = ctypes.c_size_t(), ctypes.c_char_p(), ctypes.c_char_p()
        _check(_lib.mvt_dataset_skipped(handle, index, ctypes.byref(line), ctypes.byref(name), ctypes.byref(reason)))
        rows.append(SkippedRow(line.value, name.value.decode("utf-8", "replace"), reason.value.decode("utf-8", "replace")))
    return rows


class Dataset(_NativeHandle):
    """The videos of a list file in the original layout, read by libmvt's reader (`mvt_dataset_open`): a
    restricted unpickler that never executes anything in a feature file, unlike Python's pickle.

    A sequence of DatasetVideo (video_id, rgb, audio, title); each access copies the video out of the library, so
    the arrays stay valid after close(). `skipped` lists the list-file rows left out, with the reader's reasons.
    Thread-safe; close() waits for accesses in flight, later accesses raise ClosedError. Independent of the model
    once opened.
    """

    def __init__(self, handle: ctypes.c_void_p, data_dir: Path, list_file: str) -> None:
        """Takes ownership of `handle` (from mvt_dataset_open) only when it returns; on failure the caller frees it."""
        self.data_dir = data_dir
        self.list_file = list_file
        self._count = int(_lib.mvt_dataset_count(handle))
        self.video_ids: List[str] = []
        for index in range(self._count):
            video_id = ctypes.c_char_p()
            _check(_lib.mvt_dataset_video(handle, index, ctypes.byref(_Video()), ctypes.byref(video_id)))
            self.video_ids.append(video_id.value.decode("utf-8", "replace"))
        self.skipped: List[SkippedRow] = _skipped_rows(handle)
        self._guard = _Guard("dataset", handle, _lib.mvt_dataset_free)

    def __len__(self) -> int:
        return self._count

    def __getitem__(self, index: int) -> DatasetVideo:
        if isinstance(index, (bool, np.bool_)):
            raise TypeError("dataset index must be an int, got bool")
        try:
            index = operator.index(index)
        except TypeError:
            raise TypeError(f"dataset index must be an int, got {_type_name(index)}") from None
        if index < 0:
            index += self._count
        if not 0 <= index < self._count:
            raise IndexError(f"dataset index out of range (the dataset has {self._count} videos)")
        with self._guard.use() as handle:
            video, video_id = _Video(), ctypes.c_char_p()
            _check(_lib.mvt_dataset_video(handle, index, ctypes.byref(video), ctypes.byref(video_id)))
            rgb = _matrix(video.rgb, video.rgb_frames, video.rgb_dim)
            audio = _matrix(video.audio, video.audio_frames, video.audio_dim)
            title = ctypes.string_at(video.title, video.title_len) if video.title_len else b""
            return DatasetVideo(video_id.value.decode("utf-8", "replace"), rgb, audio, title.decode("utf-8", "replace"))

    def __iter__(self) -> Iterator[DatasetVideo]:
        for index in range(self._count):
            yield self[index]

    def close(self) -> None:
        """Frees the library's copy of the features, after waiting for accesses in flight; idempotent."""
        self._guard.close()


# ---------------------------------------------------------------------------------------------------------------
# Models.


class Model(_NativeHandle):
    """A loaded mvt model file. Options are those of mvt_options (None: the library's default).

    `path` (and `ort_library`) are str, bytes or os.PathLike; `ort_library` None or "" searches as the library
    does ($MVT_ORT_LIB, libonnxruntime.so* next to libmvt.so), then takes the installed onnxruntime package's
    (`default_ort_library()`); `ort_library` is the one used, once loaded. `device` is "cpu", "cuda" or "auto"; `device_id`, `sessions`, `intra_threads`, `batch_size`, `max_frames`
    and `top_k` are non-negative ints (the library refuses out-of-range ones with MVT_ERR_INVALID_ARGUMENT);
    `threshold` is a float (negative: the model file's). Bad types raise TypeError, negative or oversized numbers
    ValueError, all before the library is called.

    Thread-safe: any number of threads may call predict / predict_json / tokenize / open_dataset at once, and
    close() may be called while they run (see close()).
    """

    def __init__(self, path: PathArg, *, ort_library: Optional[PathArg] = None, device: str = "cpu",
                 device_id: int = 0, sessions: Optional[int] = None, intra_threads: Optional[int] = None,
                 batch_size: Optional[int] = None, max_frames: Optional[int] = None,
                 threshold: Optional[float] = None, top_k: int = 0):
        self._guard = _Guard("model", ctypes.c_void_p(), None)  # no handle until loaded: calls raise ClosedError
        raw_path = _path(path, "path")
        raw_ort = None if ort_library is None or ort_library == "" else _path(ort_library, "ort_library")
        if not isinstance(device, str):
            raise TypeError(f"device must be a str (one of {sorted(DEVICES)}), got {_type_name(device)}")
        if device not in DEVICES:
            raise ValueError(f"device must be one of {sorted(DEVICES)}, got {device!r}")
        sizes = {"sessions": sessions, "intra_threads": intra_threads, "batch_size": batch_size,
                 "max_frames": max_frames, "top_k": top_k}
        checked = {name: _integer(value, name, _SIZE_MAX) for name, value in sizes.items() if value is not None}
        device_id = _integer(device_id, "device_id", _INT32_MAX)
        threshold = None if threshold is None else _real(threshold, "threshold")
        if raw_ort is None:
            default = default_ort_library()
            raw_ort = None if default is None else os.fsencode(default)

        options = _Options()
        _check(_lib.mvt_default_options(ctypes.byref(options), ctypes.sizeof(_Options)))
        options.device, options.device_id, options.ort_library = DEVICES[device], device_id, raw_ort
        for field, value in checked.items():
            setattr(options, field, value)
        if threshold is not None:
            options.threshold = threshold
        handle = ctypes.c_void_p()
        _check(_lib.mvt_load(raw_path, ctypes.byref(options), ctypes.byref(handle)))
        try:
            info = _Info()
            info.struct_size = ctypes.sizeof(_Info)
            _check(_lib.mvt_model_info(handle, ctypes.byref(info)))
            self.num_classes, self.rgb_dim, self.audio_dim = info.num_classes, info.rgb_dim, info.audio_dim
            self.text_max_len, self.threshold, self.sessions = info.text_max_len, info.threshold, info.sessions
            self.empty_audio_frames = info.empty_audio_frames
            self.provider, self.ort_version = info.provider.decode(), info.ort_version.decode()
            self.ort_library = os.fsdecode(info.ort_library)
            self.classes = [_lib.mvt_class_name(handle, k).decode("utf-8") for k in range(self.num_classes)]
        except BaseException:
            _lib.mvt_free(handle)
            raise
        self._guard = _Guard("model", handle, _lib.mvt_free)

    def close(self) -> None:
        """Frees the model. Waits for the calls in flight on other threads (predict, predict_json, tokenize,
        open_dataset) to return, refusing new ones from the moment it is called; afterwards every call raises
        ClosedError. Idempotent; concurrent close() calls all return once the handle is freed. Results, predictions
        and datasets already made stay valid. Must not be called while holding up a call in flight (it would wait
        forever)."""
        self._guard.close()


    def tokenize(self, title: Text) -> list:
        """The ids the model gives a title (str, or bytes handed to the library, which refuses invalid UTF-8 with
        MVT_ERR_INVALID_UTF8)."""
        raw = _text(title, "title", nul_ok=True)
        buffer = ctypes.create_string_buffer(raw, len(raw))
        ids = (ctypes.c_int64 * self.text_max_len)()
        count = ctypes.c_size_t()
        with self._guard.use() as handle:
            _check(_lib.mvt_tokenize(handle, buffer, len(raw), ids, self.text_max_len, ctypes.byref(count)))
        return list(ids[: count.value])

    def _run(self, videos: Sequence):
        """mvt_predict on (rgb, audio, title) triples; returns the result handle (the caller frees it)."""
        keep = []  # arrays and buffers that must outlive the call
        c_videos = (_Video * max(len(videos), 1))()
        float_p = ctypes.POINTER(ctypes.c_float)
        for i, video in enumerate(videos):
            rgb, audio, title = _video_triple(video, i)
            rgb = _features(rgb, self.rgb_dim, f"video {i}: image features")
            audio = _features(audio, self.audio_dim, f"video {i}: audio features")
            raw = _text(title, f"video {i}: title", nul_ok=True)
            buffer = ctypes.create_string_buffer(raw, len(raw)) if raw else None
            keep += [rgb, audio, buffer]
            c_videos[i] = _Video(rgb.ctypes.data_as(float_p), rgb.shape[0], rgb.shape[1],
                                 audio.ctypes.data_as(float_p) if audio.size else None, audio.shape[0], audio.shape[1],
                                 ctypes.cast(buffer, ctypes.c_void_p) if buffer is not None else None, len(raw))
        result = ctypes.c_void_p()
        with self._guard.use() as handle:
            _check(_lib.mvt_predict(handle, c_videos, len(videos), ctypes.byref(result)))
        del keep
        return result

    def predict(self, videos: Iterable) -> list:
        """Tag videos given as (rgb [frames, rgb_dim], audio [segments, audio_dim] or empty, title) tuples.

        Titles are str (or UTF-8 bytes); features real-number arrays. Bad arguments raise TypeError / ValueError
        naming the video's index before the library is called; the library's own checks raise MvtError."""
        result = self._run(_video_list(videos))
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

    def predict_json(self, videos: Iterable, video_ids: Sequence[Text]) -> str:
        """The original inference's output.json text for these videos (the bytes `mvt infer` writes).

        `video_ids` holds one str per video (or UTF-8 bytes: invalid UTF-8 raises MvtError MVT_ERR_INVALID_UTF8,
        as the library would); an id must not contain NUL (ValueError). Everything is checked before the videos are
        predicted."""
        videos = _video_list(videos)
        if isinstance(video_ids, (str, bytes, bytearray)) or video_ids is None:
            raise TypeError(f"video_ids must be a sequence of str, one per video, got {_type_name(video_ids)}")
        try:
            video_ids = list(video_ids)
        except TypeError:
            raise TypeError(
                f"video_ids must be a sequence of str, one per video, got {_type_name(video_ids)}") from None
        if len(video_ids) != len(videos):
            raise ValueError(f"one video id per video: {len(video_ids)} ids for {len(videos)} videos")
        raw_ids = [_text(video_id, f"video_ids[{i}] (video {i})", nul_ok=False) for i, video_id in enumerate(video_ids)]
        for i, raw in enumerate(raw_ids):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as error:
                # mvt_result_json returns NULL without a status: say what the header documents for this case.
                raise InvalidUtf8Error(6, f"video_ids[{i}] (video {i}) is not valid UTF-8 ({error.reason} at byte "
                                  f"{error.start})") from None
        result = self._run(videos)
        try:
            ids = (ctypes.c_char_p * max(len(videos), 1))(*raw_ids)
            text = _lib.mvt_result_json(result, ids)
            if not text:
                _check(14)
            try:
                return ctypes.string_at(text).decode("utf-8")
            finally:
                _lib.mvt_string_free(text)
        finally:
            _lib.mvt_result_free(result)

    def open_dataset(self, data_dir: PathArg, list_file: Union[str, "os.PathLike[str]"] = "val.txt") -> Dataset:
        """Reads the videos of `list_file` (relative to `data_dir`, or absolute) from a dataset in the original
        layout (`class.txt`, the list, `feature_files/<video>.pkl`) with libmvt's safe reader, which never executes
        anything in a feature file. Rows the original skipped are left out and listed in the result's `skipped`.
        Raises MvtError MVT_ERR_DATASET when class.txt or the list cannot be read or features have the wrong width.
        """
        raw_dir = _path(data_dir, "data_dir")
        if not isinstance(list_file, (str, os.PathLike)):
            raise TypeError(f"list_file must be a str or os.PathLike, got {_type_name(list_file)}")
        list_name = os.fspath(list_file)
        if isinstance(list_name, bytes):
            try:
                list_name = list_name.decode("utf-8")
            except UnicodeDecodeError:
                raise ValueError(f"list_file is not valid UTF-8: {list_name!r}") from None
        raw_list = _text(list_name, "list_file", nul_ok=False)
        if not raw_list:
            raise ValueError("list_file is empty")
        dataset = ctypes.c_void_p()
        with self._guard.use() as handle:
            _check(_lib.mvt_dataset_open(handle, raw_dir, raw_list, ctypes.byref(dataset)))
        try:
            return Dataset(dataset, Path(os.fsdecode(raw_dir)), list_name)
        except BaseException:
            _lib.mvt_dataset_free(dataset)
            raise
