"""Any decoded image as 8-bit sRGB RGB, the one form every stage computes on.

Pillow's `convert("RGB")` alone gets several real inputs wrong: 16-bit greyscale (`I;16`, PNGs from
scanners and depth-aware cameras) is clipped to 255, so a mid-grey face decodes almost white; an
embedded ICC profile (Adobe RGB, Display P3, a printer's CMYK) is ignored, so colours shift; a
palette or alpha image keeps the colour under transparent pixels. `to_srgb` fixes each: high-bit-depth
values are scaled to 8 bits, a profile is converted to sRGB with LittleCMS (Pillow's ImageCms),
transparency is composited over white, as a viewer shows it.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageCms

# Modes holding more than 8 bits per sample: Pillow would clip them to 0-255.
WIDE_GREY = {"I;16": 65535, "I;16L": 65535, "I;16B": 65535, "I;16N": 65535, "I": 65535}
SRGB = ImageCms.createProfile("sRGB")


def _to_eight_bit(img: Image.Image) -> Image.Image:
    """A 16/32-bit greyscale image scaled (not clipped) to 8-bit `L`; float images clipped to 0-1."""
    if img.mode in WIDE_GREY:
        values = np.asarray(img, dtype=np.float64)
        scaled = np.clip(values, 0, WIDE_GREY[img.mode]) * (255.0 / WIDE_GREY[img.mode])
        return Image.fromarray(np.round(scaled).astype(np.uint8), "L")
    if img.mode == "F":
        values = np.asarray(img, dtype=np.float64)
        peak = 1.0 if values.max(initial=0.0) <= 1.0 else 255.0
        return Image.fromarray(np.round(np.clip(values / peak, 0, 1) * 255).astype(np.uint8), "L")
    return img


def _without_alpha(img: Image.Image) -> Image.Image:
    """Transparency composited over white (palette transparency included)."""
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return img


def to_srgb(img: Image.Image) -> Image.Image:
    """`img` as an 8-bit RGB image in sRGB (see the module docstring for what is converted and why)."""
    icc = img.info.get("icc_profile")
    if icc and img.mode in ("RGB", "RGBA", "CMYK", "L", "LA"):
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        if img.mode in ("RGBA", "LA"):
            img = _without_alpha(img)
        try:
            return ImageCms.profileToProfile(img, source, SRGB, outputMode="RGB")
        except (ImageCms.PyCMSError, OSError, ValueError):
            pass  # a profile LittleCMS cannot use (wrong colour space, damaged): the pixels as they are
    return _without_alpha(_to_eight_bit(img)).convert("RGB")
