"""Writes pickles with real Python + numpy for tests/pickle.rs, each with the expected value as JSON.

usage: make_pickles.py OUT_DIR  ->  OUT_DIR/<case>.pkl and OUT_DIR/<case>.json (one per case), OUT_DIR/cases.txt

Every case is first loaded back by Python itself (numpy 1.x-style and Python 2-style files included), so a case
that Python would not load is a bug here, not a test of the Rust reader. The JSON form tags every value so that
the Rust side can compare exactly: {"t": "array", "dtype": "f4", "shape": [..], "data": [C-order values]}, ...
"""
import json
import os
import pickle
import pickletools
import struct
import sys
import warnings

import numpy as np

OUT = sys.argv[1]
CASES = []


def tagged(v):
    if v is None:
        return {"t": "none"}
    if isinstance(v, (bool, np.bool_)):
        return {"t": "bool", "v": bool(v)}
    if isinstance(v, (int, np.integer)):
        v = int(v)
        if -(2**63) <= v < 2**63:
            return {"t": "int", "v": v}
        return {"t": "bigint", "hex": pickle.encode_long(v).hex()}
    if isinstance(v, (float, np.floating)):
        return {"t": "float", "bits": struct.pack(">d", float(v)).hex()}
    if isinstance(v, str):
        return {"t": "str", "v": v}
    if isinstance(v, (bytes, bytearray)):
        return {"t": "bytes", "hex": bytes(v).hex()}
    if isinstance(v, list):
        return {"t": "list", "v": [tagged(x) for x in v]}
    if isinstance(v, tuple):
        return {"t": "tuple", "v": [tagged(x) for x in v]}
    if isinstance(v, dict):
        return {"t": "dict", "v": [[tagged(k), tagged(x)] for k, x in v.items()]}
    if isinstance(v, np.ndarray):
        code = v.dtype.kind + str(v.dtype.itemsize)
        data = v.flatten(order="C").tolist()
        if v.dtype.kind == "f":  # exact: bit patterns of the values widened to float64
            data = [struct.pack(">d", x).hex() for x in data]
        return {"t": "array", "dtype": code, "shape": list(v.shape), "data": data}
    raise TypeError(type(v))


def same(a, b):
    return json.dumps(tagged(a), sort_keys=True) == json.dumps(tagged(b), sort_keys=True)


def add(name, data, expected, encoding="ASCII"):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # numpy.core is deprecated under numpy 2 but still loads
        back = pickle.loads(data, encoding=encoding)
    assert same(back, expected), name
    with open(os.path.join(OUT, name + ".pkl"), "wb") as f:
        f.write(data)
    with open(os.path.join(OUT, name + ".json"), "w") as f:
        json.dump(tagged(expected), f, ensure_ascii=False)
    CASES.append(name)


def unframed(data):
    """The same pickle without FRAME opcodes (optional in protocols 4 and 5), so bytes may be edited."""
    frames = [pos for op, _, pos in pickletools.genops(data) if op.name == "FRAME"]
    out, last = bytearray(), 0
    for pos in frames:
        out += data[last:pos]
        last = pos + 9
    return bytes(out + data[last:])


def numpy1(data, protocol):
    """Rewrites numpy 2.x module names to numpy 1.x ones (numpy._core -> numpy.core)."""
    if protocol < 4:
        return data.replace(b"numpy._core.", b"numpy.core.")
    data = unframed(data)
    for mod in (b"numpy._core.multiarray", b"numpy._core.numeric"):
        old = bytes([0x8C, len(mod)]) + mod
        new_mod = mod.replace(b"._core.", b".core.")
        data = data.replace(old, bytes([0x8C, len(new_mod)]) + new_mod)
    return data


rng = np.random.default_rng(7)
DTYPES = ["f4", "f8", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "b1"]


def sample(dtype, shape):
    if dtype == "b1":
        return rng.integers(0, 2, size=shape).astype(bool)
    if dtype[0] == "f":
        return (rng.standard_normal(shape) * 100).astype(dtype)
    info = np.iinfo(np.dtype(dtype))
    return rng.integers(info.min, info.max, size=shape, endpoint=True, dtype=np.dtype(dtype))


def feature_file(t1, t2, dtype="f4"):
    return {
        "video": "https://example.com/videos/18e9bf08a2fc7eaa.mp4",
        "feature": {"image_pkl": sample(dtype, (t1, 16)), "audio_pkl": sample(dtype, (t2, 4))},
        "label": [3, 7],
    }


