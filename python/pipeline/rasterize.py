"""rasterize(): 3D Gaussian splatting through libpipeline's tile rasterizer, as a torch.autograd.Function.

Names and conventions follow gsplat's `rasterization` (OpenCV camera axes, viewmats world -> camera [C, 4, 4],
Ks [C, 3, 3] in pixels, pixel centres at +0.5, EWA projection with a 0.3-pixel blur, 16 x 16 tiles, front-to-back
compositing with alpha = min(0.99, o exp(-q/2)), alpha < 1/255 skipped, T stopping at 1e-4), so that one can be
swapped for the other. The backward pass is the C adjoint (raster_backward) on the same buffers.
"""
import ctypes

import torch

from . import _lib
from ._checks import check_dtype_device, check_tensor

_PACK = ([0, 0, 0, 1, 1, 2], [0, 1, 2, 1, 2, 2])  # [N,3,3] -> [N,6] xx xy xz yy yz zz


def pack_covars(covars):
    """[N, 3, 3] symmetric -> [N, 6] (xx xy xz yy yz zz), differentiable (the upper triangle is read)."""
    return covars[:, _PACK[0], _PACK[1]]


def unpack_covars(c6):
    """[N, 6] -> [N, 3, 3] symmetric, differentiable."""
    xx, xy, xz, yy, yz, zz = c6.unbind(-1)
    return torch.stack([torch.stack([xx, xy, xz], -1), torch.stack([xy, yy, yz], -1),
                        torch.stack([xz, yz, zz], -1)], -2)


class _Settings:
    """The non-tensor arguments of one call (cameras on the host in double, options)."""

    def __init__(self, api, device, n, viewmats, Ks, width, height, sh_degree, desc, depth_expected):
        self.api, self.device, self.n = api, device, n
        self.ncams = viewmats.shape[0]
        self.width, self.height = width, height
        self.sh_degree = -1 if sh_degree is None else sh_degree
        # cameras are not differentiable here: plain host doubles
        self.viewmats = (ctypes.c_double * (16 * self.ncams))(*viewmats.detach().double().cpu().flatten().tolist())
        self.Ks = (ctypes.c_double * (9 * self.ncams))(*Ks.detach().double().cpu().flatten().tolist())
        self.desc = desc
        self.depth_expected = depth_expected

    def inputs(self, means, quats, scales, covars, opacities, colors):
        return _lib.RasterInputs(self.n, _lib.ptr(means), _lib.ptr(quats), _lib.ptr(scales), _lib.ptr(covars),
                                 _lib.ptr(opacities), _lib.ptr(colors), self.sh_degree, self.ncams, self.width,
                                 self.height, self.viewmats, self.Ks)


class RasterizeFunction(torch.autograd.Function):
    """(means, quats, scales, covars6, opacities, colors) -> (rgb [C,H,W,3], alpha [C,H,W,1], depth [C,H,W,1])."""

    @staticmethod
    def forward(ctx, settings, means, quats, scales, covars, opacities, colors):
        s = settings
        api = s.api
        handle = ctypes.c_void_p()
        api.check(api.raster_create(ctypes.byref(handle), ctypes.byref(s.desc)), "rasterize")
        h = _lib.Handle(api, "raster", handle)
        opts = dict(dtype=means.dtype, device=means.device)
        C, H, W = s.ncams, s.height, s.width
        rgb = torch.empty((C, H, W, 3), **opts)
        alpha = torch.empty((C, H, W, 1), **opts)
        depth = torch.empty((C, H, W, 1), **opts)
        out = _lib.RasterImages(_lib.ptr(rgb), _lib.ptr(alpha), None if s.depth_expected else _lib.ptr(depth),
                                _lib.ptr(depth) if s.depth_expected else None)
        inputs = s.inputs(means, quats, scales, covars, opacities, colors)
        api.check(api.raster_forward(h.value, ctypes.byref(inputs), ctypes.byref(out)), "rasterize")
        stats = (ctypes.c_int64 * 4)()
        api.raster_stats(h.value, stats)
        ctx.settings, ctx.handle = s, h
        s.stats = list(stats)
        ctx.save_for_backward(means, quats, scales, covars, opacities, colors)
        ctx.mark_non_differentiable()
        return rgb, alpha, depth

    @staticmethod
    def backward(ctx, v_rgb, v_alpha, v_depth):
        s = ctx.settings
        api = s.api
        means, quats, scales, covars, opacities, colors = ctx.saved_tensors
        need = ctx.needs_input_grad[1:]
        ins = (means, quats, scales, covars, opacities, colors)
        grads = [torch.zeros_like(t) if (t is not None and need[i]) else None for i, t in enumerate(ins)]
        if not any(g is not None for g in grads):
            return (None,) * 7
        cont = [None if v is None else v.contiguous() for v in (v_rgb, v_alpha, v_depth)]
        v_out = _lib.RasterImages(_lib.ptr(cont[0]), _lib.ptr(cont[1]),
                                  None if s.depth_expected else _lib.ptr(cont[2]),
                                  _lib.ptr(cont[2]) if s.depth_expected else None)
        g = _lib.RasterGrads(*[_lib.ptr(x) for x in grads])
        inputs = s.inputs(*ins)
        api.check(api.raster_backward(ctx.handle.value, ctypes.byref(inputs), ctypes.byref(v_out), ctypes.byref(g)),
                  "rasterize backward")
        return (None, *grads)


