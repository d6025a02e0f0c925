"""Basic expressions as FACS action-unit prototypes, with valence and arousal on the circumplex.

Prototypes follow the EMFACS predictions for the six basic emotions (Ekman, Friesen & Hager, FACS
Investigator's Guide, 2002, table 12-1): surprise 1+2+5+26, fear 1+2+4+5+7+20+26, disgust 9/10+15
(+4, 7), happiness 6+12, sadness 1+4+15, anger 4+5+7+23. AU9 is folded into AU10 here. Valence and
arousal are each class's position on Russell's circumplex (as annotated in AffectNet, Mollahosseini
et al. 2017, fig. 4) scaled by the sample's expression strength, plus noise.
"""

from __future__ import annotations

import numpy as np

from facerep.synth.face3d import ALL_AUS

#: RAF-DB class order (Li et al. 2017).
EXPRESSIONS = ("Surprise", "Fear", "Disgust", "Happiness", "Sadness", "Anger", "Neutral")

_PROTOTYPES: dict[int, dict[str, float]] = {
    0: {"au01": 4.0, "au02": 4.0, "au05": 3.5, "au26": 3.8},
    1: {"au01": 3.5, "au02": 2.5, "au04": 3.0, "au05": 3.5, "au07": 1.5, "au20": 3.5, "au26": 2.0},
    2: {"au04": 2.5, "au06": 1.5, "au07": 2.5, "au10": 4.0, "au15": 3.0},
    3: {"au06": 3.5, "au12": 4.5, "au26": 0.8},
    4: {"au01": 4.0, "au04": 2.5, "au15": 4.0},
    5: {"au04": 4.5, "au05": 2.0, "au07": 3.5, "au23": 4.0},
    6: {},
}

_CIRCUMPLEX = np.array(
    [(0.2, 0.85), (-0.6, 0.75), (-0.65, 0.35), (0.8, 0.45), (-0.7, -0.35), (-0.55, 0.7), (0.0, -0.05)]
)


def sample_expression(rng: np.random.Generator, expression: int) -> tuple[dict[str, float], float, float]:
    """AU intensities (0-5, all of `ALL_AUS`), valence and arousal for one face of class `expression`.

    Strength scales the whole prototype (a mild or a full expression); each AU then gets its own
    jitter, and a few off-prototype AUs appear weakly so AU intensity is more than a class lookup.
    """
    strength = rng.uniform(0.55, 1.15) if expression != 6 else 0.0
    proto = _PROTOTYPES[expression]
    au: dict[str, float] = {}
    for name in ALL_AUS:
        base = proto.get(name, 0.0) * strength
        if base > 0:
            value = base * rng.uniform(0.8, 1.2) + rng.normal(0.0, 0.3)
        else:
            value = rng.uniform(0.5, 2.0) if rng.random() < 0.1 else abs(rng.normal(0.0, 0.15))
        au[name] = min(max(float(value), 0.0), 5.0)
    va = _CIRCUMPLEX[expression] * (0.45 + 0.55 * strength / 1.15) + rng.normal(0.0, 0.07, 2)
    valence, arousal = np.clip(va, -1.0, 1.0)
    return au, float(valence), float(arousal)
