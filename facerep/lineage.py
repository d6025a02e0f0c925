"""Data lineage: the DVC hashes of the data a stage reads, for its MLflow run.

When the working directory is a DVC project, the stage's dependencies as declared in dvc.yaml are
hashed the way DVC hashes them (md5 of a file, md5 of the listing of a directory), so the MLflow
run names exactly the data version `dvc checkout` would restore. Outside a DVC project there is no
declared dependency list, and nothing is reported.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class DataInput:
    """One data dependency of a stage and its DVC hash."""

    path: str
    md5: str


def dvc_inputs(stage: str, root: Path = Path()) -> list[DataInput]:
    """Hash the non-parameter dependencies of DVC stage `stage` (an empty list outside DVC projects)."""
    if not ((root / ".dvc").is_dir() and (root / "dvc.yaml").is_file()):
        return []
    from dvc.dependency.param import ParamsDependency
    from dvc.repo import Repo

    with Repo(str(root)) as repo:
        stages = {s.name: s for s in repo.index.stages}
        if stage not in stages:
            return []
        inputs = []
        for dep in stages[stage].deps:
            if isinstance(dep, ParamsDependency) or not dep.exists:
                continue
            inputs.append(DataInput(path=str(dep.def_path), md5=str(dep.get_hash().value)))
    return inputs
