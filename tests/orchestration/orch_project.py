"""A throw-away facerep project (git + DVC + a tiny pipeline_params.yaml) for end-to-end tests."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from facerep.params import apply_overrides

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

# The whole pipeline in about a minute on 2 cores: few faces, a few training steps, two tasks.
TINY = [
    "synth.faces=160",
    "synth.scenes=6",
    "synth.videos=1",
    "synth.video_seconds=2",
    "synth.identities=40",
    "curate.local.candidates=2",
    "pretrain.max_steps=3",
    "pretrain.batch_size=8",
    "finetune.tasks=[expression, pose]",
    "finetune.regimes=[0.1, 1.0]",
    "finetune.seeds=1",
    "finetune.search.enabled=false",
    "finetune.search.steps=[4]",
]


def env() -> dict[str, str]:
    """The environment of a user who activated .venv (so `facerep` and `dvc` are on PATH)."""
    e = dict(os.environ)
    e["PATH"] = f"{BIN}{os.pathsep}{e.get('PATH', '')}"
    e.pop("FACEREP_PARENT_RUN_ID", None)
    return e


def run(
    cmd: list[str], cwd: Path, timeout: float = 600, extra_env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a command in the project, failing the test with its output when it fails."""
    e = {**env(), **(extra_env or {})}
    proc = subprocess.run(cmd, cwd=cwd, env=e, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{' '.join(cmd)} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    return proc


# What a clone holds besides the parameters: the code dvc.yaml declares as dependencies, the flows
# prefect.yaml deploys, and the ignore files.
CLONE = ["facerep", "flows", "tasks", "dvc.yaml", "prefect.yaml", ".gitignore", ".dvcignore"]


def make_project(root: Path, overrides: list[str] | None = None, dvc: bool = True) -> Path:
    """Create a project at `root` shaped like a clone of the repository, with a tiny parameter file;
    with `dvc`, a git repository and DVC project."""
    root.mkdir(parents=True, exist_ok=True)
    doc = yaml.safe_load((ROOT / "pipeline_params.yaml").read_text())
    doc = apply_overrides(doc, TINY + list(overrides or []))
    (root / "pipeline_params.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    if dvc:
        for name in CLONE:
            if (ROOT / name).is_dir():
                shutil.copytree(ROOT / name, root / name, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                shutil.copy(ROOT / name, root / name)
        run(["git", "init", "-q"], root)
        run(["git", "config", "user.email", "test@facerep.invalid"], root)
        run(["git", "config", "user.name", "facerep tests"], root)
        run([str(BIN / "dvc"), "init", "-q"], root)
        run([str(BIN / "dvc"), "config", "core.analytics", "false"], root)
        (root / ".git/info/exclude").write_text(".prefect-home/\n*.log\n")  # the tests' servers
    return root


def commit_all(root: Path, message: str) -> None:
    """Commit everything git does not ignore (what a user commits after a run: dvc.lock, metrics)."""
    run(["git", "add", "-A"], root)
    run(["git", "commit", "-q", "-m", message], root)


# A finetune grid of 8 points (2 tasks x scratch and one pre-trained init x 2 regimes) in seconds.
GRID = ["synth.faces=120", "synth.scenes=0", "synth.videos=0", "finetune.backbone=resnet_tiny"]
GRID += ["finetune.image_size=32", "finetune.tasks=[expression, pose]", "finetune.regimes=[0.1, 1.0]"]
GRID += ["finetune.num_workers=0"]  # decoding workers are tested on their own (tests/downstream)


def grid_project(root: Path) -> Path:
    """A project with SynthFaces rendered and a `pretrain:swav` backbone in place, ready for finetune."""
    import torch

    from facerep.params import load_params
    from facerep.ssl.backbones import build_backbone, save_backbone
    from facerep.stages import run_stage

    project = make_project(root, GRID, dvc=False)
    sets = ["tracking.enabled=false", f"paths.synth={project / 'data/synth'}"]
    run_stage("synth", load_params(str(project / "pipeline_params.yaml"), sets))
    torch.manual_seed(0)
    swav = project / "models/pretrain/swav/backbone.pt"
    save_backbone(build_backbone("resnet_tiny"), swav, {"method": "swav"})
    return project
