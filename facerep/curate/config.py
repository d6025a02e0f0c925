"""Parameters of the curate stage (`curate:` in pipeline_params.yaml).

Similarities are cosine-like numbers in [-1, 1] whatever the embedder (see `facerep.curate.embedders`):
ArcFace gives the cosine of its 512-D features; dlib gives `1 - distance` between its 128-D
descriptors (dlib's own same-person rule, distance < 0.6, becomes similarity > 0.4). The two scales
are not interchangeable, so each embedder carries its own calibrated thresholds, and
`curate.local.theta` / `curate.dedup.threshold` override them when set (null: use the embedder's).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from facerep.paramsbase import StrictModel


class LocalCropParams(StrictModel):
    """ProS face-aware retrieval (section 3): candidate local crops and their acceptance rule."""

    candidates: int = Field(
        4, gt=0, description="local crops sampled per face (demo size; ProS samples its multi-crop count)"
    )
    scale: tuple[float, float] = Field((0.05, 0.4), description="area fraction of the crop (multi-crop)")
    ratio: tuple[float, float] = Field((0.75, 4 / 3), description="aspect-ratio range of a local crop")
    theta: float | None = Field(None, ge=-1, le=1, description="acceptance similarity; null: the embedder's")
    min_kept: int = Field(2, ge=0, description="fewer accepted crops: the loader uses random local crops")
    mode: Literal["in_place", "resize"] = Field(
        "in_place", description="in_place: crop pasted at its place on a grey face; resize: ProS literal"
    )
    bf16: bool = Field(
        True, description="embed candidates in bfloat16 where native (dlib on torch); they only meet theta"
    )

    @field_validator("scale", "ratio")
    @classmethod
    def _ordered(cls, v: tuple[float, float]) -> tuple[float, float]:
        if not 0 < v[0] <= v[1]:
            raise ValueError("expected 0 < low <= high")
        return v

    @field_validator("scale")
    @classmethod
    def _fraction(cls, v: tuple[float, float]) -> tuple[float, float]:
        if v[1] > 1:
            raise ValueError("an area fraction is at most 1")
        return v


class DedupParams(StrictModel):
    """Exact (sha256) and near-duplicate (embedding similarity) removal."""

    threshold: float | None = Field(
        None, ge=-1, le=1, description="near-duplicate similarity; null: embedder's"
    )
    neighbours: int = Field(16, gt=1, description="nearest neighbours examined per face")
    index: str = Field(
        "auto",
        description="faiss index factory string (e.g. Flat, HNSW32, IVF4096,Flat); auto: exact Flat up "
        "to approximate_above faces, an IVF of about 4 sqrt(n) cells above (16 searched per face)",
    )
    approximate_above: int = Field(
        100_000, ge=2, description="with index auto, the face count above which the index is approximate"
    )


class ArcFaceParams(StrictModel):
    """insightface's ArcFace recognition model (ONNX) through onnxruntime."""

    model_path: str = Field(
        "models/arcface/w600k_r50.onnx",
        description="buffalo_l's recognition model, from insightface's releases",
    )
    batch_size: int = Field(64, gt=0)
    theta: float = Field(-0.5, ge=-1, le=1, description="ProS section 3: cosine threshold")
    dedup_threshold: float = Field(0.9, ge=-1, le=1, description="cosine above which faces are copies")


class DlibParams(StrictModel):
    """dlib's 128-D ResNet face descriptor, shipped by the `face-recognition-models` package."""

    model_dir: str | None = Field(None, description="folder of the .dat files; null: the package's")
    batch_size: int = Field(64, gt=0)
    runtime: Literal["torch", "dlib"] = Field(
        "torch", description="torch: dlib's network on torch's kernels; dlib: dlib's own (about 20x slower)"
    )
    theta: float = Field(0.35, ge=-1, le=1, description="1 - distance; 0.35 is distance 0.65")
    dedup_threshold: float = Field(0.85, ge=-1, le=1, description="1 - distance; 0.85 is distance 0.15")


class FilterParams(StrictModel):
    """Optional quality filters; 0 disables each. A rejected face keeps its row with the reason."""

    min_score: float = Field(0.0, ge=0, le=1, description="detector score")
    min_face_px: float = Field(0.0, ge=0, description="shorter side of the source-pixel box")
    min_sharpness: float = Field(0.0, ge=0, description="variance of the Laplacian of the grey crop")
    min_norm: float = Field(0.0, ge=0, description="embedding norm (ArcFace: low norm = poor face)")


class CurateParams(StrictModel):
    """Filters, embedder, duplicate removal and local-crop retrieval of the curate stage."""

    embedder: Literal["dlib", "arcface"] = Field(
        "dlib", description="dlib (offline, face-recognition-models) or arcface (ONNX); docs/curate.md"
    )
    workers: int | None = Field(
        None, ge=1, description="threads decoding and aligning crops beside the network; null: all cores"
    )
    local: LocalCropParams = Field(
        default_factory=LocalCropParams, description="ProS section 3 face-aware retrieval of local crops"
    )
    dedup: DedupParams = Field(default_factory=DedupParams)
    arcface: ArcFaceParams = Field(default_factory=ArcFaceParams)
    dlib: DlibParams = Field(default_factory=DlibParams)
    filters: FilterParams = Field(default_factory=FilterParams, description="0 disables a filter")

    def local_theta(self) -> float:
        """The acceptance threshold of local crops on the active embedder's similarity scale."""
        if self.local.theta is not None:
            return self.local.theta
        return self.arcface.theta if self.embedder == "arcface" else self.dlib.theta

    def dedup_threshold(self) -> float:
        """The near-duplicate threshold on the active embedder's similarity scale."""
        if self.dedup.threshold is not None:
            return self.dedup.threshold
        return self.arcface.dedup_threshold if self.embedder == "arcface" else self.dlib.dedup_threshold
