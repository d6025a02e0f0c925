"""Parameters of the finetune stage (`finetune:` in pipeline_params.yaml).

Defaults are the demo's size: four tasks on SynthFaces at 64 px, a linear probe on cached features,
short schedules and a two-point search, so the whole (task x init x regime x seed) grid runs in a few
minutes on a 2-core CPU. The benchmark of docs/finetune.md (`bench/bench_finetune_synth.py`) uses full
fine-tuning, 112 px and longer schedules, as Bulat et al. (section 3.3, A.2) do.
"""

from collections.abc import Iterable
from typing import Literal

from pydantic import Field, field_validator

from facerep.paramsbase import StrictModel

#: the demo's tasks (`finetune.tasks` default); README says why the other three are left out
DEMO_TASKS = ("attributes", "au", "pose", "valence_arousal")


def task_names() -> list[str]:
    """Every registered task (`facerep.downstream.tasks`), in their default order. The registry
    imports torch, so it is read on first validation, never when this module is imported."""
    from facerep.downstream.tasks import task_names as registered

    return registered()


def check_tasks(names: Iterable[str]) -> None:
    """Raise naming every task in `names` that the stage does not know, and the ones it does."""
    known = task_names()
    unknown = [t for t in names if t not in known]
    if unknown:
        raise ValueError(f"unknown task(s) {unknown}; tasks: {', '.join(known)}")


class SearchParams(StrictModel):
    """Per-point hyper-parameter search (Bulat et al. 3.3): learning rate, schedule length, backbone lr."""

    enabled: bool = Field(
        True, description="search each point on a validation part; false: the grid's first point is used"
    )
    lr: list[float] = Field(
        default_factory=lambda: [1e-3, 1e-2],
        min_length=1,
        description="head learning rates tried (AdamW, cosine schedule); the backbone's is lr x "
        "backbone_lr_mult",
    )
    steps: list[int] = Field(
        default_factory=lambda: [300],
        min_length=1,
        description="schedule lengths tried, in optimiser steps (unless steps_by_task or steps_by_regime "
        "give them)",
    )
    steps_by_regime: dict[float, list[int]] = Field(
        default_factory=dict,
        description="schedule lengths for particular regimes, e.g. {1.0: [500]}: 100% labels need longer",
    )
    steps_by_task: dict[str, dict[float, list[int]]] = Field(
        default_factory=dict,
        description="schedule lengths for particular (task, regime) points, e.g. {au: {1.0: [600]}}; "
        "before steps_by_regime: some tasks need longer to converge from all labels than others",
    )
    backbone_lr_mult: list[float] = Field(
        default_factory=lambda: [0.1],
        min_length=1,
        description="0 freezes the backbone (a linear probe on cached features); scratch skips 0",
    )
    scratch_backbone_lr_mult: list[float] | None = Field(
        None,
        min_length=1,
        description="multipliers of scratch backbones; null: the positive ones of backbone_lr_mult (1 when "
        "none). A multiplier below 1 keeps pre-trained weights near what they learned; with few labels it "
        "also steadies a random backbone (on SynthFaces at 2%, scratch does better at 0.3 than at 1)",
    )
    budget: int = Field(8, ge=1, description="most grid points tried per (task, dataset, init, regime)")
    method: Literal["grid", "optuna"] = Field(
        "grid",
        description="grid: every point (a seeded sample of budget when larger) | optuna: TPE for budget "
        "trials",
    )
    val_fraction: float = Field(0.2, gt=0, lt=1, description="part of the training subset held out")
    min_val: int = Field(8, ge=1, description="least validation items (taken even from a tiny subset)")

    @field_validator("steps_by_task")
    @classmethod
    def _known_task_keys(cls, v: dict[str, dict[float, list[int]]]) -> dict[str, dict[float, list[int]]]:
        check_tasks(v)
        empty = [f"{t}: {r}" for t, by_regime in v.items() for r, steps in by_regime.items() if not steps]
        if empty:
            raise ValueError(f"empty schedule list for {', '.join(empty)}")
        return v

    def steps_for(self, task: str, regime: float) -> list[int]:
        """Schedule lengths of one point: `steps_by_task`, else `steps_by_regime`, else `steps`."""
        by_task = self.steps_by_task.get(task, {})
        if regime in by_task:
            return list(by_task[regime])
        return list(self.steps_by_regime.get(regime, self.steps))


class DistillParams(StrictModel):
    """Self-distillation for the semi-supervised case (Bulat et al. 3.5), `facerep.downstream.distill`."""

    rounds: int = Field(0, ge=0, description="T teacher -> student rounds; 0: off")
    unlabeled_weight: float = Field(
        1.0, ge=0, description="weight of the distillation loss on the unlabeled batch (labeled loss: 1)"
    )


