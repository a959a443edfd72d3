"""What a byte string really is: magic bytes and pixel size of PNG, JPEG, GIF, WebP and MP4.

Upstreams sometimes answer 200 with a JSON error or an HTML page; nothing is sent to Telegram
before :func:`sniff` recognised the bytes. The pixel size decides whether an image may go as a
photo (Telegram: at most 10 MB, width + height at most 10,000, aspect ratio at most 20).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

PHOTO_MAX_BYTES = 10 * 1024 * 1024
PHOTO_MAX_SIDES = 10_000
PHOTO_MAX_RATIO = 20
UPLOAD_MAX_BYTES = 50 * 1024 * 1024  # any file a bot may upload


@dataclass(frozen=True, slots=True)
class MediaInfo:
    content_type: str  # image/png, image/jpeg, image/gif, image/webp, video/mp4
    extension: str
    width: int | None = None
    height: int | None = None


def sniff(data: bytes) -> MediaInfo | None:
    """Recognise an image or video by its first bytes; None if it is neither."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return MediaInfo("image/png", "png", *_png_size(data))
    if data.startswith(b"\xff\xd8\xff"):
        return MediaInfo("image/jpeg", "jpg", *_jpeg_size(data))
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return MediaInfo("image/gif", "gif", *_gif_size(data))
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return MediaInfo("image/webp", "webp", *_webp_size(data))
    if data[4:8] == b"ftyp":
        return MediaInfo("video/mp4", "mp4")
    return None


def fits_photo(size: int, info: MediaInfo) -> bool:
    """May these bytes be sent with sendPhoto (rather than as a document)?"""
    if size > PHOTO_MAX_BYTES or info.content_type not in ("image/png", "image/jpeg", "image/webp"):
        return False
    if info.width is None or info.height is None:
        return True
    if info.width <= 0 or info.height <= 0:
        return False
    if info.width + info.height > PHOTO_MAX_SIDES:
        return False
    return max(info.width, info.height) / min(info.width, info.height) <= PHOTO_MAX_RATIO


_Size = tuple[int | None, int | None]


def _png_size(data: bytes) -> _Size:
    if len(data) >= 24 and data[12:16] == b"IHDR":
        width, height = struct.unpack(">II", data[16:24])
        return width, height
    return None, None


def _gif_size(data: bytes) -> _Size:
    if len(data) >= 10:
        width, height = struct.unpack("<HH", data[6:10])
        return width, height
    return None, None


# Start-of-frame markers carry the size (all SOFn except DHT, JPG and DAC).
_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _jpeg_size(data: bytes) -> _Size:
    i = 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            return None, None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # no length field
            i += 2
            continue
        (length,) = struct.unpack(">H", data[i + 2 : i + 4])
        if marker in _SOF:
            if i + 9 > len(data):
                return None, None
            height, width = struct.unpack(">HH", data[i + 5 : i + 9])
            return width, height
        i += 2 + length
    return None, None


def _webp_size(data: bytes) -> _Size:
    chunk = data[12:16]
    if chunk == b"VP8X" and len(data) >= 30:
        width = 1 + int.from_bytes(data[24:27], "little")
        height = 1 + int.from_bytes(data[27:30], "little")
        return width, height
    if chunk == b"VP8 " and len(data) >= 30:
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L" and len(data) >= 25:
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    return None, None
