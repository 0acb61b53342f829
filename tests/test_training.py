from typing import ClassVar

import numpy as np
import pytest
import torch

from neurodsr.errors import TrainingError
from neurodsr.metrics.evaluate import evaluate
from neurodsr.models import make_model
from neurodsr.models.pl import ShallowPLRNN
from neurodsr.training import TrainConfig, WindowSampler, train

QUICK = dict(
    forcing="stf",
    seq_len=60,
    batch_size=8,
    batches_per_epoch=5,
    eval_every=5,
    eval_steps=1000,
    progress=False,
    device="cpu",
)


def test_config_is_validated():
    with pytest.raises(ValueError, match="forcing"):
        TrainConfig(forcing="sometimes")
    with pytest.raises(ValueError, match="tau"):
        TrainConfig(tau=0)
    with pytest.raises(ValueError, match="alpha"):
        TrainConfig(forcing="gtf", alpha=1.5)
    assert TrainConfig(forcing="gtf", alpha="adaptive").forcing_schedule() == (1, "adaptive")
    assert TrainConfig(forcing="none").forcing_schedule() == (None, 0.0)
    # per member: the interval and the strength of each member
    mixed = TrainConfig(forcing="mixed", tau=[10, 1, None], alpha=[1.0, 0.1, 0.0])
    assert mixed.forcing_schedule() == ([10, 1, 0], [1.0, 0.1, 0.0])
    assert TrainConfig(forcing="stf", tau=[5, 10]).forcing_schedule() == ([5, 10], 1.0)
    with pytest.raises(ValueError, match="per-member list needs forcing"):
        TrainConfig(forcing="gtf", tau=[5, 10])
    with pytest.raises(ValueError, match="integers >= 0"):
        TrainConfig(forcing="mixed", tau=[5, -1], alpha=0.5)
    with pytest.raises(ValueError, match="differ in length"):
        TrainConfig(forcing="mixed", tau=[5, 1], alpha=[1.0, 0.1, 0.2])
    with pytest.raises(ValueError, match="mixed"):
        TrainConfig(forcing="mixed", tau=[5, 1], alpha="adaptive")


def test_sampler_windows_are_consecutive_and_seeded():
    x = torch.arange(100, dtype=torch.float32)[:, None].repeat(1, 2)
    s1, s2 = WindowSampler(x, 10, [0, 1]), WindowSampler(x, 10, [0, 1])
    w = s1.sample(4)
    assert w.shape == (11, 2, 4, 2)
    assert torch.all(w[1:] - w[:-1] == 1)
    torch.testing.assert_close(w, s2.sample(4))
    with pytest.raises(ValueError, match="fewer than one window"):
        WindowSampler(x[:5], 10, [0])


def test_sampler_draws_ahead_as_if_one_batch_at_a_time():
    """The starts drawn ahead in blocks are those of one randint call per member and batch,
    across blocks; state() mid-block is the per-batch generator state, and a sampler resumed
    from it continues the same stream (what checkpoints rely on)."""
    x = torch.zeros(5000, 2)
    seeds, b, n = [3, 7, 11], 6, 2 * WindowSampler.BLOCK + 5
    gens = [torch.Generator().manual_seed(s + 104729) for s in seeds]
    hi = 5000 - 20
    want = [torch.stack([torch.randint(0, hi, (b,), generator=g) for g in gens]) for _ in range(n)]
    sampler = WindowSampler(x, 20, seeds)
    for k in range(n):
        w = sampler.sample_windows(b)
        assert w.starts.shape == (3, b) and w.starts.is_contiguous()
        assert torch.equal(w.starts, want[k]), k
    for got, g in zip(sampler.state(), gens, strict=True):
        assert torch.equal(got, g.get_state())
    # stop mid-block, resume a fresh sampler from the state: the same continuation
    more = [torch.stack([torch.randint(0, hi, (b,), generator=g) for g in gens]) for _ in range(9)]
    resumed = WindowSampler(x, 20, seeds)
    resumed.set_state(sampler.state())
    for k in range(9):
        assert torch.equal(resumed.sample_windows(b).starts, more[k])
    # a different batch size mid-block continues the stream where the batches left it
    g2 = [torch.Generator() for _ in seeds]
    for g, s in zip(g2, resumed.state(), strict=True):
        g.set_state(s)
    nxt = torch.stack([torch.randint(0, hi, (4,), generator=g) for g in g2])
    assert torch.equal(resumed.sample_windows(4).starts, nxt)


