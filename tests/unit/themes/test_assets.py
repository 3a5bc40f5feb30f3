"""themes.assets (raster): sniffing, limits before decoding, clean re-encoding, favicons."""

from __future__ import annotations

import hashlib
import io
import struct
import zlib
from typing import Any

import pytest
from PIL import Image, ImageCms, PngImagePlugin

from themes.assets import FAVICON_SIZES, LIMITS, Asset, favicons_from, process_image
from whitelabel.errors import ValidationFailed

SCRIPT = b"<script>alert(document.cookie)</script>"


def encode(image: Image.Image, fmt: str, **options: Any) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def picture(mode: str = "RGB", size: tuple[int, int] = (40, 20)) -> Image.Image:
    """A two-colour image, so re-encoding has something to keep."""
    image = Image.new(mode, size, "navy" if mode in ("RGB", "RGBA", "CMYK") else 40)
    image.paste("orange" if mode in ("RGB", "RGBA", "CMYK") else 200, (0, 0, size[0] // 2, size[1]))
    return image


def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_declaring(width: int, height: int, idat: bytes = b"") -> bytes:
    """A PNG whose header declares a size, with whatever pixel data (a bomb needs little)."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(idat))
        + chunk(b"IEND", b"")
    )


def refused(data: bytes, purpose: str = "logo") -> ValidationFailed:
    with pytest.raises(ValidationFailed) as caught:
        process_image(data, purpose=purpose)
    assert caught.value.status_code == 422
    return caught.value


def reopen(asset: Asset) -> Image.Image:
    image = Image.open(io.BytesIO(asset.data))
    image.load()
    return image


# --- accepted formats -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "content_type", "ext", "fmt"),
    [
        (encode(picture(), "PNG"), "image/png", "png", "PNG"),
        (encode(picture("RGBA"), "PNG"), "image/png", "png", "PNG"),
        (encode(picture(), "JPEG"), "image/jpeg", "jpg", "JPEG"),
        (encode(picture(), "WEBP"), "image/webp", "webp", "WEBP"),
        (encode(picture("RGBA"), "WEBP", lossless=True), "image/webp", "webp", "WEBP"),
    ],
)
@pytest.mark.parametrize("purpose", ["logo", "favicon"])
def test_supported_formats_are_reencoded_in_kind(
    data: bytes, content_type: str, ext: str, fmt: str, purpose: str
) -> None:
    asset = process_image(data, purpose=purpose)
    assert (asset.content_type, asset.ext, asset.width, asset.height) == (content_type, ext, 40, 20)
    assert asset.sha256 == hashlib.sha256(asset.data).hexdigest()
    image = reopen(asset)
    assert (image.format, image.size) == (fmt, (40, 20))
    left, right = image.convert("RGB").getpixel((5, 10)), image.convert("RGB").getpixel((35, 10))
    assert isinstance(left, tuple) and isinstance(right, tuple)
    assert left[0] > 200 and right[2] > 100  # orange on the left, navy on the right


def test_processing_is_deterministic() -> None:
    data = encode(picture(), "PNG")
    assert process_image(data, purpose="logo") == process_image(data, purpose="logo")


def test_lossless_webp_stays_lossless() -> None:
    image = picture("RGBA")
    asset = process_image(encode(image, "WEBP", lossless=True), purpose="logo")
    assert b"VP8L" in asset.data[12:64]
    assert reopen(asset).convert("RGBA").tobytes() == image.tobytes()


@pytest.mark.parametrize(
    ("image", "mode"),
    [
        (picture("L"), "RGB"),
        (picture("1"), "RGB"),
        (picture("I;16"), "RGB"),
        (picture("LA"), "RGBA"),
        (picture("RGB").convert("P"), "RGB"),
        (picture("RGBA").convert("P"), "RGBA"),
    ],
)
def test_png_modes_are_normalised(image: Image.Image, mode: str) -> None:
    asset = process_image(encode(image, "PNG"), purpose="logo")
    assert reopen(asset).mode == mode


def test_palette_transparency_is_kept() -> None:
    image = picture().convert("P")
    data = encode(image, "PNG", transparency=image.getpixel((0, 0)))
    out = reopen(process_image(data, purpose="logo"))
    assert out.mode == "RGBA"
    assert out.getpixel((0, 0))[3] == 0  # type: ignore[index]
    assert out.getpixel((39, 0))[3] == 255  # type: ignore[index]


def test_cmyk_jpeg_becomes_rgb() -> None:
    asset = process_image(encode(picture("CMYK"), "JPEG"), purpose="logo")
    assert reopen(asset).mode == "RGB"


# --- metadata and polyglots -------------------------------------------------------------------


def test_jpeg_exif_gps_is_removed_and_orientation_applied() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90° clockwise to display
    exif[0x010F] = "Camera maker <script>"
    exif[0x8825] = {1: "N", 2: (48.0, 51.0, 24.0), 3: "E", 4: (2.0, 21.0, 7.0)}
    data = encode(picture(), "JPEG", exif=exif.tobytes())
    assert Image.open(io.BytesIO(data)).getexif().get_ifd(0x8825)  # the GPS is really there
    asset = process_image(data, purpose="logo")
    image = reopen(asset)
    assert not image.getexif()
    assert "exif" not in image.info
    assert b"Exif" not in asset.data and b"Camera maker" not in asset.data
    assert (asset.width, asset.height) == (20, 40)  # rotated upright


def test_icc_profiles_are_converted_and_dropped() -> None:
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    for fmt in ("JPEG", "PNG", "WEBP"):
        data = encode(picture(), fmt, icc_profile=profile)
        assert Image.open(io.BytesIO(data)).info.get("icc_profile")
        asset = process_image(data, purpose="logo")
        assert "icc_profile" not in reopen(asset).info
        assert b"ICC_PROFILE" not in asset.data and b"iCCP" not in asset.data


def test_a_broken_icc_profile_is_ignored_not_fatal() -> None:
    asset = process_image(encode(picture(), "PNG", icc_profile=b"not a profile"), purpose="logo")
    assert b"iCCP" not in asset.data
    assert reopen(asset).size == (40, 20)


def test_png_text_chunks_and_xmp_are_removed() -> None:
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", SCRIPT.decode())
    info.add_text("XML:com.adobe.xmp", "<x:xmpmeta>secret</x:xmpmeta>", zip=True)
    info.add_itxt("Description", "iTXt <b>here</b>", lang="en")
    asset = process_image(encode(picture(), "PNG", pnginfo=info), purpose="logo")
    for marker in (b"tEXt", b"zTXt", b"iTXt", b"script", b"xmpmeta"):
        assert marker not in asset.data


def test_webp_exif_and_xmp_are_removed() -> None:
    exif = Image.Exif()
    exif[0x8825] = {1: "N", 2: (48.0, 51.0, 24.0)}
    data = encode(picture(), "WEBP", exif=exif.tobytes(), xmp=b"<x:xmpmeta>secret</x:xmpmeta>")
    asset = process_image(data, purpose="logo")
    assert b"EXIF" not in asset.data and b"XMP " not in asset.data and b"secret" not in asset.data


def test_jpeg_comment_is_removed() -> None:
    asset = process_image(encode(picture(), "JPEG", comment=SCRIPT), purpose="logo")
    assert b"script" not in asset.data


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_polyglot_with_html_after_the_image_comes_out_clean(fmt: str) -> None:
    # The classic: a valid image with an HTML/JS payload appended (served as HTML, it would run).
    data = encode(picture(), fmt) + b"<html><body>" + SCRIPT + b"</body></html>"
    asset = process_image(data, purpose="logo")
    assert b"<html" not in asset.data and b"script" not in asset.data
    assert reopen(asset).size == (40, 20)


def test_a_png_named_file_holding_html_is_refused() -> None:
    # There is no name to trust: the content says HTML.
    for page in (b"<!DOCTYPE html><html>" + SCRIPT, b"  <HTML><body>" + SCRIPT + b"</body>"):
        error = refused(page)
        assert error.code == "unsupported_image"
        assert "HTML" in error.message


def test_a_png_named_file_holding_svg_comes_out_as_checked_svg() -> None:
    svg = b'<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"><rect/></svg>'
    asset = process_image(svg, purpose="logo")
    assert (asset.content_type, asset.ext) == ("image/svg+xml", "svg")


@pytest.mark.parametrize(
    "data",
    [
        b"\x89PNG\r\n\x1a\n" + SCRIPT,
        b"\x89PNG\r\n\x1a\n",
        b"\xff\xd8\xff" + SCRIPT,
        b"\xff\xd8\xff",
        b"RIFF\x00\x00\x00\x00WEBP" + SCRIPT,
        b"RIFF\x00\x00\x00\x00WEBPVP8 " + b"\x00" * 20,
        b"RIFF\x00\x00\x00\x00WEBPVP8X" + b"\x00" * 5,
    ],
)
def test_magic_bytes_followed_by_junk_are_invalid(data: bytes) -> None:
    assert refused(data).code == "invalid_image"


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_truncated_images_are_invalid(fmt: str) -> None:
    noisy = Image.effect_noise((200, 200), 64).convert("RGB")
    data = encode(noisy, fmt)
    assert refused(data[: len(data) // 2]).code == "invalid_image"


def test_zero_sized_png_is_invalid() -> None:
    assert refused(png_declaring(0, 0)).code == "invalid_image"


# --- refused formats --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "named"),
    [
        (encode(picture(), "GIF"), "GIF"),
        (encode(picture(), "BMP"), "BMP"),
        (encode(picture(), "TIFF"), "TIFF"),
        (encode(picture(), "ICO"), "ICO"),
        (b"%PDF-1.7\n" + SCRIPT, "PDF"),
    ],
)
def test_other_formats_are_unsupported(data: bytes, named: str) -> None:
    error = refused(data)
    assert error.code == "unsupported_image"
    assert named in error.message


@pytest.mark.parametrize(
    "data", [b"hello", b"\x00" * 100, SCRIPT[1:], b"GIF8", b"PK\x03\x04zip", b"\xef\xbb\xbf"]
)
def test_unknown_content_is_unsupported(data: bytes) -> None:
    assert refused(data).code == "unsupported_image"


def test_empty_upload_is_invalid() -> None:
    assert refused(b"").code == "invalid_image"


@pytest.mark.parametrize("fmt", ["PNG", "WEBP"])
def test_animated_images_are_refused(fmt: str) -> None:
    frames = [picture(), picture().transpose(Image.Transpose.FLIP_LEFT_RIGHT)]
    data = encode(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100)
    assert getattr(Image.open(io.BytesIO(data)), "n_frames", 1) == 2
    error = refused(data)
    assert error.code == "unsupported_image"
    assert "animated" in error.message


def test_unknown_purpose_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="purpose"):
        process_image(encode(picture(), "PNG"), purpose="banner")


# --- limits -----------------------------------------------------------------------------------


@pytest.mark.parametrize("purpose", ["logo", "favicon"])
def test_byte_limit_is_checked_first(purpose: str) -> None:
    limit = LIMITS[purpose].max_bytes
    error = refused(b"\x89PNG\r\n\x1a\n" + b"\x00" * limit, purpose)  # junk: never looked at
    assert error.code == "image_too_large"
    assert error.detail == {"size": limit + 8, "max_bytes": limit}


def test_byte_limits() -> None:
    assert (LIMITS["logo"].max_bytes, LIMITS["favicon"].max_bytes) == (2 * 1024 * 1024, 512 * 1024)


def test_an_oversized_real_image_is_refused() -> None:
    noisy = Image.effect_noise((1100, 1100), 100).convert("RGB")
    data = encode(noisy, "PNG")
    assert len(data) > LIMITS["logo"].max_bytes
    assert refused(data).code == "image_too_large"


@pytest.mark.parametrize(
    ("width", "height", "purpose"),
    [
        (100_000, 100_000, "logo"),
        (2**31 - 1, 2**31 - 1, "logo"),
        (4097, 1, "logo"),
        (1, 4097, "logo"),
        (1025, 1, "favicon"),
        (1024, 1025, "favicon"),
    ],
)
def test_dimensions_are_checked_from_the_header_before_decoding(
    width: int, height: int, purpose: str
) -> None:
    # The pixel data is empty: had it been decoded first, the error would be invalid_image.
    error = refused(png_declaring(width, height), purpose)
    assert error.code == "image_too_many_pixels"
    assert error.detail["width"] == width and error.detail["height"] == height


def test_within_limits_the_same_header_goes_on_to_decoding() -> None:
    assert refused(png_declaring(4096, 4096)).code == "invalid_image"
    assert refused(png_declaring(1024, 1024), "favicon").code == "invalid_image"


def test_a_real_decompression_bomb_is_refused() -> None:
    # 20000 x 20000 RGB = 1.2 GB of pixels, compressed to about a megabyte of zeros.
    width = height = 20_000
    row = b"\x00" + b"\x00" * (width * 3)
    compressor = zlib.compressobj(9)
    idat = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    bomb = (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )
    assert len(bomb) < LIMITS["logo"].max_bytes
    assert refused(bomb).code == "image_too_many_pixels"


@pytest.mark.parametrize(
    "header",
    [
        # VP8X (extended) canvas 16384 x 16384: Pillow's decoder would allocate it at open.
        b"VP8X" + struct.pack("<I", 10) + b"\x00\x00\x00\x00" + (16383).to_bytes(3, "little") * 2,
        # VP8L (lossless) 16384 x 16384.
        b"VP8L" + struct.pack("<I", 5) + b"\x2f" + struct.pack("<I", 16383 | (16383 << 14)),
        # VP8 (lossy) 16383 x 16383.
        b"VP8 "
        + struct.pack("<I", 10)
        + b"\x00\x00\x00\x9d\x01\x2a"
        + struct.pack("<HH", 16383, 16383),
    ],
)
def test_webp_bombs_are_refused_from_the_riff_header(header: bytes) -> None:
    body = b"WEBP" + header + b"\x00" * 64
    data = b"RIFF" + struct.pack("<I", len(body)) + body
    assert refused(data).code == "image_too_many_pixels"


def test_pillows_own_pixel_guard_is_honoured_when_lower(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 400)
    assert process_image(encode(picture(size=(20, 20)), "PNG"), purpose="logo").width == 20
    assert refused(encode(picture(size=(21, 20)), "PNG")).code == "image_too_many_pixels"


# --- favicons ---------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_favicons_from_a_raster_logo(fmt: str) -> None:
    logo = process_image(encode(picture(size=(300, 100)), fmt), purpose="logo")
    icons = favicons_from(logo)
    assert [(i.width, i.height) for i in icons] == [(s, s) for s in FAVICON_SIZES]
    for icon in icons:
        assert (icon.content_type, icon.ext) == ("image/png", "png")
        assert icon.sha256 == hashlib.sha256(icon.data).hexdigest()
        image = reopen(icon)
        assert (image.format, image.mode, image.size) == ("PNG", "RGBA", (icon.width,) * 2)
        assert image.getpixel((icon.width // 2, 0))[3] == 0  # type: ignore[index]  # padding
        middle = image.getpixel((icon.width // 2, icon.width // 2))
        assert middle[3] == 255  # type: ignore[index]  # the logo


def test_favicons_from_an_svg_logo_is_the_svg() -> None:
    svg = b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 8 8"><circle r="4"/></svg>'
    logo = process_image(svg, purpose="logo")
    assert favicons_from(logo) == [logo]


def test_favicons_from_refuses_foreign_assets() -> None:
    with pytest.raises(ValueError, match="processed"):
        favicons_from(Asset("0" * 64, "text/html", "html", b"<html>", 1, 1))
