"""MATLAB files of published datasets (LFWA, AFLW-19, COFW), whichever format they were saved in.

scipy reads formats up to v7; v7.3 files are HDF5 (the LFWA and COFW colour files are published so),
read here with h5py into the values scipy would give, so a loader never asks which format it has:
arrays in MATLAB's row x column order (HDF5 holds them column-major, axes reversed), char arrays as
string arrays of their rows, cell arrays as object arrays of their dereferenced elements, logical as
uint8. Struct variables (HDF5 groups) are not read: no dataset read here stores one."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
from scipy.io import loadmat

from facerep.errors import InputError

#: the numpy dtype of an empty MATLAB array where its class name is not one (as scipy reads them)
_EMPTY_DTYPES: dict[str, type | str] = {"logical": "uint8", "cell": object}


def read_mat(path: Path) -> dict[str, np.ndarray]:
    """The variables of a MATLAB file of any format, read as scipy's `loadmat` reads a v7 file."""
    try:
        if h5py.is_hdf5(path):
            with h5py.File(path, "r") as f:
                return {k: _value(f, v) for k, v in f.items() if isinstance(v, h5py.Dataset)}
        return loadmat(path)
    except (NotImplementedError, ValueError, OSError, KeyError) as exc:
        raise InputError(f"{path}: unreadable MATLAB file ({exc})") from exc


def _value(f: h5py.File, ds: h5py.Dataset) -> np.ndarray:
    """One v7.3 dataset as scipy gives its v7 twin; cell elements live under `#refs#`, hence `f`."""
    cls = ds.attrs.get("MATLAB_class", b"double")
    cls = cls.decode() if isinstance(cls, bytes) else str(cls)
    data = ds[()]
    if ds.attrs.get("MATLAB_empty", 0):  # the data is the array's MATLAB dimensions, not its values
        if cls == "char":
            return np.array([], dtype="<U1")
        return np.zeros(tuple(int(d) for d in np.ravel(data)), dtype=_EMPTY_DTYPES.get(cls, cls))
    data = np.asarray(data).T
    if cls == "char":  # UTF-16 code units; one string per row, as scipy's chars_as_strings
        rows = data.reshape(data.shape[0], -1).astype("<u2")
        return np.array([row.tobytes().decode("utf-16-le") for row in rows])
    if h5py.check_dtype(ref=ds.dtype) is not None:
        cells = np.empty(data.shape, dtype=object)
        for index, ref in np.ndenumerate(data):
            cells[index] = _value(f, f[ref])
        return cells
    return data


def mat_strings(cells: np.ndarray) -> list[str]:
    """A MATLAB cell array of strings (an object array of string arrays, one per cell) as a list;
    an empty cell ('' in MATLAB, a 0-element string array) is the empty string."""
    return ["".join(np.ravel(c)) for c in np.ravel(cells)]
