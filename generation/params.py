"""Spectrogram geometry shared by the codec, the pipeline and the radio.

The defaults are Riffusion's, because the model was fine-tuned on images made with exactly
these numbers: change one and the model's pictures no longer mean the same sounds.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SpectrogramParams:
    """How one image column and one image row map to time and frequency."""

    stereo: bool = False
    sample_rate: int = 44_100
    step_size_ms: int = 10
    window_duration_ms: int = 100
    padded_duration_ms: int = 400
    num_frequencies: int = 512
    min_frequency: int = 0
    max_frequency: int = 10_000
    power_for_image: float = 0.25

    @property
    def hop_length(self) -> int:
        """Samples per image column (441 at the defaults: 10 ms)."""
        return int(self.step_size_ms / 1000.0 * self.sample_rate)

    @property
    def win_length(self) -> int:
        return int(self.window_duration_ms / 1000.0 * self.sample_rate)

    @property
    def n_fft(self) -> int:
        return int(self.padded_duration_ms / 1000.0 * self.sample_rate)

    @property
    def channels(self) -> int:
        return 2 if self.stereo else 1

    def samples_for_width(self, width: int) -> int:
        """Audio length that a ``width``-column image decodes to (centred STFT)."""
        return (width - 1) * self.hop_length

    def width_for_samples(self, samples: int) -> int:
        """Image width that ``samples`` of audio encode to (centred STFT)."""
        return 1 + samples // self.hop_length