def test_short_stf_fit_on_lorenz_beats_the_untrained_model(lorenz_z):
    x_train, x_test = lorenz_z[:10_000], lorenz_z[10_000:]
    model = make_model("shplrnn", 3, 3, seeds=[0, 1], hidden_dim=32)
    before = evaluate(model, x_test, transient=200).metrics
    # the last state (not the best by validation: this checks training, not selection)
    cfg = TrainConfig(tau=10, epochs=300, lr=1e-2, patience=None, keep_best=False, **QUICK)
    tlog = train(model, x_train, cfg)
    after = evaluate(model, x_test, transient=200).metrics
    d0 = min(m["D_stsp"] for m in before)
    d1 = max(m["D_stsp"] for m in after)  # every seed, not just the luckiest
    assert np.mean(tlog.loss[-1]) < 0.5 * np.mean(tlog.loss[0])
    # untrained members settle on a fixed point (D_stsp ~ 13); 1500 gradient steps already
    # give every seed an attractor of the right shape (D_stsp ~ 3.5-5 on this short test part)
    assert d1 < 0.5 * d0, (d0, d1)


def test_interrupted_fit_resumes_from_its_checkpoint(tmp_path, lorenz_z):
    cfg = TrainConfig(tau=20, epochs=12, checkpoint_every=4, **QUICK)
    x = lorenz_z[:3000]

    class Interrupted(ShallowPLRNN):
        calls = 0

        def loss_and_grad(self, *a, **k):
            type(self).calls += 1
            if type(self).calls > 7 * cfg.batches_per_epoch:  # dies during epoch 7
                raise KeyboardInterrupt
            return super().loss_and_grad(*a, **k)

    uninterrupted = make_model("shplrnn", 3, 3, seeds=[0], hidden_dim=16)
    train(uninterrupted, x, cfg)

    broken = Interrupted(3, 3, [0], "identity", hidden_dim=16)
    with pytest.raises(KeyboardInterrupt):
        train(broken, x, cfg, checkpoint_dir=tmp_path)
    assert (tmp_path / "checkpoint.pt").exists()
    resumed = make_model("shplrnn", 3, 3, seeds=[0], hidden_dim=16)
    tlog = train(resumed, x, cfg, checkpoint_dir=tmp_path)
    assert any("resumed from checkpoint at epoch 4" in e for e in tlog.events)
    assert tlog.epoch == list(range(12))
    # the resumed run continues exactly where the interrupted one stopped
    for k, v in uninterrupted.state_dict().items():
        torch.testing.assert_close(resumed.state_dict()[k], v, rtol=1e-5, atol=1e-6)


