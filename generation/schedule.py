"""Schedule arithmetic that needs no torch: scheduler names, latent size, how much of a request
is denoised and how many UNet passes it makes.

The pipeline runs these numbers; validation (where requests enter), the engine's cost
estimates and the bot use them without importing torch.
"""

from __future__ import annotations

from generation.types import GenerationRequest, InvalidRequest, Mode

LATENT_FACTOR = 8  # the VAE turns 8x8 pixels into one latent pixel

SCHEDULER_ALIASES = {
    "pndm": "pndm",
    "dpm++": "dpm++",
    "dpmpp": "dpm++",
    "dpm": "dpm++",
    "dpmsolver++": "dpm++",
    "ddim": "ddim",
    "euler": "euler",
}
SCHEDULERS = ("pndm", "dpm++", "ddim", "euler")


def canonical_scheduler(name: str) -> str:
    """The scheduler's canonical name, or ``InvalidRequest`` listing the choices."""
    key = name.strip().lower()
    if key not in SCHEDULER_ALIASES:
        raise InvalidRequest(f"Unknown scheduler '{name}'. Choose one of: {', '.join(SCHEDULERS)}.")
    return SCHEDULER_ALIASES[key]


def mix(a: float, b: float, alpha: float) -> float:
    """Linear interpolation that returns an endpoint exactly at alpha 0 and 1."""
    if alpha <= 0.0:
        return a
    if alpha >= 1.0:
        return b
    return a + alpha * (b - a)


def effective_strength(request: GenerationRequest) -> float | None:
    """How much of the init latent is noised away; ``None`` for txt2img (no init latent)."""
    if request.mode is Mode.EXTEND:
        return 1.0  # the new region starts from pure noise; the mask holds the kept part
    if request.seed_image is None:
        return None
    end = request.end.strength if request.end is not None else request.start.strength
    return mix(request.start.strength, end, request.alpha)


def denoise_start(steps: int, strength: float | None) -> int:
    """Index of the first timestep run, exactly as diffusers' img2img truncates."""
    if strength is None:
        return 0
    init_timestep = min(int(steps * strength), steps)
    return max(steps - init_timestep, 0)


def unet_passes(request: GenerationRequest) -> int:
    """UNet calls a request makes (what progress counts to): PNDM with ``skip_prk_steps``
    repeats one timestep, so it runs one more than the other schedulers."""
    start = denoise_start(request.steps, effective_strength(request))
    extra = 1 if canonical_scheduler(request.scheduler) == "pndm" else 0
    return request.steps - start + extra
