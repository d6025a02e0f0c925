"""A new harvest source is one file: its module registers it, its parameter section comes with it,
and the normal harvest stage runs it (journal, resume, manifest) with no other edit."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from facerep.harvest.manifest import make_row, read_manifest
from facerep.harvest.runner import Outcome
from facerep.harvest.source import SOURCES, Source
from facerep.params import load_params
from facerep.stages import run_stage

# The whole plug-in: a source of `count` generated images, with its section `harvest.toy`.
TOY_SOURCE = '''
"""A toy harvest source: `count` generated PNG images."""

import io

from PIL import Image

from facerep.harvest.manifest import make_row
from facerep.harvest.runner import Outcome
from facerep.harvest.source import Source, register
from facerep.harvest.validate import store
from facerep.paramsbase import StrictModel


class ToyParams(StrictModel):
    count: int = 2
    license: str = "CC0 1.0"


@register("toy")
class ToySource(Source[int]):
    params_model = ToyParams

    def items(self):
        return [(str(i), i) for i in range(self.section.count)]

    def work(self, item):
        out = io.BytesIO()
        Image.new("RGB", (16, 16), (40 * item, 0, 0)).save(out, format="PNG")
        path, sha = store(self.raw, f"toy/{item}.png", out.getvalue())
        row = make_row(f"toy:{item}", "toy", f"toy://{item}", "ok", path=path, sha256=sha, width=16,
                       height=16, license=self.section.license)
        return Outcome([row])
'''


def test_a_source_in_one_file_on_sys_path_runs_through_the_harvest_stage(tmp_path: Path) -> None:
    plugins, raw = tmp_path / "plugins", tmp_path / "raw"
    module = plugins / "facerep_harvest_sources" / "toy.py"  # a namespace package: no __init__.py
    module.parent.mkdir(parents=True)
    module.write_text(TOY_SOURCE)
    env = {**os.environ, "PYTHONPATH": str(plugins)}
    cmd = [sys.executable, "-m", "facerep", "harvest", "--set", "tracking.enabled=false"]
    cmd += ["--set", f"paths.raw={raw}", "--set", "harvest.sources=[toy]", "--set", "harvest.toy.count=3"]
    for _ in range(2):  # the second run finds every item journaled
        proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr
    df = read_manifest(raw / "manifest.parquet")
    assert list(df["image_id"]) == ["toy:0", "toy:1", "toy:2"]
    assert set(df["source"]) == {"toy"} and set(df["license"]) == {"CC0 1.0"}
    assert all((raw / p).is_file() for p in df["path"])
    assert len(list((raw / ".journal" / "toy").glob("*.jsonl"))) == 1
    bad = subprocess.run(
        [*cmd, "--set", "harvest.toy.count=x"], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert bad.returncode == 2 and "harvest.toy.count" in bad.stderr  # its section is validated


class Listing(Source[str]):
    """A source without parameters, registered from the test itself."""

    def items(self) -> list[tuple[str, str]]:
        return [("a", "a"), ("b", "b")]

    def work(self, item: str) -> Outcome:
        return Outcome([make_row(f"listing:{item}", "listing", f"listing://{item}", "no_url")])


def test_a_registered_source_is_a_choice_of_harvest_sources(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(SOURCES, "listing", Listing)
    monkeypatch.setattr(Listing, "name", "listing", raising=False)
    params = load_params(
        None, ["harvest.sources=[listing]", f"paths.raw={tmp_path}", "tracking.enabled=false"]
    )
    result = run_stage("harvest", params)
    df = read_manifest(tmp_path / "manifest.parquet")
    assert list(df["image_id"]) == ["listing:a", "listing:b"] and result.metrics["status.no_url"] == 2