class AugmentParams(StrictModel):
    """Training-time augmentation of fine-tuning (Bulat et al. A.2), `facerep.downstream.augment`.

    Which transforms a task gets is A.2's recipe for it (the task's `augment`); these are their
    magnitudes. Frozen-feature probes are never augmented: their features are computed once.
    """

    enabled: bool = Field(True, description="augment fine-tuning points (mode finetune, multiplier > 0)")
    rotation: float = Field(30.0, ge=0, le=180, description="in-plane rotation, +- degrees (A.2: 30)")
    scale: tuple[float, float] = Field((0.85, 1.15), description="zoom range (A.2: 0.85-1.15)")
    translate: float = Field(
        0.1, ge=0, lt=1, description="shift, fraction of the size (A.2, 300W-LP: 10%); pose only"
    )
    flip: float = Field(0.5, ge=0, le=1, description="probability of a horizontal flip")
    colour: float = Field(
        0.3, ge=0, lt=1, description="brightness, contrast, saturation factors drawn in [1 - c, 1 + c]"
    )
    blur: float = Field(0.4, ge=0, le=1, description="probability of a Gaussian blur (A.2: AU only, 0.4)")
    blur_kernel: tuple[int, int] = Field(
        (5, 10), description="blur kernel range in px at 256 px (A.2: 5-10), scaled to image_size"
    )

    @field_validator("scale", "blur_kernel")
    @classmethod
    def _range(cls, v: tuple[float, float]) -> tuple[float, float]:
        if not 0 < v[0] <= v[1]:
            raise ValueError(f"expected 0 < low <= high, got {list(v)}")
        return v


class FinetuneParams(StrictModel):
    """Which evaluations run, on what data, from which initialisations, and how each is trained."""

    tasks: list[str] = Field(
        default_factory=lambda: list(DEMO_TASKS),
        description="tasks evaluated, all on `dataset` (registered in facerep/downstream/tasks/); the "
        "demo's four: expression, landmarks and recognition (the others registered) stay at chance or do "
        "not improve with labels in frozen 64 px features (README)",
    )
    regimes: list[float] = Field(
        default_factory=lambda: [0.02, 0.10, 1.0],
        description="label fractions in (0, 1]; fixed nested subsets of the training split (Bulat et al. "
        "A.3)",
    )
    seeds: int = Field(
        3,
        gt=0,
        description="final runs per point, seeds 0..n-1 (unless seeds_by_regime gives n); reported as mean "
        "and std",
    )
    seeds_by_regime: dict[float, int] = Field(
        default_factory=lambda: {0.02: 5},
        description="seeds for particular regimes (2% is the noisy one: 5 seeds)",
    )
    dataset: str = Field("synthfaces", description="synthfaces or a published layout under datasets_root")
    datasets_root: str = Field(
        "data/datasets", description="folder holding <dataset>/ in its published layout"
    )
    inits: list[str] | None = Field(
        None, description="scratch, imagenet, pretrain:<method>; null: scratch + every backbone.pt present"
    )
    mode: Literal["finetune", "linear"] = Field(
        "linear",
        description="linear: frozen backbone and BN statistics, a head on cached features | finetune: "
        "backbone trained too, at lr x search.backbone_lr_mult (Bulat et al. 3.3)",
    )
    backbone: str | None = Field(None, description="scratch architecture; null: that of the pre-trained one")
    imagenet_weights: str | None = Field(None, description="local copy of torchvision ImageNet weights")
    image_size: int = Field(
        64, gt=0, description="side in px faces are resized to for the backbone (the benchmark: 112)"
    )
    batch_size: int = Field(32, gt=0, description="items per training step")
    weight_decay: float = Field(
        1e-4, ge=0, description="AdamW weight decay of heads and fine-tuned backbones"
    )
    max_train: int | None = Field(
        None, gt=0, description="cap on training items (before subsetting); null: all"
    )
    max_test: int | None = Field(
        None, gt=0, description="cap on test items (recognition: verification pairs); null: all"
    )
    split_seed: int | None = Field(None, description="seed of the fixed subsets; null: the global seed")
    heatmap_width: int = Field(64, gt=0, description="channels of the landmark head (Bulat 5.2: 256)")
    heatmap_sigma: float = Field(1.0, gt=0, description="Gaussian std of landmark heatmaps, heatmap px")
    cosface_margin: float = Field(0.35, ge=0, description="Bulat et al. A.2")
    cosface_scale: float = Field(
        30.0, gt=0, description="CosFace scale s of the recognition head (Bulat et al. A.2)"
    )
    device: str = Field(
        "auto",
        pattern=r"^(auto|cpu|cuda(:\d+)?|mps)$",
        description="auto (CUDA when present, else CPU), cpu, cuda, cuda:N or mps",
    )
    precision: Literal["auto", "bf16", "fp16", "fp32"] = Field(
        "auto", description="autocast dtype; auto: bf16 on CUDA, fp32 elsewhere (as pretrain.precision)"
    )
    num_workers: int | None = Field(
        None,
        ge=0,
        description="DataLoader processes decoding faces; 0: in-process; null: 0 training on the CPU, "
        "one per spare core up to 8 beside an accelerator (`device.default_workers`)",
    )
    augment: AugmentParams = Field(
        default_factory=AugmentParams,
        description="fine-tuning augmentation, per task as Bulat et al. A.2 (never for frozen probes)",
    )
    search: SearchParams = Field(
        default_factory=SearchParams,
        description="per-point hyper-parameter search on a validation part of the training subset (Bulat "
        "et al. 3.3)",
    )
    distill: DistillParams = Field(
        default_factory=DistillParams,
        description="self-distillation on the unlabeled rest of the training split (Bulat et al. 3.5)",
    )

    @field_validator("tasks")
    @classmethod
    def _known_tasks(cls, v: list[str]) -> list[str]:
        check_tasks(v)
        return v

    @field_validator("regimes")
    @classmethod
    def _fractions(cls, v: list[float]) -> list[float]:
        if not v or any(not 0 < f <= 1 for f in v):
            raise ValueError("regimes are label fractions in (0, 1]")
        return sorted(set(v))
