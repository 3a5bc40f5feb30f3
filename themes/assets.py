"""Uploaded logos and favicons: sniffed by content, bounded, decoded and re-encoded clean.

What an upload claims to be (its name, its declared type) is never read: the first bytes decide.
PNG, JPEG and WebP are decoded with Pillow (only by the one plugin the magic bytes name) after
their header's dimensions have been checked against explicit limits (decompression bombs), then
re-encoded from the pixels alone, so nothing else in the file survives: no EXIF (GPS), ICC, XMP,
text chunks, comments, or bytes appended after the image (polyglots). Animated images are refused
(a logo that silently loses its animation would surprise its owner; refusing says so). SVG goes
through :mod:`themes._svg` (allow-list, refusal, re-serialised). GIF and every other format are
refused with ``unsupported_image``.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from typing import Final

from PIL import Image, ImageCms, ImageOps, JpegImagePlugin, PngImagePlugin, WebPImagePlugin
from PIL.ImageFile import ImageFile

from themes._svg import clean_svg
from whitelabel.errors import ValidationFailed

__all__ = ["FAVICON_SIZES", "LIMITS", "Asset", "Limits", "favicons_from", "process_image"]


@dataclass(frozen=True, slots=True)
class Asset:
    """A processed, safe-to-serve image (the bytes are ours, never the uploaded ones)."""

    sha256: str
    """Hex SHA-256 of ``data``: the asset's identity and its immutable URL."""
    content_type: str
    ext: str
    data: bytes
    width: int
    height: int
    """Pixels for raster images; the declared size for SVG (0 when it states none)."""


@dataclass(frozen=True, slots=True)
class Limits:
    """Upload limits for one purpose."""

    max_bytes: int
    max_side: int
    """Largest width or height, in pixels."""
    max_pixels: int
    """Largest width * height, checked from the header before any decoding."""


#: Limits by purpose.
LIMITS: Final = {
    "logo": Limits(max_bytes=2 * 1024 * 1024, max_side=4096, max_pixels=4096 * 4096),
    "favicon": Limits(max_bytes=512 * 1024, max_side=1024, max_pixels=1024 * 1024),
}
#: Square PNG sizes generated from a raster logo: browser tab, Apple touch icon, PWA icon.
FAVICON_SIZES: Final = (32, 180, 512)

_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_FORMATS: Final = {
    # sniffed kind: (Pillow plugin class, content type, extension)
    "png": (PngImagePlugin.PngImageFile, "image/png", "png"),
    "jpeg": (JpegImagePlugin.JpegImageFile, "image/jpeg", "jpg"),
    "webp": (WebPImagePlugin.WebPImageFile, "image/webp", "webp"),
}
_REFUSED_KINDS: Final = {
    b"GIF87a": "GIF",
    b"GIF89a": "GIF",
    b"BM": "BMP",
    b"II*\x00": "TIFF",
    b"MM\x00*": "TIFF",
    b"\x00\x00\x01\x00": "ICO",
    b"%PDF": "PDF",
}
_SUPPORTED: Final = "upload a PNG, JPEG, WebP or SVG image"


def _sniff(data: bytes) -> str | None:
    if data.startswith(_PNG_MAGIC):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    markup = data.removeprefix(b"\xef\xbb\xbf").lstrip(b" \t\r\n")[:64].lower()
    if markup.startswith((b"<!doctype html", b"<html")):
        return "html"
    if markup.startswith(b"<"):
        return "svg"
    return None


def _asset(data: bytes, content_type: str, ext: str, width: int, height: int) -> Asset:
    return Asset(hashlib.sha256(data).hexdigest(), content_type, ext, data, width, height)


def _webp_size(data: bytes) -> tuple[int, int] | None:
    """Canvas size from a WebP header (RIFF chunk ``VP8 ``, ``VP8L`` or ``VP8X``)."""
    chunk = data[12:16]
    if chunk == b"VP8 " and len(data) >= 30 and data[23:26] == b"\x9d\x01\x2a":
        return (
            int.from_bytes(data[26:28], "little") & 0x3FFF,
            int.from_bytes(data[28:30], "little") & 0x3FFF,
        )
    if chunk == b"VP8L" and len(data) >= 25 and data[20] == 0x2F:
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X" and len(data) >= 30:
        return int.from_bytes(data[24:27], "little") + 1, int.from_bytes(data[27:30], "little") + 1
    return None


