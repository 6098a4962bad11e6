"""Argument checks: a bad tensor raises an exception that names the argument (never a crash in C)."""
import torch


def check_tensor(name, t, shape, dtype, device, finite=True):
    """t must be a torch.Tensor of `dtype` on `device`, contiguous, finite, of `shape` (ints, or None = any).
    Returns t. TypeError for a non-tensor or a wrong dtype, ValueError for the rest."""
    if not isinstance(t, torch.Tensor):
        raise TypeError("%s: expected a torch.Tensor, got %s" % (name, type(t).__name__))
    if t.dtype != dtype:
        raise TypeError("%s: dtype %s, expected %s (like the other inputs)" % (name, t.dtype, dtype))
    if t.device != device:
        raise ValueError("%s: on device %s, expected %s (like means)" % (name, t.device, device))
    if t.dim() != len(shape) or any(s is not None and s != n for s, n in zip(shape, t.shape)):
        want = "[" + ", ".join("*" if s is None else str(s) for s in shape) + "]"
        raise ValueError("%s: shape %s, expected %s" % (name, list(t.shape), want))
    if not t.is_contiguous():
        raise ValueError("%s: not contiguous (call .contiguous() first)" % name)
    if finite and t.numel() and not bool(torch.isfinite(t).all()):
        bad = (~torch.isfinite(t)).nonzero()[0].tolist()
        raise ValueError("%s: non-finite value (NaN or Inf) at index %s" % (name, bad))
    return t


def check_dtype_device(name, t):
    """The reference tensor (means, x): float32 or float64, CPU or CUDA (float64 on CPU only)."""
    if not isinstance(t, torch.Tensor):
        raise TypeError("%s: expected a torch.Tensor, got %s" % (name, type(t).__name__))
    if t.dtype not in (torch.float32, torch.float64):
        raise TypeError("%s: dtype %s, expected torch.float32 or torch.float64" % (name, t.dtype))
    if t.device.type not in ("cpu", "cuda"):
        raise ValueError("%s: device %s, expected cpu or cuda" % (name, t.device))
    if t.device.type == "cuda" and t.dtype != torch.float32:
        raise TypeError("%s: float64 CUDA tensors are not supported (the CUDA backend is float32)" % name)
