"""ctypes binding of libpipeline (capi/pipeline_api.h): structs, function signatures, errors.

The library holds both precisions: plapi_* works on float32 arrays, plapi_*_f64 on float64 arrays (CPU only).
Every call passes the data pointers of the caller's tensors: nothing is copied on the way in or out.
"""
import ctypes
import os
from ctypes import POINTER, Structure, c_char_p, c_double, c_int, c_int64, c_uint64, c_void_p

CPU, CUDA = 1, 2
ERR_INVALID = 1


class PipelineError(RuntimeError):
    """A libpipeline call failed; the message names what failed (argument, Gaussian, particle, file, key)."""

    def __init__(self, message, code):
        super().__init__(message)
        self.code = code


class Allocator(Structure):
    _fields_ = [("alloc", c_void_p), ("free", c_void_p), ("user", c_void_p)]


class DeviceDesc(Structure):
    _fields_ = [("backend", c_int), ("threads", c_int), ("cuda_stream", c_void_p), ("allocator", Allocator)]


class RasterDesc(Structure):
    _fields_ = [("device", DeviceDesc), ("antialiased", c_int), ("near_plane", c_double), ("far_plane", c_double),
                ("background", c_double * 3), ("alpha_min", c_double), ("transmittance_min", c_double)]


class RasterInputs(Structure):
    _fields_ = [("n", c_int64), ("means", c_void_p), ("quats", c_void_p), ("scales", c_void_p),
                ("covars", c_void_p), ("opacities", c_void_p), ("colors", c_void_p), ("sh_degree", c_int),
                ("ncams", c_int), ("width", c_int), ("height", c_int),
                ("viewmats", POINTER(c_double)), ("Ks", POINTER(c_double))]


class RasterImages(Structure):
    _fields_ = [("rgb", c_void_p), ("alpha", c_void_p), ("depth", c_void_p), ("expected_depth", c_void_p)]


class RasterGrads(Structure):
    _fields_ = [("means", c_void_p), ("quats", c_void_p), ("scales", c_void_p), ("covars", c_void_p),
                ("opacities", c_void_p), ("colors", c_void_p)]


class UpsampleDesc(Structure):
    _fields_ = [("device", DeviceDesc), ("n", c_int), ("rest_positions", c_void_p), ("mode", c_int),
                ("particle_spacing", c_double), ("spacing", c_double), ("bind_radius", c_double),
                ("smoothing", c_double), ("children", c_int), ("surface_threshold", c_double),
                ("surface_band", c_double), ("surface_level", c_double), ("color", c_double * 3),
                ("seed", c_uint64)]


class UpsampleParams(Structure):
    _fields_ = [("sigma0", c_double), ("thickness", c_double), ("opacity", c_double)]


class SceneDesc(Structure):
    _fields_ = [("device", DeviceDesc), ("sets", POINTER(c_char_p)), ("nsets", c_int), ("quiet", c_int)]


class SceneInfo(Structure):
    _fields_ = [("particles", c_int64), ("gaussians", c_int64), ("pixels", c_int64), ("frames", c_int),
                ("ncams", c_int), ("width", c_int), ("height", c_int), ("backend", c_int), ("loss_frames", c_int)]


class Params(Structure):
    _fields_ = [("n", c_int), ("addresses", POINTER(c_char_p)), ("components", POINTER(c_int)),
                ("values", POINTER(c_double))]


