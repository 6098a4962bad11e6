"""Scene: a scene file (scene.cfg) as a whole pipeline: simulate, render, and the image loss with its gradient.

Parameters are given by address, as in the scene's [param] sections and --set: {"material.jelly.E": value,
"object.cube.velocity": [vx, vy, vz], "sim.gravity": ..., "upsample.sigma0": ...}; values are floats, sequences
or tensors (0-d or [3]). Gradients come from the C adjoints: the loss's through the rasterizer, the upsampler
and the MPM (backward through time on a checkpointing tape), simulate()'s through the MPM alone.
"""
import ctypes
import os

import torch

from . import _lib


def _value_list(name, v):
    if isinstance(v, torch.Tensor):
        vals = v.detach().double().cpu().flatten().tolist()
    elif isinstance(v, (int, float)):
        vals = [float(v)]
    else:
        vals = [float(a) for a in v]
    if len(vals) not in (1, 3):
        raise ValueError("%s: 1 or 3 values expected, got %d" % (name, len(vals)))
    for a in vals:
        if a != a or a in (float("inf"), float("-inf")):
            raise ValueError("%s: non-finite value" % name)
    return vals


class _Params:
    """params dict -> the C struct (kept alive with its buffers)."""

    def __init__(self, params):
        params = params or {}
        if not isinstance(params, dict):
            raise TypeError("params: expected a dict {address: value}")
        self.names = list(params)
        self.lists = [_value_list(k, params[k]) for k in self.names]
        n = len(self.names)
        self._addr = (ctypes.c_char_p * max(n, 1))(*[k.encode() for k in self.names])
        self._comp = (ctypes.c_int * max(n, 1))(*[len(v) for v in self.lists])
        flat = []
        for v in self.lists:
            flat += v + [0.0] * (3 - len(v))
        self._vals = (ctypes.c_double * max(3 * n, 1))(*flat)
        self.c = _lib.Params(n, self._addr, self._comp, self._vals)
        self.grads = (ctypes.c_double * max(3 * n, 1))()

    def grad_tensor(self, i, like):
        g = [self.grads[3 * i + k] for k in range(len(self.lists[i]))]
        t = torch.tensor(g, dtype=like.dtype if isinstance(like, torch.Tensor) else torch.float64)
        if isinstance(like, torch.Tensor):
            t = t.reshape(like.shape).to(like.device)
        elif len(g) == 1:
            t = t.reshape(())
        return t


class Scene:
    """Scene("scene.cfg", set={"sim.frames": 4}, dtype=torch.float32, device="cpu").

    set: overrides like the CLI's --set. dtype float32 (CPU or CUDA) or float64 (CPU). device: "cpu", "cuda" or
    None (the scene's sim.backend). The scene's targets ([truth] or a folder) are made once, here.
    """

    def __init__(self, path, set=None, dtype=torch.float32, device="cpu", quiet=True, threads=0):
        if not os.path.exists(path):
            raise FileNotFoundError("scene: %s: no such file" % path)
        self.api = _lib.api_for(dtype)
        self.dtype = dtype
        sets = ["%s=%s" % (k, " ".join(str(a) for a in v) if isinstance(v, (list, tuple)) else v)
                for k, v in (set or {}).items()]
        arr = (ctypes.c_char_p * max(len(sets), 1))(*[s.encode() for s in sets])
        d = _lib.SceneDesc()
        if device is not None:
            d.device = _lib.device_desc(torch.device(device), threads)
        d.device.threads = threads
        d.sets, d.nsets, d.quiet = arr, len(sets), int(quiet)
        h = ctypes.c_void_p()
        self.api.check(self.api.scene_create(ctypes.byref(h), path.encode(), ctypes.byref(d)), "Scene(%s)" % path)
        self._handle = _lib.Handle(self.api, "scene", h)
        info = _lib.SceneInfo()
        self.api.scene_get_info(h, ctypes.byref(info))
        self.n_particles, self.n_gaussians, self.frames = info.particles, info.gaussians, info.frames
        self.n_cameras, self.width, self.height = info.ncams, info.width, info.height
        self.loss_frames = info.loss_frames
        self.device = torch.device("cuda" if info.backend == _lib.CUDA else "cpu")
        self._pixels = info.pixels

    def render(self, params=None, frame=None):
        """Images of every camera at `frame` (default: the last): (rgb [C,H,W,3], alpha [C,H,W,1]). Forward
        only: the differentiable image path is rasterize(); the scene's loss gradient is loss_and_grad()."""
        p = _Params(params)
        frame = self.frames if frame is None else int(frame)
        opts = dict(dtype=self.dtype, device=self.device)
        rgb = torch.empty((self._pixels, 3), **opts)
        alpha = torch.empty((self._pixels,), **opts)
        self.api.check(self.api.scene_render(self._handle.value, ctypes.byref(p.c), frame, _lib.ptr(rgb),
                                             _lib.ptr(alpha)), "Scene.render")
        C, H, W = self.n_cameras, self.height, self.width
        if C * H * W == self._pixels:
            return rgb.reshape(C, H, W, 3), alpha.reshape(C, H, W, 1)
        return rgb, alpha

    def loss_and_grad(self, params, frames=None):
        """(loss, grads): the scene's image loss against its targets and dL/dparam for each entry of params
        (a dict like params, tensors shaped like the values). One adjoint pass through the whole pipeline."""
        p = _Params(params)
        if not p.names:
            raise ValueError("params: at least one parameter to differentiate")
        loss = ctypes.c_double()
        fr = frames.encode() if frames else None
        self.api.check(self.api.scene_loss(self._handle.value, ctypes.byref(p.c), fr, ctypes.byref(loss), p.grads),
                       "Scene.loss_and_grad")
        grads = {k: p.grad_tensor(i, params[k]) for i, k in enumerate(p.names)}
        return loss.value, grads

    def loss(self, params, frames=None):
        """The loss as a 0-d tensor in torch's graph: backward() puts dL/dvalue into the tensors of params (and
        whatever they were computed from, e.g. E = exp(log_E))."""
        names = list(params)
        vals = [params[k] if isinstance(params[k], torch.Tensor) else torch.tensor(params[k], dtype=torch.float64)
                for k in names]
        return _SceneLoss.apply(self, names, frames, *vals)

    def simulate(self, params=None, frames=None):
        """See pipeline.simulate."""
        return simulate(self, params, frames)