def test_mixed_forcing_ensemble_resumes_exactly(tmp_path, lorenz_z):
    """An ensemble whose members have their own forcing (STF tau 20, GTF alpha 0.2, STF tau 7)
    resumes from its checkpoint to exactly the uninterrupted run, with the per-member forcing
    in the checkpoint's settings (another per-member forcing is not resumed)."""
    forcing = dict(forcing="mixed", tau=[20, 1, 7], alpha=[1.0, 0.2, 1.0])
    cfg = TrainConfig(epochs=8, checkpoint_every=2, **{**QUICK, **forcing})
    x = lorenz_z[:3000]

    class Interrupted(ShallowPLRNN):
        calls = 0

        def loss_and_grad(self, *a, **k):
            type(self).calls += 1
            if type(self).calls > 5 * cfg.batches_per_epoch:  # dies during epoch 5
                raise KeyboardInterrupt
            return super().loss_and_grad(*a, **k)

    uninterrupted = make_model("shplrnn", 3, 3, seeds=[0, 0, 1], hidden_dim=16)
    full = train(uninterrupted, x, cfg)
    with pytest.raises(KeyboardInterrupt):
        train(
            Interrupted(3, 3, [0, 0, 1], "identity", hidden_dim=16), x, cfg, checkpoint_dir=tmp_path
        )
    resumed = make_model("shplrnn", 3, 3, seeds=[0, 0, 1], hidden_dim=16)
    tlog = train(resumed, x, cfg, checkpoint_dir=tmp_path)
    assert any("resumed from checkpoint at epoch 4" in e for e in tlog.events)
    assert tlog.epoch == list(range(8))
    np.testing.assert_allclose(tlog.loss, full.loss, rtol=1e-5)
    for k, v in uninterrupted.state_dict().items():
        torch.testing.assert_close(resumed.state_dict()[k], v, rtol=1e-5, atol=1e-6)
    # members 0 and 1 share a seed (same start, same windows) but not their forcing
    assert tlog.loss[-1][0] != tlog.loss[-1][1]
    other = TrainConfig(epochs=8, **{**QUICK, **forcing, "tau": [20, 1, 8]})
    again = make_model("shplrnn", 3, 3, seeds=[0, 0, 1], hidden_dim=16)
    again = train(again, x, other, checkpoint_dir=tmp_path)
    assert not any("resumed" in e for e in again.events)
    with pytest.raises(ValueError, match="has 3 values for an ensemble of 2"):
        train(make_model("shplrnn", 3, 3, seeds=[0, 1], hidden_dim=8), x, cfg)


def test_checkpoint_from_other_settings_is_not_resumed(tmp_path, lorenz_z):
    x = lorenz_z[:3000]
    train(
        make_model("shplrnn", 3, 3, seeds=[0], hidden_dim=8),
        x,
        TrainConfig(tau=20, epochs=4, **QUICK),
        checkpoint_dir=tmp_path,
    )
    tlog = train(
        make_model("shplrnn", 3, 3, seeds=[0], hidden_dim=8),
        x,
        TrainConfig(tau=10, epochs=4, **QUICK),
        checkpoint_dir=tmp_path,
    )
    assert not any("resumed" in e for e in tlog.events)


class _NaNOnce(ShallowPLRNN):
    """Returns NaN losses on the given training calls (a stand-in for a blow-up)."""

    bad_calls: ClassVar[set[int]] = set()
    calls = 0

    def loss_and_grad(self, *a, **k):
        type(self).calls += 1
        out = super().loss_and_grad(*a, **k)
        return out * float("nan") if type(self).calls in self.bad_calls else out


def test_injected_nan_is_survived(lorenz_z):
    _NaNOnce.bad_calls, _NaNOnce.calls = {12}, 0
    model = _NaNOnce(3, 3, [0, 1], "identity", hidden_dim=16)
    tlog = train(model, lorenz_z[:3000], TrainConfig(tau=20, epochs=6, **QUICK))
    assert any("non-finite" in e and "halved their step size" in e for e in tlog.events)
    # the bad batch is skipped and its members restored; every epoch is still logged
    assert tlog.stopped == "completed" and len(tlog.epoch) == 6
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert np.isfinite(tlog.loss).all()


class _OneSeedBlowsUp(ShallowPLRNN):
    """Member 0's loss is always NaN; member 1 is healthy."""

    def loss_and_grad(self, *a, **k):
        out = super().loss_and_grad(*a, **k)
        return out + torch.tensor([float("nan"), 0.0])


