"""The shard stage: round trip through webdataset and tarfile, the licence gate, determinism."""

from __future__ import annotations

import hashlib
import json
import tarfile

import pandas as pd
import pytest
import webdataset as wds
from shard_data import make_pipeline_outputs

from facerep.errors import InputError
from facerep.params import load_params
from facerep.shards.stage import run
from facerep.stages import run_stage
from facerep.tracking import Tracker

SPECIAL = {
    "f0003": {"keep": False},
    "f0005": {"license": "All Rights Reserved"},
    "f0008": {"status": "license_not_allowed"},
    "f0011": {"local_boxes": []},
}


def expected_ids(rows):
    return sorted(r["face_id"] for r in rows if r["face_id"] not in {"f0003", "f0005", "f0008"})


def test_round_trip_with_webdataset_and_tarfile(tmp_path, params_for):
    rows = make_pipeline_outputs(tmp_path, 23, SPECIAL)
    result = run(params_for("shard.max_count=6"), Tracker(None))
    out = tmp_path / "shards"
    index = json.loads((out / "index.json").read_text())
    assert [e["count"] for e in index["shards"]] == [6, 6, 6, 2]
    assert index["left_out"] == {"image_not_ok": 1, "licence_not_allowed": 1, "not_kept": 1}
    assert result.metrics["samples"] == 20
    crops = {r["face_id"]: (tmp_path / "faces" / "crops" / f"{r['face_id']}.jpg").read_bytes() for r in rows}

    seen_tar = []
    for entry in index["shards"]:
        path = out / entry["name"]
        assert hashlib.sha256(path.read_bytes()).hexdigest() == entry["sha256"]
        with tarfile.open(path) as tar:
            names = tar.getnames()
            assert len(names) == 2 * entry["count"]
            for name in names:
                key, ext = name.split(".", 1)
                data = tar.extractfile(name).read()
                if ext == "jpg":
                    seen_tar.append(key)
                    assert data == crops[key]
    assert sorted(seen_tar) == expected_ids(rows)

    urls = [str(out / e["name"]) for e in index["shards"]]
    seen_wds = []
    for sample in wds.WebDataset(urls, shardshuffle=False, empty_check=False):
        meta = json.loads(sample["json"])
        seen_wds.append(sample["__key__"])
        assert sample["jpg"] == crops[sample["__key__"]]
        assert meta["license"] == "CC BY 4.0" and meta["owner"] and meta["source"] in {"video", "flickr"}
        assert meta["page_url"].startswith("https://") and len(meta["landmarks5"]) == 10
        if sample["__key__"] == "f0011":
            assert meta["local_boxes"] is None
        else:
            assert meta["local_boxes"] == [[64.0, 64.0, 192.0, 192.0, 0.6]]
    assert sorted(seen_wds) == expected_ids(rows)
    assert seen_wds != sorted(seen_wds), "samples are written in a shuffled order"


def sharded_ids(out):
    ids = []
    for tar_path in sorted(out.glob("*.tar")):
        with tarfile.open(tar_path) as tar:
            ids += [n.split(".")[0] for n in tar.getnames() if n.endswith(".jpg")]
    return ids


def test_all_rights_reserved_never_reaches_a_shard_even_after_hand_edits(tmp_path, params_for):
    make_pipeline_outputs(tmp_path, 8, {"f0001": {"license": "All Rights Reserved"}, "f0002": {}})
    manifest_path = tmp_path / "raw" / "manifest.parquet"
    manifest = pd.read_parquet(manifest_path)
    manifest.loc[manifest["image_id"] == "img0001", ["license", "status"]] = ["CC BY 4.0", "ok"]
    manifest.loc[manifest["image_id"] == "img0002", "license"] = "All Rights Reserved"
    manifest.to_parquet(manifest_path, index=False)
    faces_path = tmp_path / "faces" / "faces.parquet"
    faces = pd.read_parquet(faces_path)
    faces.loc[faces["face_id"] == "f0002", "license"] = "CC0 1.0"
    faces.to_parquet(faces_path, index=False)

    run(params_for(), Tracker(None))
    ids = sharded_ids(tmp_path / "shards")
    assert "f0001" not in ids and "f0002" not in ids
    assert sorted(ids) == ["f0000", "f0003", "f0004", "f0005", "f0006", "f0007"]


