"""Each published-layout loader on a tiny fixture written here in that layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from scipy.io import savemat

from facerep.downstream.datasets import load_dataset
from facerep.errors import InputError


def _jpg(path: Path, size: tuple[int, int] = (60, 70), value: int = 128) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (value, value // 2, 30)).save(path)


def test_rafdb(tmp_path):
    lines = ["train_00001.jpg 4", "train_00002.jpg 7", "test_0001.jpg 1"]
    (tmp_path / "EmoLabel").mkdir()
    (tmp_path / "EmoLabel" / "list_patition_label.txt").write_text("\n".join(lines) + "\n")
    for name in ("train_00001", "train_00002", "test_0001"):
        _jpg(tmp_path / "Image" / "aligned" / f"{name}_aligned.jpg", (100, 100))
    data = load_dataset("rafdb", tmp_path, 32, None, None)
    assert data.train.labels["expression"].tolist() == [3, 6] and data.test.labels["expression"].tolist() == [
        0
    ]
    assert tuple(data.train.images.shape) == (2, 3, 32, 32)


def test_fer2013(tmp_path):
    pix = " ".join(["7"] * 48 * 48)
    rows = [(3, pix, "Training"), (0, pix, "PublicTest"), (5, pix, "PrivateTest"), (6, pix, "Training")]
    pd.DataFrame(rows, columns=["emotion", "pixels", "Usage"]).to_csv(tmp_path / "fer2013.csv", index=False)
    data = load_dataset("fer2013", tmp_path, 24, None, None)
    assert data.train.labels["expression"].tolist() == [3, 6] and data.test.labels["expression"].tolist() == [
        5
    ]
    assert int(data.train.images[0][0, 0, 0]) == 7


def test_affectnet(tmp_path):
    cols = ["subDirectory_filePath", "face_x", "face_y", "face_width", "face_height", "facial_landmarks"]
    rows = [("1/a.jpg", 10, 10, 40, 40, "", 1, 0.5, 0.2), ("1/b.jpg", 0, 0, 50, 50, "", 9, -2, -2)]
    df = pd.DataFrame(rows, columns=[*cols, "expression", "valence", "arousal"])
    df.to_csv(tmp_path / "training.csv", index=False)
    df.iloc[:1].to_csv(tmp_path / "validation.csv", index=False)
    for name in ("a", "b"):
        _jpg(tmp_path / "Manually_Annotated_Images" / "1" / f"{name}.jpg", (80, 80))
    data = load_dataset("affectnet", tmp_path, 32, None, None)
    assert len(data.train) == 1  # the non-face class 9 is dropped
    np.testing.assert_allclose(data.train.labels["valence_arousal"], [[0.5, 0.2]])


def test_celeba(tmp_path):
    (tmp_path / "list_attr_celeba.txt").write_text(
        "3\nSmiling Male\n000001.jpg  1 -1\n000002.jpg -1  1\n000003.jpg 1 1\n"
    )
    (tmp_path / "list_eval_partition.txt").write_text("000001.jpg 0\n000002.jpg 1\n000003.jpg 2\n")
    for i in (1, 2, 3):
        _jpg(tmp_path / "img_align_celeba" / f"00000{i}.jpg", (178, 218))
    data = load_dataset("celeba", tmp_path, 32, None, None)
    assert data.train.labels["attributes"].tolist() == [[1.0, 0.0]] and data.test.labels[
        "attributes"
    ].tolist() == [[1.0, 1.0]]
    assert data.meta["attribute_names"] == ["Smiling", "Male"]


def _pts(path: Path, pts: np.ndarray) -> None:
    body = "\n".join(f"{x:.3f} {y:.3f}" for x, y in pts)
    path.write_text(f"version: 1\nn_points: {len(pts)}\n{{\n{body}\n}}\n")


def test_300w(tmp_path):
    rng = np.random.default_rng(0)
    for folder in ("lfpw/trainset", "helen/trainset", "afw", "lfpw/testset", "helen/testset", "ibug"):
        (tmp_path / folder).mkdir(parents=True)
        _jpg(tmp_path / folder / "img1.jpg", (200, 200))
        _pts(tmp_path / folder / "img1.pts", rng.uniform(50, 150, (68, 2)))
    data = load_dataset("w300", tmp_path, 64, None, None)
    assert len(data.train) == 3 and len(data.test) == 3
    lm = data.train.labels["landmarks"]
    assert lm.shape == (3, 68, 2) and lm.min() > 0 and lm.max() < 1  # inside the 1.25x square crop


def test_wflw(tmp_path):
    lists = tmp_path / "WFLW_annotations" / "list_98pt_rect_attr_train_test"
    lists.mkdir(parents=True)
    pts = np.random.default_rng(0).uniform(20, 80, 196)
    line = " ".join(f"{v:.2f}" for v in pts) + " 10 10 90 90 0 0 0 0 0 0 0--Parade/a.jpg"
    for split in ("train", "test"):
        (lists / f"list_98pt_rect_attr_{split}.txt").write_text(line + "\n" + line + "\n")
    _jpg(tmp_path / "WFLW_images" / "0--Parade" / "a.jpg", (100, 100))
    data = load_dataset("wflw", tmp_path, 32, None, None)
    assert data.train.labels["landmarks"].shape == (2, 98, 2) and data.meta["nme_norm"] == "inter_ocular"


def test_lfw_pairs_and_identity_folders(tmp_path):
    for person, n in (("A", 2), ("B", 1)):
        for k in range(1, n + 1):
            _jpg(tmp_path / "lfw" / person / f"{person}_{k:04d}.jpg", (250, 250), 40 * k)
            _jpg(tmp_path / "train" / f"id_{person}" / f"{k}.jpg", (112, 112))
    (tmp_path / "pairs.txt").write_text("1\t1\nA\t1\t2\nA\t1\tB\t1\n")
    data = load_dataset("lfw", tmp_path, 32, None, None)
    assert data.train.labels["identity"].tolist() == [0, 0, 1]
    assert data.pairs.tolist() == [[0, 1, 1], [0, 2, 0]] and data.test.keys[2] == "B/B_0001.jpg"


def test_300wlp_aflw2000_pose(tmp_path):
    pts = np.random.default_rng(0).uniform(30, 90, (2, 68))
    for folder, yaw in (("300W_LP/AFW", 30.0), ("AFLW2000", -20.0), ("AFLW2000", 120.0)):
        name = f"img{int(abs(yaw))}"
        _jpg(tmp_path / folder / f"{name}.jpg", (120, 120))
        pose = np.radians([[10.0, yaw, -5.0, 0, 0, 0, 0]])
        savemat(tmp_path / folder / f"{name}.mat", {"Pose_Para": pose, "pt2d": pts})
    data = load_dataset("w300lp_aflw2000", tmp_path, 32, None, None)
    np.testing.assert_allclose(data.train.labels["pose"], [[30.0, 10.0, -5.0]], atol=1e-4)
    assert len(data.test) == 1  # the face beyond 99 degrees is dropped


def test_disfa(tmp_path):
    for sn in ("SN001", "SN002", "SN003"):
        for au in (1, 2, 4, 5, 6, 9, 12, 15, 17, 20, 25, 26):
            folder = tmp_path / "ActionUnit_Labels" / sn
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"{sn}_au{au}.txt").write_text(f"1,{au % 6}\n2,0\n")
        for frame in (1, 2):
            _jpg(tmp_path / "Frames" / sn / f"{frame}.jpg")
    data = load_dataset("disfa", tmp_path, 32, None, None)
    assert len(data.train) == 4 and len(data.test) == 2  # subjects 1-2 train, 3 test
    assert data.train.labels["au"][0].tolist() == [
        au % 6 for au in (1, 2, 4, 5, 6, 9, 12, 15, 17, 20, 25, 26)
    ]


def test_missing_layout_names_the_file(tmp_path):
    with pytest.raises(InputError, match=r"list_patition_label\.txt"):
        load_dataset("rafdb", tmp_path, 32, None, None)
    with pytest.raises(InputError, match="unknown dataset"):
        load_dataset("nope", tmp_path, 32, None, None)
