"""rasterize(): values and gradients against an independent dense PyTorch 3DGS renderer, torch's gradcheck in
double, float32 against float64, bad arguments, CUDA against CPU (skipped without a device)."""
import math

import pytest
import torch

import pipeline
from reference3dgs import covariance, render

D = torch.float64


def look_at(eye, target, up=(0.0, 1.0, 0.0)):
    """world -> camera, OpenCV axes (+z forward, +y down)."""
    eye, target, up = (torch.tensor(a, dtype=D) for a in (eye, target, up))
    f = target - eye
    f = f / f.norm()
    r = torch.linalg.cross(f, up)
    r = r / r.norm()
    d = torch.linalg.cross(f, r)
    R = torch.stack([r, d, f])
    m = torch.eye(4, dtype=D)
    m[:3, :3] = R
    m[:3, 3] = -R @ eye
    return m


def scene(n=6, seed=0, dtype=D):
    """n Gaussians around the origin at distinct depths, two cameras 24 x 20."""
    g = torch.Generator().manual_seed(seed)
    means = (torch.rand(n, 3, generator=g, dtype=D) - 0.5) * torch.tensor([0.8, 0.6, 0.8], dtype=D)
    means[:, 2] = torch.linspace(-0.4, 0.4, n, dtype=D)  # distinct depths in the first camera
    quats = torch.randn(n, 4, generator=g, dtype=D)
    scales = 0.06 + 0.08 * torch.rand(n, 3, generator=g, dtype=D)
    opac = 0.3 + 0.5 * torch.rand(n, generator=g, dtype=D)
    colors = torch.rand(n, 3, generator=g, dtype=D)
    W, H = 24, 20
    view = torch.stack([look_at((0.1, -0.2, -2.5), (0, 0, 0)), look_at((2.2, 0.3, -1.0), (0, 0, 0))])
    f = 0.5 * H / math.tan(math.radians(40) / 2)
    K = torch.tensor([[f, 0, W / 2 + 0.7], [0, f * 1.05, H / 2 - 0.4], [0, 0, 1]], dtype=D).expand(2, 3, 3).clone()
    t = [means, quats, scales, opac, colors]
    return [x.to(dtype) for x in t], view, K, W, H


def ref_images(means, quats, scales, opac, colors, view, K, W, H, **kw):
    out = [render(means, covariance(quats, scales), opac, colors, view[c], K[c], W, H, **kw) for c in range(len(view))]
    return [torch.stack([o[i] for o in out]) for i in range(3)]


def test_values_and_gradients_match_reference():
    (means, quats, scales, opac, colors), view, K, W, H = scene()
    bg = torch.tensor([0.2, 0.3, 0.4], dtype=D)
    ins = [t.clone().requires_grad_() for t in (means, quats, scales, opac, colors)]
    rgb, alpha, depth, meta = pipeline.rasterize(*ins[:3], ins[3], ins[4], view, K, W, H, backgrounds=bg)
    ref_ins = [t.clone().requires_grad_() for t in (means, quats, scales, opac, colors)]
    r_rgb, r_alpha, r_depth = ref_images(*ref_ins, view, K, W, H, background=bg)
    assert rgb.shape == (2, H, W, 3) and alpha.shape == (2, H, W, 1) and depth.shape == (2, H, W, 1)
    assert float(alpha.max()) > 0.5  # the scene is really seen
    assert torch.allclose(rgb, r_rgb, atol=1e-10, rtol=0)
    assert torch.allclose(alpha, r_alpha, atol=1e-10, rtol=0)
    assert torch.allclose(depth, r_depth, atol=1e-9, rtol=0)
    # a loss on all three images: gradients of every input against autograd through the reference
    g = torch.Generator().manual_seed(3)
    w = [torch.rand(t.shape, generator=g, dtype=D) for t in (rgb, alpha, depth)]
    loss = sum((a * b).sum() for a, b in zip((rgb, alpha, depth), w))
    r_loss = sum((a * b).sum() for a, b in zip((r_rgb, r_alpha, r_depth), w))
    loss.backward()
    r_loss.backward()
    for name, a, b in zip(("means", "quats", "scales", "opacities", "colors"), ins, ref_ins):
        assert a.grad is not None and float(a.grad.abs().max()) > 0, name
        assert torch.allclose(a.grad, b.grad, atol=1e-8, rtol=1e-6), name


