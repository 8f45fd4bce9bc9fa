#!/usr/bin/python3
"""Recompute every CRC-32 of a bsnn model or checkpoint file in place.

A crash the fuzzers find (their build ignores CRCs) must reach the parser in
a normal build too before it goes into tests/fuzz/corpus/: run this on it.
Layout (docs/format.md): a 16-byte header and its CRC, then sections of tag
(4), flags (4), length (8, little-endian), payload, CRC over tag..payload.
A section whose length runs past the end is left as it is, and so is the rest.
"""
import struct
import sys
import zlib


def fix(data):
    out = bytearray(data)
    if len(out) < 20:
        return out
    out[16:20] = struct.pack("<I", zlib.crc32(bytes(out[:16])))
    pos = 20
    while pos + 20 <= len(out):
        (length,) = struct.unpack_from("<Q", out, pos + 8)
        end = pos + 16 + length
        if end + 4 > len(out):
            break
        out[end:end + 4] = struct.pack("<I", zlib.crc32(bytes(out[pos:end])))
        pos = end + 4
    return out


for path in sys.argv[1:]:
    with open(path, "rb") as f:
        data = f.read()
    with open(path, "wb") as f:
        f.write(fix(data))
