"""Parameters of the synth stage (`synth:` in pipeline_params.yaml)."""

from pydantic import Field

from facerep.paramsbase import StrictModel


class SynthParams(StrictModel):
    """Counts and sizes of the SynthFaces products."""

    faces: int = Field(4000, ge=0, description="labeled face images")
    scenes: int = Field(60, ge=0, description="Flickr-like scene photos with 0-6 faces")
    videos: int = Field(6, ge=0, description="talking-head clips in the VoxCeleb2 layout")
    identities: int = Field(1000, ge=1, description="distinct persistent identities")
    sizes: list[int] = Field(default_factory=lambda: [64, 112], description="face image sizes in px")
