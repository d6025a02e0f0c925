"""Self-distillation for the semi-supervised case (Bulat et al. 3.5).

Bulat et al. 3.5: when a full face dataset is collected but only a few of its faces are labelled, the
fine-tuned network labels the unlabelled faces online for a student of the same size initialised
from the self-supervised checkpoint; repeated for T steps, the student of one step is the teacher of
the next, and the transfer minimises the task loss between teacher and student outputs,
argmin_{theta_t} L(f(x, theta_{t-1}), f(x, theta_t)) (pixel-wise L2 on heatmaps for landmarks).
Section 4 evaluates it on 300W landmarks at 100%, 10% and 2% of the labels.

Here the labelled part is the point's fixed subset, the unlabelled part the rest of the training
split, read for its images only. Where the paper is silent:

- Labelled faces stay in the student's training: every step draws one labelled batch (task loss on
  the true labels, weight 1) and one unlabelled batch (loss on the teacher's outputs, weight
  `unlabeled_weight`), passed through the network together so BatchNorm sees one batch. The paper
  says the student trains "on unlabeled data"; keeping the few true labels is what self-training
  methods it cites do (Xie et al., noisy student), and they only add information.
- The schedule, optimiser and learning rates are those the point's search chose for the teacher
  (`HParams`), so a distilled metric differs from the plain one by the distillation alone. The
  student's head is a fresh head drawn with the teacher's seed, and its labelled batches come in the
  teacher's order; only the unlabelled draws depend on the round.
- Targets are the teacher's raw outputs at temperature 1 in the form the task loss takes (each
  task's `Task.distill_loss`). A frozen probe (backbone multiplier 0) distils the head alone on the
  same frozen features.
- Batches are augmented as the teacher's were (`finetune.augment`, Bulat A.2), the unlabelled ones
  too: the teacher labels each augmented view online, so its target always matches the pixels the
  student sees. A frozen probe reads cached features and is not augmented.
- Face recognition is not distilled: its task loss (CosFace) classifies the labelled subset's
  identities, and an unlabelled face's identity is unknown and may not be among them (at 2% the
  subset holds a quarter of the identities), so the teacher's outputs are no target of that loss;
  distilling the embedding instead (a cosine to the teacher's) would be feature distillation, which
  the paper neither proposes nor evaluates.
"""

from __future__ import annotations

import copy

import torch
from torch import Tensor

from facerep.downstream.augment import make_augmenter
from facerep.downstream.config import FinetuneParams
from facerep.downstream.data import ImageSource, Joined, Split, TaskData, normalise
from facerep.downstream.heads import extract
from facerep.downstream.loader import seeded_draws, train_batches
from facerep.downstream.tasks import Task
from facerep.downstream.train import Features, Fitted, HParams, TrainSpec, build_head, encode, step
from facerep.ssl.backbones import Backbone

#: what a head reads: pooled features and the feature pyramid
HeadInputs = tuple[Tensor, list[Tensor]]


def applies(f: FinetuneParams, task: Task, init: str, regime: float) -> bool:
    """Whether the finetune stage distils a point: rounds asked for, some training faces left unlabelled
    (regime < 1), a pre-trained student (Bulat 3.5 initialises it from the pre-trained model; scratch
    has none), a fine-tuned teacher (`mode: finetune`) and a distillable task."""
    return (
        f.distill.rounds > 0
        and regime < 1
        and init != "scratch"
        and f.mode == "finetune"
        and task.distillable
    )