def _check_size(width: int, height: int, limits: Limits) -> None:
    # Image.MAX_IMAGE_PIXELS is Pillow's process-wide bomb guard; ours is lower, but a lower
    # one set by an operator is honoured too.
    max_pixels = min(limits.max_pixels, Image.MAX_IMAGE_PIXELS or limits.max_pixels)
    if width * height > max_pixels or max(width, height) > limits.max_side:
        raise ValidationFailed(
            f"the image is {width}x{height} pixels; at most {limits.max_side} pixels a side "
            f"and {max_pixels} pixels in all",
            code="image_too_many_pixels",
            detail={"width": width, "height": height, "max_side": limits.max_side},
        )
    if width < 1 or height < 1:
        raise ValidationFailed("the image has no pixels", code="invalid_image")


def _open(data: bytes, kind: str, limits: Limits) -> ImageFile:
    """Read only the header (by the sniffed format's plugin) and check the dimensions.

    The dimensions are checked before any pixel is decoded; for WebP even before Pillow sees
    the file, because its decoder allocates the whole canvas when it is created.
    """
    if kind == "webp":
        size = _webp_size(data)
        if size is None:
            raise ValidationFailed("this file is not a valid WEBP image", code="invalid_image")
        _check_size(*size, limits)
    plugin = _FORMATS[kind][0]
    try:
        # The plugin class parses the header without decoding pixels, and without Image.open's
        # trial of every other plugin on the bytes.
        image: ImageFile = plugin(io.BytesIO(data))
    except Exception:  # Pillow raises many types on hostile headers; all mean "not an image".
        raise ValidationFailed(
            f"this file is not a valid {kind.upper()} image", code="invalid_image"
        ) from None
    _check_size(*image.size, limits)
    if getattr(image, "n_frames", 1) > 1:
        raise ValidationFailed(
            "animated images are not accepted; upload a still image", code="unsupported_image"
        )
    return image


def _to_srgb(image: Image.Image, mode: str) -> Image.Image:
    """Convert pixels described by an embedded ICC profile to sRGB; keep them if that fails."""
    icc = image.info.get("icc_profile")
    if not icc or image.mode not in ("RGB", "RGBA", "CMYK"):
        return image
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
        converted = ImageCms.profileToProfile(image, source, srgb, outputMode=mode)
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return image  # a broken or mismatched profile: the pixels as they are
    return converted if converted is not None else image


def _decode(image: ImageFile) -> Image.Image:
    """The pixels only, upright, in sRGB, as RGB or RGBA, with no metadata attached."""
    try:
        image.load()
        upright = ImageOps.exif_transpose(image)
        has_alpha = "A" in upright.getbands() or "transparency" in upright.info
        mode = "RGBA" if has_alpha else "RGB"
        pixels = _to_srgb(upright, mode).convert(mode)
    except Exception:  # truncated or corrupt data surfaces here, as many exception types
        raise ValidationFailed("this image is damaged or truncated", code="invalid_image") from None
    # A new image from the raw pixels: nothing from the file's info (EXIF, ICC, XMP, text
    # chunks, comments) can ride along into the encoder.
    return Image.frombytes(pixels.mode, pixels.size, pixels.tobytes())


def _encode(pixels: Image.Image, kind: str, *, lossless: bool) -> bytes:
    out = io.BytesIO()
    if kind == "png":
        pixels.save(out, "PNG", compress_level=6)
    elif kind == "jpeg":
        pixels.save(out, "JPEG", quality=90)
    else:
        pixels.save(out, "WEBP", quality=90, lossless=lossless)
    return out.getvalue()


