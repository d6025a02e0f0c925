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
- Targets are the teacher's raw outputs at temperature 1 in the form the task loss takes
  (`distill_loss`). A frozen probe (backbone multiplier 0) distils the head alone on the same frozen
  features.
- No augmentation (see facerep.downstream.train); the paper's online labels are then per batch, not
  per augmented view.
- Face recognition is not distilled: its task loss (CosFace) classifies the labelled subset's
  identities, and an unlabelled face's identity is unknown and may not be among them (at 2% the
  subset holds a quarter of the identities), so the teacher's outputs are no target of that loss;
  distilling the embedding instead (a cosine to the teacher's) would be feature distillation, which
  the paper neither proposes nor evaluates.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import Tensor

from facerep.downstream.config import FinetuneParams
from facerep.downstream.data import Split, TaskData, normalise
from facerep.downstream.heads import extract
from facerep.downstream.losses import valence_arousal_loss
from facerep.downstream.tasks import (
    Attributes,
    Expression,
    Landmarks,
    Recognition,
    Task,
    ValenceArousal,
)
from facerep.downstream.train import Features, Fitted, HParams, build_head, encode
from facerep.ssl.backbones import Backbone

#: `Landmarks.loss` scales its pixel-wise MSE by this; the distillation loss on heatmaps keeps the scale.
HEATMAP_LOSS_SCALE = 100.0


def distillable(task: Task) -> bool:
    """Whether the teacher's outputs can be a target of `task`'s loss (not recognition: module doc)."""
    return not isinstance(task, Recognition)


def applies(f: FinetuneParams, task: Task, init: str, regime: float) -> bool:
    """Whether the finetune stage distils a point: rounds asked for, some training faces left unlabelled
    (regime < 1), a pre-trained student (Bulat 3.5 initialises it from the pre-trained model; scratch
    has none), a fine-tuned teacher (`mode: finetune`) and a distillable task."""
    return (
        f.distill.rounds > 0
        and regime < 1
        and init != "scratch"
        and f.mode == "finetune"
        and distillable(task)
    )


def distill_loss(task: Task, out: Tensor, teacher: Tensor) -> Tensor:
    """The task loss of the student's head outputs `out` against the teacher's raw head outputs
    (Bulat 3.5: L(f(x, theta_{t-1}), f(x, theta_t))), with the teacher's outputs in the form the loss
    takes: class logits become softmax probabilities (cross-entropy on soft targets, KL up to the
    teacher's entropy), attribute logits sigmoid probabilities (BCE), heatmaps stay heatmaps
    (pixel-wise L2, as the paper says), AU intensities and pose stay values (their L2 and smooth L1),
    and valence/arousal keep RMSE + (1 - CCC) on the values plus soft cross-entropy on the logits."""
    if isinstance(task, Recognition):
        raise ValueError("recognition is not distilled: an unlabelled face's identity is unknown")
    if isinstance(task, Landmarks):
        return F.mse_loss(out, teacher) * HEATMAP_LOSS_SCALE
    if isinstance(task, ValenceArousal):
        return valence_arousal_loss(out[:, :2], teacher[:, :2], out[:, 2:], teacher[:, 2:].softmax(1))
    if isinstance(task, Expression):
        return task.loss(out, teacher.softmax(1))
    if isinstance(task, Attributes):
        return task.loss(out, teacher.sigmoid())
    return task.loss(out, teacher)


def _inputs(
    net: Backbone, images: Tensor, features: Features | None, idx: Tensor, maps: bool
) -> tuple[Tensor, list[Tensor]]:
    """What a head reads for items `idx`: the cached frozen features, else a pass through `net`."""
    if features is not None:
        return features.take(idx)
    return extract(net, normalise(images[idx]), maps)


def _student(
    task: Task,
    teacher: Fitted,
    init: Backbone,
    data: TaskData,
    labeled: Split,
    images: Tensor,
    features: Features | None,
    hp: HParams,
    *,
    unlabeled_weight: float,
    seed: int,
    round_: int,
    batch_size: int,
    weight_decay: float,
) -> Fitted:
    """One round: a student from `init` trained on labelled batches and on the teacher's online outputs.

    `images` (and, frozen, `features`) hold the labelled items first, then the unlabelled ones.
    """
    frozen = features is not None
    n_lab, n_unl = len(labeled), len(images) - len(labeled)
    net = init if frozen else copy.deepcopy(init)
    head, optimizer, scheduler = build_head(
        task, net, data, labeled, hp, train_backbone=not frozen, seed=seed, weight_decay=weight_decay
    )
    student = Fitted(net, head, task, frozen)
    y = task.targets(labeled)
    labeled_draws = torch.Generator().manual_seed(seed)
    unlabeled_draws = torch.Generator().manual_seed(10_007 * (round_ + 1) + seed)
    teacher.eval()
    head.train()
    net.train(not frozen)
    for _ in range(hp.steps):
        il = torch.randint(n_lab, (min(batch_size, n_lab),), generator=labeled_draws)
        iu = n_lab + torch.randint(n_unl, (min(batch_size, n_unl),), generator=unlabeled_draws)
        with torch.no_grad():
            target = teacher.head(*_inputs(teacher.backbone, images, features, iu, task.needs_maps))
        out = head(*_inputs(net, images, features, torch.cat([il, iu]), task.needs_maps))
        loss = task.loss(out[: len(il)], y[il]) + unlabeled_weight * distill_loss(
            task, out[len(il) :], target
        )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
    return student


def distill(
    task: Task,
    teacher: Fitted,
    init: Backbone,
    data: TaskData,
    labeled: Split,
    unlabeled: Split,
    hp: HParams,
    *,
    rounds: int,
    unlabeled_weight: float,
    seed: int,
    batch_size: int,
    weight_decay: float,
    labeled_features: Features | None = None,
    unlabeled_features: Features | None = None,
) -> Fitted:
    """The student after `rounds` rounds of self-distillation (Bulat 3.5) from `teacher`, a model
    fitted on `labeled` with `hp`; each round's student starts from `init` (the self-supervised
    backbone) and becomes the next round's teacher.

    Only `unlabeled.images` is read: its labels, whatever they hold, never reach the student. With a
    frozen backbone (`hp.backbone_lr_mult == 0`, where `teacher` reads the same frozen `init`) the
    features of both parts may be given, as the stage caches them; they are computed otherwise.
    """
    if not distillable(task):
        raise ValueError(f"{task.name} is not distilled (facerep.downstream.distill)")
    if len(unlabeled) == 0:
        raise ValueError("self-distillation needs unlabelled training faces; the subset holds them all")
    images = torch.cat([labeled.images, unlabeled.images])
    features = None
    if hp.backbone_lr_mult == 0:
        lab = encode(init, labeled.images, task.needs_maps) if labeled_features is None else labeled_features
        unl = (
            encode(init, unlabeled.images, task.needs_maps)
            if unlabeled_features is None
            else unlabeled_features
        )
        levels = [torch.cat(pair) for pair in zip(lab.maps, unl.maps, strict=True)]
        features = Features(torch.cat([lab.pooled, unl.pooled]), levels)
    for round_ in range(rounds):
        teacher = _student(
            task,
            teacher,
            init,
            data,
            labeled,
            images,
            features,
            hp,
            unlabeled_weight=unlabeled_weight,
            seed=seed,
            round_=round_,
            batch_size=batch_size,
            weight_decay=weight_decay,
        )
    return teacher
