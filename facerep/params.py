"""The pydantic model of pipeline_params.yaml, and loading it with `--set key.path=value` overrides.

Each stage owns its section model (in `facerep/<package>/config.py`); this module assembles them
into one validated document. Unknown keys and wrong types raise `InputError` with a message that
names the key and the file, which the CLI turns into exit status 2. Plug-in names (method, backbone,
dataset, init) are checked against their registries here too, so a typo stops at once rather than
when its stage runs, possibly hours later.
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, Field, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from facerep.curate.config import CurateParams
from facerep.downstream.config import FinetuneParams
from facerep.errors import InputError
from facerep.faces.config import DetectParams
from facerep.harvest.config import HarvestParams
from facerep.paramsbase import StrictModel
from facerep.report.config import ReportParams
from facerep.shards.config import ShardParams
from facerep.ssl.config import PretrainParams
from facerep.synth.config import SynthParams

DEFAULT_PARAMS_FILE = "pipeline_params.yaml"
DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
TRACKING_URI_ENV = "MLFLOW_TRACKING_URI"  # MLflow's own variable


class Paths(StrictModel):
    """Where each stage writes (DESIGN section 2)."""

    synth: str = Field("data/synth", description="synth stage output: SynthFaces faces, scenes and videos")
    raw: str = Field("data/raw", description="harvest stage output: downloaded images and their manifest")
    faces: str = Field("data/faces", description="detect stage output: face crops and faces.parquet")
    curated: str = Field("data/curated", description="curate stage output: kept faces and their local boxes")
    shards: str = Field("data/shards", description="shard stage output: WebDataset tars and index.json")
    models: str = Field(
        "models",
        description="pretrain stage output (<models>/pretrain/<method>/); a local path or fsspec URL",
    )
    results: str = Field("results", description="finetune and report stage outputs")
    metrics: str = Field("metrics", description="each stage's metrics as DVC metrics files (git-tracked)")


class TrackingParams(StrictModel):
    """MLflow settings: a local SQLite store by default so `mlflow ui` works offline."""

    enabled: bool = Field(True, description="log every stage run to MLflow; false: no tracking at all")
    uri: str | None = Field(
        None, description=f"MLflow store; null: $MLFLOW_TRACKING_URI, else {DEFAULT_TRACKING_URI}"
    )
    experiment: str = Field("facerep", description="MLflow experiment the stage runs are logged under")
    system_metrics: bool = Field(True, description="CPU, memory (and GPU) usage sampled into each stage run")

    def resolved_uri(self) -> str:
        """`uri`, else MLflow's own `MLFLOW_TRACKING_URI` (so a user's MLflow setup is honoured), else
        the project's SQLite file."""
        return self.uri or os.environ.get(TRACKING_URI_ENV) or DEFAULT_TRACKING_URI


class Params(StrictModel):
    """Every stage's parameters: the DVC params file and the Prefect flow input."""

    seed: int = Field(
        0,
        description="the one random seed: SynthFaces rendering, the shards' sample order, pre-training "
        "(weights, views, data order, kNN subsets) and finetune's label subsets (when finetune.split_seed "
        "is null)",
    )
    paths: Paths = Field(default_factory=Paths)
    synth: SynthParams = Field(default_factory=SynthParams)
    harvest: HarvestParams = Field(default_factory=HarvestParams)
    detect: DetectParams = Field(default_factory=DetectParams)
    curate: CurateParams = Field(default_factory=CurateParams)
    shard: ShardParams = Field(default_factory=ShardParams)
    pretrain: PretrainParams = Field(default_factory=PretrainParams)
    finetune: FinetuneParams = Field(default_factory=FinetuneParams)
    report: ReportParams = Field(default_factory=ReportParams)
    tracking: TrackingParams = Field(default_factory=TrackingParams)

    @model_validator(mode="after")
    def _known_names(self) -> Params:
        """Every plug-in name must be one its registry holds."""
        for key, value, choices in plugin_names(self):
            if value not in choices:
                text = f"parameter `{key}`: unknown name {value!r}; choose one of {', '.join(choices)}"
                raise PydanticCustomError("unknown_name", "{text}", {"text": text})
        return self


