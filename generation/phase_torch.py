"""Phase reconstruction on the model's device: the numpy path's algorithm, in torch.

On a GPU the numpy/numba reconstruction (:mod:`generation.phase`) costs more CPU time per
clip than the UNet costs GPU time, so it would cap the whole bot. Here the mel inverse (one
matmul) and the Griffin-Lim iterations (STFT, inverse STFT, projection) run as torch tensor
operations on whatever device they are given; only the PGHI start phase (a heap walk, which
does not suit a GPU) stays on the CPU, exactly as in the numpy path. The plan (working sample
rate, window, n_fft, pseudo-inverse) is the numpy path's, and the STFT is the same framing
(reflect-padded, or wrapping around for loops), so both paths give the same audio up to float
rounding; the tests hold them within 0.005 of spectral convergence of each other.

On the CPU the numpy path stays the default: torch's CPU FFT pays a set-up cost per call that
pocketfft does not (see the numpy module's notes).
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np

from generation.params import SpectrogramParams
from generation.phase import (
    GL_MOMENTUM,
    PhaseSettings,
    _Plan,
    _to_output_rate,
    pghi,
    plan_for,
)


class _TorchStft:
    """:class:`generation.phase._Stft` as torch operations on one device."""

    def __init__(self, plan: _Plan, frames: int, periodic: bool, device: Any) -> None:
        import torch

        self.plan = plan
        self.periodic = periodic
        self.frames = frames
        self.samples = frames * plan.hop if periodic else (frames - 1) * plan.hop
        self.window = torch.from_numpy(plan.window).to(device)
        self.span = plan.window.shape[0]
        self.half = plan.win // 2
        if periodic:
            index = np.arange(-self.half, (frames - 1) * plan.hop - self.half + self.span)
            self.index = torch.from_numpy(index % self.samples).to(device)
        ones = torch.ones((1, frames, self.span), device=device)
        envelope = self._overlap_add(ones * self.window.square())
        floor = 1e-8 * float(self.window.square().max())
        self.envelope = envelope.clamp_min(floor)

    def forward(self, x: Any) -> Any:
        """(C, N) -> (C, T, F) complex64, the numpy path's framing and phase convention."""
        import torch
        import torch.nn.functional as F

        plan = self.plan
        if self.periodic:
            padded = x[:, self.index]
        else:
            pads = (self.half, self.half + self.span - plan.win)
            mode = "reflect" if x.shape[-1] > self.half else "constant"
            padded = F.pad(x[:, None], pads, mode=mode)[:, 0]
        frames = padded.unfold(-1, self.span, plan.hop)[:, : self.frames] * self.window
        return torch.fft.rfft(frames, n=plan.n_fft, dim=-1)

    def inverse(self, spec: Any) -> Any:
        import torch

        frames = torch.fft.irfft(spec, n=self.plan.n_fft, dim=-1)[..., : self.span]
        return self._overlap_add(frames * self.window) / self.envelope

    def _overlap_add(self, frames: Any) -> Any:
        import torch

        hop = self.plan.hop
        channels, count, span = frames.shape
        parts = span // hop
        blocks = torch.zeros((channels, count + parts - 1, hop), device=frames.device)
        pieces = frames.reshape(channels, count, parts, hop)
        for j in range(parts):
            blocks[:, j : j + count] += pieces[:, :, j]
        ola = blocks.reshape(channels, -1)
        if not self.periodic:
            return ola[:, self.half : self.half + self.samples]
        n = self.samples
        wraps = -(-ola.shape[1] // n)
        folded = torch.nn.functional.pad(ola, (0, wraps * n - ola.shape[1]))
        return torch.roll(folded.reshape(channels, wraps, n).sum(dim=1), -self.half, dims=1)


@functools.lru_cache(maxsize=8)
def _device_pinv(params: SpectrogramParams, settings: PhaseSettings, device: str) -> Any:
    """The plan's pseudo-inverse on the device, copied there once, not once per clip."""
    import torch

    return torch.from_numpy(plan_for(params, settings).pinv).to(device)


def reconstruct_torch(
    mel: np.ndarray,
    params: SpectrogramParams,
    *,
    device: str = "cpu",
    periodic: bool = False,
    settings: PhaseSettings | None = None,
) -> np.ndarray:
    """:func:`generation.phase.reconstruct` with the mel inverse and Griffin-Lim on ``device``.

    Audio (C, samples) float32 peak-normalised to 0.99 from mel amplitudes (C, n_mels, T).
    """
    import torch

    cfg = settings or PhaseSettings()
    plan = plan_for(params, cfg)
    target = torch.device(device)
    channels, _, frames = mel.shape
    scale = float(mel.max())
    mel_t = torch.from_numpy(np.ascontiguousarray(mel / scale if scale > 0 else mel))
    pinv = _device_pinv(params, cfg, str(target))
    lin = torch.matmul(pinv, mel_t.to(target, torch.float32)).clamp_min(0.0)  # (C, F, T)
    active = plan.active_bins
    rng = np.random.default_rng(cfg.seed)
    lin_cpu = lin.cpu().numpy()
    phases = np.zeros((channels, frames, active))
    if scale > 0:
        for c in range(channels):
            phases[c] = pghi(lin_cpu[c], plan, periodic=periodic, rng=rng).T
    # window-centred phase (PGHI) -> window-start phase (our STFT), as in the numpy path
    phases -= 2.0 * math.pi * (plan.win // 2) / plan.n_fft * np.arange(active)
    mag = lin.transpose(1, 2).contiguous()  # (C, T, F)
    phase_t = torch.from_numpy(phases.astype(np.float32)).to(target)
    transform = _TorchStft(plan, frames, periodic, target)
    bins = plan.n_fft // 2 + 1
    spec = torch.zeros((channels, frames, bins), dtype=torch.complex64, device=target)
    spec[..., :active] = torch.polar(mag, phase_t)
    alpha = GL_MOMENTUM / (1.0 + GL_MOMENTUM)
    prev = torch.zeros_like(spec[..., :active])
    for _ in range(cfg.gl_iterations):
        rebuilt = transform.forward(transform.inverse(spec))[..., :active]
        z = rebuilt - alpha * prev
        norm = z.abs()
        unit = torch.where(norm > 1e-30, z / norm.clamp_min(1e-30), torch.ones_like(z))
        spec[..., :active] = mag * unit
        prev = rebuilt
    audio = transform.inverse(spec).cpu().numpy().astype(np.float32)
    audio = _to_output_rate(audio, plan, periodic)
    peak = float(np.max(np.abs(audio)))
    if peak > 0:
        audio = audio * (0.99 / peak)
    out: np.ndarray = audio.astype(np.float32)
    return out
