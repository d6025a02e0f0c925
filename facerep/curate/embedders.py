"""Face embedders behind one interface: insightface's ArcFace (ONNX) and dlib's 128-D descriptor.

Both see faces aligned the same way: the 5-point similarity transform onto the ArcFace 112x112
template (Deng et al., ArcFace; insightface `face_align.arcface_dst`). dlib's network was trained on
chips with more context around the face (its 150x150 chips, padding 0.25), so for dlib the same
template is scaled and shifted once onto that framing (`DLIB_TEMPLATE`, fitted on the six faces of
insightface's `t1.jpg` with dlib's own chip geometry). Without alignment different people came as
close as 0.47 in dlib distance; aligned, the closest pair was 0.72 (see docs/curate.md).

Every embedder maps its features into a space where squared Euclidean distance gives its
cosine-like similarity (`similarity_from_sqdist`), so retrieval and the faiss duplicate search are
written once: ArcFace vectors are L2-normalised (similarity = cosine = 1 - d^2 / 2); dlib vectors
stay raw (similarity = 1 - d, dlib's distance rule).
"""

from __future__ import annotations

import importlib.util
import threading
from abc import ABC, abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from facerep.curate.config import CurateParams
from facerep.curate.dlib_resnet import bf16_is_native, describe, load_dlib_resnet
from facerep.errors import InputError, MissingModelError
from facerep.faces.align import arcface_template, similarity_transform

if TYPE_CHECKING:
    import torch

ARCFACE_TEMPLATE = arcface_template(112)
DLIB_CHIP = 150
DLIB_TEMPLATE = ARCFACE_TEMPLATE * 1.46 + np.array([-6.8, -29.5])
ARCFACE_SOURCE = (
    "insightface's buffalo_l model pack (https://github.com/deepinsight/insightface/releases, "
    "buffalo_l.zip, file w600k_r50.onnx)"
)
DLIB_SOURCE = "the PyPI package face-recognition-models (models/dlib_face_recognition_resnet_model_v1.dat)"
GREY = 127


