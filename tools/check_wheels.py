"""Ask the package index whether every locked package has a wheel for each supported Python on Linux.

Why: `requires-python = ">=3.11"` promises Python 3.11 to 3.13 on manylinux x86_64 and aarch64. A pinned
release without a wheel for one of those would be compiled at install time (needing a compiler and
headers) or fail, and no test run on one machine notices. This reads `requirements-lock.txt`, evaluates
each line's environment marker for every target, asks the index (PEP 691 JSON simple API) for the files
of the pinned version and matches their wheel tags with `packaging.tags`. It also reports the newest
glibc that some package's best wheel needs, which is the oldest Linux the lock installs on.

Usage: `make check-wheels` (needs the network; not part of `make test`), or
`python tools/check_wheels.py requirements-lock.txt --out bench/results/wheels.md`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from packaging import tags
from packaging.requirements import Requirement
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import Version

PYTHONS = ((3, 11), (3, 12), (3, 13))
ARCHES = ("x86_64", "aarch64")
# Newest glibc a target may need: Ubuntu 22.04 and the Docker base image have 2.35.
GLIBC_CEILING = 35
# Releases published only as a source archive that builds without a compiler (their archives hold no C
# sources and declare no extension modules), with why the lock has them.
PURE_SDISTS = {
    "antlr4-python3-runtime": "pure Python; omegaconf (via dvc) pins 4.9.*, which has no wheel",
    "face-recognition-models": "dlib's model files in a setuptools package",
    "pyftpdlib": "pure Python; the dev extra's loopback FTP server",
}
JSON_API = "application/vnd.pypi.simple.v1+json"


@dataclass(frozen=True)
class Pin:
    """One locked release and the marker that says where it is installed."""

    name: str
    version: Version
    requirement: Requirement


@dataclass(frozen=True)
class Target:
    python: tuple[int, int]
    arch: str

    @property
    def label(self) -> str:
        return f"{self.python[0]}.{self.python[1]} | manylinux {self.arch}"

    def environment(self) -> dict[str, str]:
        """PEP 508 marker variables of CPython on Linux (the first patch release of the minor)."""
        version = f"{self.python[0]}.{self.python[1]}"
        return {
            "python_version": version,
            "python_full_version": f"{version}.0",
            "sys_platform": "linux",
            "platform_system": "Linux",
            "platform_machine": self.arch,
            "os_name": "posix",
            "implementation_name": "cpython",
            "platform_python_implementation": "CPython",
            "extra": "",
        }

    def supported_tags(self) -> dict[tags.Tag, int]:
        """Every wheel tag this target installs, mapped to the glibc minor version the tag needs."""
        interpreter = f"cp{self.python[0]}{self.python[1]}"
        needs: dict[tags.Tag, int] = {}
        for glibc in range(GLIBC_CEILING, 4, -1):
            platforms = [f"manylinux_2_{glibc}_{self.arch}", *_legacy_manylinux(glibc, self.arch)]
            found = [
                *tags.cpython_tags(self.python, abis=[interpreter], platforms=platforms),
                *tags.compatible_tags(self.python, interpreter, platforms),
            ]
            needs.update({tag: glibc for tag in found})
        # Pure wheels (py3-none-any) need no glibc at all.
        needs.update(
            {tag: 0 for tag in tags.compatible_tags(self.python, interpreter, []) if tag.platform == "any"}
        )
        return needs


def _legacy_manylinux(glibc: int, arch: str) -> list[str]:
    """PEP 600 aliases: manylinux2014 is glibc 2.17, manylinux2010 2.12 and manylinux1 2.5 (x86_64 only)."""
    legacy = {17: "manylinux2014", 12: "manylinux2010", 5: "manylinux1"}
    if glibc not in legacy or (glibc < 17 and arch != "x86_64"):
        return []
    return [f"{legacy[glibc]}_{arch}"]


def read_lock(path: Path) -> tuple[list[Pin], list[str]]:
    """The `name==version ; marker` lines of a pip requirements lock, and the local paths it installs."""
    pins, local = [], []
    for raw in path.read_text().splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith(("./", "../", "/", "-")):
            local.append(line)
            continue
        req = Requirement(line)
        (spec,) = req.specifier
        if spec.operator != "==":
            raise SystemExit(f"{path}: {line!r} is not an exact pin")
        pins.append(Pin(canonicalize_name(req.name), Version(spec.version), req))
    return pins, local


def index_files(client: httpx.Client, index_url: str, name: str) -> list[str]:
    """File names the index lists for a project (PEP 691), yanked files left out."""
    response = client.get(f"{index_url.rstrip('/')}/{name}/", headers={"Accept": JSON_API})
    response.raise_for_status()
    return [f["filename"] for f in response.json()["files"] if not f.get("yanked")]


def wheel_tags(files: Iterable[str], version: Version) -> list[frozenset[tags.Tag]]:
    """The tag sets of the wheels of one release."""
    found = []
    for filename in files:
        if filename.endswith(".whl"):
            try:
                _, wheel_version, _, wheel_tagset = parse_wheel_filename(filename)
            except InvalidWheelFilename:  # a few old releases predate the naming rules
                continue
            if wheel_version == version:
                found.append(wheel_tagset)
    return found


def has_sdist(files: Iterable[str], version: Version) -> bool:
    for filename in files:
        try:
            if parse_sdist_filename(filename)[1] == version:
                return True
        except InvalidSdistFilename:  # wheels, and old archives named outside the rules
            continue
    return False


def glibc_needed(wheels: list[frozenset[tags.Tag]], supported: dict[tags.Tag, int]) -> int | None:
    """The lowest glibc minor at which one of the wheels installs on the target; None: none installs."""
    needs = [supported[tag] for tagset in wheels for tag in tagset if tag in supported]
    return min(needs, default=None)


@dataclass
class Outcome:
    """One target's answer: glibc minor needed by each package, and the packages without a wheel."""

    target: Target
    checked: int = 0
    glibc: dict[str, int] = field(default_factory=dict)
    pure_sdist: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


