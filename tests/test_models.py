import pytest
import torch

from neurodsr.models import MODELS, make_model, model_from_config
from neurodsr.models import fused as fused_module
from neurodsr.models.base import LatentModel, Windows
from neurodsr.models.fused import _loop_threads

PL = ["shplrnn", "plrnn", "clipped_shplrnn", "dendplrnn"]


@pytest.mark.parametrize("name", sorted(MODELS))
def test_interface_shapes(name):
    m = make_model(name, obs_dim=3, latent_dim=5, seeds=[0, 1], hidden_dim=8)
    z = torch.randn(2, 4, m.state_dim)
    assert m.step(z).shape == z.shape
    assert m.jacobian(z).shape == (2, 4, m.state_dim, m.state_dim)
    assert m.readout(z).shape == (2, 4, 3)
    assert m.init_state(torch.randn(2, 4, 3)).shape == z.shape
    assert m.rollout(torch.randn(11, 2, 4, 3), tau=3).shape == (10, 2, 4, 3)
    assert m.generate(z, 7).shape == (7, *z.shape)


@pytest.mark.parametrize("name", PL)
def test_analytic_jacobian_equals_autograd(name):
    m = make_model(name, obs_dim=3, latent_dim=6, seeds=[0, 1, 2], hidden_dim=16)
    assert m.analytic_jacobian
    z = torch.randn(3, 5, 6, dtype=torch.float64)
    m = m.double()
    torch.testing.assert_close(m.jacobian(z), LatentModel.jacobian(m, z), rtol=1e-10, atol=1e-10)


def test_ensemble_member_equals_single_model_with_its_seed():
    ens = make_model("shplrnn", 3, 4, seeds=[5, 6, 7], hidden_dim=10)
    single = make_model("shplrnn", 3, 4, seeds=[6], hidden_dim=10)
    for k, v in single.state_dict().items():
        torch.testing.assert_close(ens.state_dict()[k][1], v[0])
    z = torch.randn(1, 8, 4)
    torch.testing.assert_close(ens.step(z.expand(3, -1, -1))[1], single.step(z)[0])


def _grad_wrt_state(model, x, tau, t_cut):
    """d(loss after t_cut) / d(state just before the forcing at t_cut), by autograd."""
    z = model.init_state(x[0])
    grads = None
    loss = 0.0
    for t in range(1, x.shape[0]):
        z = model.step(z)
        if t == t_cut:
            z = z.detach().requires_grad_(True)
            anchor = z
        if t > t_cut:
            loss = loss + (model.readout(z) - x[t]).pow(2).sum()
        if t < x.shape[0] - 1 and t % tau == 0:
            z = model.force(z, x[t], 1.0)
    (grads,) = torch.autograd.grad(loss, anchor, allow_unused=True)
    return grads


@pytest.mark.parametrize(
    ("name", "latent", "obs"),
    [("shplrnn", 3, "identity"), ("plrnn", 5, "affine"), ("lstm", 4, "affine")],
)
def test_stf_no_gradient_crosses_a_forcing_point(name, latent, obs):
    m = make_model(name, 3, latent, seeds=[0], observation=obs, hidden_dim=8)
    x = torch.randn(13, 1, 4, 3)
    g = _grad_wrt_state(m, x, tau=4, t_cut=8)
    assert g is None or torch.count_nonzero(g) == 0
    # control: without forcing at t_cut the gradient is there
    g_free = _grad_wrt_state(m, x, tau=100, t_cut=8)
    assert g_free is not None and g_free.abs().sum() > 0


def test_identity_forcing_blocks_only_the_forced_units():
    m = make_model("shplrnn", 2, 5, seeds=[0], hidden_dim=8)
    x = torch.randn(13, 1, 4, 2)
    g = _grad_wrt_state(m, x, tau=4, t_cut=8)
    assert torch.count_nonzero(g[..., :2]) == 0
    assert g[..., 2:].abs().sum() > 0


