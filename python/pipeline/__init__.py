"""pipeline: the differentiable MLS-MPM -> upsampler -> Gaussian-splat pipeline (libpipeline) in PyTorch.

    rasterize(means, quats, scales, opacities, colors, viewmats, Ks, width, height, ...) -> (rgb, alpha, depth, meta)
    upsample(x, F, Upsampler(rest_positions, ...)) -> (means, covars, colors, opacities)
    simulate(Scene("scene.cfg"), params, frames) -> (x, v, F)
    Scene("scene.cfg", set={...}).render(params), .loss_and_grad(params), .loss(params)

Every function is a torch.autograd.Function whose backward is the C adjoint; tensors are passed by their data
pointers (CPU or CUDA), never through NumPy. docs/python.md has the details and examples.
"""
from ._lib import LIBRARY_PATH, VERSION, PipelineError, cuda_available
from .rasterize import pack_covars, rasterize, unpack_covars
from .scene import Scene, simulate
from .upsample import Upsampler, upsample

__version__ = "0.1.0"
__all__ = ["rasterize", "upsample", "Upsampler", "simulate", "Scene", "PipelineError", "cuda_available",
           "pack_covars", "unpack_covars", "LIBRARY_PATH", "VERSION"]
