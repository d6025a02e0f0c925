"""The seven evaluation tasks: which labels, which head, which loss, which metrics (Bulat et al. sec. 5, D.1).

A task turns a training split into targets, builds its head, computes its loss on head outputs, turns
outputs into predictions (`infer`) and scores predictions on a split (`evaluate`). `primary` names the
metric the search optimises and the report plots; `higher_is_better` says which way is better.
`constant` is the task's best prediction that ignores the face, its chance floor (`downstream.chance`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from facerep.downstream import chance
from facerep.downstream import metrics as M
from facerep.downstream.data import Split, TaskData
from facerep.downstream.heads import CosineHead, HeatmapHead, LinearHead
from facerep.downstream.heatmaps import decode, render
from facerep.downstream.losses import cosface, valence_arousal_loss

POSE_SCALE = 45.0  # degrees -> O(1) regression targets


@dataclass
class HeadSpec:
    """What a head needs to be built: pooled feature size, pyramid channels, the data's facts."""

    feature_dim: int
    channels: list[int]
    data: TaskData
    train: Split


class Task:
    """Base class: a linear head, targets = the label array as a float tensor."""

    name: ClassVar[str]
    label: ClassVar[str]
    primary: ClassVar[str]
    higher_is_better: ClassVar[bool] = True
    needs_maps: ClassVar[bool] = False

    def targets(self, split: Split) -> Tensor:
        return torch.tensor(split.labels[self.label], dtype=torch.float32)

    def make_head(self, spec: HeadSpec) -> nn.Module:
        return LinearHead(spec.feature_dim, self.out_dim(spec))

    def out_dim(self, spec: HeadSpec) -> int:
        return int(spec.train.labels[self.label].reshape(len(spec.train), -1).shape[1])

    def loss(self, out: Tensor, y: Tensor) -> Tensor:
        raise NotImplementedError

    def infer(self, head: nn.Module, pooled: Tensor, maps: list[Tensor]) -> Tensor:
        return head(pooled, maps)

    def evaluate(self, pred: Tensor, split: Split, data: TaskData) -> dict[str, float]:
        raise NotImplementedError

    def constant(self, train: Split, data: TaskData) -> Tensor:
        """One prediction, in `evaluate`'s form, fitted on `train`'s labels alone (module chance)."""
        raise NotImplementedError


class Expression(Task):
    """Linear head, cross-entropy; accuracy and mean per-class accuracy (RAF-DB, AffectNet, FER)."""

    name, label, primary = "expression", "expression", "accuracy"

    def targets(self, split: Split) -> Tensor:
        return torch.tensor(split.labels[self.label], dtype=torch.long)

    def out_dim(self, spec: HeadSpec) -> int:
        return int(spec.data.meta.get("classes") or spec.data.train.labels[self.label].max() + 1)

    def loss(self, out: Tensor, y: Tensor) -> Tensor:
        return F.cross_entropy(out, y)

    def evaluate(self, pred: Tensor, split: Split, data: TaskData) -> dict[str, float]:
        y = split.labels[self.label]
        return {"accuracy": M.accuracy(pred, y), "mean_class_accuracy": M.mean_per_class_accuracy(pred, y)}

    def constant(self, train: Split, data: TaskData) -> Tensor:
        classes = self.out_dim(HeadSpec(0, [], data, train))
        return torch.as_tensor(
            chance.one_hot_logits(chance.majority_class(train.labels[self.label]), classes)
        )


class Attributes(Task):
    """One logit per attribute, binary cross-entropy; mean accuracy over attributes (CelebA, LFWA)."""

    name, label, primary = "attributes", "attributes", "mean_accuracy"

    def loss(self, out: Tensor, y: Tensor) -> Tensor:
        return F.binary_cross_entropy_with_logits(out, y)

    def evaluate(self, pred: Tensor, split: Split, data: TaskData) -> dict[str, float]:
        y = split.labels[self.label]
        per = ((pred.numpy() > 0) == (y > 0.5)).mean(axis=0)
        names = data.meta.get("attribute_names") or [str(i) for i in range(y.shape[1])]
        return {"mean_accuracy": M.mean_accuracy(pred, y)} | {
            f"acc_{n}": float(a) for n, a in zip(names, per, strict=False)
        }

    def constant(self, train: Split, data: TaskData) -> Tensor:
        return torch.as_tensor(chance.column_majority(train.labels[self.label]) * 2 - 1)  # logits of +-1


