"""Real, small images for the fake artwork host, drawn with Pillow.

Each path gets its own two colours (from its hash) in a diagonal blend, in the proportions
TheTVDB uses for that kind of artwork (told by the folder: ``posters``, ``backgrounds``...).
"""

from __future__ import annotations

import hashlib
import io
import re

PATH = re.compile(r"^/banners/[A-Za-z0-9/_.-]{1,200}\.(jpg|png)$")
PROPORTIONS = {"posters": (680, 1000), "backgrounds": (1920, 1080), "banners": (758, 140), "icons": (1024, 1024),
               "clearlogo": (800, 310), "clearart": (1000, 562), "cinemagraphs": (1920, 1080),
               "screencap": (640, 360), "photo": (300, 450)}
"""Full sizes by folder; a ``_t`` file (thumbnail) is half as large."""


def declared_size(path: str) -> tuple[int, int]:
    """The size TheTVDB would serve ``path`` in."""
    folders = path.split("/")
    width, height = next((PROPORTIONS[f] for f in reversed(folders) if f in PROPORTIONS), (640, 360))
    if path.rsplit(".", 1)[0].endswith("_t"):
        return width // 2, height // 2
    return width, height


def render(path: str, max_side: int) -> tuple[bytes, str]:
    """The image at ``path``, at most ``max_side`` pixels on its longest side: JPEG for ``.jpg``,
    PNG (with an alpha channel, as ClearLogos have) for ``.png``. :returns: bytes and content type."""
    from PIL import Image, ImageOps

    width, height = declared_size(path)
    scale = min(1.0, max_side / max(width, height))
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    seed = hashlib.sha256(path.encode()).digest()
    ramp = Image.linear_gradient("L").rotate(45, expand=True).resize(size)
    image = ImageOps.colorize(ramp, tuple(seed[0:3]), tuple(seed[3:6]))
    buffer = io.BytesIO()
    if path.endswith(".png"):
        image.putalpha(ramp)
        image.save(buffer, "PNG")
        return buffer.getvalue(), "image/png"
    image.save(buffer, "JPEG", quality=85)
    return buffer.getvalue(), "image/jpeg"
