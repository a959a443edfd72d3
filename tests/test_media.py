import struct

from bot.services.media import PHOTO_MAX_BYTES, MediaInfo, fits_photo, sniff
from tests.media_samples import gif, jpeg_header, mp4, png


def test_sniff_recognises_formats_and_sizes():
    assert sniff(png(640, 480)) == MediaInfo("image/png", "png", 640, 480)
    assert sniff(gif(32, 16)) == MediaInfo("image/gif", "gif", 32, 16)
    assert sniff(jpeg_header(1024, 768)) == MediaInfo("image/jpeg", "jpg", 1024, 768)
    assert sniff(mp4()).content_type == "video/mp4"


def test_sniff_webp_variants():
    vp8x = b"RIFF\x00\x00\x00\x00WEBPVP8X" + b"\x00" * 8 + (99).to_bytes(3, "little")
    vp8x += (49).to_bytes(3, "little")
    assert sniff(vp8x) == MediaInfo("image/webp", "webp", 100, 50)
    vp8l = b"RIFF\x00\x00\x00\x00WEBPVP8L" + b"\x00" * 4 + b"\x2f"
    vp8l += ((63) | (31 << 14)).to_bytes(4, "little")
    assert sniff(vp8l) == MediaInfo("image/webp", "webp", 64, 32)
    vp8 = b"RIFF\x00\x00\x00\x00WEBPVP8 " + b"\x00" * 10 + struct.pack("<HH", 300, 200)
    assert sniff(vp8) == MediaInfo("image/webp", "webp", 300, 200)


def test_sniff_refuses_what_is_not_media():
    assert sniff(b"") is None
    assert sniff(b'{"error": "invalid token"}') is None
    assert sniff(b"<!DOCTYPE html><html><body>502 Bad Gateway</body></html>") is None
    assert sniff(b"\x89PNX") is None


def test_truncated_headers_have_no_size():
    assert sniff(b"\x89PNG\r\n\x1a\n") == MediaInfo("image/png", "png", None, None)
    assert sniff(b"\xff\xd8\xff\xe0\x00") == MediaInfo("image/jpeg", "jpg", None, None)
    assert sniff(b"GIF89a\x01") == MediaInfo("image/gif", "gif", None, None)


def test_photo_limits():
    info = sniff(png(1024, 1024))
    assert fits_photo(1000, info)
    assert not fits_photo(PHOTO_MAX_BYTES + 1, info)
    assert not fits_photo(1000, MediaInfo("image/png", "png", 6000, 5000))  # w + h > 10,000
    assert fits_photo(1000, MediaInfo("image/png", "png", 5000, 5000))
    assert not fits_photo(1000, MediaInfo("image/png", "png", 2100, 100))  # ratio > 20
    assert not fits_photo(1000, MediaInfo("image/png", "png", 0, 100))
    assert fits_photo(1000, MediaInfo("image/jpeg", "jpg", None, None))
    assert not fits_photo(1000, sniff(gif()))  # a GIF as a photo loses its animation