def test_one_failing_seed_is_stopped_while_the_others_train(lorenz_z):
    model = _OneSeedBlowsUp(3, 3, [0, 1], "identity", hidden_dim=16)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    tlog = train(
        model,
        lorenz_z[:3000],
        TrainConfig(tau=20, epochs=8, max_failures=3, keep_best=False, **QUICK),
    )
    assert tlog.stopped == "completed"
    assert any("seed(s) [0] stopped after 3" in e for e in tlog.events)
    losses = np.array(tlog.loss)
    assert np.isnan(losses[-1, 0]) and losses[-1, 1] < losses[0, 1]  # seed 1 kept learning
    for k, v in model.state_dict().items():
        torch.testing.assert_close(v[0], before[k][0])  # seed 0 left at its good state
        assert v[1].numel() == 0 or not torch.equal(v[1], before[k][1])


def test_repeated_failures_stop_with_a_clear_message(lorenz_z):
    _NaNOnce.bad_calls, _NaNOnce.calls = set(range(1000)), 0
    model = _NaNOnce(3, 3, [0], "identity", hidden_dim=8)
    with pytest.raises(TrainingError, match="non-finite losses in a row"):
        train(model, lorenz_z[:3000], TrainConfig(tau=20, epochs=20, max_failures=3, **QUICK))


@pytest.mark.parametrize("kind", ["gtf-fixed", "gtf-adaptive", "bptt-clipped"])
def test_other_forcing_schemes_train(kind, lorenz_z):
    cfg = {
        "gtf-fixed": dict(forcing="gtf", alpha=0.2),
        "gtf-adaptive": dict(forcing="gtf", alpha="adaptive"),
        "bptt-clipped": dict(forcing="none", grad_clip=1.0),
    }[kind]
    model = make_model("shplrnn", 3, 3, seeds=[0, 1], hidden_dim=16)
    tlog = train(model, lorenz_z[:3000], TrainConfig(epochs=5, **{**QUICK, **cfg}))
    assert np.isfinite(tlog.loss).all() and len(tlog.epoch) == 5
    if kind == "gtf-adaptive":
        assert all(0.0 <= a <= 1.0 for row in tlog.alpha for a in row)


def test_time_budget_stops_training(lorenz_z):
    model = make_model("shplrnn", 3, 3, seeds=[0], hidden_dim=8)
    tlog = train(
        model,
        lorenz_z[:3000],
        TrainConfig(tau=20, epochs=10_000, max_minutes=0.02, patience=None, **QUICK),
    )
    assert "time budget" in tlog.stopped and len(tlog.epoch) < 10_000


def test_manifold_attractor_regularisation_pulls_units_to_a_line_attractor(lorenz_z):
    x = lorenz_z[:3000]
    m = make_model("plrnn", 3, 6, seeds=[0], hidden_dim=None)
    reg_units = slice(3, 6)
    before = m.latent_penalty(0.5).item()
    assert before > 0
    train(m, x, TrainConfig(tau=20, epochs=20, lr=2e-2, latent_reg=10.0, keep_best=False, **QUICK))
    assert m.latent_penalty(0.5).item() < 0.2 * before
    torch.testing.assert_close(m.A[0, reg_units], torch.ones(3), atol=0.15, rtol=0)
    assert make_model("lstm", 3, 4).latent_penalty(0.5).item() == 0.0


def test_unavailable_device_is_a_clear_input_error():
    from neurodsr.errors import InputError
    from neurodsr.training import resolve_device

    assert resolve_device("cpu").type == "cpu"
    with pytest.raises(InputError, match="unknown device"):
        resolve_device("tpu7")
    if not torch.cuda.is_available():
        with pytest.raises(InputError, match="CUDA is not available"):
            resolve_device("cuda")