def process_image(data: bytes, *, purpose: str) -> Asset:
    """Check an uploaded logo or favicon and answer a clean copy to store and serve.

    The format is decided by the content's magic bytes alone. PNG stays PNG, JPEG is
    re-encoded as JPEG (quality 90), WebP as WebP (lossless if it was); all metadata is
    dropped and EXIF orientation is applied. SVG is checked and re-serialised (see
    :func:`themes._svg.clean_svg`). Limits (:data:`LIMITS`): a logo at most 2 MiB and 4096
    pixels a side, a favicon at most 512 KiB and 1024 pixels a side.

    Args:
        data: The uploaded bytes.
        purpose: ``"logo"`` or ``"favicon"``.

    Raises:
        ValidationFailed: ``image_too_large`` (bytes), ``image_too_many_pixels`` (dimensions,
            checked before decoding), ``unsupported_image`` (another format, animation),
            ``invalid_image`` (empty, damaged, not what its magic bytes say), ``unsafe_svg``.
        ValueError: for an unknown ``purpose`` (a programming error).
    """
    if purpose not in LIMITS:
        raise ValueError(f"unknown image purpose {purpose!r}; one of {', '.join(LIMITS)}")
    limits = LIMITS[purpose]
    data = bytes(data)
    if len(data) > limits.max_bytes:
        raise ValidationFailed(
            f"the file is {len(data)} bytes; a {purpose} may have at most {limits.max_bytes}",
            code="image_too_large",
            detail={"size": len(data), "max_bytes": limits.max_bytes},
        )
    if not data:
        raise ValidationFailed("the file is empty", code="invalid_image")
    kind = _sniff(data)
    if kind == "svg":
        svg, width, height = clean_svg(data)
        return _asset(svg, "image/svg+xml", "svg", width, height)
    if kind == "html":
        raise ValidationFailed(
            f"this is an HTML page, not an image; {_SUPPORTED}", code="unsupported_image"
        )
    if kind is None:
        named = next((n for magic, n in _REFUSED_KINDS.items() if data.startswith(magic)), None)
        what = f"{named} images are not accepted" if named else "this is not a supported image"
        raise ValidationFailed(f"{what}; {_SUPPORTED}", code="unsupported_image")
    lossless = kind == "webp" and b"VP8L" in data[12:64]
    pixels = _decode(_open(data, kind, limits))
    encoded = _encode(pixels, kind, lossless=lossless)
    # Re-encoding can inflate (a palette PNG becomes true colour): keep stored files bounded.
    if len(encoded) > 2 * limits.max_bytes:
        raise ValidationFailed(
            "re-encoded, this image would be too large; upload a smaller or simpler one",
            code="image_too_large",
            detail={"size": len(encoded), "max_bytes": limits.max_bytes},
        )
    _, content_type, ext = _FORMATS[kind]
    return _asset(encoded, content_type, ext, pixels.width, pixels.height)


def favicons_from(logo: Asset) -> list[Asset]:
    """Favicons generated from a processed logo (for tenants that upload none).

    A raster logo gives square PNGs of :data:`FAVICON_SIZES` (32, 180, 512 pixels), the logo
    scaled to fit and centred on a transparent square. An SVG logo is its own favicon: the
    list holds the logo itself.

    Raises:
        ValueError: if ``logo`` is not an asset made by :func:`process_image`.
    """
    if logo.content_type == "image/svg+xml":
        return [logo]
    kinds = {content_type: kind for kind, (_, content_type, _) in _FORMATS.items()}
    if logo.content_type not in kinds:
        raise ValueError(f"not a processed image: {logo.content_type!r}")
    plugin = _FORMATS[kinds[logo.content_type]][0]
    source = plugin(io.BytesIO(logo.data))
    source.load()
    rgba = source.convert("RGBA")
    icons = []
    for size in FAVICON_SIZES:
        fitted = ImageOps.contain(rgba, (size, size), Image.Resampling.LANCZOS)
        square = Image.new("RGBA", (size, size), (0, 0, 0, 0))
        square.paste(fitted, ((size - fitted.width) // 2, (size - fitted.height) // 2))
        out = io.BytesIO()
        square.save(out, "PNG")
        icons.append(_asset(out.getvalue(), "image/png", "png", size, size))
    return icons
