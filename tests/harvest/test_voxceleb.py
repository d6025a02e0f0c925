"""VoxCeleb frames: PyAV-written clips in the VoxCeleb2 layout and VoxCeleb metadata over source videos."""

from __future__ import annotations

import math
from pathlib import Path

import av
import numpy as np
import pytest
from harvest_media import write_clip
from PIL import Image

from facerep.errors import InputError
from facerep.harvest.manifest import read_manifest
from facerep.harvest.voxceleb import parse_track
from facerep.params import load_params
from facerep.stages import run_stage

CLIPS = {
    ("id00012", "abcDEF12345", "00001"): 50,
    ("id00012", "abcDEF12345", "00002"): 37,
    ("id00345", "zz", "00001"): 8,
}


def harvest(tmp_path: Path, *sets: str):
    params = load_params(
        None, [f"paths.raw={tmp_path / 'raw'}", "tracking.enabled=false", "harvest.sources=[voxceleb]", *sets]
    )
    result = run_stage("harvest", params)
    return read_manifest(tmp_path / "raw" / "manifest.parquet"), result


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("vox")
    for i, ((spk, vid, clip), n) in enumerate(CLIPS.items()):
        write_clip(root / spk / vid / f"{clip}.mp4", n, seed=i)
    (root / "id00999" / "broken").mkdir(parents=True)
    (root / "id00999" / "broken" / "00001.mp4").write_bytes(
        b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 8
    )
    (root / "id00999" / "broken" / "00002.mp4").write_bytes(b"")
    return root


@pytest.mark.parametrize("fps", [6.0, 2.5])
def test_frame_count_is_duration_times_fps(tmp_path: Path, tree: Path, fps: float) -> None:
    df, _ = harvest(tmp_path, f"harvest.voxceleb.root={tree}", f"harvest.voxceleb.fps={fps}")
    ok = df[df["status"] == "ok"]
    for (spk, vid, clip), n in CLIPS.items():
        frames = ok[ok["image_id"].str.startswith(f"vox:{spk}/{vid}/{clip}@")].sort_values("frame_time")
        assert len(frames) == math.ceil(n / 25 * fps - 1e-9)
        times = frames["frame_time"].to_numpy()
        # each sample is the frame on screen at k / fps: at most one source frame (1/25 s) earlier
        assert np.all(
            (np.arange(len(times)) / fps - times >= -1e-6) & (np.arange(len(times)) / fps - times < 0.04)
        )
        assert set(frames["speaker_id"]) == {spk} and set(frames["video_id"]) == {vid}
        assert frames["path"].is_unique
    corrupt = df[df["source"].eq("voxceleb") & df["status"].eq("corrupt_video")]
    assert set(corrupt["image_id"]) == {"vox:id00999/broken/00001", "vox:id00999/broken/00002"}


def test_centre_crop_and_resize(tmp_path: Path, tree: Path) -> None:
    df, _ = harvest(tmp_path, f"harvest.voxceleb.root={tree}", "harvest.voxceleb.crop=0.5")
    ok = df[df["status"] == "ok"]
    assert set(ok["width"]) == {112} and set(ok["height"]) == {112}
    first = ok[ok["image_id"] == "vox:id00012/abcDEF12345/00001@0.000"].iloc[0]
    with av.open(str(tree / "id00012" / "abcDEF12345" / "00001.mp4")) as c:
        frame = next(c.decode(video=0)).to_ndarray(format="rgb24")
    crop = np.asarray(Image.open(tmp_path / "raw" / first["path"]).convert("RGB"), dtype=float)
    assert np.abs(crop - frame[56:168, 56:168]).mean() < 6  # the centre of the frame, JPEG noise aside
    df2, _ = harvest(tmp_path / "b", f"harvest.voxceleb.root={tree}", "harvest.voxceleb.size=64")
    assert set(df2.loc[df2["status"] == "ok", "width"]) == {64}


def test_rerun_decodes_nothing_again(tmp_path: Path, tree: Path) -> None:
    df1, _ = harvest(tmp_path, f"harvest.voxceleb.root={tree}")
    stamps = {p: p.stat().st_mtime_ns for p in (tmp_path / "raw" / "voxceleb").rglob("*.jpg")}
    df2, _ = harvest(tmp_path, f"harvest.voxceleb.root={tree}")
    assert df1.equals(df2)
    assert stamps == {p: p.stat().st_mtime_ns for p in (tmp_path / "raw" / "voxceleb").rglob("*.jpg")}
    df3, _ = harvest(
        tmp_path, f"harvest.voxceleb.root={tree}", "harvest.voxceleb.fps=3"
    )  # new setting: redone
    clip = df3[df3["image_id"].str.startswith("vox:id00012/abcDEF12345/00001@")]
    assert len(clip) == 6 and list(clip["frame_time"]) == sorted(clip["frame_time"])


