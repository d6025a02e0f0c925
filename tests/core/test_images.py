"""`facerep.images.to_srgb` and the detect stage's decoder: 16-bit, palette, CMYK and ICC-profiled files
become the 8-bit sRGB a viewer shows, instead of Pillow's clipped or unconverted pixels."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from facerep.faces.inputs import load_rgb
from facerep.images import to_srgb


def _s15(x: float) -> bytes:
    return struct.pack(">i", round(x * 65536))


def linear_srgb_profile() -> bytes:
    """A minimal ICC v2 display profile: sRGB's primaries (D50-adapted) with a linear (gamma 1.0) tone
    curve, i.e. linear-light RGB. Written here because no registry package ships a non-sRGB profile."""
    xyz = {
        b"wtpt": (0.9642, 1.0, 0.8249),
        b"rXYZ": (0.4361, 0.2225, 0.0139),
        b"gXYZ": (0.3851, 0.7169, 0.0971),
        b"bXYZ": (0.1431, 0.0606, 0.7141),
    }
    text = b"linear sRGB\x00"
    desc = b"desc" + bytes(4) + struct.pack(">I", len(text)) + text + bytes(4 + 4 + 2 + 1 + 67)
    tags = {sig: b"XYZ " + bytes(4) + b"".join(map(_s15, v)) for sig, v in xyz.items()}
    curve = b"curv" + bytes(4) + struct.pack(">IH", 1, 0x0100) + bytes(2)  # gamma 1.0 (u8Fixed8)
    tags |= {b"rTRC": curve, b"gTRC": curve, b"bTRC": curve, b"desc": desc}
    offset = 128 + 4 + 12 * len(tags)
    table, data = b"", b""
    for sig, body in tags.items():
        body += bytes(-len(body) % 4)
        table += sig + struct.pack(">II", offset + len(data), len(body))
        data += body
    size = offset + len(data)
    header = struct.pack(">I", size) + b"lcms" + bytes.fromhex("02100000") + b"mntrRGB XYZ "
    header += bytes(12) + b"acsp" + bytes(24) + struct.pack(">I", 0) + b"".join(map(_s15, xyz[b"wtpt"]))
    header += bytes(128 - len(header))
    return header + struct.pack(">I", len(tags)) + table + data


def _encoded(img: Image.Image, fmt: str, **kwargs: object) -> Image.Image:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kwargs)
    return Image.open(io.BytesIO(buf.getvalue()))


def test_sixteen_bit_grey_is_scaled_not_clipped() -> None:
    grey = _encoded(Image.fromarray(np.full((8, 8), 30000, np.uint16)), "PNG")
    assert grey.mode.startswith("I")
    assert np.asarray(grey.convert("RGB"))[0, 0].tolist() == [255, 255, 255]  # Pillow alone: white
    assert np.asarray(to_srgb(grey))[0, 0].tolist() == [117, 117, 117]  # 30000 / 65535 * 255


def test_palette_colours_and_transparency_over_white() -> None:
    rgb = np.zeros((4, 4, 3), np.uint8)
    rgb[:, :2] = (200, 30, 40)
    palette = _encoded(Image.fromarray(rgb).quantize(2), "PNG")
    assert palette.mode == "P"
    out = np.asarray(to_srgb(palette))
    assert out[0, 0].tolist() == [200, 30, 40] and out[0, 3].tolist() == [0, 0, 0]
    transparent = _encoded(Image.fromarray(rgb).quantize(2), "PNG", transparency=0)
    assert {tuple(p) for p in np.asarray(to_srgb(transparent)).reshape(-1, 3)} >= {(255, 255, 255)}


def test_cmyk_jpeg_becomes_rgb() -> None:
    cmyk = Image.new("CMYK", (8, 8), (0, 255, 255, 0))  # no cyan or black, full magenta and yellow: red
    out = np.asarray(to_srgb(_encoded(cmyk, "JPEG", quality=100)))
    assert out.shape == (8, 8, 3)
    np.testing.assert_allclose(out[4, 4], [255, 0, 0], atol=3)


def test_icc_profile_is_converted_to_srgb() -> None:
    """Linear-light 128 is sRGB 188 (1.055 * 0.502 ** (1 / 2.4) - 0.055); unconverted it would stay 128."""
    linear = _encoded(Image.new("RGB", (8, 8), (128, 128, 128)), "PNG", icc_profile=linear_srgb_profile())
    assert linear.info.get("icc_profile")
    np.testing.assert_allclose(np.asarray(to_srgb(linear))[0, 0], [188, 188, 188], atol=2)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_detect_decodes_through_it(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / f"face.{fmt.lower()}"
    Image.new("RGB", (16, 16), (128, 128, 128)).save(path, format=fmt, icc_profile=linear_srgb_profile())
    assert np.asarray(load_rgb(path))[8, 8].tolist() == pytest.approx([188, 188, 188], abs=3)
    wide = tmp_path / "grey16.png"
    Image.fromarray(np.full((16, 16), 65535 // 2, np.uint16)).save(wide)
    assert np.asarray(load_rgb(wide))[0, 0].tolist() == [127, 127, 127]
