"""The flows' typed parameters: the Prefect UI gets a form of every section (and the stage names as
choices), and bad values fail the flow run before any stage task starts."""

from __future__ import annotations

from pathlib import Path

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
from prefect.utilities.callables import parameter_schema

from facerep.stages import STAGES


def task_runs(flow_run_id) -> list:
    with get_client(sync_client=True) as client:
        return client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))


def test_the_flow_parameters_are_a_form_of_the_pipeline_parameters() -> None:
    from flows.build_dataset import build_dataset
    from flows.pretrain_and_eval import pretrain_and_eval

    for flow in (pretrain_and_eval, build_dataset):
        schema = parameter_schema(flow).model_dump()
        assert list(schema["properties"]) == ["params", "params_file", "stages", "record_dvc"]
        sections = schema["definitions"]["Params"]["properties"]
        assert {"paths", "synth", "pretrain", "finetune", "tracking"} <= set(sections)
        pretrain = schema["definitions"]["PretrainParams"]["properties"]
        assert (pretrain["max_steps"]["type"], pretrain["max_steps"]["default"]) == ("integer", 200)
        assert schema["properties"]["stages"]["anyOf"][0]["items"]["enum"] == list(STAGES)


@pytest.mark.parametrize(
    "bad",
    [
        {"params": {"pretrain": {"method": "swavv"}}},
        {"params": {"pretrain": {"max_steps": -1}}},
        {"stages": ["pretrian"]},
        {"params_file": "absent.yaml"},
        {"params": {"seed": 1}, "record_dvc": True},  # dvc.lock cannot describe other values
    ],
)
def test_bad_values_fail_the_flow_before_any_stage_runs(
    bad: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flows.pretrain_and_eval import pretrain_and_eval

    monkeypatch.chdir(tmp_path)
    (tmp_path / "pipeline_params.yaml").write_text("tracking:\n  enabled: false\n")
    state = pretrain_and_eval(**bad, return_state=True)
    assert state.is_failed()
    assert task_runs(state.state_details.flow_run_id) == []
    assert not (tmp_path / "data").exists()


def test_values_from_the_form_run_the_stages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same call shape with good values: the form's values, not the file's, are what runs."""
    from flows.pretrain_and_eval import pretrain_and_eval

    monkeypatch.chdir(tmp_path)
    (tmp_path / "pipeline_params.yaml").write_text("tracking:\n  enabled: false\n")
    form = {"synth": {"faces": 5, "scenes": 0, "videos": 0}, "tracking": {"enabled": False}}
    state = pretrain_and_eval(params=form, stages=["synth"], return_state=True)
    assert state.is_completed()
    assert [t.name.rsplit("-", 1)[0] for t in task_runs(state.state_details.flow_run_id)] == ["synth"]
    assert state.result()["synth"]["metrics"]["faces"] == 5