def test_covars_and_expected_depth_match_reference():
    (means, quats, scales, opac, colors), view, K, W, H = scene(seed=1)
    cov = covariance(quats, scales).clone().requires_grad_()
    rgb, alpha, ed, _ = pipeline.rasterize(means, None, None, opac, colors, view, K, W, H, covars=cov,
                                           render_mode="RGB+ED")
    cov_r = cov.detach().clone().requires_grad_()
    out = [render(means, cov_r, opac, colors, view[c], K[c], W, H) for c in range(2)]
    r_rgb = torch.stack([o[0] for o in out])
    r_alpha = torch.stack([o[1] for o in out])
    r_ed = torch.stack([o[2] for o in out]) / r_alpha.clamp_min(1e-300)
    r_ed = torch.where(r_alpha > 0, r_ed, torch.zeros_like(r_ed))
    assert torch.allclose(rgb, r_rgb, atol=1e-10)
    assert torch.allclose(ed, r_ed, atol=1e-8)
    # expected depth = depth / alpha is ill-conditioned for finite differences where alpha ~ 0: its gradient is
    # checked here, against autograd through the reference
    w = torch.rand(ed.shape, generator=torch.Generator().manual_seed(8), dtype=D)
    (rgb.sum() + (w * ed).sum()).backward()
    (r_rgb.sum() + (w * r_ed).sum()).backward()
    # the packed covariance reads the upper triangle: compare the symmetrised gradients
    sym = lambda G: G + G.transpose(-1, -2) - torch.diag_embed(torch.diagonal(G, dim1=-2, dim2=-1))
    assert torch.allclose(torch.triu(cov.grad), torch.triu(sym(cov_r.grad)), atol=1e-8, rtol=1e-6)


# gradcheck: the image is smooth in the Gaussians when the cut-offs are tiny (no alpha skip, no early stop)
def test_gradcheck_scales_quats():
    (means, quats, scales, opac, colors), view, K, W, H = scene(n=4, seed=2)
    W, H = 12, 10
    K = K.clone()
    K[:, :2] *= 0.5

    def f(means, quats, scales, opac, colors):
        rgb, alpha, depth, _ = pipeline.rasterize(means, quats, scales, opac, colors, view, K, W, H,
                                                  alpha_min=1e-12, transmittance_min=1e-12,
                                                  backgrounds=[0.1, 0.2, 0.3])
        return rgb, alpha, depth

    ins = [t.clone().requires_grad_() for t in (means, quats, scales, opac, colors)]
    assert torch.autograd.gradcheck(f, ins, eps=1e-6, atol=1e-6, rtol=1e-4)


def test_gradcheck_covars_sh_antialiased():
    (means, quats, scales, opac, colors), view, K, W, H = scene(n=3, seed=4)
    W, H = 12, 10
    K = K.clone()
    K[:, :2] *= 0.5
    cov6 = pipeline.pack_covars(covariance(quats, scales))
    sh = 0.3 * torch.randn(3, 4, 3, generator=torch.Generator().manual_seed(5), dtype=D)

    def f(means, cov6, opac, sh):
        rgb, alpha, depth, _ = pipeline.rasterize(means, None, None, opac, sh, view, K, W, H, covars=cov6,
                                                  sh_degree=1, rasterize_mode="antialiased", alpha_min=1e-12,
                                                  transmittance_min=1e-12)
        return rgb, alpha, depth

    ins = [t.clone().requires_grad_() for t in (means, cov6, opac, sh)]
    assert torch.autograd.gradcheck(f, ins, eps=1e-6, atol=1e-6, rtol=1e-4)


def test_float32_matches_float64():
    t64, view, K, W, H = scene(seed=6)
    t32 = [t.float() for t in t64]
    a = pipeline.rasterize(*t64, view, K, W, H)[0]
    b = pipeline.rasterize(*t32, view, K, W, H)[0]
    assert b.dtype == torch.float32
    assert float((a - b.double()).abs().max()) < 1e-4


