"""Codec commands: ``audio-to-image`` and ``image-to-audio`` (no model needed)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from riffbot.cli.errors import BITRATE, check_output_file, report

if TYPE_CHECKING:
    from riffbot.settings import Settings

EXIT_BAD_INPUT = 2


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    a2i = sub.add_parser(
        "audio-to-image",
        help="encode an audio file (any format ffmpeg reads) as a spectrogram PNG",
        description="Encode audio as a Riffusion-compatible spectrogram image (PNG with EXIF).",
    )
    a2i.add_argument("input", type=Path, help="audio file (wav, mp3, flac, ogg, ...)")
    a2i.add_argument("output", type=Path, help="output PNG")
    a2i.add_argument("--stereo", action="store_true", help="encode left/right in green/blue")
    a2i.add_argument(
        "--picture", type=Path, default=None, help="also write a readable picture with axes"
    )
    a2i.set_defaults(func=audio_to_image)

    i2a = sub.add_parser(
        "image-to-audio",
        help="decode a spectrogram PNG to WAV or MP3",
        description="Decode a spectrogram image (ours or Riffusion's) to audio.",
    )
    i2a.add_argument("input", type=Path, help="spectrogram image (PNG)")
    i2a.add_argument("output", type=Path, help="output .wav or .mp3")
    i2a.add_argument(
        "--loop", action="store_true", help="reconstruct as a seamless loop (one hop longer)"
    )
    i2a.add_argument(
        "--bitrate", type=_bitrate, default="128k", help="MP3 bitrate such as 128k (default)"
    )
    i2a.set_defaults(func=image_to_audio)


def _bitrate(text: str) -> str:
    if not BITRATE.match(text.strip().lower()):
        raise argparse.ArgumentTypeError(f"{text!r} is not a bitrate such as 96k, 128k or 320k")
    return text.strip().lower()


def _fail(message: str) -> int:
    return report(message, EXIT_BAD_INPUT)


def audio_to_image(args: argparse.Namespace, settings: Settings) -> int:
    from generation import codec
    from generation.audio import load_audio
    from generation.params import SpectrogramParams
    from generation.types import InvalidRequest

    params = SpectrogramParams(stereo=bool(args.stereo))
    if args.output.suffix.lower() != ".png":
        return _fail(f"output must be a .png file, not {args.output.name}")
    check_output_file(args.output)
    if args.picture is not None:
        check_output_file(args.picture)
    try:
        audio = load_audio(
            args.input,
            params.sample_rate,
            max_seconds=settings.max_audio_seconds,
            channels=params.channels,
        )
        image = codec.image_from_audio(audio, params)
    except InvalidRequest as exc:
        return _fail(str(exc))
    from generation.outputs import staged

    targets = [args.output] if args.picture is None else [args.output, args.picture]
    with staged(*targets) as temporary:
        codec.save_png(image, temporary[0])
        if args.picture is not None:
            from generation.picture import render_picture

            render_picture(image, params, title=args.input.name).save(temporary[1], format="PNG")
    seconds = audio.shape[1] / params.sample_rate
    print(f"{args.output}: {image.width}x{image.height} px from {seconds:.2f} s of audio")
    return 0


def image_to_audio(args: argparse.Namespace, settings: Settings) -> int:
    from generation import codec
    from generation.audio import export_mp3, write_wav
    from generation.loudness import finish
    from generation.types import InvalidRequest
    from riffbot.wiring import loudness_policy

    suffix = args.output.suffix.lower()
    if suffix not in (".wav", ".mp3"):
        return _fail(f"output must be .wav or .mp3, not {args.output.name}")
    check_output_file(args.output)
    try:
        image = codec.open_image(args.input)
        params = codec.params_from_image(image)
        if image.height != params.num_frequencies:
            return _fail(
                f"{args.input.name} is {image.height} px tall; expected "
                f"{params.num_frequencies} rows of a spectrogram"
            )
        max_columns = params.width_for_samples(int(settings.max_audio_seconds * params.sample_rate))
        if image.width > max_columns:
            return _fail(
                f"{args.input.name} is {image.width} columns wide; the limit is "
                f"{settings.max_audio_seconds:g} s ({max_columns} columns)"
            )
        audio = codec.audio_from_image(image, params, periodic=bool(args.loop))
    except InvalidRequest as exc:
        return _fail(str(exc))
    audio, _ = finish(
        audio, params.sample_rate, loudness_policy(settings), periodic=bool(args.loop)
    )
    from generation.outputs import staged

    with staged(args.output) as (temporary,):
        if suffix == ".mp3":
            export_mp3(audio, params.sample_rate, temporary, bitrate=args.bitrate)
        else:
            write_wav(audio, params.sample_rate, temporary)
    seconds = audio.shape[1] / params.sample_rate
    print(f"{args.output}: {seconds:.3f} s, {params.sample_rate} Hz, {audio.shape[0]} channel(s)")
    return 0
