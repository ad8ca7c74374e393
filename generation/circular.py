"""Seamless loops: make every convolution wrap around in time while a loop is generated.

A spectrogram's x axis is time. If every Conv2d in the UNet and the VAE pads the left edge
with the right edge's columns (and vice versa), the network sees the image as a cylinder, so
the last column is generated as a neighbour of the first and the clip repeats without a seam.
Height (frequency) keeps zero padding: low and high frequencies are not neighbours.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn


def _wrapping_forward(conv: nn.Conv2d) -> Callable[[torch.Tensor], torch.Tensor]:
    pad_h, pad_w = (int(p) for p in conv.padding)

    def forward(x: torch.Tensor) -> torch.Tensor:
        x = F.pad(x, (pad_w, pad_w, 0, 0), mode="circular")
        if pad_h:
            x = F.pad(x, (0, 0, pad_h, pad_h))
        return F.conv2d(x, conv.weight, conv.bias, conv.stride, 0, conv.dilation, conv.groups)

    return forward


@contextmanager
def circular_time_padding(modules: Iterable[nn.Module]) -> Iterator[int]:
    """Patch every padded Conv2d under ``modules`` to wrap in width; restore on exit.

    Yields how many convolutions were patched. The patch is an instance attribute that
    shadows ``Conv2d.forward``, so deleting it restores the original exactly, even if the
    generation inside raised.
    """
    patched: list[nn.Conv2d] = []
    try:
        for module in modules:
            for conv in module.modules():
                if not isinstance(conv, nn.Conv2d) or "forward" in conv.__dict__:
                    continue
                padding = conv.padding
                if isinstance(padding, str) or conv.padding_mode != "zeros":
                    continue
                if padding[1] == 0:
                    continue
                conv.forward = _wrapping_forward(conv)  # type: ignore[method-assign,assignment]
                patched.append(conv)
        yield len(patched)
    finally:
        for conv in patched:
            del conv.forward
