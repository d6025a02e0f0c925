"""Parameters of the synth stage (`synth:` in pipeline_params.yaml)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, PositiveInt, model_validator

from facerep.paramsbase import StrictModel

Size = Annotated[int, Field(ge=16, le=1024)]


class SynthParams(StrictModel):
    """Counts and sizes of the SynthFaces products (faces, scenes, videos)."""

    faces: int = Field(4000, ge=0, description="labeled face images")
    # Demo sizes: scenes and clips give the demo's ~2,100 curated pre-training faces (docs/curate.md).
    scenes: int = Field(
        1100, ge=0, description="Flickr-like scene photos with 0-6 faces (demo: ~1,550 curated faces)"
    )
    videos: int = Field(
        24, ge=0, description="talking-head clips in the VoxCeleb2 layout (demo: ~550 curated frames)"
    )
    identities: int = Field(1000, ge=1, description="distinct persistent identities")
    sizes: list[Size] = Field(
        default_factory=lambda: [64],
        min_length=1,
        description="face image sizes in px (16-1024); the demo reads 64 (add 112 or 224 for larger runs)",
    )
    test_fraction: float = Field(0.2, ge=0.0, le=1.0, description="share of faces in the test split")
    scene_size: tuple[PositiveInt, PositiveInt] = Field(
        (320, 1024), description="min and max longer side of a scene photo in px"
    )
    scene_max_faces: int = Field(6, ge=0, le=20, description="most faces in one scene")
    scene_face_px: tuple[PositiveInt, PositiveInt] = Field(
        (20, 400), description="min and max face box side in scenes, px"
    )
    video_seconds: float = Field(6.0, gt=0, le=600, description="length of each talking-head clip")
    video_fps: int = Field(
        6, gt=0, le=120, description="frame rate of the clips (6: every frame is one harvest keeps, PCL 4.1)"
    )
    video_size: int = Field(224, ge=32, le=1024, description="clip frame side in px (square)")
    workers: int | None = Field(None, ge=1, le=64, description="render processes; null: the cores available")
    chunk: int = Field(250, ge=1, description="faces or scenes per work unit (the unit of resumption)")

    @model_validator(mode="after")
    def _ranges(self) -> SynthParams:
        lo, hi = self.scene_size
        if not 64 <= lo <= hi <= 4096:
            raise ValueError(f"scene_size {list(self.scene_size)}: need 64 <= min <= max <= 4096")
        flo, fhi = self.scene_face_px
        if flo > fhi or fhi > hi:
            raise ValueError(f"scene_face_px {list(self.scene_face_px)}: need min <= max <= scene_size max")
        return self
