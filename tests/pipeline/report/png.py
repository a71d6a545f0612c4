"""A small PNG reader for the browser test: 8-bit RGB/RGBA, not interlaced (what Chromium writes).

zlib inflates, numpy undoes the row filters (Sub and Up at once, Average and Paeth pixel by
pixel), so no imaging library is needed to look at a screenshot.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np

SIGNATURE = b"\x89PNG\r\n\x1a\n"
CHANNELS = {2: 3, 6: 4}  # colour type -> samples per pixel


def read_png(path: Path) -> np.ndarray:
    """The pixels of a PNG file as ``(height, width, channels)`` uint8."""
    data = path.read_bytes()
    if not data.startswith(SIGNATURE):
        raise ValueError(f"{path} is not a PNG file")
    pos, chunks, header = len(SIGNATURE), [], b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            chunks.append(body)
        elif kind == b"IEND":
            break
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    if depth != 8 or colour not in CHANNELS or interlace:
        raise ValueError(f"unsupported PNG: depth {depth}, colour type {colour}, {interlace=}")
    bpp = CHANNELS[colour]
    stride = width * bpp
    raw = np.frombuffer(zlib.decompress(b"".join(chunks)), dtype=np.uint8)
    rows = raw.reshape(height, stride + 1)
    out = np.zeros((height, stride), dtype=np.uint8)
    prior = np.zeros(stride, dtype=np.int32)
    for y in range(height):
        kind, line = rows[y, 0], rows[y, 1:].astype(np.int32)
        if kind == 0:
            recon = line
        elif kind == 1:  # Sub: a running sum per channel
            recon = np.cumsum(line.reshape(width, bpp), axis=0).reshape(stride)
        elif kind == 2:  # Up
            recon = line + prior
        else:
            recon = _sequential(line, prior, bpp, kind)
        out[y] = recon & 0xFF
        prior = out[y].astype(np.int32)
    return out.reshape(height, width, bpp)


def _sequential(line: np.ndarray, prior: np.ndarray, bpp: int, kind: int) -> np.ndarray:
    """Average (3) and Paeth (4): each byte depends on the one to its left."""
    recon = [0] * len(line)
    up = prior.tolist()
    filt = line.tolist()
    for i, value in enumerate(filt):
        left = recon[i - bpp] if i >= bpp else 0
        if kind == 3:
            recon[i] = (value + ((left + up[i]) >> 1)) & 0xFF
            continue
        corner = up[i - bpp] if i >= bpp else 0
        p = left + up[i] - corner
        pa, pb, pc = abs(p - left), abs(p - up[i]), abs(p - corner)
        pred = left if pa <= pb and pa <= pc else (up[i] if pb <= pc else corner)
        recon[i] = (value + pred) & 0xFF
    return np.asarray(recon, dtype=np.int32)
