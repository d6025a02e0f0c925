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
        default_factory=lambda: CropParams(
            global_scale=(0.08, 1.0), color_jitter=BYOL_JITTER, blur=[1.0, 0.1], solarize=[0.0, 0.2]
        )
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

    crops: CropParams = Field(
        default_factory=lambda: CropParams(global_scale=(0.2, 1.0), color_jitter=MOCO_JITTER)
    )
    optim: OptimParams = Field(
        default_factory=lambda: OptimParams(name="sgd", base_lr=0.03, weight_decay=1e-4)
    )
    temperature: float = Field(0.2, gt=0)
    queue_length: int = Field(65536, ge=0)
    momentum: float = Field(0.999, ge=0, le=1)
    hidden_dim: int = Field(2048, gt=0)
    output_dim: int = Field(128, gt=0)
    symmetric: bool = False  # True: also the second view as query (MoCo v3's symmetrised loss)


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


def dino_crops() -> CropParams:
    """DINO's multi-crop (Caron et al. 2021, appendix): 2 global views at scale 0.4-1 and 8 local views
    at 0.05-0.4, BYOL's colour jitter, blur 1.0/0.1/0.5 and solarize on the second global view. ProS
    reuses it."""
    return CropParams(
        global_scale=(0.4, 1.0),
        local_scale=(0.05, 0.4),
        local_count=8,
        color_jitter=BYOL_JITTER,
        blur=[1.0, 0.1, 0.5],
        solarize=[0.0, 0.2, 0.0],
    )


class DinoParams(MethodParams):
    """DINO (Caron et al. 2021, section 3 and appendix): defaults of its ViT-S/16 recipe.

    `output_dim` is 65536 in the paper; the CPU default is 4096 (the head's last layer dominates the
    cost of a small backbone).
    """

    crops: CropParams = Field(default_factory=dino_crops)
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
            clip_per_parameter=True,
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


class ProsParams(MethodParams):
    """ProS (Di et al., sections 3.1-3.3); `facerep.ssl.methods.pros` says where the paper is silent.

    Paper: ViT-S/16 (`pretrain.backbone=vit_s16`), 224 px global and 96 px local views, 20 epochs at
    batch 256 with AdamW (weight decay 0.04), lr 2e-4 warmed over 2 epochs to 1e-3, cosine to 1e-6.
    The crop counts and scales are DINO's (the paper cites DINO's multi-crop without numbers).
    `teacher_target="sinkhorn"` replaces eq. 1's sharpened teacher softmax by Sinkhorn-Knopp codes
    (epsilon = `teacher_temperature`, as DINOv2's teacher centring), a deviation from the paper for
    short runs; `facerep.ssl.methods.pros` says why.
    """

    crops: CropParams = Field(default_factory=dino_crops)
    optim: OptimParams = Field(
        default_factory=lambda: OptimParams(
            name="adamw",
            base_lr=1e-3,
            final_lr_ratio=1e-3,
            warmup_fraction=0.1,
            weight_decay=0.04,
            exclude_bias_norm=True,
            clip_grad=3.0,
            clip_per_parameter=True,
        )
    )
    prototypes: int = Field(1024, ge=2)
    output_dim: int = Field(256, gt=0)
    hidden_dim: int = Field(2048, gt=0)
    teacher_temperature: float = Field(0.025, gt=0)
    student_temperature: float = Field(0.1, gt=0)
    teacher_target: Literal["softmax", "sinkhorn"] = "softmax"
    projector_bn: bool = False
    sinkhorn_iters: int = Field(3, ge=1)
    entropy_weight: float = Field(1.0, ge=0)
    momentum: float = Field(0.996, ge=0, le=1)
    momentum_end: float = Field(1.0, ge=0, le=1)


class FraParams(MethodParams):
    """FRA (Gao and Patras, sections 3.2-3.4, 4.1.1, Tables 7-8): BYOL's settings plus the region terms.

    Paper: ResNet-50 (`pretrain.backbone=resnet50`), BYOL augmentations and optimiser, N = 8 heatmaps,
    one decoder layer, lambda_c = 0.5, lambda_r = 0.1.
    """

    crops: CropParams = Field(
        default_factory=lambda: CropParams(
            global_scale=(0.08, 1.0), color_jitter=BYOL_JITTER, blur=[1.0, 0.1], solarize=[0.0, 0.2]
        )
    )
    optim: OptimParams = Field(
        default_factory=lambda: OptimParams(
            name="lars", base_lr=0.2, warmup_fraction=0.01, weight_decay=1.5e-6, exclude_bias_norm=True
        )
    )
    hidden_dim: int = Field(4096, gt=0)
    output_dim: int = Field(256, gt=0)
    heatmaps: int = Field(8, ge=2)
    decoder_layers: int = Field(1, ge=1)
    decoder_dim: int = Field(256, gt=0)
    decoder_heads: int = Field(8, ge=1)
    lambda_c: float = Field(0.5, ge=0, le=1)
    lambda_r: float = Field(0.1, ge=0)
    heatmap_temperature: float = Field(0.1, gt=0)
    sinkhorn_epsilon: float = Field(0.05, gt=0)
    sinkhorn_iters: int = Field(3, ge=1)
    memax_weight: float = Field(1.0, ge=0)
    momentum: float = Field(0.996, ge=0, le=1)
    momentum_end: float = Field(1.0, ge=0, le=1)


