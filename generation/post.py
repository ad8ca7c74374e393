"""Everything after the VAE: decoded images -> raw spectrogram, audio and picture.

The model's thread hands this stage plain data (:class:`Decoded`: PIL images, numbers, the
request) and moves on to the next batch; this stage may run in another process, so nothing
here touches the model, and a recipe (:class:`Finish`) says how the images of one request
become its result instead of a closure over the pipeline. The work is phase reconstruction
(on the model's GPU when there is one, else the numpy path), joining windows or clips, and
the readable picture, which only clips people look at get (radio clips are heard, and the
now-playing strip and the web timeline take the raw image).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from generation.image_joins import join_extension, side_by_side, stitch
from generation.params import SpectrogramParams
from generation.results import GenerationResult
from generation.types import GenerationRequest, Mode


@dataclass(frozen=True)
class Finish:
    """How one request's decoded images become its raw image and audio.

    ``kind``: ``single`` (one clip, ``periodic`` for loops), ``transition`` (clips side by
    side, audio joined over one hop), ``extend`` (the new columns after ``parent``'s, a fade
    over ``kept_px``), ``remix`` (windows ``stride`` apart overlapping by ``overlap``, cut back
    to ``original_width`` columns).
    """

    kind: str = "single"
    periodic: bool = False
    parent: Image.Image | None = None
    kept_px: int = 0
    stride: int = 0
    overlap: int = 0
    original_width: int = 0


@dataclass
class Decoded:
    """One request as the model's thread leaves it: decoded images plus what the result needs."""

    request: GenerationRequest
    images: list[Image.Image]
    finish: Finish
    params: SpectrogramParams
    timings: dict[str, float]
    notes: tuple[str, ...]
    model_id: str
    model_revision: str | None
    latent: np.ndarray
    phase_device: str | None = None
    """A torch device for Griffin-Lim (the model's GPU); ``None`` keeps the numpy path."""
    extra: dict[str, float] = field(default_factory=dict)


def wants_picture(request: GenerationRequest) -> bool:
    """Radio clips are listened to, not looked at: they get no readable picture."""
    return request.mode is not Mode.RADIO


def post_process(decoded: Decoded) -> GenerationResult:
    """The finished result of one request (pure: safe to run in a worker process)."""
    timings = dict(decoded.timings)
    started = time.perf_counter()
    raw, audio = finish_images(decoded.finish, decoded.images, decoded.params, decoded.phase_device)
    timings["audio"] = time.perf_counter() - started
    picture = None
    if wants_picture(decoded.request):
        from generation.picture import picture_marks, render_picture

        started = time.perf_counter()
        marks = picture_marks(decoded.request, decoded.params)
        picture = render_picture(raw, decoded.params, **marks)
        timings["picture"] = time.perf_counter() - started
    for name in ("text", "vae_encode", "picture"):
        timings.setdefault(name, 0.0)
    own = sum(timings[k] for k in ("text", "vae_encode", "vae_decode", "audio", "picture"))
    timings.update(decoded.extra)
    timings["total"] = own + decoded.extra.get("denoise", 0.0)
    return GenerationResult(
        request=decoded.request,
        raw_image=raw,
        audio=np.ascontiguousarray(audio, dtype=np.float32),
        sample_rate=decoded.params.sample_rate,
        picture=picture,
        timings=timings,
        model_id=decoded.model_id,
        model_revision=decoded.model_revision,
        latent=decoded.latent,
        notes=decoded.notes,
    )


def finish_images(
    finish: Finish,
    images: Sequence[Image.Image],
    params: SpectrogramParams,
    device: str | None = None,
) -> tuple[Image.Image, np.ndarray]:
    """The raw image and the audio (channels, samples) of one request's decoded images."""
    from generation.audio import crossfade_join
    from generation.codec import audio_from_image

    def to_audio(image: Image.Image, periodic: bool = False) -> np.ndarray:
        return audio_from_image(image, params, periodic=periodic, device=device)

    if finish.kind == "single":
        return images[0], to_audio(images[0], finish.periodic)
    if finish.kind == "transition":
        clips = [to_audio(image) for image in images]
        return side_by_side(images), crossfade_join(clips, params.hop_length)
    if finish.kind == "extend":
        assert finish.parent is not None
        joined = join_extension(finish.parent, images[0], finish.kept_px)
        return joined, to_audio(joined)
    if finish.kind == "remix":
        height = images[0].height
        stitched = stitch(images, finish.stride, finish.overlap)
        joined = stitched.crop((0, 0, finish.original_width, height))
        clips = [to_audio(image) for image in images]
        fade = (finish.overlap - 1) * params.hop_length
        audio = crossfade_join(clips, fade) if len(clips) > 1 else clips[0]
        length = params.samples_for_width(finish.original_width)
        return joined, np.ascontiguousarray(audio[..., :length], dtype=np.float32)
    raise ValueError(f"unknown finish kind {finish.kind!r}")
