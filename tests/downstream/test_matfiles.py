"""`read_mat` gives the same variables from a MATLAB v7.3 (HDF5) file as from its v7 twin.

The v7.3 files are written here in MATLAB's layout, as MATLAB's `save -v7.3` does: a 512-byte
userblock carrying the MAT header, each array stored with its axes reversed (column-major), a
`MATLAB_class` attribute, chars as uint16 UTF-16 code units, cell arrays as datasets of object
references into `#refs#`, empty arrays as their dimensions with `MATLAB_empty` set."""

from __future__ import annotations

from itertools import count
from pathlib import Path

import h5py
import numpy as np
import pytest
from scipy.io import savemat

from facerep.downstream.datasets.matfiles import mat_strings, read_mat
from facerep.errors import InputError

#: numpy dtype -> MATLAB class name
_CLASSES = {np.dtype(np.float64): "double", np.dtype(np.uint8): "uint8", np.dtype(np.int64): "int64"}


def _put(f: h5py.File, group: h5py.Group, name: str, value: object, names: count) -> h5py.Dataset:
    """One MATLAB value (2-D ndarray, str or list = cell column) as MATLAB v7.3 stores it."""
    if isinstance(value, list):
        refs = f.require_group("#refs#")
        elements = [_put(f, refs, f"e{next(names)}", v, names).ref for v in value]
        cell = np.array(elements, dtype=h5py.ref_dtype).reshape(len(value), 1)
        ds = group.create_dataset(name, data=cell.T)
        ds.attrs["MATLAB_class"] = np.bytes_("cell")
    elif isinstance(value, str) and not value:
        ds = group.create_dataset(name, data=np.array([0, 0], dtype=np.uint64))
        ds.attrs["MATLAB_class"] = np.bytes_("char")
        ds.attrs["MATLAB_empty"] = np.uint8(1)
    elif isinstance(value, str):
        codes = np.frombuffer(value.encode("utf-16-le"), dtype="<u2").reshape(1, -1)
        ds = group.create_dataset(name, data=codes.T)
        ds.attrs["MATLAB_class"] = np.bytes_("char")
        ds.attrs["MATLAB_int_decode"] = np.int32(2)
    else:
        array = np.asarray(value)
        ds = group.create_dataset(name, data=array.T)
        ds.attrs["MATLAB_class"] = np.bytes_(_CLASSES[array.dtype])
    return ds


def write_v73(path: Path, variables: dict[str, object]) -> None:
    """A MATLAB v7.3 file of `variables` (2-D arrays of double, uint8 or int64; str; list: a cell column)."""
    names = count()
    with h5py.File(path, "w", userblock_size=512) as f:
        for name, value in variables.items():
            _put(f, f, name, value, names)
    header = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created by: facerep tests HDF5 schema 1.00 ."
    with path.open("r+b") as out:
        out.write(header.ljust(116) + b"\0" * 8 + b"\x00\x02IM")


def _v7(value: object) -> object:
    """The same value as scipy's savemat takes it (a cell column is an object array)."""
    if isinstance(value, list):
        cells = np.empty((len(value), 1), dtype=object)
        cells[:, 0] = [_v7(v) for v in value]
        return cells
    return value


def _assert_same(a: np.ndarray, b: np.ndarray) -> None:
    assert a.shape == b.shape and a.dtype == b.dtype
    if a.dtype == object:
        for x, y in zip(a.ravel(), b.ravel(), strict=True):
            _assert_same(x, y)
    else:
        np.testing.assert_array_equal(a, b)


def test_v73_and_v7_read_identically(tmp_path):
    rng = np.random.default_rng(0)
    grey = rng.integers(0, 256, (5, 7), dtype=np.uint8)
    colour = rng.integers(0, 256, (4, 6, 3), dtype=np.uint8)  # 3-D: HDF5 holds it as (3, 6, 4)
    variables = {
        "phis": rng.uniform(0, 100, (3, 87)),
        "ra": np.array([[3, 1, 2]], dtype=np.int64),
        "title": "Male",
        "name": ["A\\A_0001.jpg", "Zoë\\Zoë_0002.jpg", ""],
        "images": [grey, colour],
    }
    write_v73(tmp_path / "v73.mat", variables)
    savemat(tmp_path / "v7.mat", {k: _v7(v) for k, v in variables.items()})
    with h5py.File(tmp_path / "v73.mat") as f:  # the layout really is MATLAB's: axes reversed
        assert f["phis"].shape == (87, 3) and f["#refs#"]["e4"].shape == (3, 6, 4)
    new, old = read_mat(tmp_path / "v73.mat"), read_mat(tmp_path / "v7.mat")
    assert set(new) == set(variables) == {k for k in old if not k.startswith("__")}
    for key in variables:
        _assert_same(new[key], old[key])
    assert mat_strings(new["name"]) == ["A\\A_0001.jpg", "Zoë\\Zoë_0002.jpg", ""]
    np.testing.assert_array_equal(new["images"][1, 0], colour)


def test_unreadable_file_names_itself(tmp_path):
    header = b"MATLAB 7.3 MAT-file".ljust(116) + b"\0" * 8 + b"\x00\x02IM"
    (tmp_path / "broken.mat").write_bytes(header + b"\0" * 512)  # v7.3 header, no HDF5 behind it
    with pytest.raises(InputError, match=r"broken\.mat: unreadable MATLAB file"):
        read_mat(tmp_path / "broken.mat")