class Landmarks(Task):
    """Bulat 5.2: heatmap head, pixel-wise L2 on Gaussian heatmaps, sub-pixel decoding; NME with the
    dataset's normaliser, failure rate and AUC at 10%."""

    name, label, primary = "landmarks", "landmarks", "nme"
    higher_is_better = False
    needs_maps = True

    def __init__(self, sigma: float = 1.0, width: int = 256) -> None:
        self.sigma, self.width = sigma, width

    def make_head(self, spec: HeadSpec) -> nn.Module:
        return HeatmapHead(spec.channels, spec.train.labels[self.label].shape[1], self.width)

    def loss(self, out: Tensor, y: Tensor) -> Tensor:
        target = render(y, out.shape[-2], out.shape[-1], self.sigma)
        return F.mse_loss(out, target) * 100.0

    def infer(self, head: nn.Module, pooled: Tensor, maps: list[Tensor]) -> Tensor:
        return decode(head(pooled, maps))

    def evaluate(self, pred: Tensor, split: Split, data: TaskData) -> dict[str, float]:
        norm = str(data.meta.get("nme_norm", "inter_ocular"))
        boxes = split.labels.get("box") if norm in ("diag", "box") else None
        errors = M.nme_per_image(pred, split.labels[self.label], norm, boxes)  # type: ignore[arg-type]
        return {"nme": float(errors.mean()), "fr10": M.failure_rate(errors), "auc10": M.auc_ced(errors)}

    def constant(self, train: Split, data: TaskData) -> Tensor:
        return torch.as_tensor(chance.column_mean(train.labels[self.label]))  # the mean shape


class ActionUnits(Task):
    """Bulat 5.3: linear head regressing each AU intensity with an L2 loss; ICC(3,1) per AU and mean."""

    name, label, primary = "au", "au", "icc"

    def loss(self, out: Tensor, y: Tensor) -> Tensor:
        return F.mse_loss(out, y)

    def evaluate(self, pred: Tensor, split: Split, data: TaskData) -> dict[str, float]:
        y = split.labels[self.label]
        per = M.icc_per_column(pred, y)
        names = data.meta.get("au_names") or [str(i) for i in range(y.shape[1])]
        out = {"icc": float(per.mean()), "mae": M.mae(pred, y)}
        return out | {f"icc_{n}": float(v) for n, v in zip(names, per, strict=False)}

    def constant(self, train: Split, data: TaskData) -> Tensor:
        return torch.as_tensor(chance.column_mean(train.labels[self.label]))


class Recognition(Task):
    """Bulat 5.1: CosFace (margin 0.35) over the training identities; verification on pairs of test
    faces whose identities training never saw (LFW's protocol): 10-fold accuracy on a balanced pair
    set (`accuracy`, the primary) and TAR@FAR. Pairs are the dataset's own (IJB pairs compare templates,
    `template_embeddings`), else every pair of the test faces marked `open_set` (a dataset whose split
    shares identities gets an identity-disjoint one, `splits.identity_disjoint_data`), else every pair.
    `closed_set_accuracy`, secondary, is the same accuracy on the other test faces, of identities seen
    in training (the protocol before identity-disjoint splits, which flatters what training memorised)."""

    name, label, primary = "recognition", "identity", "accuracy"

    def __init__(self, margin: float = 0.35, scale: float = 30.0) -> None:
        self.margin, self.scale = margin, scale

    def targets(self, split: Split) -> Tensor:
        _, inverse = np.unique(split.labels[self.label], return_inverse=True)
        return torch.tensor(inverse, dtype=torch.long)

    def make_head(self, spec: HeadSpec) -> nn.Module:
        return CosineHead(spec.feature_dim, len(np.unique(spec.train.labels[self.label])))

    def loss(self, out: Tensor, y: Tensor) -> Tensor:
        return cosface(out, y, self.margin, self.scale)

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


