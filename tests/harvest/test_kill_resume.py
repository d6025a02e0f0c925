"""Kill -9 a real `facerep harvest` process mid-harvest, re-run it, and get the uninterrupted manifest."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from fake_flickr import FakeFlickr, make_photos
from harvest_helpers import TAGS, assert_manifest_matches, expected_manifest, flickr_overrides

from facerep.harvest.manifest import read_manifest
from facerep.params import load_params
from facerep.stages import run_stage

CONCURRENCY = 4


def harvest_process(srv: FakeFlickr, raw: Path, cwd: Path) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "facerep", "harvest"]
    for item in flickr_overrides(srv, raw, **{"harvest.flickr.concurrency": CONCURRENCY}):
        cmd += ["--set", item]
    env = {**os.environ, "FLICKR_API_KEY": srv.api_key}
    return subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def lines(journals: Path) -> int:
    """Journal lines written so far under `<raw>/.journal/<source>/`."""
    return sum(p.read_bytes().count(b"\n") for p in journals.glob("*.jsonl"))


def kill_when(proc: subprocess.Popen, journals: Path, at_least: int, limit_s: float = 60) -> None:
    """SIGKILL `proc` as soon as the journals under `journals` hold `at_least` lines."""
    deadline = time.monotonic() + limit_s
    while lines(journals) < at_least:
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else proc.returncode
        assert time.monotonic() < deadline, "harvest made no progress"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def test_kill9_then_rerun_equals_uninterrupted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    photos = make_photos(500, TAGS[:3], seed=11, broken_every=9)
    with FakeFlickr(photos, cap=120, api_fail_every=13, image_delay=0.01) as srv:
        monkeypatch.setenv("FLICKR_API_KEY", srv.api_key)
        reference = tmp_path / "reference"
        run_stage("harvest", load_params(None, flickr_overrides(srv, reference)))
        srv.image_served.clear()

        raw = tmp_path / "killed"
        # first kill: while listing (the API answers cache exists, no image yet done)
        proc = harvest_process(srv, raw, tmp_path)
        kill_when(proc, raw / ".journal" / "flickr_api", 2)
        # second kill: mid-download, after a re-start resumed the listing
        for at in (200,):
            proc = harvest_process(srv, raw, tmp_path)
            kill_when(proc, raw / ".journal" / "flickr", at)
            assert proc.returncode == -signal.SIGKILL
            assert not (raw / "manifest.parquet").exists()
        proc = harvest_process(srv, raw, tmp_path)
        assert proc.wait(timeout=120) == 0, proc.stderr.read().decode() if proc.stderr else ""
        served = dict(srv.image_served)

    want = read_manifest(reference / "manifest.parquet")
    got = read_manifest(raw / "manifest.parquet")
    pd.testing.assert_frame_equal(got, want)
    assert got["image_id"].is_unique
    for row in got[got["status"] == "ok"].itertuples():
        assert hashlib.sha256((raw / row.path).read_bytes()).hexdigest() == row.sha256
    assert not [p for p in raw.rglob("*.tmp")]
    # nothing downloaded twice, except the few requests in flight at each kill
    repeated = sum(n - 1 for n in served.values() if n > 1)
    assert repeated <= CONCURRENCY
    assert len(served) == len(got[got["status"].isin(["ok", "duplicate", "robots_optout"])]) + sum(
        got["status"].isin(
            ["truncated", "zero_bytes", "not_an_image", "decompression_bomb", "unsupported_format"]
        )
    )


@pytest.mark.slow
def test_full_acceptance_6000_photos_with_kill(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The issue's acceptance scenario at full size: 6,000 photos over 2 tags (about 4,500 per tag, so
    Flickr's real 4,000 cap splits windows), non-CC licences, broken files, 500s and 429s, a kill -9."""
    tags = TAGS[:2]
    photos = make_photos(6000, tags, seed=6000, broken_every=40)
    extra = {"harvest.flickr.per_page": 500, "harvest.flickr.result_cap": 4000}
    with FakeFlickr(photos, cap=4000, api_fail_every=7, api_429_every=19) as srv:
        assert max(sum(t in p.tags for p in photos) for t in tags) > srv.cap
        monkeypatch.setenv("FLICKR_API_KEY", srv.api_key)
        reference = tmp_path / "reference"
        params = load_params(None, flickr_overrides(srv, reference, tags, **extra))
        run_stage("harvest", params)
        want = expected_manifest(srv, tags, set(params.harvest.flickr.licenses))
        assert_manifest_matches(reference, want)

        raw = tmp_path / "killed"
        cmd = [sys.executable, "-m", "facerep", "harvest"]
        for item in flickr_overrides(srv, raw, tags, **extra):
            cmd += ["--set", item]
        env = {**os.environ, "FLICKR_API_KEY": srv.api_key}
        proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        kill_when(proc, raw / ".journal" / "flickr", 2500, limit_s=300)
        assert subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, timeout=600).returncode == 0
    assert_manifest_matches(raw, want)
    pd.testing.assert_frame_equal(
        read_manifest(raw / "manifest.parquet"), read_manifest(reference / "manifest.parquet")
    )
