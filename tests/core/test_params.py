"""Parameters: the YAML file, overrides, and the errors that name the key and the file."""

import re
from pathlib import Path

import pytest
import yaml

from facerep.errors import InputError
from facerep.params import (
    DEFAULTS_HEADER,
    Params,
    Paths,
    apply_overrides,
    default_params_yaml,
    dump_params,
    flatten,
    load_params,
)

ROOT = Path(__file__).resolve().parents[2]


def test_shipped_params_file_is_the_generated_defaults() -> None:
    """pipeline_params.yaml is exactly `facerep params defaults`: every key, every comment."""
    shipped = (ROOT / "pipeline_params.yaml").read_text()
    assert shipped == default_params_yaml(), "regenerate: facerep params defaults > pipeline_params.yaml"


def test_shipped_params_file_loads_back_to_the_defaults() -> None:
    assert load_params(ROOT / "pipeline_params.yaml") == Params()


def test_generated_defaults_hold_every_key_with_its_description() -> None:
    """Every default value is written, nested sections as nested maps, in declaration order; a field
    with a description carries it as the line's comment, one without carries none."""
    text = default_params_yaml()
    assert flatten(yaml.safe_load(text)) == flatten(Params().model_dump(mode="json"))
    assert list(yaml.safe_load(text)) == list(Params.model_fields)
    lines = text.splitlines()
    assert "seed: 0" in lines
    faces = next(line for line in lines if line.strip().startswith("faces: 4000"))
    assert faces.endswith("# labeled face images")
    metrics = Paths.model_fields["metrics"].description
    assert any(line.startswith("  metrics: metrics") and line.endswith(f"# {metrics}") for line in lines)


def test_generated_defaults_put_long_comments_above_their_key_and_wrap_long_lists() -> None:
    """A comment that would pass 110 columns goes on lines above its key (same indent); a long list
    wraps between items onto indented lines and still reads back whole."""
    text = default_params_yaml()
    body = text.splitlines()[len(DEFAULTS_HEADER.splitlines()) :]
    above = [i for i, line in enumerate(body) if line.lstrip().startswith("# ")]
    assert above, "no description is long enough to go above its key"
    for i in above:
        indent = len(body[i]) - len(body[i].lstrip())
        below = body[i + 1]
        assert len(below) - len(below.lstrip()) == indent
        assert below.lstrip().startswith("# ") or "  # " not in below
    assert all(len(line) <= 110 or "  # " not in line for line in body)
    tags = next(i for i, line in enumerate(body) if line.strip().startswith("tags: ["))
    assert body[tags + 1].startswith("      ") and not body[tags].endswith("]")
    assert yaml.safe_load(text)["harvest"]["flickr"]["tags"] == Params().harvest.flickr.tags


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
