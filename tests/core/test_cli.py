"""The command line: exit status 2 with one line naming the key for bad parameters."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def facerep(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "facerep", *args], capture_output=True, text=True, cwd=cwd, check=False
    )


def test_params_show_prints_resolved_values() -> None:
    out = facerep("params", "show", "--set", "synth.faces=123")
    assert out.returncode == 0, out.stderr
    assert "faces: 123" in out.stdout


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
