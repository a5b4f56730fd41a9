"""Real, small images for the fake image CDN, drawn with pyvips (a gradient per file path)."""

from __future__ import annotations

import hashlib
import re

SIZE = re.compile(r"^(original|w(\d{2,4})|h(\d{2,4}))$")
FILE = re.compile(r"^/[A-Za-z0-9_-]{1,100}\.(jpg|jpeg|png|svg)$")

# When TMDb gives no size for an image, its kind tells the usual proportions.
DEFAULT_SIZES = {"poster": (1000, 1500), "backdrop": (1920, 1080), "still": (1920, 1080), "profile": (500, 750),
                 "logo": (1000, 250)}


def target_size(declared: tuple[int, int], size: str, max_side: int) -> tuple[int, int]:
    """Pixels to draw for ``size`` (``original``, ``w500``, ``h632``) of an image TMDb lists as
    ``declared``, never upscaled, and at most ``max_side`` pixels on the longest side."""
    width, height = declared
    match = SIZE.match(size)
    if match is None:
        raise ValueError(f"unknown image size {size!r}")
    scale = 1.0
    if match[2]:
        scale = min(1.0, int(match[2]) / width)
    elif match[3]:
        scale = min(1.0, int(match[3]) / height)
    scale = min(scale, max_side / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def render(file_path: str, width: int, height: int) -> tuple[bytes, str]:
    """A horizontal gradient between two colours derived from ``file_path``; JPEG for ``.jpg``
    paths, PNG otherwise. :returns: the bytes and their content type."""
    import pyvips

    seed = hashlib.sha256(file_path.encode()).digest()
    start, end = list(seed[0:3]), list(seed[3:6])
    x = pyvips.Image.xyz(width, height)[0]
    t = x / max(width - 1, 1)
    bands = [t * (b - a) + a for a, b in zip(start, end, strict=True)]
    image = bands[0].bandjoin(bands[1:]).cast("uchar").copy(interpretation="srgb")
    if file_path.endswith((".jpg", ".jpeg")):
        return image.write_to_buffer(".jpg", Q=85), "image/jpeg"
    return image.write_to_buffer(".png"), "image/png"
