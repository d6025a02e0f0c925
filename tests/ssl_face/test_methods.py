"""The four face methods on the real engine: exact resume, an exported backbone, losses in MLflow.

Each run is a few steps of `resnet_tiny` on 32 px views of drawn faces (the `conftest` settings).
"""

from __future__ import annotations

from pathlib import Path

import mlflow
import pytest
import torch

from facerep.ssl.backbones import build_backbone, load_backbone
from facerep.ssl.base import TrainContext
from facerep.ssl.engine import Engine
from facerep.ssl.methods.simfle import SimFLE
from facerep.stages import run_stage

from .conftest import make_params

METHODS = ["pros", "fra", "pcl", "simfle"]
COMPONENTS = {
    "pros": ["ce", "entropy"],
    "fra": ["global", "local", "relation", "memax"],
    "pcl": ["dis", "orth", "pose", "face", "alpha_pose", "alpha_face"],
    "simfle": ["sim", "recon", "distill", "group"],
}


def _engine(tmp_path: Path, synth_root: Path, method: str, out: str, steps: int, *sets: str) -> Engine:
    p = make_params(tmp_path, synth_root, method, f"pretrain.max_steps={steps}", *sets)
    return Engine(p.pretrain, synth_root, tmp_path / out, seed=3)


@pytest.mark.parametrize("method", METHODS)
def test_resume_continues_exactly(
    tmp_path: Path, synth_root: Path, method: str, killed_after_checkpoint
) -> None:
    """A 2-step run killed right after its step-1 checkpoint, then re-run, == two straight steps: same
    losses, same weights and buffers."""
    sets = ["pretrain.pcl.dwa_period_steps=1", "pretrain.checkpoint_every=1"]
    if method != "pcl":
        sets = sets[1:]
    straight = _engine(tmp_path, synth_root, method, "a", 2, *sets).fit()
    with killed_after_checkpoint(1):
        _engine(tmp_path, synth_root, method, "b", 2, *sets).fit()
    resumed_engine = _engine(tmp_path, synth_root, method, "b", 2, *sets)
    resumed = resumed_engine.fit()
    assert resumed.start_step == 1
    assert resumed.losses == straight.losses[1:]
    a = torch.load(tmp_path / "a" / "last.ckpt", weights_only=False)["method"]
    b = resumed_engine.method.state_dict()
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_pcl_dwa_weights_move_once_two_periods_are_recorded(tmp_path: Path, synth_root: Path) -> None:
    engine = _engine(tmp_path, synth_root, "pcl", "dwa", 3, "pretrain.pcl.dwa_period_steps=1")
    seen: list[dict[str, float]] = []
    engine.log = lambda metrics, step: seen.append(metrics)
    engine.fit()
    assert [m["loss_alpha_pose"] for m in seen[:2]] == [1.0, 1.0]
    third = seen[2]
    assert third["loss_alpha_pose"] + third["loss_alpha_face"] == pytest.approx(2.0)
    assert third["loss_alpha_pose"] != 1.0


@pytest.mark.parametrize("method", METHODS)
def test_pretrain_stage_logs_components_and_exports_a_reloadable_backbone(
    tmp_path: Path, synth_root: Path, method: str
) -> None:
    params = make_params(tmp_path, synth_root, method, "pretrain.max_steps=2")
    result = run_stage("pretrain", params)
    out = tmp_path / "models" / "pretrain" / method
    assert result.metrics["steps"] == 2
    backbone = load_backbone(out / "backbone.pt")
    assert backbone(torch.randn(2, 3, 32, 32)).shape == (2, backbone.feature_dim)
    trained = torch.load(out / "last.ckpt", weights_only=False)["method"]
    exported = "teacher_backbone." if method == "pros" else "backbone."  # ProS 4.1: the teacher
    for key, value in backbone.named_parameters():
        assert torch.equal(value, trained[exported + key]), key
    mlflow.set_tracking_uri(params.tracking.uri)
    client = mlflow.MlflowClient()
    run = client.get_run(torch.load(out / "last.ckpt", weights_only=False)["mlflow_run_id"])
    for name in ["loss", *(f"loss_{c}" for c in COMPONENTS[method])]:
        history = client.get_metric_history(run.info.run_id, name)
        assert [m.step for m in history] == [1, 2], name


