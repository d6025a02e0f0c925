"""Published numbers beside ours where the dataset matches (as FaRL keeps logs/paper beside
logs/reproduce). Values are in facerep's units: NME as a fraction (the papers print percent).

Source: Bulat et al. 2022 (../shared/papers/004_*), Table 6 (landmarks, NME inter-ocular; AFLW-19 NME
diag), Table 4 (IJB-B/C TAR at FAR 1e-4), Table 7 (BP4D ICC, fine-tuned) and Table 12 (AffectNet
valence CCC / expression accuracy). Table 6's COFW column is COFW-68 (5.2), not the 29-point COFW the
`cofw` loader reads, so it is not shown beside it.
Keys: (task, dataset, metric) -> {row label: {regime: value}}.
"""

from __future__ import annotations

_LANDMARKS = {  # Table 6: 300W, COFW, WFLW, AFLW per regime, NME %
    "Bulat: Scratch": {
        1.0: (4.50, 4.10, 5.10, 1.59),
        0.1: (6.61, 5.63, 6.82, 1.84),
        0.02: (13.52, 14.7, 10.43, 2.23),
    },
    "Bulat: Sup. (ImageNet)": {
        1.0: (4.16, 3.63, 4.80, 1.59),
        0.1: (5.15, 5.32, 6.56, 1.81),
        0.02: (8.04, 8.05, 8.99, 2.09),
    },
    "Bulat: SwAV (VGG-F)": {
        1.0: (3.85, 3.32, 4.57, 1.55),
        0.1: (4.25, 3.95, 5.44, 1.74),
        0.02: (4.97, 4.70, 6.29, 1.88),
    },
}
_LM_COLUMN = {"w300": 0, "wflw": 2, "aflw19": 3}

PAPER: dict[tuple[str, str, str], dict[str, dict[float, float]]] = {
    ("landmarks", ds, "nme"): {
        row: {r: v[col] / 100 for r, v in regimes.items()} for row, regimes in _LANDMARKS.items()
    }
    for ds, col in _LM_COLUMN.items()
}
PAPER[("recognition", "ijb", "tar_far_1e-4")] = {  # Table 4, IJB-B
    "Bulat: Scratch": {1.0: 0.912, 0.1: 0.848, 0.02: 0.672},
    "Bulat: Sup. (ImageNet)": {1.0: 0.912, 0.1: 0.858, 0.02: 0.694},
    "Bulat: SwAV (VGG-F)": {1.0: 0.912, 0.1: 0.889, 0.02: 0.744},
}
PAPER[("au", "bp4d", "icc")] = {  # Table 7, BP4D fine-tuned; its third regime is 1%, not 2%
    "Bulat: Scratch": {1.0: 0.617, 0.1: 0.622},
    "Bulat: Sup. (ImageNet)": {1.0: 0.708, 0.1: 0.698},
    "Bulat: SwAV (VGG-F)": {1.0: 0.719, 0.1: 0.706},
}
PAPER[("valence_arousal", "affectnet", "valence_ccc")] = {  # Table 12
    "Bulat: random": {1.0: 0.695, 0.1: 0.625, 0.02: 0.515},
    "Bulat: imagenet": {1.0: 0.705, 0.1: 0.654, 0.02: 0.557},
    "Bulat: ours": {1.0: 0.710, 0.1: 0.678},
}
PAPER[("expression", "affectnet", "accuracy")] = {  # Table 12, expression accuracy of the joint head
    "Bulat: random": {1.0: 0.590, 0.1: 0.493, 0.02: 0.419},
    "Bulat: imagenet": {1.0: 0.592, 0.1: 0.548, 0.02: 0.479},
    "Bulat: ours": {1.0: 0.602, 0.1: 0.562},
}


def published(task: str, dataset: str, metric: str) -> dict[str, dict[float, float]]:
    """Published rows for this (task, dataset, metric), or {} when no paper used that dataset."""
    return PAPER.get((task, dataset, metric), {})
