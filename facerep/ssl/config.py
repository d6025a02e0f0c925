"""Parameters of the pretrain stage (`pretrain:` in pipeline_params.yaml).

Engine settings (batch, precision, data) are shared and declared here; each method has its own
section `pretrain.<name>` (`pretrain.swav`, `pretrain.byol`, ...) holding its paper's
hyper-parameters, views and optimiser, whose model (a `MethodParams` subclass) lives in the method's
own file and is registered with it (`facerep.ssl.registry.register_method`). `PretrainParams` reads
the sections from the registry when it validates, so importing this module does not import torch.
Defaults are sized for a CPU demo (small backbone, 64 px, a short run); where a paper value is too
heavy for that, the field's comment gives the paper value and docs/pretrain.md the override.
Learning rates are per 256 images and scale linearly with the global batch (Goyal et al. 2017), as
in the SwAV, BYOL, SimCLR, MoCo and DINO code bases.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field, GetJsonSchemaHandler, ValidationError, model_validator
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError

from facerep.paramsbase import StrictModel

# Colour jitter (brightness, contrast, saturation, hue), applied with p = 0.8 and scaled by `jitter`.
SIMCLR_JITTER = (0.8, 0.8, 0.8, 0.2)  # SimCLR appendix A (s = 1); SwAV's code uses the same
BYOL_JITTER = (0.4, 0.4, 0.2, 0.1)  # BYOL Table 6; DINO's code uses the same
MOCO_JITTER = (0.4, 0.4, 0.4, 0.1)  # MoCo v2's code (moco/main_moco.py, aug_plus)


class CropParams(StrictModel):
    """Views per image (multi-crop) and their augmentation; see `facerep.ssl.augment`."""

    global_size: int = Field(64, gt=0)
    global_count: int = Field(2, ge=1)
    local_size: int = Field(32, gt=0)
    local_count: int = Field(0, ge=0)
    global_scale: tuple[float, float] = (0.14, 1.0)
    local_scale: tuple[float, float] = (0.05, 0.14)
    flip: bool = False
    jitter: float = Field(1.0, ge=0)
    color_jitter: tuple[float, float, float, float] = SIMCLR_JITTER
    hue: float | None = Field(None, ge=0, le=0.5)  # None: color_jitter's hue x jitter
    gray: float = Field(0.2, ge=0, le=1)
    blur: list[float] = Field(default_factory=lambda: [0.5])
    solarize: list[float] = Field(default_factory=lambda: [0.0])


class OptimParams(StrictModel):
    """Optimiser and schedules: linear warmup then cosine decay of the learning rate (per 256 images)."""

    name: Literal["sgd", "adamw", "lars"] = "sgd"
    base_lr: float = Field(0.05, gt=0)
    final_lr_ratio: float = Field(0.0, ge=0)
    warmup_fraction: float = Field(0.0, ge=0, lt=1)
    weight_decay: float = Field(1e-4, ge=0)
    weight_decay_end: float | None = None
    momentum: float = Field(0.9, ge=0, lt=1)
    exclude_bias_norm: bool = False
    lars_trust: float = Field(0.001, gt=0)
    clip_grad: float | None = None
    clip_per_parameter: bool = False  # cap each parameter's gradient norm (DINO's code), not the global one


class MethodParams(StrictModel):
    """What every method section has: its views and its optimiser."""

    crops: CropParams = Field(default_factory=CropParams)
    optim: OptimParams = Field(default_factory=OptimParams)


class DataParams(StrictModel):
    """Where images come from (`facerep.ssl.data`): the shard stage's tar shards (the pipeline's own
    curated faces, by default), SynthFaces face images or an image folder."""

    source: Literal["shards", "synth_faces", "folder"] = "shards"
    path: str | None = None  # null: paths.shards / paths.synth / paths.curated; shards: any fsspec URL
    size: int = Field(64, gt=0)  # synth_faces only: the SynthFaces image size to read
    split: Literal["train", "all"] = "train"  # synth_faces only
    shuffle_block: int = Field(2048, ge=1)  # items a data worker shuffles at once (its memory: one block)


class KnnParams(StrictModel):
    """The online kNN monitor (Wu et al. 2018 weighted vote) on a labelled SynthFaces column."""

    enabled: bool = True
    label: str = "expression"
    k: int = Field(20, ge=1)
    temperature: float = Field(0.07, gt=0)
    max_train: int = Field(1000, ge=1)
    max_test: int = Field(500, ge=1)
    every: int = Field(0, ge=0)


class PretrainParams(StrictModel):
    """The engine's settings, and one section per registered method (`section(name)`).

    The sections are pydantic extras: on validation each registered method's section is validated by
    its own model (a partial mapping keeps that model's defaults, an absent one is its defaults), and
    any other unknown key is refused as `StrictModel` refuses it.
    """

    model_config = ConfigDict(extra="allow")  # the method sections; `_method_sections` refuses others

    method: str = "swav"
    backbone: str = "resnet18_small"
    max_steps: int = Field(60, gt=0)
    batch_size: int = Field(32, gt=0)
    grad_accum: int = Field(1, ge=1)
    # Processes (GPUs) of this node; > 1: the stage re-launches itself under torchrun (ssl/launch.py).
    nproc: int = Field(1, ge=1)
    # Data workers per process; None: the cores this process may use (`engine.default_workers`).
    num_workers: int | None = Field(None, ge=0)
    precision: Literal["auto", "bf16", "fp16", "fp32"] = "auto"
    compile: bool = False
    channels_last: bool = True
    sync_bn: bool = True
    deterministic: bool = False
    checkpoint_every: int = Field(50, ge=1)
    log_every: int = Field(10, ge=1)
    data: DataParams = Field(default_factory=DataParams)
    knn: KnnParams = Field(default_factory=KnnParams)

    @model_validator(mode="before")
    @classmethod
    def _method_sections(cls, data: Any) -> Any:
        """Validate `pretrain.<name>` by the model registered for method `name`; refuse other keys.

        The registry imports the methods (and torch) here, on first validation, never at import time.
        """
        if not isinstance(data, dict):
            return data
        from facerep.ssl.registry import method_params

        sections = method_params()
        unknown = [k for k in data if k not in cls.model_fields and k not in sections]
        if unknown:
            errors = [{"type": "extra_forbidden", "loc": (k,), "input": data[k]} for k in unknown]
            raise ValidationError.from_exception_data(cls.__name__, errors)  # type: ignore[arg-type]
        return {**data, **{name: _section(name, model, data.get(name)) for name, model in sections.items()}}

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        """The engine's fields and every registered method's section (the Prefect form shows them)."""
        from facerep.ssl.registry import method_params

        json_schema = handler(schema)
        target = handler.resolve_ref_schema(json_schema)
        for name, model in method_params().items():
            target["properties"][name] = handler(model.__pydantic_core_schema__)
        target["additionalProperties"] = False
        return json_schema

    def section(self, method: str) -> MethodParams:
        """The parameters of `method` (`pretrain.<method>`)."""
        return getattr(self, method)


def _section(name: str, model: type[MethodParams], value: Any) -> MethodParams:
    """`value` (None, a mapping or already a model) validated by `model`; errors keep their key path."""
    if isinstance(value, model):
        return value
    try:
        return model.model_validate({} if value is None else value)
    except ValidationError as exc:
        errors = [
            {"type": PydanticCustomError(e["type"], e["msg"]), "loc": (name, *e["loc"]), "input": e["input"]}
            for e in exc.errors()
        ]
        raise ValidationError.from_exception_data(exc.title, errors) from None  # type: ignore[arg-type]