class Embedder(ABC):
    """Embed 5-point-aligned face chips; compare them on a cosine-like similarity scale."""

    name: str
    identity: str  # names the model file, so cached features are never reused across models
    size: int
    template: np.ndarray
    batch_size: int
    bf16: bool = False  # whether `embed(..., bf16=True)` is faster in bfloat16 here (else it is ignored)

    def transform(self, landmarks5: np.ndarray) -> np.ndarray:
        """The 2x3 alignment of an image with these landmarks onto this embedder's chip."""
        return similarity_transform(np.asarray(landmarks5).reshape(5, 2), self.template)

    def align(self, img: np.ndarray, matrix: np.ndarray) -> np.ndarray:
        """Warp an RGB image to this embedder's chip (grey outside the image)."""
        return cv2.warpAffine(
            img, matrix, (self.size, self.size), flags=cv2.INTER_LINEAR, borderValue=(GREY, GREY, GREY)
        )

    def embed(self, chips: list[np.ndarray], bf16: bool = False) -> np.ndarray:
        """Features of aligned RGB chips, in batches of `batch_size` (float32, one row per chip);
        `bf16`: computed in bfloat16 where this embedder supports it (`self.bf16`)."""
        if not chips:
            return np.zeros((0, self.dim), np.float32)
        fast = bf16 and self.bf16
        parts = [
            self._embed_batch(chips[i : i + self.batch_size], fast)
            for i in range(0, len(chips), self.batch_size)
        ]
        return np.concatenate(parts).astype(np.float32)

    @property
    @abstractmethod
    def dim(self) -> int:
        """Feature dimension."""

    @abstractmethod
    def _embed_batch(self, chips: list[np.ndarray], bf16: bool) -> np.ndarray:
        """Raw features of one batch of chips."""

    @abstractmethod
    def index_vectors(self, feats: np.ndarray) -> np.ndarray:
        """Vectors whose squared L2 distance maps to this embedder's similarity."""

    @abstractmethod
    def similarity_from_sqdist(self, sqdist: np.ndarray) -> np.ndarray:
        """Cosine-like similarity in [-1, 1] from squared distances between `index_vectors`."""

    def similarity(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Similarity matrix between feature rows of `a` and of `b`."""
        va, vb = self.index_vectors(a), self.index_vectors(b)
        sq = (va**2).sum(1)[:, None] + (vb**2).sum(1)[None, :] - 2 * va @ vb.T
        return self.similarity_from_sqdist(np.maximum(sq, 0.0))


class DlibDescriptor(Embedder):
    """dlib's ResNet face descriptor (128-D), the one face-recognition model that ships offline.

    `runtime="torch"` runs dlib's network and weights with torch's kernels (`facerep.curate.dlib_resnet`,
    some 20x faster on a CPU); `runtime="dlib"` calls dlib's own `compute_face_descriptor`.
    """

    name = "dlib"
    size = DLIB_CHIP
    template = DLIB_TEMPLATE

    def __init__(self, model_dir: str | None = None, batch_size: int = 32, runtime: str = "torch") -> None:
        folder = Path(model_dir) if model_dir else _package_models_dir()
        path = folder / "dlib_face_recognition_resnet_model_v1.dat"
        if not path.is_file():
            raise MissingModelError(str(path), DLIB_SOURCE, "curate.dlib.model_dir")
        if runtime == "dlib":
            import dlib

            self._model = dlib.face_recognition_model_v1(str(path))
            self._lock = threading.Lock()  # a dlib network keeps its activations: one call at a time
        else:
            self._net = load_dlib_resnet(path)
            self.bf16 = bf16_is_native()
        self.runtime = runtime
        self.batch_size = batch_size
        # Both runtimes compute the same descriptors (to float rounding), so they share cached features.
        self.identity = f"dlib:{path.name}:{path.stat().st_size}"

    @property
    def dim(self) -> int:
        return 128

    def _embed_batch(self, chips: list[np.ndarray], bf16: bool) -> np.ndarray:
        batch = [np.ascontiguousarray(c, dtype=np.uint8) for c in chips]
        if self.runtime == "dlib":
            with self._lock:
                return np.asarray(self._model.compute_face_descriptor(batch), np.float32)
        return describe(self._net, batch, bf16)

    def index_vectors(self, feats: np.ndarray) -> np.ndarray:
        return np.asarray(feats, np.float32)

    def similarity_from_sqdist(self, sqdist: np.ndarray) -> np.ndarray:
        return 1.0 - np.sqrt(np.maximum(sqdist, 0.0))


def _package_models_dir() -> Path:
    """The .dat folder of `face_recognition_models`, found without importing it.

    Importing the package needs `pkg_resources` (setuptools < 81); locating it does not.
    """
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise MissingModelError(
            "dlib_face_recognition_resnet_model_v1.dat", DLIB_SOURCE, "curate.dlib.model_dir"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "models"


class ArcFaceOnnx(Embedder):
    """insightface's ArcFace recognition model through onnxruntime, on the GPU when one is present."""

    name = "arcface"

    def __init__(self, model_path: str, batch_size: int = 64) -> None:
        path = Path(model_path)
        if not path.is_file():
            raise MissingModelError(f"w600k_r50.onnx ({path})", ARCFACE_SOURCE, "curate.arcface.model_path")
        from insightface.model_zoo import get_model

        from facerep.onnx_providers import log_session_providers, session_providers

        model = get_model(str(path), providers=session_providers("auto", stage="curate"))
        if model is None or getattr(model, "taskname", None) != "recognition":
            raise InputError(f"{path}: not an ArcFace recognition model (expects a square face input)")
        self._model = model
        self.size = int(model.input_size[0])
        self.template = arcface_template(self.size)
        self.batch_size = batch_size
        self.providers = list(model.session.get_providers())
        log_session_providers(self.providers, stage="curate")
        stat = path.stat()
        self.identity = f"arcface:{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}"

    @property
    def dim(self) -> int:
        return int(self._model.output_shape[-1])

    def _embed_batch(self, chips: list[np.ndarray], bf16: bool) -> np.ndarray:
        bgr = [np.ascontiguousarray(c[:, :, ::-1]) for c in chips]
        return np.asarray(self._model.get_feat(bgr), np.float32).reshape(len(chips), -1)

    def index_vectors(self, feats: np.ndarray) -> np.ndarray:
        feats = np.asarray(feats, np.float32)
        return feats / np.maximum(np.linalg.norm(feats, axis=1, keepdims=True), 1e-12)

    def similarity_from_sqdist(self, sqdist: np.ndarray) -> np.ndarray:
        return 1.0 - sqdist / 2.0


def export_arcface_onnx(net: torch.nn.Module, path: Path, size: int = 112) -> Path:
    """`net` (a batch of `size` px faces -> embeddings) as an ONNX file in the interface `ArcFaceOnnx`
    reads, as insightface's exports are: input `data`, output `fc1`, a dynamic batch. For stand-ins of
    the real network where its weights cannot be fetched (tests, benchmarks)."""
    import torch

    torch.onnx.export(
        net.eval(),
        (torch.zeros(1, 3, size, size),),
        str(path),
        input_names=["data"],
        output_names=["fc1"],
        dynamic_axes={"data": {0: "batch"}, "fc1": {0: "batch"}},
        dynamo=False,
    )
    return path


def make_embedder(curate: CurateParams) -> Embedder:
    """The embedder named by `curate.embedder`, built from its parameter section."""
    if curate.embedder == "arcface":
        return ArcFaceOnnx(curate.arcface.model_path, curate.arcface.batch_size)
    return DlibDescriptor(curate.dlib.model_dir, curate.dlib.batch_size, curate.dlib.runtime)
