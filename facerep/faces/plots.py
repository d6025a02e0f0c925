"""Summary plots of a detection run: the face-size distribution of Bulat et al. (Fig. 5, the
bounding-box sizes of the uncurated Flickr-Face set), the score histogram and faces per image."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _figure():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def face_size_plot(face_px: np.ndarray, path: Path) -> Path:
    """Histogram of face box sizes (longer side, source px) on logarithmic bins, as Fig. 5."""
    plt = _figure()
    fig, ax = plt.subplots(figsize=(6, 3.5))
    sizes = np.asarray(face_px, float)
    if sizes.size:
        lo, hi = max(sizes.min(), 1.0), max(sizes.max(), 2.0)
        bins = np.geomspace(lo, hi * 1.001, 30)
        ax.hist(sizes, bins=bins, color="#4c72b0")
        ax.set_xscale("log")
    ax.set_xlabel("face size (px, longer box side)")
    ax.set_ylabel("faces")
    ax.set_title(f"Face-size distribution ({sizes.size} faces)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def score_plot(scores: np.ndarray, path: Path) -> Path:
    """Histogram of detection confidences of the kept faces."""
    plt = _figure()
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.hist(np.asarray(scores, float), bins=40, range=(0.0, 1.0), color="#55a868")
    ax.set_xlabel("detection score")
    ax.set_ylabel("faces")
    ax.set_title("Detection scores")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def faces_per_image_plot(n_faces: np.ndarray, path: Path) -> Path:
    """Bar chart of how many images hold 0, 1, 2, ... faces."""
    plt = _figure()
    fig, ax = plt.subplots(figsize=(6, 3.5))
    counts = np.bincount(np.asarray(n_faces, int)) if len(n_faces) else np.zeros(1, int)
    ax.bar(np.arange(len(counts)), counts, color="#c44e52")
    ax.set_xlabel("faces in the image")
    ax.set_ylabel("images")
    ax.set_title("Faces per image")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
