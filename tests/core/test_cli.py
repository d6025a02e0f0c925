"""The command line: exit status 2 with one line naming the key for bad parameters; a stage's
console output is its progress line with its time, without MLflow's INFO lines."""

import json
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def facerep(*args: str, cwd: Path = ROOT, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "facerep", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        check=False,
        env={**os.environ, **(env or {})},
    )


def test_params_show_prints_resolved_values() -> None:
    out = facerep("params", "show", "--set", "synth.faces=123")
    assert out.returncode == 0, out.stderr
    assert "faces: 123" in out.stdout


def test_params_defaults_prints_the_shipped_params_file() -> None:
    out = facerep("params", "defaults")
    assert out.returncode == 0, out.stderr
    assert out.stdout == (ROOT / "pipeline_params.yaml").read_text()


def test_unknown_key_exits_2_with_one_line() -> None:
    out = facerep("params", "show", "--set", "detect.bogus=1")
    assert out.returncode == 2
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "detect.bogus" in lines[0] and "pipeline_params.yaml" in lines[0]


def test_bad_params_file_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("- just\n- a list\n")
    out = facerep("params", "show", "--params", str(bad))
    assert out.returncode == 2 and "bad.yaml" in out.stderr


def test_a_stage_prints_its_progress_line_and_no_mlflow_info(tmp_path: Path) -> None:
    """Tracking on (system metrics too) against a real SQLite store created by this run: MLflow's
    INFO lines (tables created, experiment created, system metrics started and stopped) stay off
    the terminal, and the stage's one line with its time is there."""
    out = facerep(
        "synth",
        "--params",
        str(ROOT / "pipeline_params.yaml"),
        *(
            "--set",
            f"paths.synth={tmp_path / 'synth'}",
            "--set",
            f"tracking.uri=sqlite:///{tmp_path / 'mlflow.db'}",
        ),
        *("--set", "tracking.system_metrics=true", "--set", "synth.faces=20", "--set", "synth.scenes=0"),
        *("--set", "synth.videos=0"),
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    lines = (out.stdout + out.stderr).splitlines()
    assert not [line for line in lines if " INFO " in line or "mlflow" in line.lower() or "View run" in line]
    assert re.search(r"^synth: done in \d+\.\d s$", out.stdout, re.MULTILINE), out.stdout
    with sqlite3.connect(tmp_path / "mlflow.db") as db:
        assert db.execute("SELECT name, status FROM runs").fetchall() == [("synth", "FINISHED")]
    assert not (tmp_path / "metrics").exists()  # not a run of the DVC pipeline: no DVC metrics file


def test_a_stage_run_by_dvc_writes_its_metrics_file_without_timings(tmp_path: Path) -> None:
    """DVC sets DVC_STAGE for each stage command: the stage's flat metrics go to metrics/<stage>.json."""
    sets = ["synth.faces=6", "synth.scenes=0", "synth.videos=0", "tracking.enabled=false"]
    sets += [f"paths.synth={tmp_path / 'synth'}", f"paths.metrics={tmp_path / 'metrics'}"]
    args = [arg for s in sets for arg in ("--set", s)]
    out = facerep("synth", *args, cwd=tmp_path, env={"DVC_STAGE": "synth"})
    assert out.returncode == 0, out.stderr
    metrics = json.loads((tmp_path / "metrics/synth.json").read_text())
    assert metrics["faces"] == 6 and metrics["video_frames"] == 0
    assert not [k for k in metrics if k.endswith(("seconds", "_per_s"))]


def test_mlflow_warnings_still_reach_the_terminal() -> None:
    code = (
        "import logging, mlflow; from facerep.tracking import quiet_mlflow; quiet_mlflow(); "
        "log = logging.getLogger('mlflow.store'); log.info('an info line'); log.warning('a warning line')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert "a warning line" in out.stderr and "an info line" not in out.stdout + out.stderr


def test_bracketed_values_in_errors_reach_the_terminal_intact() -> None:
    """Rich would read `[expresion]` as markup and print `finetune.tasks=:`; every user value is escaped."""
    out = facerep("params", "show", "--set", "finetune.tasks=[expresion]")
    assert out.returncode == 2
    assert "finetune.tasks=[expresion]" in out.stderr and "['expresion']" in out.stderr, out.stderr


def test_unknown_method_exits_2_naming_the_key_and_the_choices() -> None:
    out = facerep("params", "show", "--set", "pretrain.method=swavv")
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert out.returncode == 2 and len(lines) == 1, out.stderr
    assert "pretrain.method" in lines[0] and "'swavv'" in lines[0] and "byol" in lines[0]


def test_version() -> None:
    from importlib.metadata import version

    out = facerep("--version")
    assert out.returncode == 0 and out.stdout.strip() == f"facerep {version('facerep')}"