def test_pros_teacher_keeps_batchnorm_statistics_of_its_own_views(tmp_path: Path, synth_root: Path) -> None:
    """The EMA moves parameters only: the teacher's running statistics come from the global views it
    sees, not from the student's smaller local views (copied, they would mis-normalise every face the
    exported teacher embeds)."""
    engine = _engine(tmp_path, synth_root, "pros", "bn", 2)
    engine.fit()
    method = engine.method
    pairs = zip(method.backbone.modules(), method.teacher_backbone.modules(), strict=True)
    norms = [(s, t) for s, t in pairs if isinstance(s, torch.nn.BatchNorm2d)]
    assert norms
    for student, teacher in norms:
        assert int(teacher.num_batches_tracked) == 2  # two teacher forwards, one per step
        assert not torch.allclose(student.running_mean, teacher.running_mean)


def test_pros_sinkhorn_targets_spread_a_collapsed_batch_over_the_prototypes(
    tmp_path: Path, synth_root: Path, killed_after_checkpoint
) -> None:
    """With `teacher_target=sinkhorn` the teacher's targets are balanced codes: scores on which every
    face prefers the same prototype give a softmax target that names that prototype for all of them,
    and codes that give each prototype an equal share of the batch (B/K); the run trains and resumes."""
    sets = [
        "pretrain.pros.teacher_target=sinkhorn",
        "pretrain.pros.teacher_temperature=0.05",
        "pretrain.checkpoint_every=1",
    ]
    engine = _engine(tmp_path, synth_root, "pros", "sk", 2, *sets)
    scores = torch.full((64, 64), -0.5) + 0.01 * torch.randn(
        64, 64, generator=torch.Generator().manual_seed(0)
    )
    scores[:, 7] = 0.9
    codes = engine.method.teacher_targets(scores)
    torch.testing.assert_close(codes.sum(dim=1), torch.ones(64))
    assert codes.argmax(dim=1).unique().numel() > 32
    assert codes.sum(dim=0).max() < 4.0  # B/K = 1 per prototype; the softmax puts all 64 on one
    engine.method.params.teacher_target = "softmax"
    assert engine.method.teacher_targets(scores).sum(dim=0)[7] > 63
    engine.method.params.teacher_target = "sinkhorn"
    straight = engine.fit()
    assert all(torch.isfinite(torch.tensor(straight.losses)))
    with killed_after_checkpoint(1):
        _engine(tmp_path, synth_root, "pros", "sk2", 2, *sets).fit()
    assert _engine(tmp_path, synth_root, "pros", "sk2", 2, *sets).fit().losses == straight.losses[1:]


def _simfle_gradients(
    tmp_path: Path, synth_root: Path, masking: str, connection: str
) -> dict[str, torch.Tensor]:
    """Every parameter's gradient after one SimFLE step on fixed views (beta 0: no grouping loss)."""
    params = make_params(tmp_path, synth_root, "simfle").pretrain.simfle
    params = params.model_copy(update={"masking": masking, "connection": connection, "beta": 0.0})
    torch.manual_seed(0)
    method = SimFLE(build_backbone("resnet_tiny"), params, TrainContext(10, 5, 4))
    torch.manual_seed(1)
    loss, _ = method.training_step([torch.randn(4, 3, 32, 32) for _ in range(3)], 0)
    loss.backward()
    return {n: torch.zeros_like(p) if p.grad is None else p.grad for n, p in method.named_parameters()}


def test_simfle_masking_and_connection_switches(tmp_path: Path, synth_root: Path) -> None:
    """`masking=refined` (3.2) trains the grouping convolution through L_r, the plain sort and the random
    mask do not (the mask itself is the same in refined and semantic); with `connection=distill` (3.3)
    that gradient stops at the grouping layer, with `direct` it reaches the backbone."""
    refined = _simfle_gradients(tmp_path, synth_root, "refined", "distill")
    semantic = _simfle_gradients(tmp_path, synth_root, "semantic", "distill")
    random = _simfle_gradients(tmp_path, synth_root, "random", "distill")
    assert refined["grouping.weight"].abs().sum() > 0
    assert semantic["grouping.weight"].abs().sum() == 0 == random["grouping.weight"].abs().sum()
    backbone = [n for n in refined if n.startswith("backbone.")]
    for name in backbone:
        torch.testing.assert_close(refined[name], semantic[name])
    direct = _simfle_gradients(tmp_path, synth_root, "refined", "direct")
    direct_plain = _simfle_gradients(tmp_path, synth_root, "semantic", "direct")
    assert any(not torch.allclose(direct[n], direct_plain[n]) for n in backbone)
