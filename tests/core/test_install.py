"""The environment `make` installs: exactly the lock file, one OpenCV (headless), clean `pip check`.

Also the lock's own contract (it satisfies every requirement in pyproject.toml), the install hints of the
optional extras, and `make check-wheels` against a loopback package index.
"""

from __future__ import annotations

import importlib.metadata as md
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from facerep.downstream.config import SearchParams
from facerep.downstream.search import run_search
from facerep.errors import InputError
from facerep.harvest.voxceleb import download_video

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "requirements-lock.txt"


def _load_check_wheels() -> ModuleType:
    """tools/check_wheels.py is a script, not part of the package: load it from its path."""
    spec = importlib.util.spec_from_file_location("check_wheels", ROOT / "tools" / "check_wheels.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


check_wheels = _load_check_wheels()


def _files_under(dist: md.Distribution, top: str) -> list[str]:
    """The files a distribution installs under the top-level folder `top`, from its RECORD (read as text:
    parsing every RECORD of a 600-package environment into paths takes seconds)."""
    record = dist.read_text("RECORD") or ""
    return [line.split(",", 1)[0] for line in record.splitlines() if line.startswith(f"{top}/")]


def test_only_the_headless_opencv_is_installed() -> None:
    owners = {canonicalize_name(d.metadata["Name"]) for d in md.distributions() if _files_under(d, "cv2")}
    assert owners == {"opencv-python-headless"}, f"distributions writing cv2/: {sorted(owners)}"
    for dist in md.distributions():
        name = canonicalize_name(dist.metadata["Name"])
        if name.startswith("opencv") and name != "opencv-python-headless":
            # The alias of tools/opencv-alias: metadata only, forwarding to the headless build.
            stray = [str(f) for f in dist.files or [] if ".dist-info" not in str(f)]
            assert stray == [], f"{name} installs files: {stray[:3]}"
            assert [Requirement(r).name for r in dist.requires or []] == ["opencv-python-headless"]
    spec = importlib.util.find_spec("cv2")
    headless = md.distribution("opencv-python-headless")
    shipped = {Path(headless.locate_file(f)).resolve() for f in _files_under(headless, "cv2")}
    assert spec is not None and Path(spec.origin).resolve() in shipped


def _libgl_files() -> list[str]:
    """The files the dynamic loader would open for libGL, from its cache (`ldconfig -p`)."""
    ldconfig = shutil.which("ldconfig") or "/sbin/ldconfig"
    if not Path(ldconfig).exists():
        return []
    out = subprocess.run([ldconfig, "-p"], capture_output=True, text=True, check=True).stdout
    paths = re.findall(r"^\s*libGL\.so[.\d]*\s.*=>\s*(\S+)$", out, flags=re.M)
    return sorted({os.path.realpath(p) for p in paths})


CV2_CHILD = """
import ctypes
try:
    ctypes.CDLL("libGL.so.1")
except OSError:
    pass
else:
    raise SystemExit("libGL.so.1 still loads: the test did not hide it")
import cv2
import numpy as np
ok, png = cv2.imencode(".png", np.full((8, 8, 3), 200, np.uint8))
print(cv2.__version__, cv2.imdecode(png, cv2.IMREAD_COLOR).shape)
"""


def test_cv2_imports_with_libgl_absent(tmp_path: Path) -> None:
    """Servers and slim images have no libGL; the GUI build of OpenCV fails to import there, the headless
    build does not. Where this machine has libGL, a private mount namespace covers each libGL file with an
    empty one, so the loader cannot use it (checked in the child before `import cv2`)."""
    libgl = _libgl_files()
    command = [sys.executable, "-c", CV2_CHILD]
    if libgl:
        if shutil.which("unshare") is None:
            pytest.skip("libGL is installed and util-linux `unshare` is missing: cannot hide libGL")
        empty = tmp_path / "empty.so"
        empty.touch()
        mask = 'for f in "$@"; do mount --bind "$0" "$f" || exit 97; done; exec "$PY" -c "$CHILD"'
        command = ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", mask, str(empty), *libgl]
    env = {**os.environ, "PY": sys.executable, "CHILD": CV2_CHILD}
    out = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
    if out.returncode == 97 or "unshare failed" in out.stderr:
        pytest.skip(f"no private mount namespace here to hide libGL: {out.stderr.strip()[-200:]}")
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split()[1:] == ["(8,", "8,", "3)"], out.stdout


def test_pip_check_is_clean() -> None:
    out = subprocess.run([sys.executable, "-m", "pip", "check"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr


def test_environment_is_the_lock() -> None:
    """`make` installs requirements-lock.txt as it is: each pin that applies here is the installed version."""
    pins, local = check_wheels.read_lock(LOCK)
    assert local == ["./tools/opencv-alias"]
    wrong = []
    for pin in pins:
        if pin.requirement.marker is None or pin.requirement.marker.evaluate():
            try:
                installed = md.version(pin.name)
            except md.PackageNotFoundError:
                installed = "missing"
            if installed == "missing" or Version(installed) != pin.version:
                wrong.append(f"{pin.name} {installed} (lock: {pin.version})")
    assert wrong == [], "installed versions differ from the lock; run make venv: " + ", ".join(wrong)


def _alias_pins(local: list[str]) -> dict[str, Version]:
    """The name and version each metadata-only alias in tools/ (a lock's local path) installs as."""
    pins = {}
    for path in local:
        project = tomllib.loads((ROOT / path / "pyproject.toml").read_text())["project"]
        pins[canonicalize_name(project["name"])] = Version(project["version"])
    return pins


@pytest.mark.parametrize(
    ("lock", "extras"),
    [
        ("requirements-lock.txt", ["optuna", "voxceleb", "dev"]),
        ("requirements-gpu-lock.txt", ["gpu", "optuna", "voxceleb"]),
    ],
)
def test_lock_covers_pyproject(lock: str, extras: list[str]) -> None:
    """Every requirement of pyproject.toml and of the lock's extras has a pin (or an alias in tools/) that
    satisfies it: a dependency added without `make lock` fails here (and `pip check` in `make venv`).
    Together the two locks cover every extra (the gpu extra cannot share an environment with the CPU
    onnxruntime: pyproject.toml)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert set(project["optional-dependencies"]) == {"gpu", "optuna", "voxceleb", "dev"}, "a lock per extra"
    requirements = [Requirement(r) for r in project["dependencies"]]
    requirements += [Requirement(r) for extra in extras for r in project["optional-dependencies"][extra]]
    found, local = check_wheels.read_lock(ROOT / lock)
    pins = {pin.name: pin.version for pin in found} | _alias_pins(local)
    unmet = [
        str(req)
        for req in requirements
        if (pinned := pins.get(canonicalize_name(req.name))) is None
        or not req.specifier.contains(pinned, prereleases=True)
    ]
    assert unmet == [], f"not in {lock}, run make lock: {unmet}"
    assert "opencv-python" not in {p.name for p in found}, "the GUI OpenCV is pinned: use tools/opencv-alias"


def test_missing_extras_give_an_install_hint(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "optuna", None)  # makes `import optuna` fail as when it is absent
    monkeypatch.setitem(sys.modules, "yt_dlp", None)
    search = SearchParams(method="optuna", lr=[1e-3, 1e-2])
    with pytest.raises(InputError) as optuna_error:
        run_search(search, [1.0], [10], lambda hp: hp.lr, seed=0)
    with pytest.raises(InputError) as yt_dlp_error:
        download_video(tmp_path, "YTsource001")
    for error, extra in ((optuna_error, "optuna"), (yt_dlp_error, "voxceleb")):
        message = str(error.value)  # the extra, so the tested version range comes with the package
        assert "\n" not in message and f"pip install 'facerep[{extra}]'" in message, message


INDEX = {
    "purepkg": ["purepkg-1.0-py3-none-any.whl", "purepkg-1.0.tar.gz"],
    "binpkg": [
        "binpkg-2.0-cp311-cp311-manylinux_2_28_x86_64.whl",
        "binpkg-2.0-cp312-cp312-manylinux2014_x86_64.whl",  # the PEP 600 alias of manylinux_2_17
        "binpkg-1.0-cp313-cp313-manylinux_2_17_x86_64.whl",  # another release
        "binpkg-2.0-cp313-cp313-manylinux_2_39_x86_64.whl",  # newer glibc than the check allows
        "binpkg-2.0-cp313-cp313-win_amd64.whl",
    ],
    "abipkg": ["abipkg-1.0-cp311-abi3-manylinux_2_17_aarch64.whl"],  # one wheel for every Python >= 3.11
    "winonly": ["winonly-3.0-cp311-cp311-win_amd64.whl"],
    "face-recognition-models": ["face_recognition_models-0.3.0.tar.gz"],
}


@pytest.fixture
def index_url() -> Iterator[str]:
    """A PEP 691 JSON simple index on a loopback port, serving the file names in INDEX."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            name = self.path.strip("/").split("/")[-1]
            if name not in INDEX:
                self.send_error(404)
                return
            body = json.dumps({"files": [{"filename": f} for f in INDEX[name]]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", check_wheels.JSON_API)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/simple"
    server.shutdown()
    server.server_close()


def test_check_wheels_reports_each_target(index_url: str, tmp_path: Path) -> None:
    lock = tmp_path / "lock.txt"
    lock.write_text(
        "purepkg==1.0\n    # via facerep\nbinpkg==2.0 ; sys_platform == 'linux'\nabipkg==1.0\n"
        "winonly==3.0 ; sys_platform == 'win32'\nface-recognition-models==0.3.0\n./tools/opencv-alias\n"
    )
    out = tmp_path / "wheels.md"
    assert check_wheels.main([str(lock), "--index-url", index_url, "--out", str(out)]) == 1
    rows = {" | ".join(cells[:2]): cells[2:] for cells in _table(out.read_text())}
    # packages that apply | with a wheel | pure source only | missing | newest glibc needed
    assert rows["3.11 | manylinux x86_64"] == ["4", "2", "1", "1", "2.28 (binpkg 2.0)"]
    assert rows["3.12 | manylinux x86_64"] == ["4", "2", "1", "1", "2.17 (binpkg 2.0)"]
    assert rows["3.13 | manylinux x86_64"] == ["4", "1", "1", "2", "none"]
    assert (
        rows["3.11 | manylinux aarch64"]
        == rows["3.13 | manylinux aarch64"]
        == ["4", "2", "1", "1", "2.17 (abipkg 1.0)"]
    )
    text = out.read_text()
    binpkg_missing = (
        "3.11 manylinux aarch64, 3.12 manylinux aarch64, 3.13 manylinux x86_64, 3.13 manylinux aarch64"
    )
    assert f"binpkg 2.0 ({binpkg_missing})" in text
    assert "abipkg 1.0 (3.11 manylinux x86_64, 3.12 manylinux x86_64, 3.13 manylinux x86_64)" in text
    assert "face-recognition-models 0.3.0: dlib's model files" in text
    assert "`./tools/opencv-alias`" in text and "winonly" not in text
    lock.write_text("purepkg==1.0\n")
    assert check_wheels.main([str(lock), "--index-url", index_url]) == 0


def _table(markdown: str) -> list[list[str]]:
    lines = [line for line in markdown.splitlines() if line.startswith("| 3.")]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines]
