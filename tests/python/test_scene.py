"""Scene and simulate(): torch's gradcheck in double through the C adjoints (MPM backward through time, the whole
pipeline's loss), render and loss shapes, bad arguments, and a fit of tiny's E with torch.optim.Adam."""
import math

import pytest
import torch

import pipeline

D = torch.float64
# tiny.cfg made small for CI: 24 x 24 pixels, 4 particles per cell, fewer frames; nu at its true value
SMALL = {"render.width": 24, "render.height": 24, "object.cube.particles_per_cell": 4}


@pytest.fixture(scope="module")
def scene64():
    return pipeline.Scene("scenes/tiny.cfg", dtype=D, set=dict(SMALL, **{
        "sim.frames": 4, "targets.frames": "1:5", "optimize.loss": "l2:1", "material.jelly.nu": 0.3}))


def test_scene_info_render_and_loss_at_truth(scene64):
    s = scene64
    assert s.n_particles > 100 and s.n_gaussians > s.n_particles and s.frames == 4 and s.n_cameras == 2
    rgb, alpha = s.render({"material.jelly.E": 2e4}, frame=3)
    assert rgb.shape == (2, 24, 24, 3) and alpha.shape == (2, 24, 24, 1) and rgb.dtype == D
    assert 0.05 < float(alpha.mean()) < 0.9  # the cube is in view, not filling it
    loss, grads = s.loss_and_grad({"material.jelly.E": 2e4})  # the targets were rendered from the truth
    assert loss < 1e-12 and set(grads) == {"material.jelly.E"}
    loss, grads = s.loss_and_grad({"material.jelly.E": 4e4})
    assert loss > 0 and float(grads["material.jelly.E"]) > 0  # too stiff: the loss falls with E


def test_gradcheck_scene_loss(scene64):
    """dL/dE and dL/dnu of the whole pipeline (rasterizer, upsampler, MPM through time) against torch's finite
    differences; the parameters are scaled to O(1) (E = 3e4 s)."""
    def f(s_E, nu):
        return scene64.loss({"material.jelly.E": 3e4 * s_E, "material.jelly.nu": nu})

    ins = (torch.tensor(1.0, dtype=D, requires_grad=True), torch.tensor(0.3, dtype=D, requires_grad=True))
    assert torch.autograd.gradcheck(f, ins, eps=1e-5, atol=1e-9, rtol=2e-3)


def test_gradcheck_simulate(scene64):
    """x, v, F at frames 0, 2, 4 (three random projections of them) against E, nu, the initial velocity and the
    gravity: the C checkpointed MPM adjoint, checked by torch."""
    n = scene64.n_particles
    g = torch.Generator().manual_seed(0)
    w = [torch.randn(3, 3, n, k, generator=g, dtype=D) for k in (3, 3, 9)]

    def f(s_E, nu, vel, grav):
        x, v, F = pipeline.simulate(scene64, {"material.jelly.E": 3e4 * s_E, "material.jelly.nu": nu,
                                              "object.cube.velocity": vel, "sim.gravity": grav}, frames=[0, 2, 4])
        F = F.reshape(3, n, 9)
        return torch.stack([sum((wk[j] * t).sum() for wk, t in zip(w, (x, v, F))) for j in range(3)])

    ins = (torch.tensor(1.0, dtype=D, requires_grad=True), torch.tensor(0.3, dtype=D, requires_grad=True),
           torch.tensor([0.0, -2.5, 0.0], dtype=D, requires_grad=True),
           torch.tensor([0.0, -9.8, 0.0], dtype=D, requires_grad=True))
    assert torch.autograd.gradcheck(f, ins, eps=1e-6, atol=1e-6, rtol=1e-4)