def plugin_names(params: Params) -> list[tuple[str, str, list[str]]]:
    """(key, value, choices) of each plug-in name in `params`. The registries import torch, so they
    are read here, on first validation, and never at import time."""
    from facerep.downstream.datasets import DATASETS
    from facerep.ssl.backbones import BUILDERS
    from facerep.ssl.registry import load_methods

    methods, backbones = sorted(load_methods()), sorted(BUILDERS)
    inits = ["scratch", "imagenet", *(f"pretrain:{m}" for m in methods)]
    p, f = params.pretrain, params.finetune
    names = [("pretrain.method", p.method, methods), ("pretrain.backbone", p.backbone, backbones)]
    names.append(("finetune.dataset", f.dataset, sorted(DATASETS)))
    if f.backbone is not None:
        names.append(("finetune.backbone", f.backbone, backbones))
    names += [("finetune.inits", init, inits) for init in f.inits or []]
    return names


def parse_override(item: str) -> tuple[list[str], Any]:
    """Split `a.b.c=value` into the key path and the YAML-parsed value (so lists and numbers work)."""
    key, sep, raw = item.partition("=")
    if not sep or not key.strip():
        raise InputError(f"--set {item!r}: expected key.path=value")
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        raise InputError(f"--set {key}: value {raw!r} is not valid YAML ({exc.__class__.__name__})") from exc
    return key.strip().split("."), value


