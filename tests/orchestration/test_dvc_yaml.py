"""dvc.yaml has the stages of `facerep.stages.STAGES`, in its order, and declares what each stage reads:
the code it runs (checked against the imports of its module), the parameters pre-training reads, and
one DVC metrics file per stage."""

from __future__ import annotations

import ast
import pkgutil
from pathlib import Path

import pytest
import yaml

from facerep.params import Params
from facerep.stages import STAGES

ROOT = Path(__file__).resolve().parents[2]
DVC = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
# Modules whose changes leave every stage's outputs as they were: the command line, tracking,
# parameter models (the parameters themselves are declared), errors and progress lines.
ORCHESTRATION = {"facerep", "facerep.params", "facerep.paramsbase", "facerep.tracking", "facerep.lineage"}
ORCHESTRATION |= {"facerep.stages", "facerep.errors", "facerep.progress"}
# Registries that import every module of a package (plug-ins found at run time, not by an import).
PLUGIN_PACKAGES = {
    "facerep.harvest.source": "facerep.harvest.sources",
    "facerep.ssl.registry": "facerep.ssl.methods",
}


def module_file(name: str) -> Path | None:
    base = ROOT.joinpath(*name.split("."))
    for candidate in (base / "__init__.py", base.with_suffix(".py")):
        if candidate.is_file():
            return candidate
    return None


def imports(name: str) -> set[str]:
    """The facerep modules `name` imports anywhere in its file (inside functions too)."""
    path = module_file(name)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package
            for _ in range(node.level - 1):
                base = base.rpartition(".")[0]
            module = (base + "." + (node.module or "")).strip(".") if node.level else (node.module or "")
            found.add(module)
            found |= {f"{module}.{a.name}" for a in node.names}
    if name in PLUGIN_PACKAGES:
        package = PLUGIN_PACKAGES[name]
        found |= {f"{package}.{m.name}" for m in pkgutil.iter_modules([str(module_file(package).parent)])}
    return {m for m in found if m.startswith("facerep") and module_file(m) is not None}


def code_of(stage_module: str) -> set[str]:
    """Every facerep module a stage runs, following imports, less orchestration and parameter models."""
    seen: set[str] = set()
    todo = [stage_module]
    while todo:
        name = todo.pop()
        if name in seen or name in ORCHESTRATION or name.endswith(".config"):
            continue
        seen.add(name)
        todo += imports(name)
    return seen


def test_dvc_yaml_has_the_stages_in_their_order() -> None:
    """The stages of STAGES, in its order, each running its CLI command; and the order is one DVC can
    run: every file a stage reads that another stage writes is written by an earlier one."""
    assert list(DVC) == list(STAGES)
    assert all(DVC[name]["cmd"] == f"facerep {name}" for name in STAGES)

    def paths(entries: list) -> set[str]:
        return {next(iter(e)) if isinstance(e, dict) else e for e in entries}

    position = {name: i for i, name in enumerate(STAGES)}
    writer = {out: name for name in STAGES for out in paths(DVC[name].get("outs", []))}
    for name in STAGES:
        for dep in paths(DVC[name]["deps"]):
            for out in (o for o in writer if dep == o or dep.startswith(o + "/")):
                assert position[writer[out]] < position[name], f"{name} reads {dep} of {writer[out]}"


@pytest.mark.parametrize("stage", list(STAGES))
def test_each_stage_declares_the_code_it_runs(stage: str) -> None:
    deps = [d for d in DVC[stage]["deps"] if d.startswith("facerep/")]
    files = {module_file(m).relative_to(ROOT).as_posix() for m in code_of(STAGES[stage].module)}
    undeclared = sorted(f for f in files if not any(f == d or f.startswith(d + "/") for d in deps))
    assert undeclared == [], f"dvc.yaml stage {stage} lacks code deps {undeclared}"
    assert all((ROOT / d).exists() for d in deps)


def test_pretrain_declares_every_engine_setting_and_its_methods_section() -> None:
    """Narrowed to what pre-training reads: every engine setting and the chosen method's section."""
    declared = set(DVC["pretrain"]["params"][0]["pipeline_params.yaml"])
    pretrain = Params().pretrain
    methods = {name for name, value in pretrain if hasattr(value, "optim")}
    engine = {f"pretrain.{name}" for name, _ in pretrain if name not in methods}
    assert engine | {"pretrain.${pretrain.method}"} <= declared
    assert not any(d.removeprefix("pretrain.") in methods for d in declared)


@pytest.mark.parametrize("stage", list(STAGES))
def test_each_stage_but_the_report_has_its_git_tracked_metrics_file(stage: str) -> None:
    metrics = [next(iter(m)) for m in DVC[stage].get("metrics", [])]
    expected = [f"${{paths.metrics}}/{stage}.json"] if STAGES[stage].metrics_file else []
    assert metrics == expected
    for entry in DVC[stage].get("metrics", []):
        assert next(iter(entry.values())) == {"cache": False}  # in git, so every experiment commit has it
    ignored = (ROOT / ".gitignore").read_text().split()
    assert not any(Params().paths.metrics.startswith(p.strip("/")) for p in ignored)