def check(pins: list[Pin], files: dict[str, list[str]], targets: list[Target]) -> list[Outcome]:
    outcomes = []
    for target in targets:
        env, supported = target.environment(), target.supported_tags()
        out = Outcome(target)
        for pin in pins:
            if pin.requirement.marker is not None and not pin.requirement.marker.evaluate(env):
                continue
            out.checked += 1
            glibc = glibc_needed(wheel_tags(files[pin.name], pin.version), supported)
            if glibc is not None:
                out.glibc[f"{pin.name} {pin.version}"] = glibc
            elif pin.name in PURE_SDISTS and has_sdist(files[pin.name], pin.version):
                out.pure_sdist.append(f"{pin.name} {pin.version}")
            else:
                out.missing.append(f"{pin.name} {pin.version}")
        outcomes.append(out)
    return outcomes


def report(outcomes: list[Outcome], lock: Path, local: list[str], index_url: str) -> str:
    lines = [
        "## Wheels for every locked package (`make check-wheels`)",
        "",
        f"Checked {dt.date.today().isoformat()} by `tools/check_wheels.py` against {index_url}: every "
        f"release pinned in `{lock.name}` whose marker applies, for each supported Python on manylinux "
        f"(glibc up to 2.{GLIBC_CEILING}). Installed from the repository, not the index: "
        f"{', '.join(f'`{p}`' for p in local) or 'nothing'}.",
        "",
        "| Python | platform | packages | with a wheel | pure source only | missing | newest glibc needed |",
        "|---|---|---|---|---|---|---|",
    ]
    for out in outcomes:
        newest = max(out.glibc.values(), default=0)
        needing = sorted(p for p, g in out.glibc.items() if g == newest)
        more = f", +{len(needing) - 3} more" if len(needing) > 3 else ""
        glibc = f"2.{newest} ({', '.join(needing[:3])}{more})" if newest else "none"
        lines.append(
            f"| {out.target.label} | {out.checked} | {len(out.glibc)} | {len(out.pure_sdist)} | "
            f"{len(out.missing)} | {glibc} |"
        )
    sdists = sorted({p for out in outcomes for p in out.pure_sdist})
    where: dict[str, list[str]] = {}
    for out in outcomes:
        for p in out.missing:
            where.setdefault(p, []).append(out.target.label.replace(" | ", " "))
    missing = [
        f"{p} ({'every target' if len(w) == len(outcomes) else ', '.join(w)})" for p, w in where.items()
    ]
    lines += [
        "",
        "Pure source only: "
        + ("; ".join(f"{p}: {PURE_SDISTS[p.split()[0]]}" for p in sdists) if sdists else "none")
        + ".",
        "Missing a wheel: " + ("; ".join(missing) if missing else "none") + ".",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("lock", type=Path)
    parser.add_argument("--index-url", default="https://pypi.org/simple")
    parser.add_argument("--out", type=Path, help="also write the markdown report here")
    args = parser.parse_args(argv)
    pins, local = read_lock(args.lock)
    names = sorted({p.name for p in pins})
    client = httpx.Client(transport=httpx.HTTPTransport(retries=3), timeout=60, follow_redirects=True)
    with client, ThreadPoolExecutor(8) as pool:
        listed = pool.map(lambda name: index_files(client, args.index_url, name), names)
        files = dict(zip(names, listed, strict=True))
    targets = [Target(py, arch) for py in PYTHONS for arch in ARCHES]
    outcomes = check(pins, files, targets)
    text = report(outcomes, args.lock, local, args.index_url)
    print(text, end="")
    if args.out:
        args.out.write_text(text)
    return 1 if any(out.missing for out in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
