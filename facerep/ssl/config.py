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

    global_size: int = Field(64, gt=0, description="global view side in px (papers: 224)")
    global_count: int = Field(2, ge=1, description="global views per image")
    local_size: int = Field(32, gt=0, description="local view side in px (papers: 96)")
    local_count: int = Field(0, ge=0, description="local (multi-crop) views per image; 0: none")
    global_scale: tuple[float, float] = Field(
        (0.14, 1.0), description="min and max area of a global crop, fraction of the image"
    )
    local_scale: tuple[float, float] = Field(
        (0.05, 0.14), description="min and max area of a local crop, fraction of the image"
    )
    flip: bool = Field(
        False, description="random horizontal flip; off: it destroys the sign of yaw and roll (pose tasks)"
    )
    jitter: float = Field(
        1.0, ge=0, description="scales all four color_jitter strengths (SimCLR's s); 0: none"
    )
    color_jitter: tuple[float, float, float, float] = Field(
        SIMCLR_JITTER,
        description="brightness, contrast, saturation, hue jitter strengths, applied with p = 0.8",
    )
    hue: float | None = Field(
        None,
        ge=0,
        le=0.5,
        description="hue jitter in [0, 0.5] replacing color_jitter's; null: its hue x jitter",
    )
    gray: float = Field(0.2, ge=0, le=1, description="probability of turning a view grey")
    blur: list[float] = Field(
        default_factory=lambda: [0.5],
        description="Gaussian blur probability per global view (local views: the last entry); sigma "
        "0.1-2.0 at 224 px, scaled to the view size",
    )
    solarize: list[float] = Field(
        default_factory=lambda: [0.0],
        description="solarisation probability per global view (local views: the last entry)",
    )


class OptimParams(StrictModel):
    """Optimiser and schedules: linear warmup then cosine decay of the learning rate (per 256 images)."""

    name: Literal["sgd", "adamw", "lars"] = Field(
        "sgd", description="optimiser: sgd (with momentum) | adamw | lars"
    )
    base_lr: float = Field(
        0.05, gt=0, description="peak learning rate per 256 images, scaled linearly with the global batch"
    )
    final_lr_ratio: float = Field(0.0, ge=0, description="cosine decay ends at this fraction of the peak lr")
    warmup_fraction: float = Field(0.0, ge=0, lt=1, description="linear lr warmup, fraction of max_steps")
    weight_decay: float = Field(
        1e-4, ge=0, description="weight decay; with weight_decay_end, the start of its cosine ramp"
    )
    weight_decay_end: float | None = Field(
        None, description="cosine weight-decay ramp to this value (DINO); null: constant weight_decay"
    )
    momentum: float = Field(0.9, ge=0, lt=1, description="SGD and LARS momentum (AdamW ignores it)")
    exclude_bias_norm: bool = Field(
        False, description="no weight decay (and no LARS scaling) on biases and norm weights (BYOL, SimCLR)"
    )
    lars_trust: float = Field(0.001, gt=0, description="LARS trust coefficient")
    clip_grad: float | None = Field(None, description="gradient norm cap; null: no clipping")
    clip_per_parameter: bool = Field(
        False, description="cap each parameter's gradient norm (DINO's code), not the global one"
    )


class MethodParams(StrictModel):
    """What every method section has: its views and its optimiser."""

    crops: CropParams = Field(default_factory=CropParams)
    optim: OptimParams = Field(default_factory=OptimParams)


class DataParams(StrictModel):
    """Where images come from (`facerep.ssl.data`): the shard stage's tar shards (the pipeline's own
    curated faces, by default), SynthFaces face images or an image folder."""

    source: Literal["shards", "synth_faces", "folder"] = Field(
        "shards",
        description="shards (the pipeline's own curated faces) | synth_faces (SynthFaces images) | folder "
        "(every JPEG/PNG under path)",
    )
    path: str | None = Field(
        None, description="null: paths.shards / paths.synth / paths.curated; shards: any fsspec URL"
    )
    size: int = Field(
        64, gt=0, description="synth_faces only: the SynthFaces image size to read (faces/<size>/)"
    )
    split: Literal["train", "all"] = Field("train", description="synth_faces only: train | all faces")
    shuffle_block: int = Field(
        2048, ge=1, description="items a data worker shuffles at once (its memory holds one block)"
    )


