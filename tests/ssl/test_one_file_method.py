"""Adding an SSL method is adding one file: a toy method, written as a single module into the methods
package, brings its own parameter section and pre-trains through the normal stage (docs/extending.md)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from facerep.errors import InputError
from facerep.params import load_params
from facerep.ssl import registry
from facerep.ssl.checkpoint import load_checkpoint
from facerep.ssl.stage import output_dir
from facerep.stages import run_stage

# The whole method: its parameter model with its defaults, the method, and the one registration.
TOY_METHOD = '''
"""Toy: two views of a face should project to the same point (a test method, no paper)."""

from __future__ import annotations

from pydantic import Field
from torch import Tensor, nn

from facerep.ssl.backbones import Backbone
from facerep.ssl.base import Method, TrainContext
from facerep.ssl.config import CropParams, MethodParams
from facerep.ssl.registry import register_method


class ToyParams(MethodParams):
    crops: CropParams = Field(default_factory=lambda: CropParams(gray=0.0))
    scale: float = Field(1.0, gt=0)
    width: int = Field(8, gt=0)


@register_method("toy", params=ToyParams)
class Toy(Method):
    params: ToyParams

    def __init__(self, backbone: Backbone, params: ToyParams, ctx: TrainContext) -> None:
        super().__init__(backbone, params, ctx)
        self.head = nn.Linear(backbone.feature_dim, params.width)

    def training_step(self, views: list[Tensor], step: int) -> tuple[Tensor, dict[str, Tensor]]:
        a, b = self.per_resolution(views[:2], lambda v: self.head(self.backbone(v)))
        loss = self.params.scale * (a - b).pow(2).mean()
        return loss, {"toy": loss.detach()}
'''


@pytest.fixture
def toy_method(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """`toy.py` in a folder that joins the methods package's path, as if dropped into
    facerep/ssl/methods/; the registry and sys.modules forget it afterwards."""
    import facerep.ssl.methods as pkg

    registry.load_methods()  # the real methods register into the dict that is restored afterwards
    monkeypatch.setattr(registry, "METHODS", dict(registry.METHODS))
    folder = tmp_path / "plugins"
    folder.mkdir()
    (folder / "toy.py").write_text(TOY_METHOD)
    monkeypatch.setattr(pkg, "__path__", [*pkg.__path__, str(folder)])
    yield
    sys.modules.pop("facerep.ssl.methods.toy", None)


def test_a_method_in_one_file_pretrains_through_the_stage_with_its_own_section(
    toy_method: None, tmp_path: Path, params_for
) -> None:
    """Nothing but the file: `pretrain.method: toy` is accepted, `pretrain.toy` is read from the
    parameter file and validated by the file's own model (a partial section keeps that model's
    defaults), and the pretrain stage trains it and records its section in the checkpoint."""
    file = tmp_path / "params.yaml"
    file.write_text("pretrain:\n  method: toy\n  toy:\n    scale: 2.5\n    crops:\n      global_size: 32\n")
    params = params_for("pretrain.max_steps=2", "tracking.enabled=false", file=file)
    toy = params.pretrain.section("toy")
    assert type(toy).__name__ == "ToyParams"
    assert (toy.scale, toy.width, toy.crops.global_size, toy.crops.gray) == (2.5, 8, 32, 0.0)

    result = run_stage("pretrain", params)

    assert result.metrics["steps"] == 2
    identity = load_checkpoint(output_dir(params) / "last.ckpt")["identity"]
    assert identity["pretrain.method"] == "toy"
    assert (identity["pretrain.toy.scale"], identity["pretrain.toy.crops.gray"]) == (2.5, 0.0)
    assert (output_dir(params) / "backbone.pt").is_file()


def test_the_toy_section_is_checked_like_any_other(toy_method: None, tmp_path: Path) -> None:
    """A bad value in the method's section names its key; an unregistered section is an unknown key."""
    with pytest.raises(InputError, match=r"`pretrain\.toy\.scale`"):
        load_params(None, ["pretrain.toy.scale=-1"])
    with pytest.raises(InputError, match=r"unknown parameter key `pretrain\.toy\.depth`"):
        load_params(None, ["pretrain.toy.depth=3"])
    with pytest.raises(InputError, match=r"unknown parameter key `pretrain\.toyy`"):
        load_params(None, ["pretrain.toyy.scale=1"])
