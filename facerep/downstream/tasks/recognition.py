"""Face recognition (CosFace training, verification on pairs of unseen people): Bulat et al. 5.1."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor, nn

from facerep.downstream import metrics as M
from facerep.downstream.augment import FLIP
from facerep.downstream.data import Split, TaskData
from facerep.downstream.heads import CosineHead
from facerep.downstream.losses import cosface
from facerep.downstream.splits import identity_disjoint_data
from facerep.downstream.tasks.base import HeadSpec, Task, register_task

if TYPE_CHECKING:
    from facerep.downstream.config import FinetuneParams


@register_task("recognition")
class Recognition(Task):
    """Bulat 5.1: CosFace (margin 0.35) over the training identities; verification on pairs of test
    faces whose identities training never saw (LFW's protocol): 10-fold accuracy on a balanced pair
    set (`accuracy`, the primary) and TAR@FAR. Pairs are the dataset's own (IJB pairs compare templates,
    `template_embeddings`), else every pair of the test faces marked `open_set` (a dataset whose split
    shares identities gets an identity-disjoint one, `own_data`), else every pair.
    `closed_set_accuracy`, secondary, is the same accuracy on the other test faces, of identities seen
    in training (the protocol before identity-disjoint splits, which flatters what training memorised).

    A.2: "the only augmentation applied was random horizontal flipping". Not distilled: CosFace
    classifies the labelled subset's identities, and an unlabelled face's identity is unknown and may
    not be among them (`facerep.downstream.distill`)."""

    label, primary, order = "identity", "accuracy", 4
    augment = frozenset({FLIP})
    distillable = False
    subset_groups = "identity"

    def __init__(self, margin: float = 0.35, scale: float = 30.0) -> None:
        self.margin, self.scale = margin, scale

    @classmethod
    def from_params(cls, f: FinetuneParams) -> Recognition:
        return cls(f.cosface_margin, f.cosface_scale)

    @classmethod
    def own_data(cls, data: TaskData, seed: int) -> TaskData | None:
        """`splits.identity_disjoint_data` when the dataset defines no verification pairs and its test
        faces share identities with training (SynthFaces splits by face); None when `data` will do
        (LFW and IJB bring pairs of people their training folders do not hold)."""
        if data.pairs is not None or "identity" not in data.train.labels:
            return None
        if not np.isin(data.test.labels.get("identity", []), data.train.labels["identity"]).any():
            return None
        return identity_disjoint_data(data, seed)

    def targets(self, split: Split) -> Tensor:
        _, inverse = np.unique(split.labels[self.label], return_inverse=True)
        return torch.tensor(inverse, dtype=torch.long)

    def make_head(self, spec: HeadSpec) -> nn.Module:
        return CosineHead(spec.feature_dim, len(np.unique(spec.train.labels[self.label])))

    def loss(self, out: Tensor, y: Tensor) -> Tensor:
        return cosface(out, y, self.margin, self.scale)

    def distill_loss(self, out: Tensor, teacher: Tensor) -> Tensor:
        raise ValueError("recognition is not distilled: an unlabelled face's identity is unknown")

    def infer(self, head: nn.Module, pooled: Tensor, maps: list[Tensor]) -> Tensor:
        return head.embedding(pooled)  # type: ignore[operator]

    def evaluate(self, pred: Tensor, split: Split, data: TaskData) -> dict[str, float]:
        emb = pred.numpy()
        if data.pairs is not None and split is data.test:
            i, j, same = data.pairs.T
            if "templates" in data.meta:  # IJB: the pairs compare template ids, not test faces
                tids, emb = template_embeddings(emb, np.asarray(data.meta["templates"]))
                i, j = np.searchsorted(tids, i), np.searchsorted(tids, j)
            return verification((emb[i] * emb[j]).sum(axis=1), same, np.arange(len(same)))
        ids = split.labels[self.label]
        if "open_set" not in split.labels:
            return all_pairs_verification(emb, ids)
        unseen = split.labels["open_set"].astype(bool)
        closed = all_pairs_verification(emb[~unseen], ids[~unseen])["accuracy"]
        return all_pairs_verification(emb[unseen], ids[unseen]) | {"closed_set_accuracy": closed}

    def constant(self, train: Split, data: TaskData) -> Tensor:
        return torch.ones(1)  # every face the same unit embedding: every pair scores 1


def verification(scores: np.ndarray, same: np.ndarray, balanced: np.ndarray) -> dict[str, float]:
    """Accuracy on the `balanced` pairs and TAR at FAR 1e-3 and 1e-4 over all of them; NaN when the
    pairs are all of one kind (no threshold can be judged)."""
    if same.sum() == 0 or same.sum() == len(same):
        return {"accuracy": float("nan"), "tar_far_1e-3": float("nan"), "tar_far_1e-4": float("nan")}
    return {
        "accuracy": M.verification_accuracy(scores[balanced], same[balanced]),
        "tar_far_1e-3": M.tar_at_far(scores, same, 1e-3),
        "tar_far_1e-4": M.tar_at_far(scores, same, 1e-4),
    }


def all_pairs_verification(emb: np.ndarray, ids: np.ndarray) -> dict[str, float]:
    """`verification` over every pair of faces (cosine of their embeddings), accuracy on all positive
    pairs with as many random negatives (`balanced_pairs`)."""
    i, j = np.triu_indices(len(ids), k=1)
    same = (ids[i] == ids[j]).astype(np.int64)
    scores = (emb @ emb.T)[i, j]
    return verification(scores, same, balanced_pairs(same, seed=0))


def template_embeddings(emb: np.ndarray, templates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """IJB-B/C verify templates (sets of faces of one subject): a template's embedding is the mean of
    its faces' L2-normalised embeddings, normalised again so a pair's score stays a cosine. Returns
    the sorted template ids and one embedding row per id."""
    unit = emb / np.linalg.norm(emb, axis=1, keepdims=True).clip(min=1e-12)
    ids, inverse = np.unique(templates, return_inverse=True)
    sums = np.zeros((len(ids), emb.shape[1]))
    np.add.at(sums, inverse, unit)
    means = sums / np.bincount(inverse)[:, None]
    return ids, means / np.linalg.norm(means, axis=1, keepdims=True).clip(min=1e-12)


def balanced_pairs(same: np.ndarray, seed: int) -> np.ndarray:
    """Every positive pair plus as many randomly chosen negative pairs (LFW-style balance), shuffled."""
    rng = np.random.default_rng(seed)
    pos, neg = np.flatnonzero(same == 1), np.flatnonzero(same == 0)
    chosen = np.concatenate([pos, rng.choice(neg, size=min(len(neg), len(pos)), replace=False)])
    return rng.permutation(chosen)
