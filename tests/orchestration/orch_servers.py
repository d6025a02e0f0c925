"""Real servers on the loopback interface for end-to-end tests: Prefect, a served flow, MLflow UI.

Each context manager starts the real program as a subprocess, waits until it answers, and stops
it (with its children) on exit. Chromium is installed from Debian on first use, as the test setup
of the MLflow UI test.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
from orch_project import BIN, env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, proc: subprocess.Popen[bytes], timeout: float = 180) -> None:
    """Poll `url` until it answers 200, failing early if the server process died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server for {url} exited with {proc.returncode}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=5).status_code == 200:
                return
        time.sleep(1)
    raise TimeoutError(f"{url} did not answer within {timeout} s")


@contextlib.contextmanager
def background(cmd: list[str], cwd: Path, extra_env: dict[str, str], log: Path) -> Iterator[subprocess.Popen]:
    """Run `cmd` in its own process group; kill the whole group on exit."""
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            cmd,
            cwd=cwd,
            env={**env(), **extra_env},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            yield proc
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def prefect_env(project: Path, api_url: str | None = None) -> dict[str, str]:
    e = {"PREFECT_HOME": str(project / ".prefect-home"), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    if api_url:
        e["PREFECT_API_URL"] = api_url
    return e


@contextlib.contextmanager
def prefect_server(project: Path) -> Iterator[str]:
    """`prefect server start` on 127.0.0.1; yields its API URL."""
    port = free_port()
    cmd = [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)]
    with background(cmd, project, prefect_env(project), project / "prefect-server.log") as proc:
        api = f"http://127.0.0.1:{port}/api"
        wait_http(f"{api}/health", proc)
        yield api


@contextlib.contextmanager
def served_flows(project: Path, api_url: str) -> Iterator[None]:
    """`python -m flows.serve` in the project until the deployment `pretrain-and-eval/default` exists."""
    e = prefect_env(project, api_url)
    with background([sys.executable, "-m", "flows.serve"], project, e, project / "serve.log") as proc:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            assert proc.poll() is None, (project / "serve.log").read_text()[-3000:]
            r = httpx.post(f"{api_url}/deployments/filter", json={}, timeout=10)
            if any(d["name"] == "default" for d in r.json()):
                break
            time.sleep(1)
        yield


@contextlib.contextmanager
def mlflow_ui(backend_uri: str) -> Iterator[str]:
    """`mlflow ui` on 127.0.0.1 against `backend_uri`; yields its base URL."""
    port = free_port()
    cmd = [
        str(BIN / "mlflow"),
        "ui",
        "--backend-store-uri",
        backend_uri,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    cwd = Path(backend_uri.removeprefix("sqlite:///")).parent
    with background(cmd, cwd, {}, cwd / "mlflow-ui.log") as proc:
        base = f"http://127.0.0.1:{port}"
        wait_http(f"{base}/health", proc)
        yield base


def chromium() -> str:
    """The Chromium binary, installed from Debian when missing (the UI test's setup step)."""
    found = shutil.which("chromium")
    if found is None:
        install = ["apt-get", "install", "-y", "-q", "chromium"]
        if subprocess.run(install, capture_output=True, check=False).returncode != 0:
            subprocess.run(["apt-get", "update", "-q"], capture_output=True, check=True)
            subprocess.run(install, capture_output=True, check=True)
        found = shutil.which("chromium")
    assert found, "chromium could not be installed with apt-get"
    return found


def chromium_dom(url: str, budget_ms: int = 15000) -> str:
    """The DOM of `url` after its scripts ran in headless Chromium."""
    cmd = [
        chromium(),
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        f"--virtual-time-budget={budget_ms}",
        "--dump-dom",
        url,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=180, check=True).stdout
