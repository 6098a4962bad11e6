"""upsample(): torch's gradcheck in double through the C upsampler adjoint (x, F and the learnable scalars) in
each mode, the output shapes, and bad arguments."""
import pytest
import torch

import pipeline

D = torch.float64


def particles(n_side=4, spacing=0.05, seed=0):
    g = torch.Generator().manual_seed(seed)
    a = torch.arange(n_side, dtype=D) * spacing
    rest = torch.stack(torch.meshgrid(a, a, a, indexing="ij"), -1).reshape(-1, 3) + 0.3
    n = rest.shape[0]
    x = rest + 0.004 * torch.randn(n, 3, generator=g, dtype=D)
    F = torch.eye(3, dtype=D) + 0.05 * torch.randn(n, 3, 3, generator=g, dtype=D)
    return rest, x, F


@pytest.mark.parametrize("mode", ["bound", "particles", "runtime"])
def test_gradcheck_upsample(mode):
    rest, x, F = particles()
    u = pipeline.Upsampler(rest, mode, children=2)
    g = torch.Generator().manual_seed(1)
    M = u.count
    w = [torch.randn(2, M, k, generator=g, dtype=D) for k in (3, 9, 1)]

    def f(x, F, sigma0, thickness, opacity):
        means, covs, colors, opac = pipeline.upsample(x, F, u, sigma0=sigma0, thickness=thickness, opacity=opacity)
        outs = (means, covs.reshape(M, 9), opac.reshape(M, 1))
        return torch.stack([sum((wk[j] * t).sum() for wk, t in zip(w, outs)) for j in range(2)])

    ins = [x.clone().requires_grad_(), F.clone().requires_grad_()] + \
          [torch.tensor(v, dtype=D, requires_grad=True) for v in (1.1, 0.3, 0.9)]
    assert torch.autograd.gradcheck(f, ins, eps=1e-6, atol=1e-6, rtol=1e-4)


def test_upsample_shapes_and_rest_state():
    rest, x, F = particles()
    u = pipeline.Upsampler(rest.float(), "particles")
    means, covs, colors, opac = pipeline.upsample(rest.float(), torch.eye(3).expand(rest.shape[0], 3, 3).contiguous(), u)
    assert means.shape == (u.count, 3) and covs.shape == (u.count, 3, 3) and colors.shape == (u.count, 3)
    assert torch.allclose(means, rest.float())  # one Gaussian per particle, at the particle when F = I
    assert torch.allclose(covs, covs.transpose(1, 2)) and bool((torch.linalg.eigvalsh(covs) > 0).all())


def test_upsample_bad_arguments():
    rest, x, F = particles()
    u = pipeline.Upsampler(rest, "bound")
    with pytest.raises(TypeError, match="x"):
        pipeline.upsample(x.float(), F, u)
    with pytest.raises(ValueError, match="F"):
        pipeline.upsample(x, F[:, :2], u)
    with pytest.raises(ValueError, match="F"):
        pipeline.upsample(x, F.transpose(1, 2), u)
    bad = x.clone()
    bad[3, 1] = float("nan")
    with pytest.raises(ValueError, match="x"):
        pipeline.upsample(bad, F, u)
    with pytest.raises(pipeline.PipelineError, match="sigma0"):
        pipeline.upsample(x, F, u, sigma0=-1.0)
    with pytest.raises(ValueError, match="mode"):
        pipeline.Upsampler(rest, "voxels")


@pytest.mark.skipif(not (torch.cuda.is_available() and pipeline.cuda_available()),
                    reason="no CUDA device (or libpipeline built without CUDA)")
def test_cuda_upsample_matches_cpu():
    rest, x, F = particles()
    rest, x, F = rest.float(), x.float(), F.float()
    uc = pipeline.Upsampler(rest, "bound")
    ug = pipeline.Upsampler(rest, "bound", device="cuda")
    xc, Fc = x.clone().requires_grad_(), F.clone().requires_grad_()
    xg, Fg = x.cuda().requires_grad_(), F.cuda().requires_grad_()
    a = pipeline.upsample(xc, Fc, uc)
    b = pipeline.upsample(xg, Fg, ug)
    assert b[0].is_cuda
    for s, t in zip(a, b):
        assert float((s - t.cpu()).abs().max()) < 1e-4
    (a[0].sum() + a[1].sum()).backward()
    (b[0].sum() + b[1].sum()).backward()
    assert torch.allclose(xc.grad, xg.grad.cpu(), atol=1e-3) and torch.allclose(Fc.grad, Fg.grad.cpu(), atol=1e-3)
