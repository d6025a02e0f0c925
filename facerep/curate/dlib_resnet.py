"""dlib's face-recognition ResNet, read from dlib's own model file and run by torch.

Why: the dlib wheel the project installs is built without BLAS, so its CPU convolutions cost about
0.1 s per 150 px chip and batching does not help; that made the descriptor the whole cost of the
curate stage. The network itself is small (29 convolutions, about 0.4 GMAC per chip), and torch's
CPU kernels compute it some 20 times faster in batches. Same file, same weights, same graph: the
descriptors agree with dlib's `compute_face_descriptor` to float rounding (tests/curate).

The graph is the one of dlib's `dnn_face_recognition_ex.cpp`: a 7x7/2 convolution, 3x3/2 max pool,
14 residual blocks of two 3x3 convolutions each (a block whose first convolution has stride 2 adds
a 2x2 average pool of its input, zero-padded to the block's channels and size, as dlib's `add_prev`
does), global average pool and a 128-D linear layer without bias. Every convolution is followed by
an `affine` layer (dlib's inference form of batch norm), which is folded into the convolution here.
Input pixels are RGB on 0-255, shifted by the mean colour stored in the file and divided by 256.

The file is dlib's serialisation: integers packed as a length byte (0x80 = negative) and that many
little-endian bytes, strings as a packed length and the bytes, tensors as a version, four packed
dimensions and little-endian float32s. Layer details follow their names (`con_4`, `affine_`,
`fc_2`, `input_rgb_image_sized`), from the input layer to the output layer.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from facerep.errors import InputError


class _Reader:
    """Sequential reader of dlib's serialised primitives."""

    def __init__(self, data: bytes, pos: int = 0) -> None:
        self.data, self.pos = data, pos

    def int(self) -> int:
        head = self.data[self.pos]
        size = head & 0x0F
        value = int.from_bytes(self.data[self.pos + 1 : self.pos + 1 + size], "little")
        self.pos += 1 + size
        return -value if head & 0x80 else value

    def float(self) -> float:
        mantissa = self.int()
        return mantissa * 2.0 ** self.int()

    def tensor(self) -> np.ndarray:
        if self.int() != 2:
            raise ValueError("unknown tensor version")
        count = int(np.prod([self.int() for _ in range(4)]))
        values = np.frombuffer(self.data, "<f4", count, self.pos).copy()
        self.pos += 4 * count
        return values

    def seek(self, name: str) -> bool:
        """Move past the next serialised string `name`; False when there is none."""
        marker = bytes([1, len(name)]) + name.encode()
        found = self.data.find(marker, self.pos)
        if found < 0:
            return False
        self.pos = found + len(marker)
        return True


@dataclass(frozen=True)
class DlibWeights:
    """What the model file holds: input mean, each convolution (affine folded in) and the linear layer."""

    mean: tuple[float, float, float]
    convs: list[tuple[np.ndarray, np.ndarray, int, int]]  # weight (out, in, k, k), bias, stride, padding
    fc: np.ndarray  # (inputs, 128): descriptor = features @ fc


def read_dlib_weights(path: Path) -> DlibWeights:
    """Parse dlib_face_recognition_resnet_model_v1.dat (InputError naming the file when it is not one)."""
    r = _Reader(path.read_bytes())
    try:
        if not r.seek("input_rgb_image_sized"):
            raise ValueError("no input_rgb_image_sized layer")
        mean = (r.float(), r.float(), r.float())
        convs = []
        while r.seek("con_4"):
            params = r.tensor()
            filters, rows, cols, stride, _, padding, _ = (r.int() for _ in range(7))
            weight = params[:-filters].reshape(filters, -1, rows, cols)
            if not r.seek("affine_"):
                raise ValueError("a convolution without its affine layer")
            gamma, beta = r.tensor().reshape(2, filters)
            folded = weight * gamma[:, None, None, None]
            convs.append((folded, params[-filters:] * gamma + beta, stride, padding))
        r.pos = 0
        if not r.seek("fc_2"):
            raise ValueError("no fc_2 layer")
        outputs, inputs = r.int(), r.int()
        fc = r.tensor().reshape(inputs, outputs)
    except (ValueError, IndexError) as exc:
        raise InputError(f"{path}: not dlib's face-recognition ResNet ({exc})") from exc
    if len(convs) % 2 != 1 or fc.shape[0] != convs[-1][0].shape[0]:
        raise InputError(f"{path}: not dlib's face-recognition ResNet (unexpected layer shapes)")
    return DlibWeights(mean, convs, fc)


def _conv(weight: np.ndarray, bias: np.ndarray, stride: int, padding: int) -> nn.Conv2d:
    out, inp, k, _ = weight.shape
    conv = nn.Conv2d(inp, out, k, stride=stride, padding=padding)
    conv.weight.data = torch.from_numpy(np.ascontiguousarray(weight, np.float32))
    conv.bias.data = torch.from_numpy(np.ascontiguousarray(bias, np.float32))
    return conv


def _add_padded(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """dlib's `add_prev`: the sum with the smaller tensor zero-padded (channels, rows, columns at the end).

    Overwrites `a` when it is the larger one (inference only)."""
    c, h, w = (max(x, y) for x, y in zip(a.shape[1:], b.shape[1:], strict=True))
    if tuple(a.shape[1:]) != (c, h, w):
        a = F.pad(a, (0, w - a.shape[3], 0, h - a.shape[2], 0, c - a.shape[1]))
    a[:, : b.shape[1], : b.shape[2], : b.shape[3]] += b
    return a


class DlibResNet(nn.Module):
    """The descriptor network; `forward` takes RGB float images (N, 3, 150, 150) on 0-255."""

    def __init__(self, weights: DlibWeights) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(weights.mean).view(1, 3, 1, 1))
        self.stem = _conv(*weights.convs[0])
        self.convs = nn.ModuleList(_conv(*c) for c in weights.convs[1:])
        self.fc = nn.Linear(*weights.fc.shape, bias=False)
        self.fc.weight.data = torch.from_numpy(np.ascontiguousarray(weights.fc.T, np.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu_(self.stem((x - self.mean) / 256.0)), 3, 2)
        for first, second in zip(self.convs[0::2], self.convs[1::2], strict=True):
            y = second(F.relu_(first(x)))
            skip = F.avg_pool2d(x, 2, 2) if first.stride[0] == 2 else x
            x = F.relu_(_add_padded(y, skip))
        return self.fc(x.mean((2, 3)))


def load_dlib_resnet(path: Path) -> DlibResNet:
    """The network of a dlib face-recognition model file, in eval mode, channels-last."""
    return DlibResNet(read_dlib_weights(path)).eval().to(memory_format=torch.channels_last)


def bf16_is_native() -> bool:
    """Whether this CPU computes bfloat16 convolutions natively (AVX512-BF16 or AMX); elsewhere
    bfloat16 is emulated and slower than float32."""
    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def describe(net: DlibResNet, chips: list[np.ndarray], bf16: bool = False) -> np.ndarray:
    """128-D descriptors of aligned 150x150 RGB uint8 chips (one row each), float32 out; `bf16`
    computes the convolutions in bfloat16 (descriptor values within about 0.004)."""
    batch = torch.from_numpy(np.stack(chips)).permute(0, 3, 1, 2).float()
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        return net(batch.contiguous(memory_format=torch.channels_last)).float().numpy()