class _SceneLoss(torch.autograd.Function):
    @staticmethod
    def forward(ctx, scene, names, frames, *vals):
        loss, grads = scene.loss_and_grad(dict(zip(names, vals)), frames)
        ctx.grads = [grads[k] for k in names]
        return torch.tensor(loss, dtype=torch.float64)

    @staticmethod
    def backward(ctx, g):
        return (None, None, None, *[g.to(t.dtype) * t for t in ctx.grads])


class _SimulateFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, scene, names, frames, *vals):
        p = _Params(dict(zip(names, vals)))
        n, nf = scene.n_particles, len(frames)
        opts = dict(dtype=scene.dtype, device=scene.device)
        x = torch.empty((nf, n, 3), **opts)
        v = torch.empty((nf, n, 3), **opts)
        F = torch.empty((nf, n, 3, 3), **opts)
        fr = (ctypes.c_int * nf)(*frames)
        scene.api.check(scene.api.scene_simulate(scene._handle.value, ctypes.byref(p.c), nf, fr, _lib.ptr(x),
                                                 _lib.ptr(v), _lib.ptr(F)), "simulate")
        ctx.scene, ctx.names, ctx.frames = scene, names, frames
        ctx.save_for_backward(*vals)
        return x, v, F

    @staticmethod
    def backward(ctx, v_x, v_v, v_F):
        scene, names, frames = ctx.scene, ctx.names, ctx.frames
        vals = ctx.saved_tensors
        if not any(ctx.needs_input_grad[3:]):
            return (None,) * (3 + len(vals))
        p = _Params(dict(zip(names, vals)))
        fr = (ctypes.c_int * len(frames))(*frames)
        cot = [None if t is None else t.contiguous() for t in (v_x, v_v, v_F)]
        scene.api.check(scene.api.scene_simulate_backward(scene._handle.value, ctypes.byref(p.c), len(frames), fr,
                                                          _lib.ptr(cot[0]), _lib.ptr(cot[1]), _lib.ptr(cot[2]),
                                                          p.grads), "simulate backward")
        return (None, None, None, *[p.grad_tensor(i, t) for i, t in enumerate(vals)])


def simulate(scene, params=None, frames=None):
    """Particle states of the scene's simulation at `frames` (ints in 0..scene.frames; default all):
    (x [nf,N,3], v [nf,N,3], F [nf,N,3,3]) on the scene's device and dtype. Differentiable in the tensors of
    params (materials, gravity, object velocities) through the C checkpointed MPM adjoint (the forward is re-run
    on a tape in backward)."""
    if not isinstance(scene, Scene):
        raise TypeError("scene: expected a pipeline.Scene")
    params = params or {}
    if frames is None:
        frames = list(range(scene.frames + 1))
    elif isinstance(frames, int):
        frames = [frames]
    frames = [int(f) for f in frames]
    names = list(params)
    vals = [params[k] if isinstance(params[k], torch.Tensor) else torch.tensor(_value_list(k, params[k]),
                                                                              dtype=torch.float64).squeeze()
            for k in names]
    return _SimulateFunction.apply(scene, names, frames, *vals)