_P = c_void_p
_SIGNATURES = {
    "raster_create": (c_int, [POINTER(c_void_p), POINTER(RasterDesc)]),
    "raster_free": (None, [_P]),
    "raster_forward": (c_int, [_P, POINTER(RasterInputs), POINTER(RasterImages)]),
    "raster_backward": (c_int, [_P, POINTER(RasterInputs), POINTER(RasterImages), POINTER(RasterGrads)]),
    "raster_stats": (None, [_P, POINTER(c_int64)]),
    "upsample_create": (c_int, [POINTER(c_void_p), POINTER(UpsampleDesc)]),
    "upsample_free": (None, [_P]),
    "upsample_count": (c_int64, [_P]),
    "upsample_forward": (c_int, [_P, POINTER(UpsampleParams), _P, _P, _P, _P, _P, _P]),
    "upsample_backward": (c_int, [_P, POINTER(UpsampleParams), _P, _P, _P, _P, _P, _P, _P, _P,
                                  POINTER(UpsampleParams)]),
    "scene_create": (c_int, [POINTER(c_void_p), c_char_p, POINTER(SceneDesc)]),
    "scene_free": (None, [_P]),
    "scene_get_info": (None, [_P, POINTER(SceneInfo)]),
    "scene_render": (c_int, [_P, POINTER(Params), c_int, _P, _P]),
    "scene_loss": (c_int, [_P, POINTER(Params), c_char_p, POINTER(c_double), POINTER(c_double)]),
    "scene_simulate": (c_int, [_P, POINTER(Params), c_int, POINTER(c_int), _P, _P, _P]),
    "scene_simulate_backward": (c_int, [_P, POINTER(Params), c_int, POINTER(c_int), _P, _P, _P, POINTER(c_double)]),
    "last_error": (c_char_p, []),
    "cuda_available": (c_int, []),
    "real_size": (c_int, []),
}


def _find_library():
    env = os.environ.get("PIPELINE_LIBRARY")
    if env:
        return env
    here = os.path.dirname(os.path.abspath(__file__))
    candidates = [os.path.join(here, "libpipeline.so")]
    root = os.path.dirname(os.path.dirname(here))  # python/pipeline -> the repository (when not installed)
    for build in ("build", "build-cpu"):
        candidates.append(os.path.join(root, build, "libpipeline.so"))
    for c in candidates:
        if os.path.exists(c):
            return c
    raise ImportError("libpipeline.so not found (looked in %s); build the project (scripts/setup.sh build) and "
                      "install the package (pip install ./python), or set PIPELINE_LIBRARY" % ", ".join(candidates))


class _Api:
    """The functions of one precision: api.raster_forward(...) calls plapi_raster_forward[_f64]."""

    def __init__(self, lib, suffix):
        self.suffix = suffix
        for name, (restype, argtypes) in _SIGNATURES.items():
            f = getattr(lib, "plapi_" + name + suffix)
            f.restype = restype
            f.argtypes = argtypes
            setattr(self, name, f)

    def check(self, rc, what):
        if rc != 0:
            msg = self.last_error()
            msg = msg.decode(errors="replace") if msg else "error %d" % rc
            raise PipelineError("%s: %s" % (what, msg), rc)


_lib = ctypes.CDLL(_find_library())
_lib.plapi_version.restype = c_int
VERSION = _lib.plapi_version()
f32 = _Api(_lib, "")
f64 = _Api(_lib, "_f64")
LIBRARY_PATH = _lib._name


def api_for(dtype):
    import torch
    if dtype == torch.float32:
        return f32
    if dtype == torch.float64:
        return f64
    raise TypeError("dtype %s: libpipeline works in float32 or float64" % dtype)


def cuda_available():
    return bool(f32.cuda_available())


def ptr(t):
    """The data pointer of a tensor (or None for NULL)."""
    return None if t is None else c_void_p(t.data_ptr())


def device_desc(device, threads=0):
    """A DeviceDesc for a torch device: the backend, and on CUDA the current stream (ordering)."""
    import torch
    d = DeviceDesc()
    d.threads = threads
    if device.type == "cuda":
        d.backend = CUDA
        d.cuda_stream = c_void_p(torch.cuda.current_stream(device).cuda_stream)
    else:
        d.backend = CPU
    return d


class Handle:
    """Owns a libpipeline handle and frees it with the matching function when dropped."""

    def __init__(self, api, kind, handle):
        self._free = getattr(api, kind + "_free")
        self.value = handle

    def __del__(self):
        if getattr(self, "value", None):
            self._free(self.value)
            self.value = None