def test_no_gaussians_gives_background():
    (means, quats, scales, opac, colors), view, K, W, H = scene()
    rgb, alpha, _, _ = pipeline.rasterize(means[:0], quats[:0], scales[:0], opac[:0], colors[:0], view, K, W, H,
                                          backgrounds=[0.5, 0.25, 1.0])
    assert torch.all(alpha == 0) and torch.allclose(rgb[0, 3, 4], torch.tensor([0.5, 0.25, 1.0], dtype=D))


@pytest.mark.parametrize("bad", ["dtype", "device", "shape", "noncontig", "nan", "type"])
@pytest.mark.parametrize("arg", ["means", "quats", "scales", "opacities", "colors"])
def test_bad_tensors_name_the_argument(arg, bad):
    (means, quats, scales, opac, colors), view, K, W, H = scene()
    args = dict(means=means, quats=quats, scales=scales, opacities=opac, colors=colors)
    t = args[arg]
    if bad == "dtype":
        t = t.to(torch.int32) if arg != "means" else t.to(torch.float16)
    elif bad == "device":
        t = t.to("meta")
    elif bad == "shape":
        t = t[:, :2] if t.dim() == 2 else t[:-1]
    elif bad == "noncontig":
        t = torch.cat([t, t], dim=0)[::2] if t.dim() == 1 else t.t().contiguous().t() if t.shape[1] > 1 else t
        if t.is_contiguous():
            t = torch.stack([t, t], -1)[..., 0]
        assert not t.is_contiguous()
    elif bad == "nan":
        t = t.clone()
        t.view(-1)[1] = float("nan")
    elif bad == "type":
        t = t.tolist()
    args[arg] = t
    with pytest.raises((TypeError, ValueError)) as e:
        pipeline.rasterize(args["means"], args["quats"], args["scales"], args["opacities"], args["colors"], view, K,
                           W, H)
    assert arg in str(e.value)


def test_bad_cameras_and_options():
    (means, quats, scales, opac, colors), view, K, W, H = scene()
    with pytest.raises(ValueError, match="viewmats"):
        pipeline.rasterize(means, quats, scales, opac, colors, view[:, :3], K, W, H)
    with pytest.raises(ValueError, match="Ks"):
        pipeline.rasterize(means, quats, scales, opac, colors, view, K[:1], W, H)
    with pytest.raises(NotImplementedError, match="viewmats"):
        pipeline.rasterize(means, quats, scales, opac, colors, view.clone().requires_grad_(), K, W, H)
    with pytest.raises(ValueError, match="rasterize_mode"):
        pipeline.rasterize(means, quats, scales, opac, colors, view, K, W, H, rasterize_mode="fast")
    with pytest.raises(ValueError, match="width"):
        pipeline.rasterize(means, quats, scales, opac, colors, view, K, 0, H)
    # a bad value the C library finds (a viewmat that is not rigid): a PipelineError naming the camera
    v = view.clone()
    v[1, :3, :3] *= 2
    with pytest.raises(pipeline.PipelineError, match="camera 1"):
        pipeline.rasterize(means, quats, scales, opac, colors, v, K, W, H)


needs_cuda = pytest.mark.skipif(not (torch.cuda.is_available() and pipeline.cuda_available()),
                                reason="no CUDA device (or libpipeline built without CUDA)")


@needs_cuda
def test_cuda_matches_cpu():
    t64, view, K, W, H = scene(seed=7)
    cpu = [t.float().requires_grad_() for t in t64]
    gpu = [t.float().cuda().requires_grad_() for t in t64]
    a = pipeline.rasterize(*cpu, view, K, W, H)
    b = pipeline.rasterize(*gpu, view, K, W, H)
    assert b[0].is_cuda
    for x, y in zip(a[:3], b[:3]):
        assert float((x - y.cpu()).abs().max()) < 1e-4
    (a[0].sum() + a[1].sum()).backward()
    (b[0].sum() + b[1].sum()).backward()
    for x, y in zip(cpu, gpu):
        assert torch.allclose(x.grad, y.grad.cpu(), atol=1e-3, rtol=1e-3)