def rasterize(means, quats, scales, opacities, colors, viewmats, Ks, width, height, *, covars=None,
              near_plane=0.01, far_plane=1e10, backgrounds=None, rasterize_mode="classic", sh_degree=None,
              render_mode="RGB+D", alpha_min=None, transmittance_min=None, threads=0, check=True):
    """Render N 3D Gaussians into C cameras; differentiable in means, quats, scales (or covars), opacities, colors.

    means [N,3]; quats [N,4] (w x y z, any length) and scales [N,3] (standard deviations), or covars [N,3,3]
    (or [N,6]: xx xy xz yy yz zz) with quats = scales = None; opacities [N]; colors [N,3] RGB, or SH
    coefficients [N,K,3] with sh_degree (K = (sh_degree+1)^2; colour = max(0, SH(dir) + 0.5));
    viewmats [C,4,4] world -> camera (OpenCV axes), Ks [C,3,3]; width, height in pixels.
    backgrounds: None (black), [3] or [C,3] (one colour for every camera). rasterize_mode: "classic" or
    "antialiased". render_mode: "RGB+D" (depth = sum z alpha T) or "RGB+ED" (expected depth = that / alpha).
    alpha_min (1/255), transmittance_min (1e-4): gsplat's cut-offs; smaller values make the image smooth for
    finite differences. All tensors: one dtype (float32; float64 on the CPU) and one device (cpu or cuda),
    contiguous and finite; a bad one raises TypeError/ValueError naming it. The cameras (viewmats, Ks) get no
    gradient (an error if they require one).

    Returns (rgb [C,H,W,3], alpha [C,H,W,1], depth [C,H,W,1], meta) with meta a dict of figures of the call
    (visible projections, Gaussian-tile pairs, pixel-splat evaluations).
    """
    check_dtype_device("means", means)
    dt, dev = means.dtype, means.device
    N = means.shape[0] if means.dim() == 2 else -1
    ck = check_tensor if check else (lambda name, t, *a, **k: t)
    ck("means", means, (None, 3), dt, dev)
    if covars is not None:
        if quats is not None or scales is not None:
            raise ValueError("covars: give covars, or quats and scales, not both")
        if not isinstance(covars, torch.Tensor):
            raise TypeError("covars: expected a torch.Tensor")
        if covars.dim() == 3:
            ck("covars", covars, (N, 3, 3), dt, dev)
            covars = pack_covars(covars)
        else:
            ck("covars", covars, (N, 6), dt, dev)
    else:
        if quats is None or scales is None:
            raise ValueError("quats, scales: both are needed when covars is not given")
        ck("quats", quats, (N, 4), dt, dev)
        ck("scales", scales, (N, 3), dt, dev)
    ck("opacities", opacities, (N,), dt, dev)
    if sh_degree is None:
        ck("colors", colors, (N, 3), dt, dev)
    else:
        if not (isinstance(sh_degree, int) and 0 <= sh_degree <= 3):
            raise ValueError("sh_degree: %r, expected 0..3 or None" % (sh_degree,))
        ck("colors", colors, (N, (sh_degree + 1) ** 2, 3), dt, dev)
    if not isinstance(viewmats, torch.Tensor) or viewmats.dim() != 3 or viewmats.shape[1:] != (4, 4):
        raise ValueError("viewmats: expected a tensor [C, 4, 4]")
    C = viewmats.shape[0]
    if not isinstance(Ks, torch.Tensor) or Ks.shape != (C, 3, 3):
        raise ValueError("Ks: expected a tensor [C, 3, 3] with C = %d (viewmats)" % C)
    for name, t in (("viewmats", viewmats), ("Ks", Ks)):
        if t.requires_grad:
            raise NotImplementedError("%s: camera gradients are not computed by rasterize (detach it)" % name)
        if not bool(torch.isfinite(t).all()):
            raise ValueError("%s: non-finite value" % name)
    if not (isinstance(width, int) and isinstance(height, int) and width > 0 and height > 0):
        raise ValueError("width, height: positive integers expected, got %r, %r" % (width, height))
    if rasterize_mode not in ("classic", "antialiased"):
        raise ValueError("rasterize_mode: %r, expected 'classic' or 'antialiased'" % (rasterize_mode,))
    if render_mode not in ("RGB+D", "RGB+ED"):
        raise ValueError("render_mode: %r, expected 'RGB+D' or 'RGB+ED'" % (render_mode,))
    desc = _lib.RasterDesc()
    desc.device = _lib.device_desc(dev, threads)
    desc.antialiased = rasterize_mode == "antialiased"
    desc.near_plane, desc.far_plane = near_plane, far_plane
    desc.alpha_min = alpha_min or 0.0
    desc.transmittance_min = transmittance_min or 0.0
    if backgrounds is not None:
        bg = torch.as_tensor(backgrounds).detach().double().cpu()
        if bg.shape == (C, 3):
            if not bool((bg == bg[0]).all()):
                raise ValueError("backgrounds: one colour for every camera is supported (rows differ)")
            bg = bg[0]
        if bg.shape != (3,) or not bool(torch.isfinite(bg).all()):
            raise ValueError("backgrounds: expected [3] or [C, 3] finite values")
        for k in range(3):
            desc.background[k] = float(bg[k])
    api = _lib.api_for(dt)
    s = _Settings(api, dev, N, viewmats, Ks, width, height, sh_degree, desc, render_mode == "RGB+ED")
    rgb, alpha, depth = RasterizeFunction.apply(s, means, quats, scales, covars, opacities, colors)
    st = getattr(s, "stats", [0, 0, 0, 0])
    meta = {"width": width, "height": height, "n_cameras": C, "n_gaussians": N, "n_visible": st[0],
            "n_pairs": st[1], "forward_evals": st[2]}
    return rgb, alpha, depth, meta
