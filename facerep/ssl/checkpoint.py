"""Checkpoints that resume a run exactly, written atomically by rank 0 (one file for any world size).

`last.ckpt` holds the method's weights and buffers (queues, centres, teachers), the optimiser and
gradient-scaler state, the step, the data position (global micro-batches consumed), the RNG states of
Python, NumPy and torch (CPU and CUDA), the MLflow run id and what the run was started as (method,
backbone), so that a re-run on the same directory continues rather than mixing two runs. The directory
may be an fsspec URL (`facerep.storage`): the checkpoint is then sent in one put and read in one get.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch

from facerep.errors import InputError
from facerep.storage import Location, atomic_target, exists, read_source


def rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: Location, state: dict[str, Any]) -> None:
    """Write `state` to `path` atomically (a crash leaves the previous checkpoint intact)."""
    with atomic_target(path) as target:
        torch.save(state, target)


def load_checkpoint(path: Location) -> dict[str, Any] | None:
    """The checkpoint at `path`, or None when there is none; a corrupt file is an InputError naming it."""
    if not exists(path):
        return None
    with read_source(path) as source:  # outside the try: a network failure is not a corrupt file
        try:
            return torch.load(source, map_location="cpu", weights_only=False)
        except Exception as exc:
            raise InputError(
                f"{path}: unreadable checkpoint ({type(exc).__name__}); delete it to start afresh"
            ) from exc
