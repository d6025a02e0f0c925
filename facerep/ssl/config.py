"""Parameters of the pretrain stage (`pretrain:` in pipeline_params.yaml).

Engine settings (batch, precision, data) are shared; each method has its own section holding its
paper's hyper-parameters and optimiser, named like the method (`pretrain.swav`, `pretrain.byol`, ...).
Defaults are sized for a CPU demo (small backbone, 64 px, a short run); where a paper value is too
heavy for that, the field's comment gives the paper value and docs/pretrain.md the override.
Learning rates are per 256 images and scale linearly with the global batch (Goyal et al. 2017), as
in the SwAV, BYOL, SimCLR, MoCo and DINO code bases.
"""

from typing import Literal

from pydantic import Field

from facerep.paramsbase import StrictModel


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


class MethodParams(StrictModel):
    """What every method section has: its views and its optimiser."""

    crops: CropParams = Field(default_factory=CropParams)
    optim: OptimParams = Field(default_factory=OptimParams)


class SwavParams(MethodParams):
    """SwAV as Bulat et al. 3.1/A.1 use it (Caron et al. 2020 for what A.1 leaves unsaid)."""

    crops: CropParams = Field(default_factory=lambda: CropParams(local_count=6))
    optim: OptimParams = Field(
        default_factory=lambda: OptimParams(
            name="lars", base_lr=0.3, final_lr_ratio=0.045 / 4.8, warmup_fraction=0.05, weight_decay=1e-6
        )
    )
    temperature: float = Field(0.1, gt=0)
    epsilon: float = Field(0.05, gt=0)
    sinkhorn_iters: int = Field(3, ge=1)
    prototypes: int = Field(3000, ge=2)
    hidden_dim: int = Field(2048, gt=0)
    output_dim: int = Field(128, gt=0)
    freeze_prototypes_steps: int | None = Field(None, ge=0)
    queue_length: int = Field(0, ge=0)
    queue_start_steps: int = Field(0, ge=0)


class ByolParams(MethodParams):
    """BYOL (Grill et al. 2020, section 3.3 and appendix B/C)."""

    crops: CropParams = Field(
        default_factory=lambda: CropParams(global_scale=(0.08, 1.0), blur=[1.0, 0.1], solarize=[0.0, 0.2])
    )
    optim: OptimParams = Field(
        default_factory=lambda: OptimParams(
            name="lars", base_lr=0.2, warmup_fraction=0.01, weight_decay=1.5e-6, exclude_bias_norm=True
        )
    )
    hidden_dim: int = Field(4096, gt=0)
    output_dim: int = Field(256, gt=0)
    momentum: float = Field(0.996, ge=0, le=1)
    momentum_end: float = Field(1.0, ge=0, le=1)


class MocoV2Params(MethodParams):
    """MoCo v2 (Chen et al. 2020, Improved Baselines): MLP head, temperature 0.2, blur, cosine lr."""

    crops: CropParams = Field(default_factory=lambda: CropParams(global_scale=(0.2, 1.0)))
    optim: OptimParams = Field(
        default_factory=lambda: OptimParams(name="sgd", base_lr=0.03, weight_decay=1e-4)
    )
    temperature: float = Field(0.2, gt=0)
    queue_length: int = Field(65536, ge=0)
    momentum: float = Field(0.999, ge=0, le=1)
    hidden_dim: int = Field(2048, gt=0)
    output_dim: int = Field(128, gt=0)


class SimclrParams(MethodParams):
    """SimCLR (Chen et al. 2020, section 4 and appendix B.1, B.9)."""

    crops: CropParams = Field(default_factory=lambda: CropParams(global_scale=(0.08, 1.0)))
    optim: OptimParams = Field(
        default_factory=lambda: OptimParams(
            name="lars", base_lr=0.3, warmup_fraction=0.1, weight_decay=1e-6, exclude_bias_norm=True
        )
    )
    temperature: float = Field(0.1, gt=0)
    hidden_dim: int = Field(2048, gt=0)
    output_dim: int = Field(128, gt=0)


class DinoParams(MethodParams):
    """DINO (Caron et al. 2021, section 3 and appendix): defaults of its ViT-S/16 recipe.

    `output_dim` is 65536 in the paper; the CPU default is 4096 (the head's last layer dominates the
    cost of a small backbone).
    """

    crops: CropParams = Field(
        default_factory=lambda: CropParams(
            global_scale=(0.4, 1.0),
            local_scale=(0.05, 0.4),
            local_count=8,
            blur=[1.0, 0.1, 0.5],
            solarize=[0.0, 0.2, 0.0],
        )
    )
    optim: OptimParams = Field(
        default_factory=lambda: OptimParams(
            name="adamw",
            base_lr=5e-4,
            final_lr_ratio=2e-3,
            warmup_fraction=0.1,
            weight_decay=0.04,
            weight_decay_end=0.4,
            exclude_bias_norm=True,
            clip_grad=3.0,
        )
    )
    output_dim: int = Field(4096, gt=1)
    hidden_dim: int = Field(2048, gt=0)
    bottleneck_dim: int = Field(256, gt=0)
    student_temperature: float = Field(0.1, gt=0)
    teacher_temperature: float = Field(0.04, gt=0)
    teacher_temperature_end: float = Field(0.07, gt=0)
    teacher_temperature_warmup_fraction: float = Field(0.3, ge=0, le=1)
    center_momentum: float = Field(0.9, ge=0, le=1)
    momentum: float = Field(0.996, ge=0, le=1)
    momentum_end: float = Field(1.0, ge=0, le=1)
    freeze_last_layer_steps: int | None = Field(None, ge=0)


class DataParams(StrictModel):
    """Where images come from: SynthFaces faces, an image folder, or the shard stage's tar shards."""

    source: Literal["synth_faces", "folder", "shards"] = "synth_faces"
    path: str | None = None
    size: int = Field(64, gt=0)
    split: Literal["train", "all"] = "train"


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
    method: str = "swav"
    backbone: str = "resnet18_small"
    max_steps: int = Field(200, gt=0)
    batch_size: int = Field(32, gt=0)
    grad_accum: int = Field(1, ge=1)
    num_workers: int = Field(1, ge=0)
    precision: Literal["auto", "bf16", "fp16", "fp32"] = "auto"
    compile: bool = False
    channels_last: bool = True
    sync_bn: bool = True
    deterministic: bool = False
    checkpoint_every: int = Field(50, ge=1)
    log_every: int = Field(10, ge=1)
    data: DataParams = Field(default_factory=DataParams)
    knn: KnnParams = Field(default_factory=KnnParams)
    swav: SwavParams = Field(default_factory=SwavParams)
    byol: ByolParams = Field(default_factory=ByolParams)
    mocov2: MocoV2Params = Field(default_factory=MocoV2Params)
    simclr: SimclrParams = Field(default_factory=SimclrParams)
    dino: DinoParams = Field(default_factory=DinoParams)
