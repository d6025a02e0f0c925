"""dlib's face-recognition network run by torch gives dlib's own descriptors."""

from __future__ import annotations

import numpy as np
import pytest

from facerep.curate.dlib_resnet import read_dlib_weights
from facerep.curate.embedders import DlibDescriptor
from facerep.errors import InputError


def test_torch_runtime_matches_dlibs_own_descriptors(faces):
    reference, ported = DlibDescriptor(runtime="dlib"), DlibDescriptor(runtime="torch")
    chips = [reference.align(f.crop, reference.transform(f.landmarks5)) for f in faces]
    want, got = reference.embed(chips), ported.embed(chips)
    assert got.shape == (len(faces), 128)
    np.testing.assert_allclose(got, want, atol=1e-5)
    between = ~np.eye(len(faces), dtype=bool)  # sqrt(0) amplifies rounding on the diagonal
    assert np.abs(ported.similarity(got, got) - reference.similarity(want, want))[between].max() < 1e-4
    assert ported.embed(chips[:1])[0] == pytest.approx(got[0], abs=1e-5), "independent of the batch"
    fast = ported.embed(chips, bf16=True)  # float32 where the CPU has no native bfloat16
    np.testing.assert_allclose(fast, want, atol=0.01 if ported.bf16 else 1e-5)
    assert np.abs(ported.similarity(fast, want) - reference.similarity(want, want))[between].max() < 0.01


def test_a_file_that_is_not_the_network_is_refused(tmp_path):
    path = tmp_path / "dlib_face_recognition_resnet_model_v1.dat"
    path.write_bytes(b"\x01\x02\x05con_4" + bytes(64))
    with pytest.raises(InputError, match="not dlib's face-recognition ResNet"):
        read_dlib_weights(path)