def test_simulate_states():
    s = pipeline.Scene("scenes/tiny.cfg", set=dict(SMALL, **{"sim.frames": 3}))
    x, v, F = pipeline.simulate(s, {"material.jelly.E": 2e4}, frames=[0, 3])
    assert x.shape == (2, s.n_particles, 3) and F.shape == (2, s.n_particles, 3, 3) and x.dtype == torch.float32
    assert torch.allclose(F[0], torch.eye(3).expand_as(F[0]))  # at rest
    assert torch.allclose(v[0], torch.tensor([0.0, -2.5, 0.0]).expand_as(v[0]), atol=1e-6)
    assert float(x[1, :, 1].mean()) < float(x[0, :, 1].mean())  # thrown down: it fell
    with pytest.raises(pipeline.PipelineError, match="frames"):
        pipeline.simulate(s, {}, frames=[7])


def test_bad_scene_arguments(tmp_path):
    with pytest.raises(FileNotFoundError):
        pipeline.Scene("scenes/no_such.cfg")
    with pytest.raises(pipeline.PipelineError, match="nonsense"):
        pipeline.Scene("scenes/tiny.cfg", set={"sim.nonsense": 1})
    s = pipeline.Scene("scenes/tiny.cfg", set=dict(SMALL, **{"sim.frames": 2, "targets.frames": "1:3"}))
    with pytest.raises(pipeline.PipelineError, match="material.jelly.Q"):
        s.loss_and_grad({"material.jelly.Q": 1.0})
    with pytest.raises(ValueError, match="material.jelly.E"):
        s.loss_and_grad({"material.jelly.E": float("nan")})
    with pytest.raises(pipeline.PipelineError, match="E"):
        s.loss_and_grad({"material.jelly.E": -5.0})
    with pytest.raises(ValueError, match="params"):
        s.loss_and_grad({})


def test_fit_E_with_adam():
    """tiny's E from 2x off (4e4) to the truth (2e4, nu at its truth) with torch.optim.Adam in log space through
    Scene.loss (one C adjoint pass per step). The L1 loss gives sign-like gradients: less momentum, a cosine-decayed rate."""
    s = pipeline.Scene("scenes/tiny.cfg", set=dict(SMALL, **{
        "material.jelly.nu": 0.3, "sim.frames": 6, "targets.frames": "1:7"}))
    log_E = torch.tensor(math.log(4e4), dtype=D, requires_grad=True)
    opt = torch.optim.Adam([log_E], lr=0.07, betas=(0.7, 0.99))
    iters = 24
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=iters, eta_min=0.01)
    for _ in range(iters):
        opt.zero_grad()
        loss = s.loss({"material.jelly.E": log_E.exp()})
        loss.backward()
        assert log_E.grad is not None and log_E.grad != 0
        opt.step()
        sched.step()
    E = float(log_E.exp())
    assert abs(E / 2e4 - 1) < 0.05, "fit did not converge: E = %g (truth 2e4)" % E


needs_cuda = pytest.mark.skipif(not (torch.cuda.is_available() and pipeline.cuda_available()),
                                reason="no CUDA device (or libpipeline built without CUDA)")


@needs_cuda
def test_cuda_scene_matches_cpu():
    sets = dict(SMALL, **{"sim.frames": 3, "targets.frames": "1:4", "material.jelly.nu": 0.3})
    cpu = pipeline.Scene("scenes/tiny.cfg", set=sets, device="cpu")
    gpu = pipeline.Scene("scenes/tiny.cfg", set=sets, device="cuda")
    assert gpu.device.type == "cuda"
    xc = pipeline.simulate(cpu, {"material.jelly.E": 3e4}, frames=[3])[0]
    xg = pipeline.simulate(gpu, {"material.jelly.E": 3e4}, frames=[3])[0]
    assert xg.is_cuda and float((xc - xg.cpu()).abs().max()) < 1e-3
    lc, gc = cpu.loss_and_grad({"material.jelly.E": 3e4})
    lg, gg = gpu.loss_and_grad({"material.jelly.E": 3e4})
    assert abs(lc - lg) < 1e-3 * abs(lc) + 1e-6
    assert abs(float(gc["material.jelly.E"] - gg["material.jelly.E"])) < 0.02 * abs(float(gc["material.jelly.E"]))
