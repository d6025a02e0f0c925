"""The loaders of LFWA, AFLW-19, COFW, BP4D, FERPlus, SFEW and IJB on tiny fixtures in their layouts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from scipy.io import savemat
from test_matfiles import write_v73

from facerep.downstream.datasets import load_dataset
from facerep.errors import InputError


def _jpg(path: Path, size: tuple[int, int] = (60, 70), value: int = 128) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (value, value // 2, 30)).save(path)


def _cells(strings: list[str]) -> np.ndarray:
    """A MATLAB cell array of strings as savemat writes it (an object array)."""
    cells = np.empty((len(strings), 1), dtype=object)
    cells[:, 0] = strings
    return cells


def test_lfwa(tmp_path):
    files = ["A\\A_0001.jpg", "B\\B_0001.jpg", "A\\A_0002.jpg"]
    label = np.array([[1, 0], [0, 1], [1, 1]])
    savemat(
        tmp_path / "lfw_att_40.mat",
        {"name": _cells(files), "label": label, "AttrName": _cells(["Male", "Smiling"])},
    )
    savemat(tmp_path / "indices_train_test.mat", {"indices_img_train": [[3, 1]], "indices_img_test": [[2]]})
    for f in files:
        _jpg(tmp_path / "lfw" / f.replace("\\", "/"), (250, 250))
    data = load_dataset("lfwa", tmp_path, 32, None, None)
    assert data.train.keys == ["A/A_0002.jpg", "A/A_0001.jpg"]  # 1-based indices, in their order
    assert data.train.labels["attributes"].tolist() == [[1.0, 1.0], [1.0, 0.0]]
    assert data.test.labels["attributes"].tolist() == [[0.0, 1.0]]
    assert data.meta["attribute_names"] == ["Male", "Smiling"]


def test_lfwa_reads_the_published_matlab_v73_files(tmp_path):
    files = ["A\\A_0001.jpg", "B\\B_0001.jpg"]
    write_v73(
        tmp_path / "lfw_att_40.mat",
        {"name": files, "label": np.array([[1.0, 0.0], [0.0, 1.0]]), "AttrName": ["Male", "Smiling"]},
    )
    write_v73(
        tmp_path / "indices_train_test.mat",
        {"indices_img_train": np.array([[2.0]]), "indices_img_test": np.array([[1.0]])},
    )
    for f in files:
        _jpg(tmp_path / "lfw" / f.replace("\\", "/"), (250, 250))
    data = load_dataset("lfwa", tmp_path, 32, None, None)
    assert data.train.keys == ["B/B_0001.jpg"] and data.test.keys == ["A/A_0001.jpg"]
    assert data.train.labels["attributes"].tolist() == [[0.0, 1.0]]
    assert data.meta["attribute_names"] == ["Male", "Smiling"]


def test_aflw19_split_crop_and_diag_box(tmp_path):
    n = 20002  # ra's first 20,000 entries are training faces, the rest the test set
    pts = np.stack([np.linspace(40, 100, 19), np.linspace(50, 110, 19)])  # 2 x 19
    data = np.tile(pts.reshape(1, 38), (n, 1))
    bbox = np.tile([30.0, 110.0, 40.0, 120.0], (n, 1))  # x1, x2, y1, y2
    names = [f"0/image{i:05d}.jpg" for i in range(n)]
    ra = np.arange(n, 0, -1)[None, :]  # 1-based, reversed: faces n..3 train, 2 and 1 test
    savemat(
        tmp_path / "AFLWinfo_release.mat", {"nameList": _cells(names), "data": data, "bbox": bbox, "ra": ra}
    )
    for i in (n - 1, n - 2, 1, 0):
        _jpg(tmp_path / "flickr" / names[i], (160, 160))
    loaded = load_dataset("aflw19", tmp_path, 32, 2, None)
    assert loaded.train.keys == [names[n - 1], names[n - 2]] and loaded.test.keys == [names[1], names[0]]
    assert loaded.meta["nme_norm"] == "diag"
    lm = loaded.train.labels["landmarks"][0]
    # the crop is the 1.25x square around the points: 75 px wide, from 32.5 to 107.5 in x
    np.testing.assert_allclose(lm[0], [(40 - 32.5) / 75, (50 - 42.5) / 75], atol=1e-6)
    np.testing.assert_allclose(
        loaded.test.labels["box"][0], [-2.5 / 75, -2.5 / 75, 77.5 / 75, 77.5 / 75], atol=1e-6
    )


def _cofw_images(k: int) -> np.ndarray:
    images = np.empty((k, 1), dtype=object)
    for i in range(k):
        images[i, 0] = np.full((80, 90), 60 + i, dtype=np.uint8)  # grey, as most COFW faces
    return images


def test_cofw(tmp_path):
    rng = np.random.default_rng(0)
    phis = np.concatenate([rng.uniform(20, 60, (3, 58)), np.zeros((3, 29))], axis=1)
    savemat(tmp_path / "COFW_train_color.mat", {"IsTr": _cofw_images(3), "phisTr": phis})
    savemat(tmp_path / "COFW_test_color.mat", {"IsT": _cofw_images(1), "phisT": phis[:1]})
    data = load_dataset("cofw", tmp_path, 32, None, None)
    assert len(data.train) == 3 and len(data.test) == 1 and data.meta["nme_norm"] == "inter_ocular"
    lm = data.train.labels["landmarks"]
    assert lm.shape == (3, 29, 2) and lm.min() > 0 and lm.max() < 1
    # the x of point 0 and the y of point 0 come from columns 0 and 29
    assert np.argmin(phis[1, :29]) == np.argmin(lm[1, :, 0]) and np.argmax(phis[1, 29:58]) == np.argmax(
        lm[1, :, 1]
    )
    assert int(data.train.images[2][0, 5, 5]) == 62 and data.train.images.shape == (3, 3, 32, 32)


def test_cofw_v73_files_load_as_their_v7_twins(tmp_path):
    rng = np.random.default_rng(1)
    phis = np.concatenate([rng.uniform(20, 60, (2, 58)), np.zeros((2, 29))], axis=1)
    images = [np.full((80, 90), 70, dtype=np.uint8), rng.integers(0, 256, (70, 85, 3), dtype=np.uint8)]
    v7, v73 = tmp_path / "v7", tmp_path / "v73"
    for root in (v7, v73):
        root.mkdir()
    cells = np.empty((2, 1), dtype=object)
    cells[:, 0] = images
    savemat(v7 / "COFW_train_color.mat", {"IsTr": cells, "phisTr": phis})
    savemat(v7 / "COFW_test_color.mat", {"IsT": cells[:1], "phisT": phis[:1]})
    write_v73(v73 / "COFW_train_color.mat", {"IsTr": images, "phisTr": phis})
    write_v73(v73 / "COFW_test_color.mat", {"IsT": images[:1], "phisT": phis[:1]})
    old, new = load_dataset("cofw", v7, 32, None, None), load_dataset("cofw", v73, 32, None, None)
    for a, b in ((old.train, new.train), (old.test, new.test)):
        np.testing.assert_array_equal(
            [a.images.read(i) for i in range(len(a))], [b.images.read(i) for i in range(len(b))]
        )
        np.testing.assert_array_equal(a.labels["landmarks"], b.labels["landmarks"])
    assert new.train.images[1].float().std() > 0  # the colour face is read, not a constant


def test_bp4d(tmp_path):
    intensities = {6: 3, 10: 1, 12: 4, 14: 0, 17: 2}
    for part, subject in (("train", "F001"), ("train", "M002"), ("devel", "F003")):
        for au, value in intensities.items():
            folder = tmp_path / part / "AU_INT" / f"AU{au:02d}"
            folder.mkdir(parents=True, exist_ok=True)
            coded = 9 if au == 14 else 0  # frame 11 has AU14 not coded
            (folder / f"{subject}_T1_AU{au:02d}.csv").write_text(f"10,{value}\n11,{coded}\n12,{value}\n")
        for frame in (10, 11):  # frame 12 has no image
            _jpg(tmp_path / part / "Images" / subject / "T1" / f"{frame}.jpg")
    data = load_dataset("bp4d", tmp_path, 32, None, None)
    assert data.train.keys == ["F001/T1/10", "M002/T1/10"] and data.test.keys == ["F003/T1/10"]
    assert data.train.labels["au"][0].tolist() == [3, 1, 4, 0, 2]
    assert data.meta["au_names"] == ["au06", "au10", "au12", "au14", "au17"]
    with pytest.raises(InputError, match=r"F001_T1_AU10\.csv"):
        (tmp_path / "train" / "AU_INT" / "AU10" / "F001_T1_AU10.csv").unlink()
        load_dataset("bp4d", tmp_path, 32, None, None)


def test_ferplus_majority_and_class_order(tmp_path):
    pix = " ".join(["9"] * 48 * 48)
    usage = ["Training", "Training", "Training", "Training", "PrivateTest", "PublicTest", "Training"]
    pd.DataFrame({"emotion": 0, "pixels": pix, "Usage": usage}).to_csv(tmp_path / "fer2013.csv", index=False)
    votes = [  # neutral happiness surprise sadness anger disgust fear contempt unknown NF
        [0, 6, 1, 1, 1, 0, 0, 1, 0, 0],  # happiness: 6 of 6 once single votes are dropped
        [4, 0, 4, 0, 0, 0, 0, 2, 0, 0],  # no majority: dropped
        [0, 0, 0, 0, 0, 0, 0, 0, 0, 10],  # not a face: dropped
        [0, 0, 0, 0, 0, 0, 0, 7, 3, 0],  # contempt
        [0, 0, 8, 0, 0, 0, 2, 0, 0, 0],  # surprise
        [10, 0, 0, 0, 0, 0, 0, 0, 0, 0],  # validation set: not used
        [10, 0, 0, 0, 0, 0, 0, 0, 0, 0],  # no image name: dropped
    ]
    cols = [
        "neutral",
        "happiness",
        "surprise",
        "sadness",
        "anger",
        "disgust",
        "fear",
        "contempt",
        "unknown",
        "NF",
    ]
    new = pd.DataFrame(votes, columns=cols)
    new.insert(0, "Image name", [f"fer{i:07d}.png" for i in range(6)] + [None])
    new.insert(0, "Usage", usage)
    new.to_csv(tmp_path / "fer2013new.csv", index=False)
    data = load_dataset("ferplus", tmp_path, 24, None, None)
    assert data.train.labels["expression"].tolist() == [3, 7]  # Happiness, Contempt (project order)
    assert data.train.keys == ["fer0000000.png", "fer0000003.png"]
    assert data.test.labels["expression"].tolist() == [0] and data.meta["classes"] == 8
    assert int(data.test.images[0][1, 3, 3]) == 9


def test_sfew(tmp_path):
    for split in ("Train", "Val"):
        for emotion in ("Angry", "Disgust", "Fear", "Happy", "Neutral", "Sad", "Surprise"):
            (tmp_path / split / emotion).mkdir(parents=True)
    _jpg(tmp_path / "Train" / "Angry" / "a.png", (143, 181))
    _jpg(tmp_path / "Train" / "Happy" / "h.jpg")
    _jpg(tmp_path / "Val" / "Neutral" / "n.png")
    (tmp_path / "Train" / "Happy" / "Thumbs.db").write_text("")
    data = load_dataset("sfew", tmp_path, 32, None, None)
    assert dict(zip(data.train.keys, data.train.labels["expression"].tolist(), strict=True)) == {
        "Happy/h.jpg": 3,
        "Angry/a.png": 5,
    }
    assert data.test.labels["expression"].tolist() == [6] and data.meta["classes"] == 7
    (tmp_path / "Val" / "Fear").rmdir()
    with pytest.raises(InputError, match=r"Val/Fear"):
        load_dataset("sfew", tmp_path, 32, None, None)


def test_ijb_templates(tmp_path):
    meta = tmp_path / "meta"
    meta.mkdir()
    (meta / "ijbb_face_tid_mid.txt").write_text("1.jpg 7 100\n2.jpg 7 101\n3.jpg 9 102\n4.jpg 12 103\n")
    (meta / "ijbb_template_pair_label.txt").write_text("7 9 1\n7 12 0\n")
    for k in (1, 2, 3, 4):
        _jpg(tmp_path / "loose_crop" / f"{k}.jpg", (100, 120), 30 * k)
    _jpg(tmp_path / "train" / "n000001" / "0001_01.jpg")
    _jpg(tmp_path / "train" / "n000002" / "0001_01.jpg")
    data = load_dataset("ijb", tmp_path, 32, None, None)
    assert data.pairs.tolist() == [[7, 9, 1], [7, 12, 0]] and data.meta["protocol"] == "ijbb"
    assert data.meta["templates"].tolist() == [7, 7, 9, 12] and data.test.keys[3] == "4.jpg"
    assert data.train.labels["identity"].tolist() == [0, 1]
    one = load_dataset("ijb", tmp_path, 32, None, 1)  # one pair: only its templates' faces are read
    assert one.pairs.tolist() == [[7, 9, 1]] and one.test.keys == ["1.jpg", "2.jpg", "3.jpg"]
    (meta / "ijbb_face_tid_mid.txt").write_text("1.jpg 7 100\n")
    with pytest.raises(InputError, match=r"ijbb_face_tid_mid\.txt: no face of pair templates \[9, 12\]"):
        load_dataset("ijb", tmp_path, 32, None, None)


def test_ijbc_files_are_read_when_ijbb_is_absent(tmp_path):
    meta = tmp_path / "meta"
    meta.mkdir()
    (meta / "ijbc_face_tid_mid.txt").write_text("a.jpg 1 1\nb.jpg 2 2\n")
    (meta / "ijbc_template_pair_label.txt").write_text("1 2 0\n")
    _jpg(tmp_path / "loose_crop" / "a.jpg")
    _jpg(tmp_path / "loose_crop" / "b.jpg")
    _jpg(tmp_path / "train" / "x" / "1.jpg")
    data = load_dataset("ijb", tmp_path, 32, None, None)
    assert data.meta["protocol"] == "ijbc" and data.pairs.tolist() == [[1, 2, 0]]


@pytest.mark.parametrize(
    ("name", "missing"),
    [
        ("lfwa", r"lfw_att_40\.mat"),
        ("aflw19", r"AFLWinfo_release\.mat"),
        ("cofw", r"COFW_train_color\.mat"),
        ("bp4d", r"train/AU_INT/AU06"),
        ("ferplus", r"fer2013\.csv"),
        ("sfew", r"Train/Surprise"),
        ("ijb", r"meta/ijbb_face_tid_mid\.txt"),
    ],
)
def test_missing_layout_names_the_file(tmp_path, name, missing):
    with pytest.raises(InputError, match=missing):
        load_dataset(name, tmp_path, 32, None, None)