def test_checkpoint_from_other_data_is_not_resumed(tmp_path, lorenz_z):
    cfg = TrainConfig(tau=20, epochs=4, **QUICK)
    train(
        make_model("shplrnn", 3, 3, seeds=[0], hidden_dim=8),
        lorenz_z[:3000],
        cfg,
        checkpoint_dir=tmp_path,
    )
    tlog = train(
        make_model("shplrnn", 3, 3, seeds=[0], hidden_dim=8),
        lorenz_z[3000:6000],
        cfg,
        checkpoint_dir=tmp_path,
    )
    assert not any("resumed" in e for e in tlog.events)


def test_truncated_checkpoint_is_warned_about_and_training_starts_afresh(
    tmp_path, lorenz_z, caplog
):
    cfg = TrainConfig(tau=20, epochs=4, checkpoint_every=2, **QUICK)
    x = lorenz_z[:3000]
    train(make_model("shplrnn", 3, 3, seeds=[0], hidden_dim=8), x, cfg, checkpoint_dir=tmp_path)
    path = tmp_path / "checkpoint.pt"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # a job killed while the disk was full
    with caplog.at_level("WARNING", logger="neurodsr.training.trainer"):
        tlog = train(
            make_model("shplrnn", 3, 3, seeds=[0], hidden_dim=8), x, cfg, checkpoint_dir=tmp_path
        )
    assert not any("resumed" in e for e in tlog.events) and len(tlog.epoch) == 4
    assert any(str(path) in r.message and "starting afresh" in r.message for r in caplog.records)
    # the damaged file was replaced by a good one: the next run resumes from it
    again = train(
        make_model("shplrnn", 3, 3, seeds=[0], hidden_dim=8), x, cfg, checkpoint_dir=tmp_path
    )
    assert any("resumed" in e for e in again.events)


def test_resumed_training_counts_the_time_already_spent(tmp_path, lorenz_z):
    cfg = TrainConfig(
        tau=20,
        epochs=100_000,
        max_minutes=0.02,
        patience=None,  # the budget, not patience, ends these runs
        checkpoint_every=10**6,
        **QUICK,
    )
    x = lorenz_z[:3000]
    first = train(
        make_model("shplrnn", 3, 3, seeds=[0], hidden_dim=8), x, cfg, checkpoint_dir=tmp_path
    )
    assert "time budget" in first.stopped
    resumed = train(
        make_model("shplrnn", 3, 3, seeds=[0], hidden_dim=8), x, cfg, checkpoint_dir=tmp_path
    )
    assert any("resumed" in e for e in resumed.events)
    # the budget was spent before: one more epoch (the one that notices), not another 1.2 s
    assert len(resumed.epoch) == len(first.epoch) + 1
    assert resumed.seconds[-1] >= first.seconds[-1] > 0.02 * 60


@pytest.mark.parametrize("name", ["shplrnn", "plrnn", "lstm"])
def test_windows_by_start_train_as_the_copied_windows(name):
    """``train`` passes the windows as starts in the series (``sample_windows``): the same
    random draws as ``sample``, and gradient steps (compiled PL pass reading in place, or the
    copy for the other models) give the same losses and parameters as on the copy."""
    from neurodsr.training.trainer import gradient_step, make_optimizer

    x = torch.randn(400, 3, generator=torch.Generator().manual_seed(0))
    cfg = TrainConfig(forcing="gtf", alpha=0.2, seq_len=30, batch_size=8, progress=False)
    tau, alpha = cfg.forcing_schedule()
    runs = []
    for by_start in (True, False):
        model = make_model(name, 3, 3, seeds=[0, 1])
        opt = make_optimizer(model, cfg)
        sampler = WindowSampler(x, 30, model.seeds)
        losses = []
        for _ in range(3):
            xb = sampler.sample_windows(8) if by_start else sampler.sample(8)
            losses.append(gradient_step(model, opt, xb, tau, alpha, cfg)[0])
        runs.append((torch.stack(losses), model.state_dict(), sampler.state()))
    torch.testing.assert_close(runs[0][0], runs[1][0], rtol=0, atol=0)
    for k, v in runs[0][1].items():
        torch.testing.assert_close(v, runs[1][1][k], rtol=0, atol=0, msg=k)
    for a, b in zip(runs[0][2], runs[1][2], strict=True):
        assert torch.equal(a, b)
    w = WindowSampler(x, 30, [0, 1]).sample_windows(8)
    assert w.starts.shape == (2, 8) and w.tensor().shape == (31, 2, 8, 3)