def test_all_rights_reserved_cannot_be_allowed_by_parameters():
    with pytest.raises(InputError, match=r"shard\.licenses"):
        load_params(None, ["shard.licenses=[CC BY 4.0, all-rights-reserved]"])


def test_shards_are_deterministic_and_a_rerun_skips_them(tmp_path, params_for):
    make_pipeline_outputs(tmp_path, 12)
    first = run(params_for("shard.max_count=5"), Tracker(None))
    index = (tmp_path / "shards" / "index.json").read_text()
    again = run(params_for("shard.max_count=5"), Tracker(None))
    assert first.metrics["shards_skipped"] == 0 and again.metrics["shards_skipped"] == 3
    assert (tmp_path / "shards" / "index.json").read_text() == index

    other = tmp_path / "other"
    other.mkdir()
    make_pipeline_outputs(other, 12)
    run(params_for("shard.max_count=5", root=other), Tracker(None))
    assert (other / "shards" / "index.json").read_text() == index
    run(params_for("shard.max_count=5", "seed=1", root=other), Tracker(None))
    assert (other / "shards" / "index.json").read_text() != index


def test_missing_manifest_is_an_input_error(tmp_path, params_for):
    make_pipeline_outputs(tmp_path, 3)
    (tmp_path / "raw" / "manifest.parquet").unlink()
    with pytest.raises(InputError, match=r"manifest\.parquet"):
        run(params_for(), Tracker(None))


def test_default_licences_admit_synthfaces_as_harvest_names_it():
    from facerep.harvest.sources.synthetic import LICENSE
    from facerep.shards.config import ShardParams

    assert LICENSE in ShardParams().licenses


def photo_folder(root):
    """Two real photos (seven people) as a user's folder would hold them."""
    from curate_photos import package_dir
    from PIL import Image
    from skimage import data

    root.mkdir()
    (root / "t1.jpg").write_bytes((package_dir("insightface") / "data" / "images" / "t1.jpg").read_bytes())
    Image.fromarray(data.astronaut()).save(root / "astronaut.png")
    return root


def test_a_folder_reaches_the_shards_only_with_its_licence_parameter(tmp_path, params_for):
    folder = photo_folder(tmp_path / "photos")
    base = ["harvest.sources=[folder]", f"harvest.folder.root={folder}", "curate.local.candidates=2"]

    def stages(*overrides):
        params = params_for(*base, *overrides)
        for stage in ("harvest", "detect", "curate"):
            run_stage(stage, params)
        return params

    with pytest.raises(InputError, match=r"source 'folder' have no licence: set harvest\.folder\.license"):
        run(stages(), Tracker(None))
    assert not list((tmp_path / "shards").glob("*.tar"))

    result = run(stages('harvest.folder.license="CC BY 4.0"'), Tracker(None))
    curated = pd.read_parquet(tmp_path / "curated" / "curated.parquet")
    kept = sorted(curated.loc[curated["keep"], "face_id"])
    assert len(kept) >= 5, "the two photos hold seven people"
    assert result.metrics["samples"] == len(kept)
    index = json.loads((tmp_path / "shards" / "index.json").read_text())
    urls = [str(tmp_path / "shards" / e["name"]) for e in index["shards"]]
    metas = {s["__key__"]: json.loads(s["json"]) for s in wds.WebDataset(urls, shardshuffle=False)}
    assert sorted(metas) == kept
    assert {(m["license"], m["source"]) for m in metas.values()} == {("CC BY 4.0", "folder")}


def test_unlicensed_voxceleb_faces_are_left_out_naming_the_parameter(tmp_path, params_for, caplog):
    make_pipeline_outputs(tmp_path, 6)
    for table in (tmp_path / "raw" / "manifest.parquet", tmp_path / "faces" / "faces.parquet"):
        df = pd.read_parquet(table)
        vox = df["image_id"].isin(["img0000", "img0003"])
        df.loc[vox, "source"], df.loc[vox, "license"] = "voxceleb", None
        df.to_parquet(table, index=False)
    with caplog.at_level("WARNING"):
        result = run(params_for(), Tracker(None))
    assert result.metrics["samples"] == 4 and result.metrics["left_out_licence_missing"] == 2
    assert (
        "2 kept face(s) from source 'voxceleb' have no licence: set harvest.voxceleb.license" in caplog.text
    )