class Pose(Task):
    """Head pose (300W-LP -> AFLW2000 protocol): linear regression of yaw, pitch, roll; MAE in degrees."""

    name, label, primary = "pose", "pose", "mae"
    higher_is_better = False

    def targets(self, split: Split) -> Tensor:
        return super().targets(split) / POSE_SCALE

    def loss(self, out: Tensor, y: Tensor) -> Tensor:
        return F.smooth_l1_loss(out, y, beta=0.05)

    def infer(self, head: nn.Module, pooled: Tensor, maps: list[Tensor]) -> Tensor:
        return head(pooled, maps) * POSE_SCALE

    def evaluate(self, pred: Tensor, split: Split, data: TaskData) -> dict[str, float]:
        y = split.labels[self.label]
        per = np.abs(pred.numpy() - y).mean(axis=0)
        return {
            "mae": float(per.mean()),
            "mae_yaw": float(per[0]),
            "mae_pitch": float(per[1]),
            "mae_roll": float(per[2]),
        }

    def constant(self, train: Split, data: TaskData) -> Tensor:
        return torch.as_tensor(chance.column_median(train.labels[self.label]))  # degrees, like `infer`


class ValenceArousal(Task):
    """Bulat D.1: a linear head giving valence, arousal and expression logits; loss RMSE + (1 - CCC) +
    cross-entropy; RMSE, CCC, PCC, SAGR per dimension and expression accuracy."""

    name, label, primary = "valence_arousal", "valence_arousal", "ccc"

    def targets(self, split: Split) -> Tensor:
        va = torch.tensor(split.labels[self.label], dtype=torch.float32)
        expr = torch.tensor(split.labels["expression"], dtype=torch.float32)
        return torch.cat([va, expr[:, None]], dim=1)

    def out_dim(self, spec: HeadSpec) -> int:
        return 2 + Expression().out_dim(spec)

    def loss(self, out: Tensor, y: Tensor) -> Tensor:
        return valence_arousal_loss(out[:, :2], y[:, :2], out[:, 2:], y[:, 2].long())

    def evaluate(self, pred: Tensor, split: Split, data: TaskData) -> dict[str, float]:
        y = split.labels[self.label]
        va = pred[:, :2].numpy()
        out = {
            "ccc": M.ccc(va, y),
            "rmse": M.rmse(va, y),
            "accuracy": M.accuracy(pred[:, 2:], split.labels["expression"]),
        }
        for k, name in enumerate(("valence", "arousal")):
            p, t = va[:, k], y[:, k]
            out |= {f"{name}_rmse": M.rmse(p, t), f"{name}_ccc": M.ccc(p, t), f"{name}_pcc": M.pcc(p, t)}
            out[f"{name}_sagr"] = M.sagr(p, t)
        return out

    def constant(self, train: Split, data: TaskData) -> Tensor:
        expression = Expression().constant(train, data)
        return torch.cat([torch.as_tensor(chance.column_mean(train.labels[self.label])), expression])


def make_task(
    name: str, sigma: float = 1.0, margin: float = 0.35, scale: float = 30.0, heatmap_width: int = 256
) -> Task:
    """The task called `name` (finetune.tasks), with its configurable constants."""
    tasks: dict[str, Task] = {
        "expression": Expression(),
        "attributes": Attributes(),
        "landmarks": Landmarks(sigma, heatmap_width),
        "au": ActionUnits(),
        "recognition": Recognition(margin, scale),
        "pose": Pose(),
        "valence_arousal": ValenceArousal(),
    }
    return tasks[name]