class KnnParams(StrictModel):
    """The online kNN monitor (Wu et al. 2018 weighted vote) on a labelled SynthFaces column."""

    enabled: bool = Field(True, description="score the backbone by kNN (skipped when SynthFaces is absent)")
    label: str = Field("expression", description="the SynthFaces labels.parquet column voted on")
    k: int = Field(20, ge=1, description="neighbours per vote (Wu et al. 2018 3.4: 200)")
    temperature: float = Field(
        0.07, gt=0, description="each neighbour votes with weight exp(cosine / temperature) (Wu et al. 2018)"
    )
    max_train: int = Field(1000, ge=1, description="training faces in the kNN memory at most")
    max_test: int = Field(500, ge=1, description="test faces scored at most")
    every: int = Field(0, ge=0, description="steps between kNN scores; 0: at the end only")


class PretrainParams(StrictModel):
    """The engine's settings, and one section per registered method (`section(name)`).

    The sections are pydantic extras: on validation each registered method's section is validated by
    its own model (a partial mapping keeps that model's defaults, an absent one is its defaults), and
    any other unknown key is refused as `StrictModel` refuses it.
    """

    model_config = ConfigDict(extra="allow")  # the method sections; `_method_sections` refuses others

    method: str = Field(
        "swav", description="the SSL method (a registered name; its settings: the section pretrain.<method>)"
    )
    seed: int | None = Field(
        None,
        ge=0,
        description="pre-training's own seed (weights, views, data order); null: the global seed. Set, "
        "the run goes to <paths.models>/pretrain/<method>-seed<N>/, fine-tuned as init "
        "pretrain:<method>-seed<N>, so runs of several seeds sit side by side (outside DVC's outs)",
    )
    backbone: str = Field(
        "resnet18_small",
        description="resnet18, resnet50, vit_s16 (the papers') or CPU sizes resnet18_small, resnet18_half, "
        "resnet_tiny, vit_tiny_small",
    )
    max_steps: int = Field(
        200, gt=0, description="optimiser steps of the run (schedules are fractions of it); demo size"
    )
    batch_size: int = Field(
        64, gt=0, description="images per process and micro-batch; global batch: x processes x grad_accum"
    )
    grad_accum: int = Field(
        1,
        ge=1,
        description="micro-batches per step; not a larger batch for SimCLR's negatives or SwAV's codes",
    )
    nproc: int = Field(
        1,
        ge=1,
        description="processes (GPUs) on this node; > 1: DDP, the stage re-launches itself under torchrun",
    )
    num_workers: int | None = Field(
        None,
        ge=0,
        description="data workers per process; null: the cores this process may use / processes per node "
        "- 1, at least 1",
    )
    precision: Literal["auto", "bf16", "fp16", "fp32"] = Field(
        "auto", description="auto: bf16 autocast on GPU, fp32 on CPU; or bf16 | fp16 (gradient scaler) | fp32"
    )
    compile: bool = Field(False, description="torch.compile the training model (after DDP wrapping)")
    channels_last: bool = Field(True, description="channels-last memory format for images and weights")
    sync_bn: bool = Field(True, description="SyncBatchNorm under torchrun, CUDA only (Bulat et al. A.1)")
    deterministic: bool = Field(
        False,
        description="torch deterministic algorithms, cuDNN benchmark off: a resumed run repeats the "
        "uninterrupted losses; slower",
    )
    checkpoint_every: int = Field(50, ge=1, description="steps between last.ckpt writes (and one at the end)")
    log_every: int = Field(10, ge=1, description="steps between MLflow metric logs (rank 0)")
    data: DataParams = Field(default_factory=DataParams, description="where the training images come from")
    knn: KnnParams = Field(
        default_factory=KnnParams,
        description="online kNN monitor on a SynthFaces label (Wu et al. 2018 vote)",
    )

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