for proto in range(0, 6):
    p = f"p{proto}"
    for dt in DTYPES:
        a = sample(dt, (3, 5))
        add(f"{p}_{dt}", pickle.dumps(a, protocol=proto), a)
        big = a.astype(np.dtype(dt).newbyteorder(">"))
        add(f"{p}_{dt}_big_endian", pickle.dumps(big, protocol=proto), big)
    fortran = np.asfortranarray(sample("f4", (4, 6)))
    add(f"{p}_fortran", pickle.dumps(fortran, protocol=proto), fortran)
    fortran_big = np.asfortranarray(sample("f8", (3, 2, 4))).astype(">f8", order="F")
    add(f"{p}_fortran_big_endian_3d", pickle.dumps(fortran_big, protocol=proto), fortran_big)
    empty = np.zeros((0, 128), np.float32)
    add(f"{p}_empty_0x128", pickle.dumps(empty, protocol=proto), empty)
    empty1 = np.zeros((0,), np.float64)
    add(f"{p}_empty_1d", pickle.dumps(empty1, protocol=proto), empty1)
    scalar0d = np.array(2.5, np.float32)
    add(f"{p}_0d_array", pickle.dumps(scalar0d, protocol=proto), scalar0d)
    for dt in ("f4", "f8"):
        ff = feature_file(59, 60, dt)
        add(f"{p}_feature_file_{dt}", pickle.dumps(ff, protocol=proto), ff)
        add(f"{p}_feature_file_{dt}_numpy1", numpy1(pickle.dumps(ff, protocol=proto), proto), ff)
    ff_empty_audio = {"video": "视频.mp4", "feature": {"image_pkl": sample("f4", (2, 16)),
                      "audio_pkl": np.zeros((0, 4), np.float32)}, "label": []}
    add(f"{p}_feature_file_empty_audio", pickle.dumps(ff_empty_audio, protocol=proto), ff_empty_audio)
    shared = [1, 2]
    plain = {
        "none": None, "t": True, "f": False, "small": 5, "neg": -3, "i16": 40000, "i32": -2**31, "i64": 2**62,
        "big": 2**70, "bigneg": -(2**80) + 1, "float": 0.1, "inf": float("inf"),
        "str": "游戏-射击 title", "long": "x" * 300, "bytes": b"\x00\xff ab", "empty_bytes": b"",
        "tuple0": (), "tuple1": (1,), "tuple2": (1, "a"), "tuple3": (1, 2, 3), "tuple4": (1, 2, 3, 4),
        "nested": [[1, [2, {"k": (3,)}]], []], "shared": [shared, shared], "np_scalars": [np.int64(-4),
        np.uint64(2**64 - 1), np.float32(1.5), np.float64(-0.25), np.bool_(True), np.int8(-7), np.uint16(9)],
        1: "int key",
    }
    add(f"{p}_plain_data", pickle.dumps(plain, protocol=proto), plain)

# Python 2 style protocol 2 (what `pickle.dump(obj, f, 2)` wrote under Python 2 + numpy 1.x): str is BINSTRING /
# SHORT_BINSTRING bytes, read back as latin-1 (the original's encoding='iso-8859-1').
def py2_array(a):
    data = a.tobytes()
    order = "|" if a.dtype.itemsize == 1 else "<"
    code = a.dtype.kind + str(a.dtype.itemsize)
    shape = b"".join(b"K" + bytes([d]) for d in a.shape) + {1: b"\x85", 2: b"\x86", 3: b"\x87"}[a.ndim]
    return (
        b"cnumpy.core.multiarray\n_reconstruct\nq\x01cnumpy\nndarray\nq\x02K\x00\x85U\x01b\x87Rq\x03"
        b"(K\x01" + shape + b"cnumpy\ndtype\nq\x04U" + bytes([len(code)]) + code.encode() + b"K\x00K\x01\x87Rq\x05"
        b"(K\x03U\x01" + order.encode() + b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb\x89T"
        + struct.pack("<i", len(data)) + data + b"tb"
    )


img, aud = sample("f4", (7, 16)), sample("f4", (5, 4))
py2 = (
    b"\x80\x02}q\x00(U\x05videoq\x06U\x0dcaf\xe9 d\xe9j\xe0.mp4U\x07feature}(U\timage_pkl" + py2_array(img)
    + b"U\taudio_pkl" + py2_array(aud) + b"uU\x05label]q\x07(K\x01\x8a\x01\x02eu."
)
add("py2_protocol2_feature_file", py2, {"video": "caf\xe9 d\xe9j\xe0.mp4",
    "feature": {"image_pkl": img, "audio_pkl": aud}, "label": [1, 2]}, encoding="iso-8859-1")
# Python 2 protocol 0 (its default): text opcodes, STRING literals with escapes.
py2_text = b"(dp0\nS'video'\np1\nS'a\\'b\\x00\\n\\xe9\\101'\np2\nsS'n'\np3\nI42\nsS'l'\nL123456789012345678901234567890L\nsS'b'\nI01\ns."
add("py2_protocol0_text", py2_text, {"video": "a'b\x00\n\xe9A", "n": 42,
    "l": 123456789012345678901234567890, "b": True}, encoding="iso-8859-1")



# Pickles that would run code: never loaded here. refused.txt lists "<file>\t<global the reader must name>".
class RunsCommand:
    def __reduce__(self):
        return (os.system, ("echo ran > " + os.path.join(OUT, "marker"),))


class Evaluates:
    def __reduce__(self):
        return (eval, ("open(" + repr(os.path.join(OUT, "marker")) + ", 'w')",))


REFUSED = []
for proto in range(0, 6):
    for name, obj, global_name in (
        ("system", RunsCommand(), f"{os.system.__module__}.system"),
        # protocols 0-2 write Python 2's module name for builtins
        ("eval", Evaluates(), "__builtin__.eval" if proto < 3 else "builtins.eval"),
    ):
        # after a valid array, as one field of an otherwise ordinary feature file
        evil = {"video": "x.mp4", "feature": {"image_pkl": np.ones((2, 3), np.float32), "audio_pkl": obj}}
        file = f"refused_p{proto}_{name}.pkl"
        with open(os.path.join(OUT, file), "wb") as f:
            f.write(pickle.dumps(evil, protocol=proto))
        REFUSED.append(f"{file}\t{global_name}")
with open(os.path.join(OUT, "refused.txt"), "w") as f:
    f.write("\n".join(REFUSED) + "\n")

with open(os.path.join(OUT, "cases.txt"), "w") as f:
    f.write("\n".join(CASES) + "\n")
print(len(CASES), "cases")
