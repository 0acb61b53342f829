"""Common steps: split, z-scoring on the training part, PCA, delay embedding, inverse."""

from __future__ import annotations

import json

import numpy as np
import pytest

from neurodsr.io import make_recording
from neurodsr.preprocess import PreprocessConfig, delay_embed, inverse_transform, preprocess
from neurodsr.preprocess.common import fit_transform, pca, split_index


def _series(n=2000, n_ch=6, seed=0):
    rng = np.random.default_rng(seed)
    latent = rng.standard_normal((n, 2)).cumsum(axis=0) * 0.1
    mix = rng.standard_normal((2, n_ch))
    x = latent @ mix + 0.01 * rng.standard_normal((n, n_ch)) + np.arange(n_ch) * 10
    return x * np.linspace(1, 5, n_ch)


def test_zscore_fitted_on_training_part_only():
    x = _series()
    x[1600:] += 100.0  # the test part is shifted: must not leak into mean/std
    ds = fit_transform(
        x, np.arange(2000) * 0.01, [f"c{i}" for i in range(6)], dt=0.01, train_fraction=0.8
    )
    assert ds.attrs["n_train"] == 1600 == split_index(2000, 0.8)
    np.testing.assert_allclose(ds["mean"].values, x[:1600].mean(axis=0))
    np.testing.assert_allclose(ds["std"].values, x[:1600].std(axis=0))
    train = ds.x.values[:1600]
    np.testing.assert_allclose(train.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(train.std(axis=0), 1, atol=1e-5)
    assert ds.x.values[1600:].mean() > 5  # the shift shows in the test part
    np.testing.assert_allclose(inverse_transform(ds.x.values, ds), x, rtol=1e-5, atol=1e-4)


def test_pca_components_and_variance_fraction():
    x = _series()
    names = [f"c{i}" for i in range(6)]
    two = fit_transform(x, np.arange(2000) * 0.01, names, dt=0.01, pca_components=2)
    assert list(two.dim.values) == ["pc0", "pc1"]
    assert two["loadings"].dims == ("dim", "channel") and two["loadings"].shape == (2, 6)
    assert two["explained_variance"].values.sum() > 0.99  # two latent factors
    frac = fit_transform(x, np.arange(2000) * 0.01, names, dt=0.01, pca_variance=0.95)
    assert frac.sizes["dim"] <= 2
    # low-rank data: two components reconstruct the channels
    back = inverse_transform(two.x.values, two)
    assert np.all(np.abs(back - x).max(axis=0) < 0.05 * np.ptp(x, axis=0))
    # the loadings are those of pca() on the z-scored training part
    z = (x[:1600] - x[:1600].mean(0)) / x[:1600].std(0)
    _, load, _ = pca(z, n_components=2)
    np.testing.assert_allclose(np.abs(two["loadings"].values), np.abs(load), atol=1e-8)


def test_delay_embedding_after_pca():
    x = _series()
    names = [f"c{i}" for i in range(6)]
    emb = fit_transform(
        x, np.arange(2000) * 0.01, names, dt=0.01, pca_components=2, embed_dim=3, embed_delay=4
    )
    assert emb.attrs["embedding_dim"] == 3 and emb.attrs["embedding_delay"] == 4
    assert list(emb.dim.values) == [
        "pc0_lag0",
        "pc0_lag4",
        "pc0_lag8",
        "pc1_lag0",
        "pc1_lag4",
        "pc1_lag8",
    ]
    assert emb.sizes["time"] == 2000 - 8 and emb.attrs["n_train"] == 1600 - 8
    assert emb.time.values[0] == pytest.approx(0.08)  # row time = newest sample
    plain = fit_transform(x, np.arange(2000) * 0.01, names, dt=0.01, pca_components=2)
    np.testing.assert_allclose(
        emb.x.values, delay_embed(plain.x.values, 4, 3).astype(np.float32), rtol=1e-6
    )
    np.testing.assert_array_equal(emb["lag"].values, [0, 4, 8, 0, 4, 8])
    assert emb["loadings"].shape == (6, 6)
    back = inverse_transform(emb.x.values, emb)
    np.testing.assert_allclose(back, inverse_transform(plain.x.values, plain)[8:], rtol=1e-5)


def test_preprocess_contract_attrs_and_config():
    x = _series()
    rec = make_recording(
        modality="continuous",
        source_file="lfp.npy",
        reader="numpy.load",
        sampling_rate=100.0,
        signal=x,
        units="uV",
        session="m1",
    )
    cfg = PreprocessConfig(l_freq=None, line_freq=None, pca_components=3, train_fraction=0.7)
    pre = preprocess(rec, cfg)
    assert pre.x.dims == ("time", "dim") and pre.x.dtype == np.float32
    assert pre["time"].attrs["units"] == "s"
    for key in (
        "dt",
        "n_train",
        "modality",
        "session",
        "source_file",
        "preprocess_config",
        "dropped_channels",
        "version_numpy",
        "version_mne",
    ):
        assert key in pre.attrs, key
    assert pre.attrs["session"] == "m1" and pre.attrs["modality"] == "continuous"
    assert json.loads(pre.attrs["preprocess_config"])["pca_components"] == 3
    assert json.loads(pre.attrs["dropped_channels"]) == []
    assert pre.attrs["n_train"] == 1400 and pre["mean"].attrs["units"] == "uV"
    assert preprocess(rec, cfg.to_dict()).x.shape == pre.x.shape  # dict config, same result