def test_licence_parameter_reaches_every_row(tmp_path: Path, tree: Path) -> None:
    df, _ = harvest(tmp_path, f"harvest.voxceleb.root={tree}")
    assert df["license"].isna().all()
    df, _ = harvest(tmp_path, f"harvest.voxceleb.root={tree}", "harvest.voxceleb.license=CC BY-SA 4.0")
    assert set(df["license"]) == {"CC BY-SA 4.0"}, "a new licence re-harvests the journaled clips"
    assert set(df["status"]) == {"ok", "corrupt_video"}


VOX2_TXT = """Identity  : \t{spk}
Reference : \t{ref}
Offset    : \t1
FV Conf   : \t16.647\t(1)
ASD Conf  : \t4.465

FRAME \tX \tY \tW \tH
{rows}"""


def write_track(path: Path, spk: str, ref: str, frames: range, box: tuple[float, ...]) -> None:
    rows = "\n".join(f"{f:06d} \t" + " \t".join(f"{v:g}" for v in box) + " " for f in frames)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(VOX2_TXT.format(spk=spk, ref=ref, rows=rows) + "\n")


def test_metadata_tracks_over_source_videos(tmp_path: Path) -> None:
    videos, meta = tmp_path / "videos", tmp_path / "txt"
    write_clip(videos / "YTsource001.mp4", 60, size=240)
    write_track(
        meta / "id10001" / "YTsource001" / "00001.txt",
        "id10001",
        "YTsource001",
        range(5, 41),
        (0.25, 0.25, 0.5, 0.4),
    )
    write_track(
        meta / "id10001" / "YTsource001" / "00002.txt",
        "id10001",
        "YTsource001",
        range(20, 60),
        (60, 60, 80, 80),
    )
    write_track(
        meta / "id10002" / "YTmissing01" / "00001.txt",
        "id10002",
        "YTmissing01",
        range(0, 30),
        (0.1, 0.1, 0.5, 0.5),
    )
    track = parse_track(meta / "id10001" / "YTsource001" / "00001.txt", "id10001", "00001")
    assert track.reference == "YTsource001" and track.normalised and len(track.frames) == 36
    df, _ = harvest(
        tmp_path,
        f"harvest.voxceleb.metadata={meta}",
        f"harvest.voxceleb.videos={videos}",
        "harvest.voxceleb.license=CC BY 4.0",
    )
    assert set(df["license"]) == {"CC BY 4.0"}, "track frames and missing-video rows alike"
    ok = df[df["status"] == "ok"]
    clip1 = ok[ok["image_id"].str.startswith("vox:id10001/YTsource001/00001@")]
    clip2 = ok[ok["image_id"].str.startswith("vox:id10001/YTsource001/00002@")]
    assert len(clip1) == math.floor((40 - 5) / 25 * 6) + 1  # from the first listed frame to the last
    assert len(clip2) == math.floor((59 - 20) / 25 * 6) + 1
    assert set(clip1["width"]) == {round(1.5 * 0.5 * 240)}  # normalised VoxCeleb2 box, x1.5 square
    assert set(clip2["width"]) == {120}  # pixel VoxCeleb1 box
    assert clip1["frame_time"].min() == 0.0 and set(clip1["video_id"]) == {"YTsource001"}
    missing = df[df["status"] == "source_video_missing"]
    assert list(missing["image_id"]) == ["vox:id10002/YTmissing01/00001"]


def test_download_needs_yt_dlp(tmp_path: Path) -> None:
    try:
        import yt_dlp  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("yt-dlp is installed: the download itself needs a network")
    meta = tmp_path / "txt"
    write_track(
        meta / "id10002" / "YTmissing01" / "00001.txt", "id10002", "YTmissing01", range(0, 30), (0.1,) * 4
    )
    sets = [f"harvest.voxceleb.metadata={meta}", f"harvest.voxceleb.videos={tmp_path / 'v'}"]
    with pytest.raises(InputError, match="yt-dlp"):
        harvest(tmp_path, *sets, "harvest.voxceleb.download=true")
