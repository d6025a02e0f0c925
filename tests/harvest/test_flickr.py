"""The Flickr harvester against the loopback Flickr: listing, licences, faults, attribution, secrets."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import pytest
from fake_flickr import FakeFlickr, FakePhoto, make_photos
from harvest_helpers import TAGS, assert_manifest_matches, expected_manifest, flickr_overrides

from facerep.errors import InputError
from facerep.harvest.licenses import DEFAULT_ALLOWED
from facerep.harvest.manifest import read_manifest
from facerep.params import load_params
from facerep.stages import run_stage


def run_flickr(srv: FakeFlickr, raw: Path, monkeypatch: pytest.MonkeyPatch, **extra: object):
    monkeypatch.setenv("FLICKR_API_KEY", srv.api_key)
    params = load_params(None, flickr_overrides(srv, raw, **extra))
    return params, run_stage("harvest", params)


def test_scaled_acceptance(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """1,200 photos, cap 150 (so windows split), non-CC licences leaked by the server, every broken kind,
    API 500s and 429s: the manifest holds exactly the reachable allowed images with sha256 and attribution,
    and every other photo with its reason."""
    photos = make_photos(1200, TAGS, seed=3)
    raw = tmp_path / "raw"
    with FakeFlickr(photos, cap=150, api_fail_every=9, api_429_every=23) as srv:
        per_tag = {t: sum(t in p.tags for p in photos) for t in TAGS}
        assert max(per_tag.values()) > 2 * srv.cap  # the date window must split to reach everything
        params, result = run_flickr(srv, raw, monkeypatch)
        want = expected_manifest(srv, TAGS, set(params.harvest.flickr.licenses))
        assert srv.api_calls > len(TAGS) * 5  # split windows and pages, plus retried 500/429 answers
    df = assert_manifest_matches(raw, want)
    statuses = set(df["status"])
    for reason in ("license_not_allowed", "http_404", "truncated", "zero_bytes", "not_an_image"):
        assert reason in statuses
    for reason in ("decompression_bomb", "unsupported_format", "robots_optout", "duplicate", "no_url"):
        assert reason in statuses
    assert "too_small" in statuses  # every listed size under harvest.flickr.min_side
    assert {"url_c", "url_z"} <= set(df.loc[df["status"] == "ok", "flickr_size"])  # url_z: no url_c
    assert result.metrics["ok"] == sum(w["status"] == "ok" for w in want.values())
    assert result.metrics["status.license_not_allowed"] > 0


def test_retry_after_is_honoured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    photos = [
        FakePhoto(str(1000 + i), "1@N01", "a", 4, 1500000000 + i, ("face",), "flaky429") for i in range(3)
    ]
    with FakeFlickr(photos, retry_after=1) as srv:
        run_flickr(srv, tmp_path / "raw", monkeypatch)
        log = srv.retry_log
    df = read_manifest(tmp_path / "raw" / "manifest.parquet")
    assert (df["status"] == "ok").all()
    for pid in {p.id for p in photos}:
        times = [t for q, _, t in log if q == pid]
        assert len(times) == 2
        assert times[1] - times[0] >= 0.95  # waited the server's Retry-After, not the 0.01 s backoff


def test_persistent_failure_is_retried_next_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    good = FakePhoto("2001", "1@N01", "a", 4, 1500000000, ("face",))
    down = FakePhoto("2002", "1@N01", "a", 4, 1500000001, ("face",), "down")
    raw = tmp_path / "raw"
    with FakeFlickr([good, down]) as srv:
        run_flickr(srv, raw, monkeypatch)
        first = read_manifest(raw / "manifest.parquet").set_index("image_id")["status"].to_dict()
        assert first == {"flickr:2001": "ok", "flickr:2002": "http_503"}
        assert srv.image_gets["2002"] == 3  # harvest.retries attempts
        srv.photos[1] = srv.by_id["2002"] = FakePhoto("2002", "1@N01", "a", 4, 1500000001, ("face",))
        run_flickr(srv, raw, monkeypatch)
        assert srv.image_served["2001"] == 1  # journaled: not downloaded again
    second = read_manifest(raw / "manifest.parquet").set_index("image_id")["status"].to_dict()
    assert second == {"flickr:2001": "ok", "flickr:2002": "ok"}


@pytest.mark.parametrize(
    ("fail", "key", "code", "message"),
    [
        ((105, "Service currently unavailable"), None, "105", "Service currently unavailable"),
        (None, "wrong-key-4242", "100", "Invalid API Key"),
    ],
)
def test_stat_fail_stops_with_flickr_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fail, key, code, message
) -> None:
    with FakeFlickr(make_photos(5, TAGS), stat_fail=fail) as srv:
        monkeypatch.setenv("FLICKR_API_KEY", key or srv.api_key)
        params = load_params(None, flickr_overrides(srv, tmp_path / "raw"))
        with pytest.raises(InputError) as err:
            run_stage("harvest", params)
    assert code in str(err.value) and message in str(err.value)
    assert "wrong-key-4242" not in str(err.value)


def test_missing_api_key_is_an_input_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FLICKR_API_KEY", raising=False)
    with FakeFlickr(make_photos(5, TAGS)) as srv:
        params = load_params(None, flickr_overrides(srv, tmp_path / "raw"))
        with pytest.raises(InputError, match="FLICKR_API_KEY"):
            run_stage("harvest", params)


def test_licence_filter_is_checked_client_side_and_ids_validated(tmp_path: Path) -> None:
    assert 0 not in DEFAULT_ALLOWED
    with pytest.raises(InputError, match="licenses"):
        load_params(None, ["harvest.flickr.licenses=[4, 99]"])


def test_api_key_never_leaks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, capfd
) -> None:
    """The key reaches no log line, console output, journal, manifest, summary or MLflow store (and the
    stage's metrics do reach MLflow)."""
    secret = "SECRETKEY-9f8e7d6c5b4a"
    photos = make_photos(60, TAGS, seed=5, broken_every=7)
    raw = tmp_path / "raw"
    db = tmp_path / "mlflow.db"
    caplog.set_level(logging.DEBUG)
    with FakeFlickr(photos, api_key=secret, api_fail_every=4) as srv:
        monkeypatch.setenv("FLICKR_API_KEY", secret)
        sets = flickr_overrides(srv, raw)
        sets = [s for s in sets if not s.startswith("tracking.enabled")]
        sets += [f"tracking.uri=sqlite:///{db}", "tracking.experiment=leak-test"]
        monkeypatch.chdir(tmp_path)
        run_stage("harvest", load_params(None, sets))
    out, err = capfd.readouterr()
    assert secret not in caplog.text and secret not in out and secret not in err
    stored = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.name == "manifest.parquet" for p in stored) and db.exists()
    for p in stored:
        assert secret.encode() not in p.read_bytes(), p
    with sqlite3.connect(db) as con:
        logged = dict(con.execute("select key, value from metrics"))
    ok = (read_manifest(raw / "manifest.parquet")["status"] == "ok").sum()
    assert logged["ok"] == ok and logged["source.flickr"] == ok  # the MLflow run really logged the harvest


def test_one_second_over_the_cap_keeps_what_is_reachable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A burst of uploads in one second cannot be split further: the cap's worth is harvested, and said."""
    photos = make_photos(40, ["face"], seed=9, broken_every=0, licenses=(4,), same_second=25)
    with FakeFlickr(photos, cap=10) as srv:
        run_flickr(srv, tmp_path / "raw", monkeypatch, **{"harvest.flickr.per_page": 4})
    burst = sorted((p for p in photos if p.upload == photos[0].upload), key=lambda p: p.id)
    reachable = {f"flickr:{p.id}" for p in photos if p.upload != photos[0].upload}
    reachable |= {f"flickr:{p.id}" for p in burst[: srv.cap]}
    df = read_manifest(tmp_path / "raw" / "manifest.parquet")
    assert set(df["image_id"]) == reachable
    assert "25 photos uploaded in one second" in caplog.text


def test_max_photos_stops_the_listing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    photos = make_photos(50, TAGS, seed=2, broken_every=0)
    with FakeFlickr(photos) as srv:
        run_flickr(srv, tmp_path / "raw", monkeypatch, **{"harvest.flickr.max_photos": 7})
    assert len(read_manifest(tmp_path / "raw" / "manifest.parquet")) == 7
