"""Parameters: the YAML file, overrides, and the errors that name the key and the file."""

import re
from pathlib import Path

import pytest
import yaml

from facerep.errors import InputError
from facerep.params import Params, apply_overrides, dump_params, flatten, load_params

ROOT = Path(__file__).resolve().parents[2]


def test_shipped_params_file_is_valid_and_matches_the_model_defaults() -> None:
    """pipeline_params.yaml documents every default: loading it gives the model's defaults."""
    shipped = flatten(load_params(ROOT / "pipeline_params.yaml").model_dump(mode="json"))
    defaults = flatten(Params().model_dump(mode="json"))
    differing = {k: (shipped.get(k), defaults.get(k)) for k in shipped.keys() | defaults.keys()}
    assert {k: v for k, v in differing.items() if v[0] != v[1]} == {}


def test_overrides_parse_yaml_values(tmp_path: Path) -> None:
    f = tmp_path / "p.yaml"
    f.write_text("seed: 3\n")
    p = load_params(f, ["synth.faces=12", "synth.sizes=[32, 48]", "tracking.enabled=false"])
    assert (p.seed, p.synth.faces, p.synth.sizes, p.tracking.enabled) == (3, 12, [32, 48], False)


def test_unknown_key_names_key_and_file(tmp_path: Path) -> None:
    f = tmp_path / "p.yaml"
    f.write_text("synth:\n  facez: 3\n")
    with pytest.raises(InputError, match=r"p\.yaml.*synth\.facez"):
        load_params(f)


def test_wrong_type_names_key(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"synth\.faces"):
        load_params(None, ["synth.faces=many"])


def test_override_into_a_value_is_an_error() -> None:
    with pytest.raises(InputError, match="seed"):
        apply_overrides({"seed": 1}, ["seed.x=2"])


def test_malformed_override_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"key\.path=value"):
        load_params(None, ["nonsense"])
    with pytest.raises(InputError, match="not found"):
        load_params(tmp_path / "absent.yaml")


def test_dump_round_trips() -> None:
    p = load_params(None, ["seed=7"])
    assert Params.model_validate(yaml.safe_load(dump_params(p))) == p


def test_a_partial_section_keeps_its_fields_own_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a parameter file, `--set pretrain.pros.optim.base_lr=...` changes that one value: the
    rest of ProS's paper optimiser and DINO's crops stay, rather than `OptimParams()`'s and
    `CropParams()`'s class defaults (a benchmark screen once lost gradient clipping that way)."""
    monkeypatch.chdir(tmp_path)  # no pipeline_params.yaml here
    defaults = Params().pretrain.pros
    p = load_params(None, ["pretrain.pros.optim.base_lr=1.2", "pretrain.pros.crops.jitter=0.4"]).pretrain.pros
    assert p.optim.base_lr == 1.2 and p.crops.jitter == 0.4
    assert p.optim.model_copy(update={"base_lr": defaults.optim.base_lr}) == defaults.optim
    assert p.crops.model_copy(update={"jitter": defaults.crops.jitter}) == defaults.crops
    assert (p.optim.clip_grad, p.optim.name, p.crops.local_count) == (3.0, "adamw", 8)


@pytest.mark.parametrize(
    ("override", "key", "choice"),
    [
        ("pretrain.method=swavv", "pretrain.method", "swav"),
        ("pretrain.backbone=resnet19", "pretrain.backbone", "resnet18"),
        ("finetune.dataset=rafdbx", "finetune.dataset", "rafdb"),
        ("finetune.backbone=resnet19", "finetune.backbone", "resnet_tiny"),
        ("finetune.inits=[scratch, pretrain:swavv]", "finetune.inits", "pretrain:swav"),
        ("finetune.tasks=[expresion]", "finetune.tasks", "expression"),
    ],
)
def test_unknown_plugin_names_stop_at_load_naming_the_key_and_the_choices(
    override: str, key: str, choice: str
) -> None:
    """A misspelt method, backbone, dataset, init or task stops when the parameters load, not when
    its stage runs hours later; the message names the key and lists the registry's names."""
    with pytest.raises(InputError, match=rf"`{re.escape(key)}`") as err:
        load_params(None, [override])
    assert re.search(rf"\b{re.escape(choice)}\b", str(err.value)), str(err.value)


def test_every_registered_method_has_its_parameter_section() -> None:
    """The method names `pretrain.method` accepts come from the registry; each needs its section."""
    from facerep.ssl.registry import load_methods

    assert set(load_methods()) <= set(Params().pretrain.model_dump())