class PclParams(MethodParams):
    """PCL (Liu et al., sections 3.1-3.3 and 4.1): 64 px views, flips as the pose variation.

    Paper: a 16-layer CNN backbone, 2048-d pose and face features, Adam (beta 0.9/0.999) at lr 1e-4
    for batch 256 with cosine annealing, tau = 0.07, 1000 epochs. `feature_dim` defaults to 512 for
    CPU runs (set 2048 for the paper). Horizontal flip is the pose augmentation, so the views do not
    flip (`crops.flip` must stay false).
    """

    crops: CropParams = Field(default_factory=lambda: CropParams(global_scale=(0.2, 1.0)))
    optim: OptimParams = Field(
        default_factory=lambda: OptimParams(name="adamw", base_lr=1e-4, weight_decay=0.0)
    )
    feature_dim: int = Field(512, gt=0)
    decoder_channels: int = Field(256, gt=0)
    temperature: float = Field(0.07, gt=0)
    orth_weight: float = Field(1.0, ge=0)
    dwa_temperature: float = Field(2.0, gt=0)
    dwa_period_steps: int | None = Field(None, ge=1)


class SimfleParams(MethodParams):
    """SimFLE (Moon et al., sections 3.1-3.3 and 4.1).

    Paper: ResNet-50 (`pretrain.backbone=resnet50`), 224 px global views (`crops.global_size=224`),
    FaceMAE at 112 px (`mae_size=112`) with an MAE ViT-Base (`mae_dim=768`, `mae_depth=12`,
    `mae_heads=12`, decoder 512 x 8), SGD momentum 0.9, weight decay 1e-4, lr 0.05 for batch 256,
    cosine decay, 100 epochs. The CPU defaults shrink the views and the MAE. Where the paper is silent
    the authors' code (github.com/jymoon0613/simfle) decides: target momentum 0.99, constant.
    """

    crops: CropParams = Field(default_factory=lambda: CropParams(global_scale=(0.08, 1.0)))
    optim: OptimParams = Field(
        default_factory=lambda: OptimParams(name="sgd", base_lr=0.05, weight_decay=1e-4)
    )
    hidden_dim: int = Field(4096, gt=0)
    output_dim: int = Field(256, gt=0)
    distill_dim: int = Field(256, gt=0)
    momentum: float = Field(0.99, ge=0, le=1)  # paper silent; the authors' code: constant 0.99
    momentum_end: float = Field(0.99, ge=0, le=1)
    mae_size: int = Field(64, gt=0)
    patch_size: int = Field(16, gt=0)
    mask_ratio: float = Field(0.75, gt=0, lt=1)
    groups: int = Field(32, ge=1)
    mae_dim: int = Field(192, gt=0)
    mae_depth: int = Field(4, ge=1)
    mae_heads: int = Field(3, ge=1)
    decoder_dim: int = Field(128, gt=0)
    decoder_depth: int = Field(2, ge=1)
    decoder_heads: int = Field(4, ge=1)
    alpha: float = Field(0.3, ge=0)
    beta: float = Field(0.03, ge=0)
    distill_temperature: float = Field(4.0, gt=0)
    # refined: eq. 3's mask, trained by L_r (3.2); semantic: eq. 3 untrained by L_r (the authors' code);
    # random: MAE's random mask (Table 3 c)
    masking: Literal["refined", "semantic", "random"] = "refined"
    refine_temperature: float = Field(1.0, gt=0)
    # distill: FaceMAE reads detached backbone maps (3.3, Table 3 d); direct: L_g and the mask's
    # gradient reach the backbone (Table 3 b)
    connection: Literal["distill", "direct"] = "distill"


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
    swav: SwavParams = Field(default_factory=SwavParams)
    byol: ByolParams = Field(default_factory=ByolParams)
    mocov2: MocoV2Params = Field(default_factory=MocoV2Params)
    simclr: SimclrParams = Field(default_factory=SimclrParams)
    dino: DinoParams = Field(default_factory=DinoParams)
    pros: ProsParams = Field(default_factory=ProsParams)
    fra: FraParams = Field(default_factory=FraParams)
    pcl: PclParams = Field(default_factory=PclParams)
    simfle: SimfleParams = Field(default_factory=SimfleParams)
