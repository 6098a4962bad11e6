"""upsample(): particles (x, F) -> 3D Gaussians through libpipeline's upsampler, as a torch.autograd.Function.

An Upsampler is set up once from the particles at rest (the binding of surface samples to particles, or the
runtime surface field); each call maps a frame's x [N,3] and F [N,3,3] to Gaussians (means, covars, colors,
opacities) and its backward is the C adjoint (ups_backward): gradients reach x, F and the learnable
scalars sigma0, thickness and opacity.
"""
import ctypes

import torch

from . import _lib
from ._checks import check_dtype_device, check_tensor
from .rasterize import unpack_covars

MODES = {"bound": 1, "runtime": 2, "particles": 3}


class Upsampler:
    """Set-up of the upsampler for N particles at rest.

    rest_positions [N,3] (float32 or float64, CPU; the device of later calls is `device`); mode "bound" (solids:
    surface samples bound to particles), "runtime" (fluids, sand: surface from a density field) or "particles"
    (one Gaussian per particle); sigma0, thickness, opacity: default values of the learnable scalars (see
    docs/upsampler.md); other keywords as the scene's [upsample] section (spacing, bind_radius, smoothing, children,
    surface_threshold, surface_band, surface_level, particle_spacing, color, seed).
    """

    def __init__(self, rest_positions, mode="bound", *, sigma0=1.0, thickness=0.2, opacity=0.95, device="cpu",
                 particle_spacing=0.0, spacing=0.0, bind_radius=0.0, smoothing=0.0, children=0,
                 surface_threshold=0.0, surface_band=0.0, surface_level=0.0, color=(0.0, 0.0, 0.0), seed=0,
                 threads=0):
        check_dtype_device("rest_positions", rest_positions)
        self.dtype = rest_positions.dtype
        self.device = torch.device(device)
        rest = rest_positions.detach().cpu()
        check_tensor("rest_positions", rest, (None, 3), self.dtype, torch.device("cpu"))
        if mode not in MODES:
            raise ValueError("mode: %r, expected one of %s" % (mode, ", ".join(MODES)))
        if self.device.type == "cuda" and self.dtype != torch.float32:
            raise TypeError("rest_positions: float64 is CPU only")
        self.api = _lib.api_for(self.dtype)
        self.n = rest.shape[0]
        self.defaults = (float(sigma0), float(thickness), float(opacity))
        d = _lib.UpsampleDesc()
        d.device = _lib.device_desc(self.device, threads)
        d.n, d.rest_positions, d.mode = self.n, _lib.ptr(rest), MODES[mode]
        d.particle_spacing, d.spacing, d.bind_radius, d.smoothing = particle_spacing, spacing, bind_radius, smoothing
        d.children, d.surface_threshold, d.surface_band = children, surface_threshold, surface_band
        d.surface_level, d.seed = surface_level, seed
        for k in range(3):
            d.color[k] = color[k]
        h = ctypes.c_void_p()
        self.api.check(self.api.upsample_create(ctypes.byref(h), ctypes.byref(d)), "Upsampler")
        self._handle = _lib.Handle(self.api, "upsample", h)
        self.count = int(self.api.upsample_count(h))

    def __call__(self, x, F, **params):
        return upsample(x, F, self, **params)


class UpsampleFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, u, x, F9, sigma0, thickness, opacity):
        M = u.count
        opts = dict(dtype=x.dtype, device=x.device)
        means = torch.empty((M, 3), **opts)
        covs = torch.empty((M, 6), **opts)
        colors = torch.empty((M, 3), **opts)
        opac = torch.empty((M,), **opts)
        p = _lib.UpsampleParams(float(sigma0), float(thickness), float(opacity))
        u.api.check(u.api.upsample_forward(u._handle.value, ctypes.byref(p), _lib.ptr(x), _lib.ptr(F9),
                                           _lib.ptr(means), _lib.ptr(covs), _lib.ptr(colors), _lib.ptr(opac)),
                    "upsample")
        ctx.u = u
        ctx.save_for_backward(x, F9, sigma0, thickness, opacity)
        ctx.mark_non_differentiable(colors)
        return means, covs, colors, opac

    @staticmethod
    def backward(ctx, v_means, v_covs, v_colors, v_opac):
        u = ctx.u
        x, F9, sigma0, thickness, opacity = ctx.saved_tensors
        v_x = torch.zeros_like(x)
        v_F = torch.zeros_like(F9)
        vp = _lib.UpsampleParams(0.0, 0.0, 0.0)
        p = _lib.UpsampleParams(float(sigma0), float(thickness), float(opacity))
        cot = [None if v is None else v.contiguous() for v in (v_means, v_covs, v_opac)]
        u.api.check(u.api.upsample_backward(u._handle.value, ctypes.byref(p), _lib.ptr(x), _lib.ptr(F9),
                                            _lib.ptr(cot[0]), _lib.ptr(cot[1]), None, _lib.ptr(cot[2]),
                                            _lib.ptr(v_x), _lib.ptr(v_F), ctypes.byref(vp)), "upsample backward")
        scal = [torch.tensor(g, dtype=sigma0.dtype) for g in (vp.sigma0, vp.thickness, vp.opacity)]
        return (None, v_x, v_F, *scal)


def upsample(x, F, upsampler, *, sigma0=None, thickness=None, opacity=None, check=True):
    """Gaussians of one frame: x [N,3] particle positions, F [N,3,3] deformation gradients (the upsampler's dtype
    and device, contiguous, finite) -> (means [M,3], covars [M,3,3], colors [M,3], opacities [M]).

    sigma0, thickness, opacity: floats or 0-d tensors (their gradients flow when they require grad); None: the
    upsampler's defaults. colors do not depend on x or F (they carry no gradient here).
    """
    u = upsampler
    if not isinstance(u, Upsampler):
        raise TypeError("upsampler: expected a pipeline.Upsampler")
    check_dtype_device("x", x)
    ck = check_tensor if check else (lambda name, t, *a, **k: t)
    ck("x", x, (u.n, 3), u.dtype, u.device)
    ck("F", F, (u.n, 3, 3), u.dtype, u.device)
    scalars = []
    for name, v, d in (("sigma0", sigma0, u.defaults[0]), ("thickness", thickness, u.defaults[1]),
                       ("opacity", opacity, u.defaults[2])):
        if v is None:
            v = d
        t = v if isinstance(v, torch.Tensor) else torch.tensor(float(v), dtype=u.dtype)
        if t.numel() != 1:
            raise ValueError("%s: a scalar expected" % name)
        if not bool(torch.isfinite(t).all()):
            raise ValueError("%s: non-finite value" % name)
        scalars.append(t.reshape(()))
    means, covs, colors, opac = UpsampleFunction.apply(u, x, F.reshape(u.n, 9), *scalars)
    return means, unpack_covars(covs), colors, opac