def _student(
    task: Task,
    teacher: Fitted,
    init: Backbone,
    data: TaskData,
    labeled: Split,
    images: ImageSource,
    features: Features | None,
    hp: HParams,
    spec: TrainSpec,
    *,
    seed: int,
    round_: int,
) -> Fitted:
    """One round: a student from `init` trained on labelled batches and on the teacher's online outputs.

    `images` (and, frozen, `features`) hold the labelled items first, then the unlabelled ones.
    """
    run = spec.run
    frozen = features is not None
    n_lab, n_unl = len(labeled), len(images) - len(labeled)
    net = init if frozen else copy.deepcopy(init).to(run.device, memory_format=torch.channels_last)
    head, optimizer, scheduler = build_head(
        task, net, data, labeled, hp, train_backbone=not frozen, seed=seed, weight_decay=spec.weight_decay
    )
    head.to(run.device)
    student = Fitted(net, head, task, frozen, run)
    y = task.targets(labeled)
    labeled_draws = seeded_draws(n_lab, spec.batch_size, hp.steps, seed)
    unlabeled_draws = seeded_draws(n_unl, spec.batch_size, hp.steps, 10_007 * (round_ + 1) + seed)
    draws = [torch.cat([il, n_lab + iu]) for il, iu in zip(labeled_draws, unlabeled_draws, strict=True)]
    n = len(labeled_draws[0]) if labeled_draws else 0  # labelled items lead every batch
    teacher.eval()
    head.train()
    net.train(not frozen)
    scaler = torch.amp.GradScaler(run.device.type, enabled=run.dtype == torch.float16)

    def update(inputs: HeadInputs, target_inputs: HeadInputs, idx: Tensor) -> None:
        """Task loss on the labelled rows, distillation loss against the teacher on the rest."""
        with torch.no_grad(), run.autocast():
            target = teacher.head(*target_inputs).float()
        with run.autocast():
            out = head(*inputs).float()
        labeled_loss = task.loss(out[:n], y[idx[:n]].to(run.device))
        step(
            labeled_loss + spec.unlabeled_weight * task.distill_loss(out[n:], target),
            optimizer,
            scheduler,
            scaler,
        )

    if features is not None:
        for idx in draws:
            update(features.take(idx), features.take(idx[n:]), idx)
        return student
    # the unlabelled rows' targets are placeholders, never read: their labels are withheld
    targets = torch.cat([y, y.new_zeros((n_unl, *y.shape[1:]))])
    augment = make_augmenter(run.augment, task, images.size, data.meta, y) if run.augment else None
    for idx, (batch, _) in zip(draws, train_batches(images, targets, draws, seed, run, augment), strict=True):
        x = normalise(batch.to(run.device, non_blocking=True))
        with torch.no_grad(), run.autocast():
            teacher_inputs = extract(teacher.backbone, x[n:], task.needs_maps)
        with run.autocast():
            inputs = extract(net, x, task.needs_maps)
        update(inputs, teacher_inputs, idx)
    return student


def distill(
    task: Task,
    teacher: Fitted,
    init: Backbone,
    data: TaskData,
    labeled: Split,
    unlabeled: Split,
    hp: HParams,
    spec: TrainSpec,
    *,
    seed: int,
    labeled_features: Features | None = None,
    unlabeled_features: Features | None = None,
) -> Fitted:
    """The student after `spec.distill_rounds` rounds of self-distillation (Bulat 3.5) from `teacher`,
    a model fitted on `labeled` with `hp`; each round's student starts from `init` (the
    self-supervised backbone) and becomes the next round's teacher.

    Only `unlabeled.images` is read: its labels, whatever they hold, never reach the student. With a
    frozen backbone (`hp.backbone_lr_mult == 0`, where `teacher` reads the same frozen `init`) the
    features of both parts may be given, as the stage caches them; they are computed otherwise.
    Students train on `spec.run`'s device (where `teacher` is), augmented as it says.
    """
    run = spec.run
    if not task.distillable:
        raise ValueError(f"{task.name} is not distilled (facerep.downstream.distill)")
    if len(unlabeled) == 0:
        raise ValueError("self-distillation needs unlabelled training faces; the subset holds them all")
    images = Joined([labeled.images, unlabeled.images])
    features = None
    if hp.backbone_lr_mult == 0:
        init = init.to(run.device)
        lab = labeled_features or encode(init, labeled.images, task.needs_maps, run)
        unl = unlabeled_features or encode(init, unlabeled.images, task.needs_maps, run)
        levels = [torch.cat(pair) for pair in zip(lab.maps, unl.maps, strict=True)]
        features = Features(torch.cat([lab.pooled, unl.pooled]), levels)
    for round_ in range(spec.distill_rounds):
        teacher = _student(
            task, teacher, init, data, labeled, images, features, hp, spec, seed=seed, round_=round_
        )
    return teacher
