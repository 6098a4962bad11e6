"""An independent 3D Gaussian splatting renderer in plain PyTorch (dense: every Gaussian at every pixel), the
reference rasterize() is tested against. Written from the 3DGS equations (Kerbl et al. 2023; Zwicker et al. 2002
EWA splatting) with gsplat's conventions, not from libpipeline's code: OpenCV camera, EWA Jacobian with x/z, y/z
clamped per side to the image edge + 0.3 tan(half fov), 2D covariance + 0.3 I, alpha = min(0.99, o exp(-q/2)), alpha < alpha_min skipped,
front-to-back compositing by depth, stopping before T would fall to <= t_min. No tiles and no 3-sigma support
cut: the test scenes keep every Gaussian far from those limits (alpha_min and the ellipse cut agree there)."""
import torch


def quat_to_rot(q):
    q = q / q.norm(dim=-1, keepdim=True)
    w, x, y, z = q.unbind(-1)
    return torch.stack([
        torch.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], -1),
        torch.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], -1),
        torch.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], -1)], -2)


def covariance(quats, scales):
    R = quat_to_rot(quats)
    S = torch.diag_embed(scales * scales)
    return R @ S @ R.transpose(-1, -2)


def render(means, cov3, opacities, colors, viewmat, K, width, height, background=None, alpha_min=1.0 / 255,
           t_min=1e-4):
    """One camera: (rgb [H,W,3], alpha [H,W,1], depth [H,W,1]) (depth = sum z alpha T)."""
    dt = means.dtype
    Rw, tw = viewmat[:3, :3], viewmat[:3, 3]
    pc = means @ Rw.T + tw                      # camera space
    covc = Rw @ cov3 @ Rw.T
    fx, fy, cx, cy = K[0, 0], K[1, 1], K[0, 2], K[1, 2]
    x, y, z = pc.unbind(-1)
    # EWA: the Jacobian at the mean, its x/z and y/z clamped to the field of view (x 1.3)
    tan_x, tan_y = 0.5 * width / fx, 0.5 * height / fy   # per side: the image edge + 0.3 tan(half fov)
    lim_xp = (width - cx) / fx + 0.3 * tan_x + 0 * x
    lim_xn = cx / fx + 0.3 * tan_x + 0 * x
    lim_yp = (height - cy) / fy + 0.3 * tan_y + 0 * y
    lim_yn = cy / fy + 0.3 * tan_y + 0 * y
    tx = z * torch.minimum(lim_xp, torch.maximum(-lim_xn, x / z))
    ty = z * torch.minimum(lim_yp, torch.maximum(-lim_yn, y / z))
    zero = torch.zeros_like(z)
    J = torch.stack([torch.stack([fx / z, zero, -fx * tx / (z * z)], -1),
                     torch.stack([zero, fy / z, -fy * ty / (z * z)], -1)], -2)
    cov2 = J @ covc @ J.transpose(-1, -2) + 0.3 * torch.eye(2, dtype=dt)
    conic = torch.linalg.inv(cov2)
    u = fx * x / z + cx
    v = fy * y / z + cy
    order = torch.argsort(z.detach())
    jj, ii = torch.meshgrid(torch.arange(width, dtype=dt) + 0.5, torch.arange(height, dtype=dt) + 0.5, indexing="xy")
    T = torch.ones((height, width), dtype=dt)
    done = torch.zeros((height, width), dtype=torch.bool)
    rgb = torch.zeros((height, width, 3), dtype=dt)
    depth = torch.zeros((height, width), dtype=dt)
    for g in order.tolist():
        if z[g] < 0.01:
            continue
        dx, dy = jj - u[g], ii - v[g]
        q = conic[g, 0, 0] * dx * dx + 2 * conic[g, 0, 1] * dx * dy + conic[g, 1, 1] * dy * dy
        a = torch.clamp(opacities[g] * torch.exp(-0.5 * q), max=0.99)
        use = (a >= alpha_min) & ~done
        next_T = T * (1 - a)
        stop = use & (next_T <= t_min)
        use = use & ~stop
        done = done | stop
        w = torch.where(use, a * T, torch.zeros_like(a))
        rgb = rgb + w[..., None] * colors[g]
        depth = depth + w * z[g]
        T = torch.where(use, next_T, T)
    if background is not None:
        rgb = rgb + T[..., None] * background
    return rgb, (1 - T)[..., None], depth[..., None]