@pytest.mark.parametrize("name", ["shplrnn", "plrnn", "gru"])
def test_gtf_alpha_one_is_one_step_teacher_forcing(name):
    m = make_model(
        name,
        3,
        3,
        seeds=[0, 1],
        observation="identity" if name != "gru" else "affine",
        hidden_dim=8,
    )
    x = torch.randn(9, 2, 4, 3)
    gtf = m.rollout(x, tau=1, alpha=1.0)
    one_step = torch.stack([m.readout(m.step(m.init_state(x[t - 1]))) for t in range(1, 9)])
    if name == "gru":  # affine: init_state and forcing both set h = pinv(B)(x - b)
        torch.testing.assert_close(gtf, one_step, rtol=1e-5, atol=1e-5)
    else:
        torch.testing.assert_close(gtf[1:], one_step[1:], rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(gtf[0], one_step[0])


def _fused_case(name: str, alpha, seed: int):
    """A two-member PL model (N = 3 of M = 5 units observed, L = 20), its forcing strength
    (``"per_member"``: 0.2 and 0.9) and 40-step windows (41, 2, 4, 3)."""
    torch.manual_seed(seed)
    m = make_model(name, 3, 5, seeds=[0, 1], hidden_dim=20)
    with torch.no_grad():
        m.init_map.normal_()
    a = torch.tensor([0.2, 0.9]) if alpha == "per_member" else alpha
    a = torch.tensor([1.0, 0.3]) if alpha == "stf_gtf" else a  # an STF and a GTF member
    return m, a, torch.randn(41, 2, 4, 3)


def _assert_same(got, ref) -> None:
    """(loss, {parameter: gradient}) equal to float32 rounding."""
    torch.testing.assert_close(got[0], ref[0], rtol=1e-6, atol=1e-7)
    for k, g in ref[1].items():
        torch.testing.assert_close(got[1][k], g, rtol=1e-4, atol=1e-6, msg=k)


@pytest.fixture(params=["compiled", "torch-loop"])
def loop(request, monkeypatch):
    """Both implementations of the fused pass: the compiled time loop and the torch one."""
    if request.param == "compiled" and fused_module.compiled_loop() is None:
        pytest.skip("the compiled loop could not be built here")
    monkeypatch.setattr(fused_module, "use_compiled", request.param == "compiled")
    return request.param


@pytest.mark.parametrize("name", ["shplrnn", "plrnn"])
@pytest.mark.parametrize(
    ("tau", "alpha"),
    [
        (7, 1.0),
        (None, 1.0),
        (1, 0.3),
        (1, 1.0),
        (3, "per_member"),
        (1, "per_member"),
        ([7, 1], "stf_gtf"),  # per-member intervals: STF tau 7 and GTF alpha 0.3
        ([0, 5], 1.0),  # a BPTT member and an STF member
    ],
)
def test_fused_rollout_equals_autograd(name, tau, alpha, loop):
    """Without a gradient to compute, rollout and rollout_loss take the fused pass and give
    the plain loop's predictions and losses to float32 rounding."""
    m, a, x = _fused_case(name, alpha, seed=0)
    out = {}
    for fused in (True, False):
        m.fused = fused
        with torch.no_grad():
            out[fused] = (m.rollout(x, tau, a), m.rollout_loss(x, tau, a))
    torch.testing.assert_close(out[True][0], out[False][0], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(out[True][1], out[False][1], rtol=1e-5, atol=1e-7)
    m.fused = True
    assert m.rollout(x, tau, a).requires_grad  # with a gradient to compute: autograd's loop


@pytest.mark.parametrize("name", ["shplrnn", "plrnn"])
def test_free_run_equals_the_plain_loop(name, loop):
    """generate (the evaluation's free runs) in the compiled loop equals step by step."""
    m = make_model(name, 3, 6, seeds=[0, 1, 2], hidden_dim=16)
    z0 = torch.randn(3, 5, 6)
    got = m.generate(z0, 300)
    ref = LatentModel.generate(m, z0, 300)
    assert got.shape == ref.shape == (300, 3, 5, 6)
    torch.testing.assert_close(got, ref, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", ["shplrnn", "plrnn"])
@pytest.mark.parametrize(
    ("tau", "alpha"),
    [
        (7, 1.0),
        (None, 1.0),
        (1, 0.1),
        (3, "per_member"),
        (1, "per_member"),
        ([7, 1], "stf_gtf"),
        (torch.tensor([0, 5]), 1.0),
    ],
)
@pytest.mark.parametrize("batch", [4, 19, 37])
def test_loss_and_grad_equals_autograd(name, tau, alpha, batch, loop):
    """The trainer's fast path (gradients written without autograd) equals autograd through
    the plain loop, with per-member weights, and accumulates into existing gradients; also
    for a batch that fills the compiled loop's lanes unevenly (19 and 37 windows in chunks
    of one or two vectors of 8 or 16 lanes)."""
    m, a, x = _fused_case(name, alpha, seed=2)
    x = torch.randn(41, 2, batch, 3)
    weight = torch.tensor([0.0, 2.0])
    m.fused = False
    m.zero_grad()
    ref_loss = m.rollout_loss(x, tau, a)
    (ref_loss * weight).sum().backward()
    ref = {k: p.grad.clone() for k, p in m.named_parameters()}
    m.fused = True
    m.zero_grad(set_to_none=True)
    loss = m.loss_and_grad(x, tau, a, weight)
    torch.testing.assert_close(loss, ref_loss.detach(), rtol=1e-6, atol=1e-7)
    for k, p in m.named_parameters():
        torch.testing.assert_close(p.grad, ref[k], rtol=1e-4, atol=1e-6, msg=k)
    m.loss_and_grad(x, tau, a, weight)  # accumulates, as backward() does
    for k, p in m.named_parameters():
        torch.testing.assert_close(p.grad, 2 * ref[k], rtol=1e-4, atol=1e-6, msg=k)
    assert make_model("lstm", 3, 5, seeds=[0]).loss_and_grad(x[:, :1]) is None


@pytest.mark.parametrize("name", ["shplrnn", "plrnn"])
@pytest.mark.parametrize("seeds", [[0], [0, 1, 2]])
def test_loss_and_grad_feeds_fused_adam_like_autograd(name, seeds, loop):
    """The hand-written gradients have their parameters' layout, so torch's fused Adam (the
    trainer's optimizer, which reads a gradient's memory in its parameter's layout) takes the
    same step as after autograd; also for a single model and when the window shape changes
    between calls (the fused pass reuses its buffers)."""
    torch.manual_seed(3)
    x_a, x_b = torch.randn(31, len(seeds), 4, 3), torch.randn(21, len(seeds), 6, 3)
    params = {}
    for fused in (True, False):
        m = make_model(name, 3, 3, seeds=seeds, hidden_dim=7)
        m.fused = fused
        opt = torch.optim.Adam(m.parameters(), lr=1e-2, fused=True)
        for x in (x_a, x_b, x_a):
            opt.zero_grad(set_to_none=True)
            if m.loss_and_grad(x, 1, 0.1) is None:
                m.rollout_loss(x, 1, 0.1).sum().backward()
            for p in m.parameters():
                assert p.grad.stride() == p.stride()
            opt.step()
        params[fused] = {k: p.detach().clone() for k, p in m.named_parameters()}
        m.release_buffers()
        assert "_fused_workspace" not in vars(m)
    for k, p in params[False].items():
        torch.testing.assert_close(params[True][k], p, rtol=1e-5, atol=1e-6, msg=k)


@pytest.mark.parametrize("name", ["shplrnn", "plrnn"])
@pytest.mark.parametrize("alpha", [0.3, 1.0, "per_member"])
def test_gtf_folded_and_in_loop_equal_autograd(name, alpha, monkeypatch):
    """The torch loop's two GTF forms (forcing folded into the step's weights, for small
    products; two forcing ops per step, for large ones) both give autograd's loss and
    gradients."""
    monkeypatch.setattr(fused_module, "use_compiled", False)
    m, a, x = _fused_case(name, alpha, seed=4)

    def losses_and_grads(fused: bool) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        m.fused = fused
        m.zero_grad(set_to_none=True)
        loss = m.loss_and_grad(x, 1, a) if fused else None
        if loss is None:
            loss = m.rollout_loss(x, 1, a)
            loss.sum().backward()
        return loss.detach(), {k: p.grad.clone() for k, p in m.named_parameters()}

    ref = losses_and_grads(False)
    monkeypatch.setattr(fused_module, "_fold_gtf", lambda *args: True)
    folded = losses_and_grads(True)
    monkeypatch.setattr(fused_module, "_fold_gtf", lambda *args: False)
    in_loop = losses_and_grads(True)
    _assert_same(folded, ref)
    _assert_same(in_loop, ref)


def test_fused_pass_restores_the_thread_count(monkeypatch):
    """The torch loop runs an ensemble's small time loops on one thread; the caller's setting
    comes back, also when the pass fails half-way."""
    monkeypatch.setattr(fused_module, "use_compiled", False)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        m = make_model("shplrnn", 3, 3, seeds=[0, 1, 2], hidden_dim=7)
        x = torch.randn(11, 3, 4, 3)
        assert m.loss_and_grad(x, 1, 0.1) is not None
        assert torch.get_num_threads() == 2
        with pytest.raises(ValueError), _loop_threads(x, True):
            assert torch.get_num_threads() == 1
            raise ValueError("failed inside the loop")
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_config_round_trip():
    m = make_model("dendplrnn", 3, 4, seeds=[3, 4], n_bases=5)
    m2 = model_from_config(m.config())
    m2.load_state_dict(m.state_dict())
    z = torch.randn(2, 3, 4)
    torch.testing.assert_close(m.step(z), m2.step(z))


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown model"):
        make_model("transformer", 3)
    with pytest.raises(ValueError, match="latent_dim >= obs_dim"):
        make_model("shplrnn", 5, 3, observation="identity")


@pytest.mark.parametrize("name", PL)
def test_initial_maps_are_contractions(name):
    """Every seed starts with ||J||_2 < 1, so untrained free runs cannot overflow."""
    m = make_model(name, 3, 8, seeds=list(range(16)), hidden_dim=100)
    z = torch.randn(16, 256, 8) * 3
    norms = torch.linalg.matrix_norm(m.jacobian(z), ord=2)
    assert norms.max() < 1.0
    with torch.no_grad():
        run = m.generate(torch.randn(16, 4, 8) * 3, 500)
    assert torch.isfinite(run).all() and run[-1].abs().max() < 100


def test_compiled_loop_dispatch():
    """The compiled loop takes float32 CPU tensors; CUDA (here: any other device) and other
    dtypes keep the torch path, which is what runs on a GPU."""
    if fused_module.compiled_loop() is None:
        pytest.skip("the compiled loop could not be built here")
    assert fused_module._use_compiled(torch.zeros(2)) is not None
    assert fused_module._use_compiled(torch.zeros(2, dtype=torch.float64)) is None
    assert fused_module._use_compiled(torch.zeros(2, device="meta")) is None
    m = make_model("shplrnn", 3, 4, seeds=[0], hidden_dim=8).double()
    x = torch.randn(11, 1, 4, 3, dtype=torch.float64)
    assert fused_module.fused_pl_generate(x[0], 5, *m._fused_args()[:5]) is None  # torch's


def test_without_a_compiler_the_torch_loop_runs_with_one_notice(monkeypatch):
    """When the extension cannot be built, one warning line says so and the torch loop gives
    the same loss and gradients."""
    from torch.utils import cpp_extension

    def no_build(*args, **kwargs):
        raise RuntimeError("Ninja is required to load C++ extensions")

    monkeypatch.setattr(cpp_extension, "load", no_build)
    monkeypatch.setattr(fused_module, "_ext", None)
    m, a, x = _fused_case("shplrnn", 0.3, seed=5)
    m.fused = False
    ref_loss = m.rollout_loss(x, 1, a)
    ref_loss.sum().backward()
    ref = {k: p.grad.clone() for k, p in m.named_parameters()}
    m.fused = True
    m.zero_grad(set_to_none=True)
    with pytest.warns(RuntimeWarning, match="compiled PL time loop unavailable.*Ninja") as rec:
        loss = m.loss_and_grad(x, 1, a)
        m.loss_and_grad(x, 1, a)  # no second notice
    assert len(rec) == 1 and "\n" not in str(rec[0].message)
    torch.testing.assert_close(loss, ref_loss.detach(), rtol=1e-6, atol=1e-7)
    for k, p in m.named_parameters():
        torch.testing.assert_close(p.grad, 2 * ref[k], rtol=1e-4, atol=1e-6, msg=k)


@pytest.mark.parametrize("name", ["shplrnn", "plrnn"])
def test_loss_and_grad_is_deterministic(name, loop):
    """The same windows give bit-identical losses and gradients at every call (the compiled
    loop adds its chunks' partial sums in a fixed order), so a resumed run repeats exactly."""
    torch.manual_seed(6)
    m = make_model(name, 3, 4, seeds=[0, 1, 2], hidden_dim=9)
    x = torch.randn(31, 3, 21, 3)
    runs = []
    for _ in range(2):
        m.zero_grad(set_to_none=True)
        loss = m.loss_and_grad(x, 1, 0.2)
        runs.append([loss, *(p.grad.clone() for p in m.parameters())])
    for a, b in zip(*runs, strict=True):
        assert torch.equal(a, b)


@pytest.mark.parametrize(("name", "latent", "hidden"), [("shplrnn", 3, 50), ("plrnn", 9, 9)])
def test_compiled_pass_is_the_same_on_one_and_two_threads(name, latent, hidden):
    """The compiled loop hands its (member, chunk) items to whichever thread is free next
    (dynamic scheduling); every item writes its own partial sums, so losses, gradients,
    rollouts and free runs are bit-identical on one and on two threads and at every call
    (the fused shPLRNN kernel at M = 3 and the generic one, many items per thread)."""
    if fused_module.compiled_loop() is None:
        pytest.skip("the compiled loop could not be built here")
    torch.manual_seed(8)
    m = make_model(name, 3, latent, seeds=list(range(8)), hidden_dim=hidden)
    x = torch.randn(41, 8, 40, 3)
    taus = [0, 1, 3, 7, 1, 40, 2, 5]  # members forced on their own steps
    alpha = torch.linspace(0.1, 1.0, 8)
    before = torch.get_num_threads()
    runs = []
    try:
        for threads in (1, 2, 2):
            torch.set_num_threads(threads)
            m.zero_grad(set_to_none=True)
            loss = m.loss_and_grad(x, taus, alpha)
            with torch.no_grad():
                pred = m.rollout(x, taus, alpha)
                free = m.generate(
                    torch.randn(8, 40, latent, generator=torch.Generator().manual_seed(1)), 30
                )
            runs.append([loss, pred, free, *(p.grad.clone() for p in m.parameters())])
    finally:
        torch.set_num_threads(before)
    assert torch.isfinite(runs[0][0]).all() and runs[0][0].gt(0).all()
    for run in runs[1:]:
        for a, b in zip(runs[0], run, strict=True):
            assert torch.equal(a, b)


def test_torch_loop_choices_are_measured_once_per_shape(monkeypatch):
    """The torch loop's machine-dependent choices (one thread for small products, folding
    GTF) come from a measurement at first use, remembered per shape; on CUDA GTF folds."""
    monkeypatch.setattr(fused_module, "_measured", {})
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        like = torch.zeros(1)
        first = fused_module._single_thread_faster(like, 16, 32, 4, 50)
        assert isinstance(first, bool) and len(fused_module._measured) == 1
        assert fused_module._single_thread_faster(like, 16, 32, 4, 50) == first
        assert torch.get_num_threads() == 2
        assert not fused_module._single_thread_faster(like, 1, 32, 4, 50)  # one GEMM
        assert isinstance(fused_module._fold_gtf(like, 20, 3, 8, 10, 3), bool)
        assert len(fused_module._measured) == 2
        assert fused_module._fold_gtf(torch.zeros(1, device="meta"), 20, 3, 8, 10, 3)
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("name", ["shplrnn", "plrnn", "clipped_shplrnn", "dendplrnn", "lstm"])
def test_members_with_their_own_forcing_equal_separate_models(name, loop):
    """An ensemble whose members have their own forcing interval and strength (STF tau 7,
    GTF alpha 0.3, BPTT, STF tau 4 at alpha 0.5) gives each member the loss and gradients
    of a one-member model with that member's seed and forcing (the fused pass where the
    model has one, else autograd); a per-member tau whose values are equal is the single
    interval."""
    taus, alphas = [7, 1, 0, 4], [1.0, 0.3, 0.0, 0.5]
    x = torch.randn(41, 4, 19, 3)

    def loss_grads(model, xb, tau, alpha):
        model.zero_grad(set_to_none=True)
        loss = model.loss_and_grad(xb, tau, alpha)
        if loss is None:
            loss = model.rollout_loss(xb, tau, alpha)
            loss.sum().backward()
        return loss.detach(), {k: p.grad.clone() for k, p in model.named_parameters()}

    ens = make_model(name, 3, 5, seeds=[0, 1, 2, 3], hidden_dim=20)
    loss, grads = loss_grads(ens, x, taus, torch.tensor(alphas))
    for e, (tau, alpha) in enumerate(zip(taus, alphas, strict=True)):
        one = make_model(name, 3, 5, seeds=[e], hidden_dim=20)
        ref = loss_grads(one, x[:, e : e + 1].contiguous(), tau or None, alpha)
        _assert_same((loss[e : e + 1], {k: g[e : e + 1] for k, g in grads.items()}), ref)
    same = make_model(name, 3, 5, seeds=[0, 1, 2, 3], hidden_dim=20)
    _assert_same(loss_grads(same, x, [5] * 4, 1.0), loss_grads(ens, x, 5, 1.0))
    with pytest.raises(ValueError, match="per-member tau"):
        ens.rollout(x, [1, 2], 1.0)


def _autograd_loss_grads(m, x, tau, a, weight=None):
    """Loss and gradients of ``sum(weight * rollout_loss)`` through the generic autograd loop."""
    m.zero_grad(set_to_none=True)
    fused = m.fused
    m.fused = False
    loss = m.rollout_loss(x, tau, a)
    (loss * (1.0 if weight is None else weight)).sum().backward()
    m.fused = fused
    return loss.detach(), {k: p.grad.clone() for k, p in m.named_parameters()}


@pytest.mark.parametrize(
    ("tau", "alpha"),
    [(7, 1.0), (None, 1.0), (1, 0.1), (1, "per_member"), ([7, 1], "stf_gtf")],
)
@pytest.mark.parametrize("batch", [4, 19, 37])
@pytest.mark.parametrize("name", ["clipped_shplrnn", "dendplrnn"])
def test_compiled_only_models_equal_autograd(name, tau, alpha, batch):
    """The clipped shPLRNN (two ReLUs per unit, h2 in the first only) and the dendPLRNN (a
    basis expansion per unit, with its weights' and thresholds' gradients) in the compiled
    loop: loss and gradients equal autograd's; rollout and free run equal the plain loop's."""
    if fused_module.compiled_loop() is None:
        pytest.skip("the compiled loop could not be built here")
    m, a, _ = _fused_case(name, alpha, seed=4)
    if name == "clipped_shplrnn":
        with torch.no_grad():  # offsets large enough that both ReLUs switch along the run
            m.h2.mul_(4.0)
    x = torch.randn(41, 2, batch, 3)
    weight = torch.tensor([0.5, 2.0])
    ref = _autograd_loss_grads(m, x, tau, a, weight)
    m.zero_grad(set_to_none=True)
    loss = m.loss_and_grad(x, tau, a, weight)
    assert loss is not None  # the compiled pass, not autograd
    _assert_same((loss, {k: p.grad for k, p in m.named_parameters()}), ref)
    with torch.no_grad():
        fast = m.rollout(x, tau, a)
        m.fused = False
        plain = m.rollout(x, tau, a)
        m.fused = True
    torch.testing.assert_close(fast, plain, rtol=1e-5, atol=1e-6)
    z0 = torch.randn(2, 5, 5)
    torch.testing.assert_close(
        m.generate(z0, 300), LatentModel.generate(m, z0, 300), rtol=1e-4, atol=1e-5
    )


@pytest.mark.parametrize("name", ["clipped_shplrnn", "dendplrnn"])
def test_compiled_only_models_without_the_compiled_loop_train_through_autograd(name, monkeypatch):
    """Where the compiled loop does not run (no compiler, CUDA, float64) the clipped and the
    dendritic models have no torch loop: their training step is autograd's (loss_and_grad
    None), with the one notice when the build failed."""
    from torch.utils import cpp_extension

    def no_build(*args, **kwargs):
        raise RuntimeError("Ninja is required to load C++ extensions")

    monkeypatch.setattr(cpp_extension, "load", no_build)
    monkeypatch.setattr(fused_module, "_ext", None)
    m, a, x = _fused_case(name, 0.3, seed=5)
    with pytest.warns(RuntimeWarning, match="compiled PL time loop unavailable"):
        assert m.loss_and_grad(x, 1, a) is None
    with torch.no_grad():
        assert m.rollout(x, 1, a).shape == (40, 2, 4, 3)
    assert m.generate(torch.randn(2, 3, 5), 10).shape == (10, 2, 3, 5)
    assert m.double().loss_and_grad(x.double(), 1, a) is None


def _random_windows(n_obs: int, e: int, b: int, seq_len: int, seed: int) -> Windows:
    """Windows of a random series (500, n_obs) at random starts (E, B)."""
    gen = torch.Generator().manual_seed(seed)
    series = torch.randn(500, n_obs, generator=gen)
    starts = torch.randint(0, 500 - seq_len, (e, b), generator=gen)
    return Windows(series, starts, seq_len)


@pytest.mark.parametrize("name", ["shplrnn", "plrnn", "clipped_shplrnn", "dendplrnn"])
@pytest.mark.parametrize(("tau", "alpha"), [(7, 1.0), (1, 0.1), ([7, 1], "stf_gtf")])
def test_windows_read_by_start_equal_the_copied_windows(name, tau, alpha, loop):
    """Windows given by their starts in the series (what ``train`` passes) give the same loss
    and gradients, to the bit, as their (T+1, E, B, N) copy; both equal autograd's."""
    if loop == "torch-loop" and name in ("clipped_shplrnn", "dendplrnn"):
        pytest.skip("these two have no torch loop (autograd where the compiled one is absent)")
    m, a, _ = _fused_case(name, alpha, seed=4)
    win = _random_windows(3, 2, 19, 40, seed=5)
    x = win.tensor()
    assert x.shape == (41, 2, 19, 3)
    assert torch.equal(x[:, 1, 3], win.series[win.starts[1, 3] : win.starts[1, 3] + 41])
    weight = torch.tensor([1.0, 0.5])
    m.zero_grad(set_to_none=True)
    loss_w = m.loss_and_grad(win, tau, a, weight)
    grads_w = {k: p.grad.clone() for k, p in m.named_parameters()}
    m.zero_grad(set_to_none=True)
    loss_x = m.loss_and_grad(x, tau, a, weight)
    assert torch.equal(loss_w, loss_x)
    for k, p in m.named_parameters():
        assert torch.equal(grads_w[k], p.grad), k
    m.fused = False
    m.zero_grad()
    ref_loss = m.rollout_loss(x, tau, a)
    (ref_loss * weight).sum().backward()
    _assert_same(
        (loss_w, grads_w), (ref_loss.detach(), {k: p.grad for k, p in m.named_parameters()})
    )


@pytest.mark.parametrize(("latent", "hidden"), [(3, 50), (1, 7), (8, 20), (9, 20)])
@pytest.mark.parametrize(("tau", "alpha"), [(30, 1.0), (1, 0.1), (None, 1.0)])
def test_shplrnn_pass_equals_autograd_at_small_and_large_latent_sizes(
    latent, hidden, tau, alpha, loop
):
    """The compiled loop's fused shPLRNN kernel (M <= 8 latent units: the pipeline's and the
    Lorenz model's M = 3, all units observed, L = 50) and the generic one (M = 9) against
    autograd, with uneven chunks (37 windows of 101 steps) and per-member weights."""
    n_obs = min(3, latent)
    m = make_model("shplrnn", n_obs, latent, seeds=[0, 1, 2], hidden_dim=hidden)
    with torch.no_grad():
        m.init_map.normal_()
    win = _random_windows(n_obs, 3, 37, 100, seed=latent)
    x = win.tensor()
    weight = torch.tensor([1.0, 0.0, 3.0])
    m.zero_grad(set_to_none=True)
    loss = m.loss_and_grad(win, tau, alpha, weight)
    got = {k: p.grad.clone() for k, p in m.named_parameters()}
    m.fused = False
    m.zero_grad()
    ref_loss = m.rollout_loss(x, tau, alpha)
    (ref_loss * weight).sum().backward()
    _assert_same((loss, got), (ref_loss.detach(), {k: p.grad for k, p in m.named_parameters()}))


def test_window_outside_the_series_is_refused():
    """The compiled pass checks every start against the series (no read past its end)."""
    ext = fused_module.compiled_loop()
    if ext is None:
        pytest.skip("the compiled loop could not be built here")
    m = make_model("shplrnn", 3, 3, seeds=[0], hidden_dim=10)
    win = _random_windows(3, 1, 4, 40, seed=0)
    bad = Windows(win.series, win.starts.clone().fill_(500 - 40), 40)  # one sample too far
    with pytest.raises(RuntimeError, match="runs outside the series"):
        m.loss_and_grad(bad, 1, 0.1)
    ok = Windows(win.series, win.starts.clone().fill_(500 - 41), 40)
    assert torch.isfinite(m.loss_and_grad(ok, 1, 0.1)).all()


@pytest.mark.parametrize(
    ("env", "march", "suffix"),
    [
        ({}, "native", ""),
        ({"NEURODSR_MARCH": "haswell"}, "haswell", "_haswell"),
        ({"NEURODSR_MARCH": "haswell", "NEURODSR_VBYTES": "32"}, "haswell", "_haswell_v32"),
    ],
)
def test_the_build_target_knobs_build_their_own_variant(monkeypatch, tmp_path, env, march, suffix):
    """NEURODSR_MARCH (the -march= target, for timing the AVX2 build on an AVX-512 machine) and
    NEURODSR_VBYTES change the compiler flags, and each variant is built under its own name
    and directory, so that they never load one another's library."""
    from torch.utils import cpp_extension

    seen = {}

    def record(**kwargs):
        seen.update(kwargs)
        raise RuntimeError("not built in this test")

    monkeypatch.setattr(cpp_extension, "load", record)
    monkeypatch.setattr(fused_module, "_ext", None)
    monkeypatch.setattr(fused_module, "_build_dir", lambda: tmp_path)
    for k in ("NEURODSR_MARCH", "NEURODSR_VBYTES", "NEURODSR_COMPILED"):
        monkeypatch.delenv(k, raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    with pytest.warns(RuntimeWarning, match="not built in this test"):
        assert fused_module.compiled_loop() is None
    assert f"-march={march}" in seen["extra_cflags"]
    assert seen["name"].endswith(fused_module._cpu_tag() + suffix)
    expected_dir = tmp_path / suffix.lstrip("_") if suffix else tmp_path
    assert seen.get("build_directory") == str(expected_dir) and expected_dir.is_dir()


def test_a_bad_build_target_is_refused_with_a_notice(monkeypatch):
    """A NEURODSR_MARCH that is not a plain target name never reaches the compiler's command
    line: the torch loop runs, with the one notice naming the variable."""
    monkeypatch.setattr(fused_module, "_ext", None)
    monkeypatch.setenv("NEURODSR_MARCH", "native -fplugin=x.so")
    with pytest.warns(RuntimeWarning, match="NEURODSR_MARCH"):
        assert fused_module.compiled_loop() is None
