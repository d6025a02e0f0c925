"""Shared test settings: headless plotting, a roomy Prefect start-up limit, no stray MLflow store;
and a real FTP server on the loopback interface for the fsspec-URL tests."""

import contextlib
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")


@pytest.fixture(autouse=True)
def _no_inherited_mlflow_store() -> Iterator[None]:
    """`mlflow.set_tracking_uri` (which some tests call to read a project's store) exports
    $MLFLOW_TRACKING_URI; a later test's project with `tracking.uri: null` would then write there."""
    before = os.environ.pop("MLFLOW_TRACKING_URI", None)
    yield
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    if before is not None:
        os.environ["MLFLOW_TRACKING_URI"] = before


@pytest.fixture
def killed_after_checkpoint(
    monkeypatch: pytest.MonkeyPatch,
) -> Callable[[int], contextlib.AbstractContextManager[None]]:
    """`with killed_after_checkpoint(step): <a pre-training run>`: the run dies (KeyboardInterrupt)
    right after writing its step-`step` checkpoint, as a crashed job would; the block expects the
    interrupt, and saving is normal again after it."""
    from facerep.ssl.engine import Engine

    @contextlib.contextmanager
    def killed(step: int) -> Iterator[None]:
        save = Engine.save

        def save_then_die(self: Engine) -> None:
            save(self)
            if self.step == step:
                raise KeyboardInterrupt(f"killed after the step-{step} checkpoint")

        monkeypatch.setattr(Engine, "save", save_then_die)
        try:
            with pytest.raises(KeyboardInterrupt):
                yield
        finally:
            monkeypatch.setattr(Engine, "save", save)

    return killed


@pytest.fixture
def ftp(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """(`ftp://user:password@127.0.0.1:<port>`, the folder it serves) from pyftpdlib, for one test."""
    from pyftpdlib.authorizers import DummyAuthorizer
    from pyftpdlib.handlers import FTPHandler
    from pyftpdlib.servers import ThreadedFTPServer

    root = tmp_path / "ftp"
    root.mkdir()
    users = DummyAuthorizer()
    users.add_user("facerep", "secret", str(root), perm="elradfmwMT")
    handler = type("Handler", (FTPHandler,), {"authorizer": users})  # the authorizer is a class attribute
    server = ThreadedFTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"timeout": 0.1, "handle_exit": False}, daemon=True
    )
    thread.start()
    yield f"ftp://facerep:secret@127.0.0.1:{server.socket.getsockname()[1]}", root
    server.close_all()