def test_on_validate_sees_every_validation_and_changes_nothing(lorenz_z):
    """The hook is called once per validation with the current state and that state's
    validation; a run with a hook that runs the model trains exactly as one without."""
    cfg = TrainConfig(tau=10, epochs=20, patience=None, keep_best=False, **QUICK)
    plain = make_model("shplrnn", 3, 3, seeds=[0, 1], hidden_dim=16)
    hooked = make_model("shplrnn", 3, 3, seeds=[0, 1], hidden_dim=16)
    seen: list[tuple[int, list[float], dict, float]] = []

    def hook(epoch, model, val, seconds):
        z0 = model.init_state(torch.zeros(model.n_models, 1, 3))
        model.generate(z0, 200)  # what val_track does with the state: a free run
        state = {k: v.clone() for k, v in model.state_dict().items()}
        seen.append((epoch, list(val.score), state, seconds))

    log_plain = train(plain, lorenz_z[:3000], cfg)
    log_hooked = train(hooked, lorenz_z[:3000], cfg, on_validate=hook)
    assert [s[0] for s in seen] == log_hooked.eval_epoch == [4, 9, 14, 19]
    assert [s[1] for s in seen] == log_hooked.eval_score == log_plain.eval_score
    assert [s[3] for s in seen] == [log_hooked.seconds[e] for e in log_hooked.eval_epoch]
    for k, v in plain.state_dict().items():
        torch.testing.assert_close(hooked.state_dict()[k], v, rtol=0, atol=0)
        torch.testing.assert_close(seen[-1][2][k], v, rtol=0, atol=0)  # the current state
    assert not torch.equal(seen[0][2]["A"], seen[-1][2]["A"])  # a new state each time


def test_on_validate_time_is_not_counted_against_the_budget(lorenz_z):
    import time

    model = make_model("shplrnn", 3, 3, seeds=[0], hidden_dim=8)
    calls = []

    def slow(epoch, model, val, seconds):
        calls.append(seconds)
        time.sleep(0.25)

    t0 = time.perf_counter()
    tlog = train(
        model,
        lorenz_z[:3000],
        TrainConfig(tau=20, epochs=10_000, max_minutes=0.01, patience=None, **QUICK),
        on_validate=slow,
    )
    wall = time.perf_counter() - t0
    assert "time budget" in tlog.stopped
    # the hook slept longer than the 0.6 s budget, yet training ran its budget
    assert len(calls) >= 4 and wall > 0.25 * len(calls)
    assert 0.6 < tlog.seconds[-1] < wall - 0.2 * len(calls)


def test_train_fit_passes_on_validate_to_the_trainer():
    """train_fit hands the hook to train() (it is not a TrainConfig setting): one call per
    validation of the fit, with the members' validation scores the log records."""
    from neurodsr.api import train_fit
    from neurodsr.dynamics.systems import lorenz63

    calls: list[tuple[int, list[float]]] = []
    x = lorenz63(3000, dt=0.01, seed=3).values
    res = train_fit(
        x,
        0.01,
        seeds=2,
        hidden=8,
        max_minutes=None,
        patience=None,
        on_validate=lambda epoch, model, val, seconds: calls.append((epoch, list(val.score))),
        **{**QUICK, "epochs": 6, "eval_every": 3, "eval_steps": 500, "seq_len": 50},
    )
    assert [c[0] for c in calls] == res.log.eval_epoch == [2, 5]
    assert [c[1] for c in calls] == res.log.eval_score
    assert "on_validate" not in res.summary.train
