"""What libvips does for artwork: check that bytes are a real image, describe it, resize it.

Blocking and CPU-bound: the service runs these on its own threads. Only JPEG, PNG, WebP and
GIF are taken: libvips reads many more formats (SVG, PDF, TIFF, HEIF...), and an SVG served
from the server's own origin could carry script, so everything else is refused by name.
"""

from __future__ import annotations

import io

import attrs
import blurhash
import pyvips

FORMATS: dict[str, tuple[str, str]] = {
    "jpegload": ("image/jpeg", "jpg"),
    "pngload": ("image/png", "png"),
    "webpload": ("image/webp", "webp"),
    "gifload": ("image/gif", "gif"),
}
"""libvips loader -> (MIME type, file extension) of every format stored."""
EXTENSIONS = dict(FORMATS.values())
OUTPUTS = {"jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp"}
"""Formats resized images are encoded in -> MIME type."""
MAX_PIXELS = 100_000_000
"""Larger images are refused before they are decoded (decompression bombs)."""
_MAX_COORD = 10_000_000  # libvips' VIPS_MAX_COORD: "no limit" for a thumbnail's height
_BLURHASH_SOURCE = 32


class ArtworkError(ValueError):
    """An image was refused: not an image, a format not served, too large, or not downloadable."""


@attrs.frozen
class ImageFacts:
    """What the store keeps of an image (``width`` and ``height`` as displayed, after EXIF rotation)."""

    mime: str
    width: int
    height: int
    alpha: bool
    blurhash: str

    @property
    def extension(self) -> str:
        return EXTENSIONS[self.mime]


def inspect(data: bytes) -> ImageFacts:
    """Check ``data`` is a whole image in an accepted format and describe it.

    :raises ArtworkError: it is not one.
    """
    try:
        header = pyvips.Image.new_from_buffer(data, "", access="sequential")
        loader = header.get("vips-loader")
    except pyvips.Error:
        raise ArtworkError("not an image (JPEG, PNG, WebP or GIF expected)") from None
    loader = loader.removesuffix("_buffer").removesuffix("_source")
    if loader not in FORMATS:
        raise ArtworkError(f"image format {loader.removesuffix('load') or 'unknown'} is not accepted "
                           "(JPEG, PNG, WebP or GIF expected)")
    width, height = header.width, header.height
    if width * height > MAX_PIXELS:
        raise ArtworkError(f"image of {width}x{height} pixels is larger than {MAX_PIXELS} pixels")
    if header.get_typeof("orientation") and 5 <= header.get("orientation") <= 8:
        width, height = height, width
    try:
        # Decoding a small version reads every byte of the image: a damaged one fails here.
        thumb = pyvips.Image.thumbnail_buffer(data, _BLURHASH_SOURCE, height=_BLURHASH_SOURCE,
                                              option_string="fail_on=truncated")
        placeholder = _blurhash(thumb, width >= height)
    except pyvips.Error as exc:
        reason = str(exc).strip().splitlines()[-1].strip() if str(exc).strip() else "cannot be decoded"
        raise ArtworkError(f"damaged image: {reason}") from None
    return ImageFacts(mime=FORMATS[loader][0], width=width, height=height, alpha=bool(header.hasalpha()),
                      blurhash=placeholder)


def _srgb(image: pyvips.Image, background: list[float]) -> pyvips.Image:
    """Three 8-bit sRGB bands, alpha flattened onto ``background``."""
    if image.hasalpha():
        image = image.flatten(background=background)
    if image.interpretation != "srgb" or image.format != "uchar":
        image = image.colourspace("srgb")
    if image.bands > 3:
        image = image.extract_band(0, n=3)
    return image.cast("uchar")


def _blurhash(thumb: pyvips.Image, landscape: bool) -> str:
    components = (4, 3) if landscape else (3, 4)
    pixels = _srgb(thumb, [0, 0, 0]).pngsave_buffer(compression=1)
    return blurhash.encode(io.BytesIO(pixels), *components)


def render(path: str, width: int, output: str) -> bytes:
    """The image at ``path`` ``width`` pixels wide (never wider than it is), aspect kept, EXIF
    rotation applied, encoded as ``output`` (a key of :data:`OUTPUTS`)."""
    image = pyvips.Image.thumbnail(path, width, height=_MAX_COORD, size="down")
    if output == "webp":
        return image.webpsave_buffer(Q=80, keep="icc")
    if output == "png":
        return image.pngsave_buffer(compression=6, keep="icc")
    return _srgb(image, [255, 255, 255]).jpegsave_buffer(Q=85, keep="icc", optimize_coding=True, interlace=True)
