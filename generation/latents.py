"""The tensors a batch starts from and ends with: seeded noise, its slerp, and images as tensors.

Noise comes from CPU generators seeded with the request's integer seed, so it does not depend
on the device or on what else is in the batch; alpha 0 and 1 short-circuit the slerp, so the
ends of a blend are plain riffs.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from PIL import Image

SLERP_DOT_THRESHOLD = 0.9995


def slerp(alpha: float, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation of two noise tensors (Riffusion's, lerp when nearly parallel)."""
    if alpha <= 0.0:
        return a.clone()
    if alpha >= 1.0:
        return b.clone()
    a64, b64 = a.double(), b.double()
    dot = float((a64 * b64).sum() / (a64.norm() * b64.norm()))
    if abs(dot) > SLERP_DOT_THRESHOLD:
        mixed = (1.0 - alpha) * a64 + alpha * b64
    else:
        theta = math.acos(dot)
        sin_theta = math.sin(theta)
        mixed = (math.sin((1.0 - alpha) * theta) / sin_theta) * a64 + (
            math.sin(alpha * theta) / sin_theta
        ) * b64
    return mixed.to(a.dtype)


def seed_noise(seed: int, shape: tuple[int, ...], count: int = 1) -> list[torch.Tensor]:
    """``count`` standard-normal tensors drawn in order from a CPU generator seeded ``seed``."""
    generator = torch.Generator(device="cpu").manual_seed(int(seed))
    return [torch.randn(shape, generator=generator, dtype=torch.float32) for _ in range(count)]


def image_to_tensor(image: Image.Image) -> torch.Tensor:
    pixels = np.asarray(image.convert("RGB"), dtype=np.float32) / 127.5 - 1.0
    return torch.from_numpy(pixels).permute(2, 0, 1)[None].contiguous()


def tensor_to_image(decoded: torch.Tensor) -> Image.Image:
    # uint8 on the model's device, then one small copy: a quarter of the bytes of a float copy,
    # and the same float32 operations in the same order as numpy did, so the same pixels
    pixels = ((decoded[0].float() / 2 + 0.5).clamp(0, 1) * 255).round().to(torch.uint8)
    return Image.fromarray(pixels.permute(1, 2, 0).contiguous().cpu().numpy(), mode="RGB")
