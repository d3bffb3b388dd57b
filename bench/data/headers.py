"""Image headers read without decoding pixels: TIFF (the Kalantari family's LDR frames) and Radiance RGBE ``.hdr``.

Validation of a data set reads these, so scanning the 15 Kalantari test scenes (45 tifs of 9 MB)
costs milliseconds. A file cut short (an interrupted copy) is caught here too: a TIFF whose last
strip or tile ends past the end of the file, or whose directory is not inside it; a Radiance file
without its resolution line. Anything else wrong with the pixels shows when they are decoded.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass

TIFF_WIDTH, TIFF_HEIGHT, TIFF_BITS, TIFF_SAMPLES = 256, 257, 258, 277
TIFF_STRIP_OFFSETS, TIFF_STRIP_BYTES, TIFF_TILE_OFFSETS, TIFF_TILE_BYTES = 273, 279, 324, 325
TIFF_TYPE_SIZE = {1: 1, 3: 2, 4: 4, 16: 8}  # BYTE, SHORT, LONG, LONG8: the integer types these tags use
TIFF_TYPE_CODE = {1: "B", 3: "H", 4: "I", 16: "Q"}
RADIANCE_MAGIC = (b"#?RADIANCE", b"#?RGBE")
RADIANCE_FORMAT = b"FORMAT=32-bit_rle_rgbe"


@dataclass(frozen=True)
class ImageHeader:
    """What a header says: size, bits per sample, samples (channels) per pixel."""

    width: int
    height: int
    bits: int
    channels: int

    @property
    def size(self) -> tuple[int, int]:
        return self.width, self.height


def tiff_header(path: str | os.PathLike) -> ImageHeader:
    """The first image directory of a TIFF; ValueError when it is not a whole TIFF file.

    Reads the 8-byte header, the directory and the values it points to (a few hundred bytes), not
    the pixels: the file's length is enough to tell whether the pixel data is all there.
    """
    with open(path, "rb") as fh:
        length = os.fstat(fh.fileno()).st_size

        def read_at(offset: int, n: int, what: str) -> bytes:
            if offset + n > length:
                raise ValueError(f"truncated TIFF ({what} lies past the end of the file)")
            fh.seek(offset)
            return fh.read(n)

        head = fh.read(8)
        if len(head) < 8 or head[:4] not in (b"II*\x00", b"MM\x00*"):
            if head[:4] in (b"II+\x00", b"MM\x00+"):
                raise ValueError("BigTIFF is not supported (save it as a classic TIFF)")
            raise ValueError("not a TIFF file")
        order = "<" if head[:2] == b"II" else ">"
        (ifd,) = struct.unpack_from(order + "I", head, 4)
        (count,) = struct.unpack(order + "H", read_at(ifd, 2, "its image directory"))
        entries = read_at(ifd + 2, 12 * count, "its image directory")
        tags: dict[int, list[int]] = {}
        for n in range(count):
            tag, kind, number, inline = struct.unpack_from(order + "HHI4s", entries, 12 * n)
            if kind not in TIFF_TYPE_SIZE:
                continue  # rationals, strings, ...: not tags read here
            nbytes = TIFF_TYPE_SIZE[kind] * number
            if nbytes <= 4:
                raw = inline[:nbytes]
            else:
                (offset,) = struct.unpack(order + "I", inline)
                raw = read_at(offset, nbytes, f"tag {tag}'s values")
            tags[tag] = list(struct.unpack(order + TIFF_TYPE_CODE[kind] * number, raw))
    if TIFF_WIDTH not in tags or TIFF_HEIGHT not in tags:
        raise ValueError("TIFF without image width or height")
    offsets = tags.get(TIFF_STRIP_OFFSETS, tags.get(TIFF_TILE_OFFSETS, []))
    sizes = tags.get(TIFF_STRIP_BYTES, tags.get(TIFF_TILE_BYTES, []))
    if offsets and sizes and max(o + s for o, s in zip(offsets, sizes, strict=False)) > length:
        raise ValueError("truncated TIFF (its pixel data ends past the end of the file)")
    bits = set(tags.get(TIFF_BITS, [1]))
    return ImageHeader(
        width=tags[TIFF_WIDTH][0],
        height=tags[TIFF_HEIGHT][0],
        bits=bits.pop() if len(bits) == 1 else -1,  # mixed depths per channel: reported as unsupported
        channels=tags.get(TIFF_SAMPLES, [1])[0],
    )


def radiance_header(path: str | os.PathLike) -> ImageHeader:
    """Size of a Radiance RGBE ``.hdr`` (magic line, ``FORMAT=``, blank line, ``-Y H +X W``); ValueError otherwise."""
    with open(path, "rb") as fh:
        head = fh.read(4096)  # the text header of these files is a few lines
    lines = head.split(b"\n")
    if not lines or lines[0].strip() not in RADIANCE_MAGIC:
        raise ValueError("not a Radiance .hdr file (no #?RADIANCE line)")
    try:
        blank = lines.index(b"", 1)
        resolution = lines[blank + 1].split()
    except (ValueError, IndexError):
        raise ValueError("truncated Radiance .hdr (no resolution line)") from None
    formats = [line for line in lines[1:blank] if line.startswith(b"FORMAT=")]
    if formats and formats[0].strip() != RADIANCE_FORMAT:
        raise ValueError(f"Radiance .hdr in {formats[0].decode(errors='replace')}, not 32-bit_rle_rgbe")
    if len(resolution) != 4 or resolution[0] not in (b"-Y", b"+Y") or resolution[2] not in (b"+X", b"-X"):
        raise ValueError("Radiance .hdr with an unsupported resolution line (expected -Y H +X W)")
    try:
        height, width = int(resolution[1]), int(resolution[3])
    except ValueError:
        raise ValueError("Radiance .hdr with a resolution line that is not two numbers") from None
    if len(head) < 4096 and len(head) - (sum(len(x) + 1 for x in lines[: blank + 2])) < 4:
        raise ValueError("truncated Radiance .hdr (no pixel data)")
    return ImageHeader(width=width, height=height, bits=32, channels=3)
