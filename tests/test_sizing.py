"""The sizing rule for many channels and the PCA observation (issue 12, item 2)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from _series import mixed_lorenz
from neurodsr.api import load_fit, train_fit
from neurodsr.dynamics.systems import lorenz63
from neurodsr.errors import InputError
from neurodsr.metrics.evaluate import evaluate_fit
from neurodsr.training.projection import (
    MAX_COMPONENTS,
    PCAProjection,
    ProjectedModel,
    explained_variance,
    fit_pca,
    n_components,
)
from neurodsr.training.sizing import size_model

QUICK = dict(
    epochs=3,
    seq_len=40,
    batch_size=8,
    batches_per_epoch=3,
    eval_every=1,
    eval_steps=300,
    progress=False,
    device="cpu",
    max_minutes=None,
    patience=None,
)


@pytest.fixture(scope="module")
def many() -> np.ndarray:
    return mixed_lorenz()


# --------------------------------------------------------------------------- the transform
def test_pca_matches_the_eigendecomposition_of_the_covariance():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2000, 6)) @ rng.standard_normal((6, 6))
    x = (x - x.mean(0)) / x.std(0)
    proj = fit_pca(x, 3)
    w, v = np.linalg.eigh(np.cov(x.T, bias=True))
    order = np.argsort(w)[::-1]
    np.testing.assert_allclose(proj.explained, (w / w.sum())[order][:3], rtol=1e-10)
    for i in range(3):  # the same directions, up to sign
        assert abs(abs(proj.components[i] @ v[:, order[i]]) - 1) < 1e-10
    np.testing.assert_allclose(proj.components @ proj.components.T, np.eye(3), atol=1e-12)
    np.testing.assert_allclose(explained_variance(x), (w / w.sum())[order], rtol=1e-10)
    # the inverse is exact in PC space, and the residual is what the components leave out
    scores = proj.transform(x)
    np.testing.assert_allclose(proj.transform(proj.inverse(scores)), scores, atol=1e-10)
    assert proj.residual(x) == pytest.approx(proj.residual_variance, rel=1e-8)
    assert np.mean(scores.var(0)) == pytest.approx(1.0)  # one common scale: unit on average
    assert fit_pca(x, 6).residual(x) < 1e-20


def test_the_number_of_components_follows_the_variance_and_the_length():
    ratios = np.array([0.5, 0.3, 0.12, 0.05, 0.03])
    assert n_components(ratios, 100_000) == 4  # 0.5 + 0.3 + 0.12 >= 0.9, but at least 4
    flat = np.full(64, 1 / 64)
    assert n_components(flat, 100_000) == MAX_COMPONENTS  # 58 needed for 90 %: capped
    assert n_components(flat, 3000) == 10  # 300 samples per component
    assert n_components(np.array([0.7, 0.3]), 100_000) == 2  # never more than there are


def test_the_transform_round_trips_through_its_tensors():
    x = np.random.default_rng(3).standard_normal((500, 9))
    proj = fit_pca(x, 4)
    back = PCAProjection.from_tensors(proj.to_tensors())
    np.testing.assert_array_equal(back.components, proj.components)
    np.testing.assert_array_equal(back.mean, proj.mean)
    assert back.scale == proj.scale and back.k == 4 and back.n_channels == 9


# --------------------------------------------------------------------------- the rule
def test_many_channels_get_the_pca_observation_on_the_compiled_shplrnn(many):
    ev = explained_variance((many - many.mean(0)) / many.std(0))
    s = size_model(32, 2500, variance=ev)
    assert (s.model, s.observation) == ("shplrnn", "pca")
    assert s.components == 4 and s.latent == 4  # 3 directions hold the variance; at least 4
    assert s.hidden == 64
    assert "principal components" in s.reason and "residual" in s.reason
    # up to 8 dims nothing changes
    small = size_model(3, 8000)
    assert (small.model, small.latent, small.hidden, small.observation) == (
        "shplrnn",
        3,
        50,
        "identity",
    )
    # what the user gives is kept: the affine rule on request, a named model's size
    aff = size_model(64, 8000, observation="affine", variance=np.full(64, 1 / 64))
    assert (aff.model, aff.latent, aff.observation) == ("clipped_shplrnn", 16, "affine")
    named = size_model(32, 2500, model="shplrnn", variance=ev)
    assert (named.latent, named.hidden, named.observation) == (32, 50, "identity")
    capped = size_model(32, 2500, latent=2, variance=ev)
    assert (capped.components, capped.latent) == (2, 2)  # a given M caps the components
    with pytest.raises(InputError, match="observation must be one of"):
        size_model(32, 2500, observation="pcaa")


def test_the_pca_fit_round_trips_and_gives_n_channels(many, tmp_path):
    res = train_fit(many, 0.01, forcing="gtf", model="auto", seeds=2, **QUICK)
    s = res.summary
    assert isinstance(res.model, ProjectedModel) and res.model.inner.obs_dim == 4
    assert s.model["observation"] == "pca" and s.model["name"] == "shplrnn"
    assert s.model["projection"]["n_components"] == 4
    assert 0 < s.model["projection"]["residual_variance"] < 0.05
    assert s.sources["observation"] == "sizing rule"
    # the compiled loop serves the model on the components (identity observation)
    assert res.model.inner.observation == "identity" and res.model.inner._use_fused()
    files = res.write(tmp_path / "fit.pt")
    assert json.loads(files["fit_summary"].read_text())["model"]["projection"]["kind"] == "pca"
    loaded = load_fit(files["weights"])
    assert isinstance(loaded.model, ProjectedModel)
    x0 = many[res.n_train]
    gen = res.simulate(x0, 50)
    assert gen.shape == (50, 32)  # N channels, data units
    np.testing.assert_allclose(loaded.simulate(x0, 50), gen, rtol=1e-5, atol=1e-5)
    # the readout lies in the span of the components (in z-scored units)
    z = res.normalise(gen)
    proj = res.model.projection
    np.testing.assert_allclose(proj.inverse(proj.transform(z)), z, atol=1e-4)
    # the evaluation and the reconstruction are in N channels
    ev = evaluate_fit(loaded, res.x, res.n_train, 0.01, spectrum_steps=200, vpt_horizon=50)
    assert ev.dataset["generated"].shape[1] == 32
    assert np.isfinite(ev.metrics["D_stsp"])
    # the model's spectrum is that of the latent map on the components
    assert ev.dataset["lyapunov_spectrum"].shape[1] == loaded.model.state_dim


def test_the_projected_model_forces_and_predicts_through_the_components(many):
    x = (many - many.mean(0)) / many.std(0)
    proj = fit_pca(x, 4)
    from neurodsr.models import make_model

    inner = make_model("shplrnn", 4, 4, seeds=[0, 1], hidden_dim=16)
    net = ProjectedModel(inner, proj)
    xt = torch.as_tensor(x[:41, None, :], dtype=torch.float32).expand(41, 2, 32)
    xt = xt[:, :, None, :].contiguous()  # (T+1, E, B=1, N)
    pt = torch.as_tensor(proj.transform(x[:41]), dtype=torch.float32)
    pt = pt[:, None, None, :].expand(41, 2, 1, 4).contiguous()
    with torch.no_grad():
        out = net.rollout(xt, tau=1, alpha=0.2)
        ref = inner.rollout(pt, tau=1, alpha=0.2)
    np.testing.assert_allclose(
        out.numpy(), proj.inverse(ref.double().numpy()).astype(np.float32), rtol=1e-4, atol=1e-5
    )
    with torch.no_grad():
        z0 = net.init_state(xt[0])
    assert z0.shape == (2, 1, 4)
    np.testing.assert_allclose(z0.numpy(), pt[0].numpy(), atol=1e-5)  # identity in PC space


# --------------------------------------------------------------------------- flags are used
def test_model_latent_and_hidden_flags_reach_the_pca_fit(many, tmp_path):
    """``neurodsr fit --model auto --latent 3 --hidden 7`` on many channels: the sizing rule
    picks the PCA observation, and the given M (3 components) and L are what trains."""
    from neurodsr.cli import main

    np.save(tmp_path / "x.npy", many)
    weights = tmp_path / "w.pt"
    args = ["fit", str(tmp_path / "x.npy"), "--dt", "0.01", "--weights", str(weights)]
    args += ["--model", "auto", "--latent", "3", "--hidden", "7", "--forcing", "gtf"]
    args += ["--epochs", "2", "--seq-len", "20", "--batch-size", "4", "--seeds", "1"]
    args += ["--device", "cpu", "--no-progress", "--max-minutes", "0.2"]
    main(args)
    summary = json.loads(weights.with_suffix(".json").read_text())
    model = summary["model"]
    assert (model["name"], model["latent_dim"], model["hidden_dim"]) == ("shplrnn", 3, 7)
    assert model["observation"] == "pca" and model["projection"]["n_components"] == 3
    assert summary["sources"]["latent"] == "user" and summary["sources"]["hidden"] == "user"
    assert summary["sources"]["model"] == "sizing rule"
    fitted = load_fit(weights)
    assert fitted.simulate(many[-1], 10).shape == (10, 32)


def test_an_observation_given_is_the_observation_trained(many):
    pca = train_fit(many, 0.01, forcing="gtf", observation="pca", hidden=8, seeds=1, **QUICK)
    assert (
        pca.summary.model["observation"] == "pca" and pca.summary.sources["observation"] == "user"
    )
    assert pca.summary.model["name"] == "shplrnn" and pca.summary.model["hidden_dim"] == 8
    aff = train_fit(
        many, 0.01, forcing="gtf", model="auto", observation="affine", hidden=16, seeds=1, **QUICK
    )
    assert aff.summary.model["observation"] == "affine" and aff.summary.model["hidden_dim"] == 16
    assert aff.summary.model["name"] == "clipped_shplrnn"
    assert not isinstance(aff.model, ProjectedModel)


def test_the_candidate_grid_trains_on_the_components_too(many):
    """forcing="select" with the PCA observation: every candidate trains on the components,
    the winner reads out the N channels."""
    from neurodsr.session import LyapunovSummary

    ly = LyapunovSummary(lambda_max=0.9, verdict="chaotic", tau=77)
    res = train_fit(many, 0.01, forcing="select", model="auto", lyapunov=ly, seeds=1, **QUICK)
    assert isinstance(res.model, ProjectedModel) and res.model.obs_dim == 32
    assert len(res.summary.candidates) >= 2
    assert all(len(c["scores"]) == 1 for c in res.summary.candidates)
    assert res.simulate(many[0], 5).shape == (5, 32)


# --------------------------------------------------------------------------- --observation
@pytest.mark.parametrize(
    "kwargs, match, hint",
    [
        (dict(observation="identity", latent=5), "latent = 5 < 32", "--latent 32"),
        (dict(observation="affine", components=3), "only the PCA observation", "--observation pca"),
        (dict(observation="identity", components=0.9), "only the PCA observation", "--components"),
        (dict(observation="identity", model="lstm"), "PL family", "--observation affine"),
        (dict(observation="pca", components=40), "more than the data's 32 dims", "--components"),
        (dict(components=6, latent=4), "latent = 4 was given", "--latent 6"),
        (dict(components=1.5), "share of the variance", "--components"),
        (dict(components=0), "must be >= 1", "--components"),
    ],
)
def test_an_impossible_observation_setting_is_refused_naming_the_option(kwargs, match, hint):
    ev = np.full(32, 1 / 32)
    with pytest.raises(InputError, match=match) as err:
        size_model(32, 5000, variance=ev, **kwargs)
    assert hint in err.value.hint


def test_components_are_a_number_or_a_share_of_the_variance():
    ev = np.array([0.5, 0.2, 0.1, 0.08, 0.05, 0.04, 0.02, 0.01])
    assert size_model(8, 5000, components=3, variance=ev).components == 3
    s = size_model(8, 5000, components=0.95, variance=ev)  # 0.5 ... 0.05 sum to 0.93
    assert (s.observation, s.components, s.latent) == ("pca", 6, 6)
    assert "the fewest for 95% of the variance" in s.reason
    # with a named model the given components are kept, and a given M above k is kept
    named = size_model(8, 5000, model="shplrnn", latent=7, components=3, variance=ev)
    assert (named.model, named.components, named.latent, named.hidden) == ("shplrnn", 3, 7, 50)


def test_the_cli_observation_and_components_are_what_trains(many, tmp_path):
    """``neurodsr fit --components 3`` (observation auto) trains the PCA observation on 3
    components; fit.json records it and where it came from; an impossible combination exits
    with status 2 and a message naming the option."""
    from neurodsr.cli import main

    np.save(tmp_path / "x.npy", many)
    base = ["fit", str(tmp_path / "x.npy"), "--dt", "0.01", "--forcing", "gtf", "--seeds", "1"]
    base += ["--epochs", "2", "--seq-len", "20", "--batch-size", "4", "--device", "cpu"]
    base += ["--no-progress", "--max-minutes", "0.2"]
    weights = tmp_path / "w.pt"
    assert main([*base, "--weights", str(weights), "--components", "3"]) == 0
    summary = json.loads(weights.with_suffix(".json").read_text())
    assert summary["model"]["observation"] == "pca"
    assert summary["model"]["projection"]["n_components"] == 3
    assert summary["sources"]["observation"] == summary["sources"]["components"] == "user"
    assert main([*base, "--weights", str(weights), "--observation", "affine"]) == 0
    summary = json.loads(weights.with_suffix(".json").read_text())
    assert (
        summary["model"]["observation"] == "affine" and summary["sources"]["observation"] == "user"
    )
    assert "components" not in summary["sources"]


def test_the_cli_refuses_an_impossible_observation(many, tmp_path, capsys):
    from neurodsr.cli import main

    np.save(tmp_path / "x.npy", many)
    args = ["fit", str(tmp_path / "x.npy"), "--dt", "0.01", "--weights", str(tmp_path / "w.pt")]
    assert main([*args, "--observation", "identity", "--latent", "4"]) == 2
    err = capsys.readouterr().err
    assert "identity observation" in err and "--latent 32" in err and "x.npy" in err
    assert main([*args, "--observation", "affine", "--components", "4"]) == 2
    assert "--observation pca" in capsys.readouterr().err
    assert not (tmp_path / "w.pt").exists()
    with pytest.raises(SystemExit):  # argparse: not a number of components
        main([*args, "--components", "many"])


def test_a_gated_model_can_train_on_the_components(many):
    res = train_fit(many, 0.01, forcing="gtf", model="gru", observation="pca", seeds=1, **QUICK)
    assert isinstance(res.model, ProjectedModel) and res.model.inner.observation == "affine"
    assert res.simulate(many[0], 5).shape == (5, 32)


# --------------------------------------------------------------------------- delay embeddings
def test_a_delay_embedding_is_recognised_and_keeps_its_dims():
    from neurodsr.preprocess.common import delay_embed
    from neurodsr.training.sizing import looks_delay_embedded

    rng = np.random.default_rng(0)
    s = lorenz63(4000, dt=0.01, seed=2).values
    noisy = s + 0.05 * s.std(0) * rng.standard_normal(s.shape)
    one = delay_embed(noisy[:, :1], 7, 10)  # 10 dims, newest first
    why = looks_delay_embedded(one)
    assert "9 of 9 adjacent columns" in why and "7 steps" in why
    assert looks_delay_embedded(one[:, ::-1])  # oldest first
    multi = delay_embed(noisy, 5, 4)  # 3 channels x 4 lags: 9 of 11 pairs are copies
    assert "9 of 11" in looks_delay_embedded(multi)
    assert looks_delay_embedded(mixed_lorenz()) == ""  # mixtures are not shifted copies
    assert looks_delay_embedded(rng.standard_normal((3000, 12))) == ""
    # the rule: a delay embedding keeps its N dims (identity, M = N) from 32 dims on too,
    # where other data get the PCA observation; below 32 dims every series keeps its dims
    wide = delay_embed(noisy[:, :1], 3, 32)
    ev = explained_variance((wide - wide.mean(0)) / wide.std(0))
    why = looks_delay_embedded(wide)
    emb = size_model(32, 3000, variance=ev, delay_embedded=why)
    assert (emb.model, emb.latent, emb.hidden, emb.observation) == ("shplrnn", 32, 50, "identity")
    assert "delay embedding" in emb.reason
    assert size_model(32, 3000, variance=ev).observation == "pca"
    few = size_model(12, 3000, variance=ev[:12])
    assert (few.latent, few.hidden, few.observation) == (12, 50, "identity")
    assert "< 32: all dims kept" in few.reason
    # what the user gives wins over the rule
    assert size_model(32, 3000, variance=ev, delay_embedded=why, observation="pca").components


def test_model_auto_on_a_delay_embedding_trains_the_identity_observation():
    from neurodsr.preprocess.common import delay_embed

    x = delay_embed(lorenz63(3100, dt=0.01, seed=3).values[:, :1], 3, 32)
    res = train_fit(x, 0.01, forcing="gtf", model="auto", seeds=1, **QUICK)
    m = res.summary.model
    assert (m["name"], m["observation"], m["latent_dim"]) == ("shplrnn", "identity", 32)
    assert "delay embedding" in res.summary.model_reason
    assert not isinstance(res.model, ProjectedModel)