def apply_overrides(doc: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Return a copy of `doc` with each `key.path=value` override set (intermediate maps created)."""
    import copy

    out = copy.deepcopy(doc)
    for item in overrides:
        keys, value = parse_override(item)
        node = out
        for k in keys[:-1]:
            child = node.get(k)
            if child is None:
                child = node[k] = {}
            elif not isinstance(child, dict):
                raise InputError(f"--set {item}: key {k!r} holds a value, not a section")
            node = child
        node[keys[-1]] = value
    return out


def _format_error(exc: ValidationError, source: str) -> str:
    """One line naming the first offending key and the file it came from."""
    err = exc.errors()[0]
    key = ".".join(str(p) for p in err["loc"]) or "<root>"
    if err["type"] == "unknown_name":
        return f"{source}: {err['msg']}"
    if err["type"] == "extra_forbidden":
        return f"{source}: unknown parameter key `{key}`"
    return f"{source}: parameter `{key}`: {err['msg']} (got {err.get('input')!r})"


def load_params(path: str | Path | None = None, overrides: list[str] | None = None) -> Params:
    """Load and validate parameters from `path` (default: pipeline_params.yaml if present) plus overrides."""
    overrides = overrides or []
    doc: dict[str, Any] = {}
    source = "<defaults>"
    if path is None and Path(DEFAULT_PARAMS_FILE).exists():
        path = DEFAULT_PARAMS_FILE
    if path is not None:
        source = str(path)
        p = Path(path)
        if not p.is_file():
            raise InputError(f"{source}: parameter file not found")
        try:
            loaded = yaml.safe_load(p.read_text())
        except yaml.YAMLError as exc:
            raise InputError(f"{source}: not valid YAML: {exc}") from exc
        if loaded is not None and not isinstance(loaded, dict):
            raise InputError(f"{source}: expected a mapping of sections at the top level")
        doc = loaded or {}
    if overrides:
        doc = apply_overrides(doc, overrides)
        source = f"{source} with --set {' '.join(overrides)}"
    try:
        return Params.model_validate(doc)
    except ValidationError as exc:
        raise InputError(_format_error(exc, source)) from exc


def dump_params(params: Params) -> str:
    """The resolved parameters as YAML (what `facerep params show` prints)."""
    return yaml.safe_dump(params.model_dump(mode="json"), sort_keys=False)


DEFAULTS_HEADER = """\
# facerep pipeline parameters: the DVC params file and the Prefect flow input.
# Generated from the parameter models (`facerep params defaults > pipeline_params.yaml`): every key
# with its default, commented with its field's description; edit the models, then regenerate.
# Every key is validated (facerep/params.py); unknown keys are errors.
# Override any of them on the command line: facerep <stage> --set synth.faces=500
"""
COMMENT_COLUMN = 34  # where a key's comment starts when its line is shorter
LINE_WIDTH = 110  # long lists wrap, and a comment that would pass it goes on lines above its key


def default_params_yaml() -> str:
    """The default parameters as commented YAML: every key of `Params` in declaration order, nested
    models as nested maps, each key followed by its field's description as a comment.

    Walks the models themselves (`model_fields`, then the sections a model holds as pydantic extras,
    e.g. pretrain's method sections from their registry), never a list of sections kept here, so a new
    field or plug-in appears on the next regeneration."""
    lines = DEFAULTS_HEADER.splitlines()
    for entry in _section_lines(Params(), 0):
        if not entry.startswith(" ") and entry.endswith(":"):
            lines.append("")  # a blank line before each top-level section
        lines.append(entry)
    return "\n".join(lines) + "\n"


def _section_lines(model: BaseModel, depth: int) -> list[str]:
    """The YAML lines of `model`'s fields at nesting `depth`: a value on its key's line, a nested
    model as its key followed by its own fields one level deeper."""
    fields = type(model).model_fields
    dumped = model.model_dump(mode="json")
    indent = "  " * depth
    lines = []
    for name in [*fields, *sorted(model.model_extra or {})]:  # extras by name: import order varies
        value = getattr(model, name)
        description = fields[name].description if name in fields else None
        if isinstance(value, BaseModel):
            lines += _commented([f"{indent}{name}:"], description, indent)
            lines += _section_lines(value, depth + 1)
        else:
            entry = _flow(dumped[name], f"{indent}{name}: ", indent + "    ")
            lines += _commented(entry, description, indent)
    return lines


def _flow(value: Any, first: str, continuation: str) -> list[str]:
    """`value` as YAML flow text after `first`: one line, or a list wrapped between its items at
    `LINE_WIDTH` (never inside an item) with `continuation` before each further line."""
    if not isinstance(value, list) or not value:
        return [first + _flow_text(value)]
    items = [_flow_text([v])[1:-1] for v in value]  # each as it reads inside a flow sequence
    lines, line = [], first + "["
    for k, item in enumerate(items):
        piece = item + ("]" if k == len(items) - 1 else ",")
        if line.endswith(",") and len(line) + 1 + len(piece) > LINE_WIDTH:
            lines.append(line)
            line = continuation + piece
        else:
            line += ("" if line.endswith("[") else " ") + piece
    return [*lines, line]


def _flow_text(value: Any) -> str:
    """`value` in YAML flow style on one line (a scalar without the document-end marker)."""
    text = yaml.safe_dump(value, default_flow_style=True, width=float("inf"), sort_keys=False)
    return text.removesuffix("\n").removesuffix("\n...").removesuffix("\n")


def _commented(entry: list[str], description: str | None, indent: str) -> list[str]:
    """An entry's lines with `description` (whitespace collapsed) as the comment at the end of its
    last line, or, where that line would pass `LINE_WIDTH`, as comment lines above the entry."""
    if not description:
        return entry
    text = " ".join(description.split())
    last = f"{entry[-1].ljust(COMMENT_COLUMN - 2)}  # {text}"
    if len(last) <= LINE_WIDTH:
        return [*entry[:-1], last]
    above = textwrap.wrap(text, LINE_WIDTH - len(indent) - 2, break_on_hyphens=False)
    return [*(f"{indent}# {part}" for part in above), *entry]


def flatten(doc: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Flatten nested sections to dotted keys (for MLflow parameters)."""
    flat: dict[str, Any] = {}
    for k, v in doc.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            flat.update(flatten(v, key + "."))
        else:
            flat[key] = v
    return flat
