"""The `metadata_props` of an ONNX model file (docs/model-file.md), read without onnx or protobuf: `python -m mvt
info` prints the parts the C ABI does not expose (the model config, the tokenizer's vocabulary, the provenance).

Only ModelProto's top-level fields are walked; the graph (usually nearly the whole file) is skipped with a seek,
never read. Callers load the file with libmvt first (mvt.Model), which checks the digest, the limits and every
metadata value, so this reader only has to be safe, not thorough: any malformed field raises ValueError.
"""
from __future__ import annotations

import os
from typing import BinaryIO, Dict, Union

_METADATA_PROPS = 14  # ModelProto.metadata_props: repeated StringStringEntryProto {1: key, 2: value}
_MAX_ENTRY = 256 << 20  # larger than any metadata entry a model file may hold (the tokenizer is the largest)


def _varint(stream: BinaryIO) -> int:
    value = shift = 0
    while True:
        byte = stream.read(1)
        if not byte:
            raise ValueError("the model file ends inside a field")
        value |= (byte[0] & 0x7F) << shift
        if byte[0] < 0x80:
            return value
        shift += 7
        if shift > 63:
            raise ValueError("a varint of the model file is too long")


def _entry(data: bytes) -> tuple:
    """(key, value) of one StringStringEntryProto."""
    fields = {1: "", 2: ""}
    position = 0
    while position < len(data):
        tag, position = _varint_at(data, position)
        if tag & 7 != 2:
            raise ValueError("a metadata entry has a field that is not a string")
        length, position = _varint_at(data, position)
        if position + length > len(data):
            raise ValueError("a metadata entry is cut short")
        fields[tag >> 3] = data[position:position + length].decode("utf-8")
        position += length
    return fields[1], fields[2]


def _varint_at(data: bytes, position: int) -> tuple:
    value = shift = 0
    while True:
        if position >= len(data) or shift > 63:
            raise ValueError("a malformed varint in a metadata entry")
        byte = data[position]
        position += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, position
        shift += 7


def metadata_props(path: Union[str, bytes, "os.PathLike[str]", "os.PathLike[bytes]"]) -> Dict[str, str]:
    """The model file's metadata_props as {key: value}; ValueError for a file this reader cannot walk."""
    props: Dict[str, str] = {}
    with open(path, "rb") as stream:
        size = os.fstat(stream.fileno()).st_size
        while stream.tell() < size:
            tag = _varint(stream)
            field, wire = tag >> 3, tag & 7
            if wire == 0:
                _varint(stream)
            elif wire == 1:
                stream.seek(8, os.SEEK_CUR)
            elif wire == 5:
                stream.seek(4, os.SEEK_CUR)
            elif wire == 2:
                length = _varint(stream)
                if stream.tell() + length > size:
                    raise ValueError(f"field {field} of the model file runs past its end")
                if field == _METADATA_PROPS:
                    if length > _MAX_ENTRY:
                        raise ValueError("a metadata entry of the model file is too large")
                    key, value = _entry(stream.read(length))
                    props[key] = value
                else:
                    stream.seek(length, os.SEEK_CUR)
            else:
                raise ValueError(f"field {field} of the model file has the unsupported wire type {wire}")
    return props
