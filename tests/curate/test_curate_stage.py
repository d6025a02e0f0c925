"""The curate stage end to end on real photo crops with planted duplicates."""

from __future__ import annotations

import cv2
import numpy as np
import pandas as pd
import pytest
from curate_data import encode_jpeg, face_row, write_detect_output, write_manifest

from facerep.curate.dedup import exact_pairs
from facerep.curate.stage import run
from facerep.tracking import Tracker


def resized_copy(crop: np.ndarray) -> np.ndarray:
    small = cv2.resize(crop, (100, 100), interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (256, 256), interpolation=cv2.INTER_CUBIC)


def cropped_copy(crop: np.ndarray, landmarks5: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cut 14 px off the top and 8 off the left (a slightly different detection), back to 256 px."""
    x0, y0, side = 8, 14, 236
    out = cv2.resize(crop[y0 : y0 + side, x0 : x0 + side], (256, 256), interpolation=cv2.INTER_CUBIC)
    return out, (landmarks5 - [x0, y0]) * (256 / side)


@pytest.fixture
def planted(tmp_path, faces):
    distinct = [face_row(f, f"f_{f.name}", source="photos") for f in faces]
    by = {f.name: f for f in faces}
    exact = face_row(by["t1_3"], "dup_exact", source="video", score=0.9)
    exact["jpeg"] = encode_jpeg(by["t1_3"].crop)
    reenc = face_row(by["t1_0"], "dup_reencoded", source="video", score=0.9)
    reenc["jpeg"] = encode_jpeg(by["t1_0"].crop, quality=35)
    resized = face_row(
        by["t1_1"], "dup_resized", source="video", score=0.9, crop=resized_copy(by["t1_1"].crop)
    )
    crop, lm = cropped_copy(by["t1_2"].crop, by["t1_2"].landmarks5)
    cropped = face_row(by["t1_2"], "dup_cropped", source="video", score=0.9, crop=crop, landmarks5=lm)
    rows = [*distinct, exact, reenc, resized, cropped]
    write_detect_output(tmp_path, rows)
    write_manifest(tmp_path, rows)
    return {
        "dup_exact": "f_t1_3",
        "dup_reencoded": "f_t1_0",
        "dup_resized": "f_t1_1",
        "dup_cropped": "f_t1_2",
    }


def test_curate_finds_planted_duplicates_and_keeps_distinct_faces(planted, params_for, tmp_path):
    params = params_for("curate.local.candidates=4", "curate.local.min_kept=1")
    result = run(params, Tracker(None))
    cur = pd.read_parquet(tmp_path / "curated" / "curated.parquet").set_index("face_id")
    dups = cur[cur["dup_of"].notna()]
    assert dict(zip(dups.index, dups["dup_of"], strict=True)) == planted
    assert cur.loc["dup_exact", "reason"] == "exact_duplicate"
    assert set(cur.loc[["dup_reencoded", "dup_resized", "dup_cropped"], "reason"]) == {"near_duplicate"}
    kept = cur[cur["keep"]]
    assert sorted(kept.index) == sorted(i for i in cur.index if i.startswith("f_"))
    assert (kept["reason"] == "").all()
    assert result.metrics["near_duplicates"] == 3 and result.metrics["exact_duplicates"] == 1
    for boxes, fallback in zip(kept["local_boxes"], kept["local_fallback"], strict=True):
        assert fallback == (len(boxes) < 1)
        for b in boxes:
            assert len(b) == 5 and 0 <= b[0] < b[2] <= 256 and 0 <= b[1] < b[3] <= 256 and b[4] >= 0.35
    assert cur.loc[dups.index, "local_boxes"].map(len).eq(0).all()

    emb = np.load(tmp_path / "curated" / "embeddings.npy")
    assert emb.shape == (len(cur), 128)
    table = pd.read_csv(tmp_path / "curated" / "redundancy.csv").set_index("source")
    assert table.loc["video", "redundancy"] == 1.0 and table.loc["photos", "redundancy"] == 0.0
    assert (tmp_path / "curated" / "redundancy.png").stat().st_size > 1000


def test_filters_record_their_reason(tmp_path, faces, params_for):
    blurred = cv2.GaussianBlur(faces[0].crop, (0, 0), 6)
    rows = [
        face_row(faces[6], "sharp"),
        face_row(faces[0], "blurred", crop=blurred),
        face_row(faces[2], "unsure", score=0.3),
    ]
    write_detect_output(tmp_path, rows)
    params = params_for(
        "curate.filters.min_score=0.5", "curate.filters.min_sharpness=8", "curate.local.candidates=2"
    )
    run(params, Tracker(None))
    cur = pd.read_parquet(tmp_path / "curated" / "curated.parquet").set_index("face_id")
    assert cur["reason"].to_dict() == {"sharp": "", "blurred": "blurred", "unsure": "low_score"}
    assert cur["keep"].to_dict() == {"sharp": True, "blurred": False, "unsure": False}


def test_exact_pairs_join_each_copy_to_the_first():
    assert exact_pairs(["a", None, "b", "a", "b", ""]) == [(0, 3), (2, 4)]


def test_rerun_with_new_thresholds_reuses_cached_embeddings(tmp_path, faces, params_for):
    write_detect_output(tmp_path, [face_row(f, f"f{i}") for i, f in enumerate(faces[:3])])
    first = params_for("curate.local.candidates=4", "curate.local.min_kept=1")
    run(first, Tracker(None))
    cache = tmp_path / "curated" / "cache"
    parts = sorted(p.relative_to(cache) for p in cache.rglob("part-*.parquet"))
    before = pd.read_parquet(tmp_path / "curated" / "curated.parquet")

    run(
        params_for("curate.local.candidates=4", "curate.local.min_kept=1", "curate.local.theta=1.0"),
        Tracker(None),
    )
    strict = pd.read_parquet(tmp_path / "curated" / "curated.parquet")
    assert sorted(p.relative_to(cache) for p in cache.rglob("part-*.parquet")) == parts, "nothing re-embedded"
    assert strict["local_boxes"].map(len).eq(0).all() and strict["local_fallback"].all()

    run(first, Tracker(None))
    again = pd.read_parquet(tmp_path / "curated" / "curated.parquet")
    assert (
        again["local_boxes"].map(lambda b: [list(x) for x in b]).tolist()
        == before["local_boxes"].map(lambda b: [list(x) for x in b]).tolist()
    )
    assert before["local_boxes"].map(len).gt(0).any()


def test_threads_and_runtimes_give_the_same_curation(planted, params_for, tmp_path):
    """The fast path (torch, candidates in bfloat16, 2 threads) decides as dlib's own runtime inline."""
    outputs = []
    for name, sets in (
        ("dlib", ("curate.workers=1", "curate.dlib.runtime=dlib", "curate.dlib.batch_size=32")),
        ("torch", ("curate.workers=2", "curate.dlib.runtime=torch")),
    ):
        out = tmp_path / name  # each its own cache: both runtimes embed every face
        sets = ("curate.local.candidates=2", "curate.local.min_kept=1", f"paths.curated={out}", *sets)
        run(params_for(*sets), Tracker(None))
        outputs.append(pd.read_parquet(out / "curated.parquet").set_index("face_id"))
    dlib, torch = outputs
    columns = ["keep", "reason", "dup_of", "local_fallback"]
    pd.testing.assert_frame_equal(dlib[columns], torch[columns])
    assert np.allclose(
        np.load(tmp_path / "dlib" / "embeddings.npy"),
        np.load(tmp_path / "torch" / "embeddings.npy"),
        atol=1e-5,
    )
    fp32, bf16 = (candidate_table(tmp_path / name) for name in ("dlib", "torch"))
    assert fp32.index.equals(bf16.index) and len(fp32) == 2 * dlib["keep"].sum()
    assert (fp32["sim"] - bf16["sim"]).abs().max() < 0.01
    theta = 0.35
    clear = (fp32["sim"] - theta).abs() > 0.01  # away from theta the decisions agree
    want = set(fp32.index[clear & (fp32["sim"] >= theta)])
    for boxes in (dlib["local_boxes"], torch["local_boxes"]):
        accepted = {(f, tuple(b[:4])) for f, face in boxes.items() for b in face.tolist()}
        assert accepted & set(fp32.index[clear]) == want


def candidate_table(curated) -> pd.DataFrame:
    """Every candidate local crop's similarity from the stage's cache, indexed by (face_id, box)."""
    rows = []
    for part in sorted(curated.glob("cache/local-*/part-*.parquet")):
        table = pd.read_parquet(part, columns=["face_id", "boxes", "sims"])
        for face_id, boxes, sims in table.itertuples(index=False):
            for box, sim in zip(np.reshape(boxes, (-1, 4)).tolist(), sims, strict=True):
                rows.append({"face_id": face_id, "box": tuple(box), "sim": float(sim)})
    return pd.DataFrame(rows).set_index(["face_id", "box"]).sort_index()
