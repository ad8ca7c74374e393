"""A finished clip on disk: MP3, raw spectrogram PNG, readable picture PNG and a JSON record.

The raw PNG is the one that matters for later work (extend, variation and remix start from it),
so it carries Riffusion's EXIF spectrogram tags; the JSON holds every parameter, the model and
its revision, and the timings, so the clip can be made again or continued on another machine.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

from generation.loudness import LoudnessPolicy
from generation.params import SpectrogramParams
from generation.results import GenerationResult
from generation.types import ClipFiles, Mode

FORMAT_VERSION = 1


@contextlib.contextmanager
def staged(*targets: Path) -> Iterator[tuple[Path, ...]]:
    """Temporary names beside ``targets``, renamed onto them only if the block succeeds.

    A result is there whole or not at all: when one file cannot be written (a full disk, a
    bad bitrate), the others are removed instead of staying half a result. The temporary
    names keep each target's suffix, since encoders pick the format from it.
    """
    token = uuid.uuid4().hex[:8]
    temporary = tuple(
        target.with_name(f".{target.stem}.{token}.partial{target.suffix}") for target in targets
    )
    try:
        yield temporary
        for source, target in zip(temporary, targets, strict=True):
            os.replace(source, target)
    finally:
        for source in temporary:
            with contextlib.suppress(OSError):
                source.unlink(missing_ok=True)


def clip_record(
    result: GenerationResult, files: dict[str, str | None], params: SpectrogramParams
) -> dict[str, Any]:
    """The JSON-ready description of a clip (what ``params_json`` holds)."""
    return {
        "format": "riffbot-clip",
        "format_version": FORMAT_VERSION,
        "request": result.request.to_dict(),
        "model": {"id": result.model_id, "revision": result.model_revision},
        "spectrogram": asdict(params),
        "sample_rate": result.sample_rate,
        "channels": int(result.audio.shape[0]),
        "duration_s": round(result.duration_s, 4),
        "image_size": list(result.raw_image.size),
        "timings": {name: round(value, 6) for name, value in result.timings.items()},
        "notes": list(result.notes),
        "files": files,
    }


def write_outputs(
    result: GenerationResult,
    directory: Path | str,
    stem: str,
    *,
    params: SpectrogramParams | None = None,
    loudness: LoudnessPolicy | None = None,
) -> ClipFiles:
    """Write ``stem.mp3``, ``stem.png`` (raw), ``stem.picture.png`` (when the result has a
    picture) and ``stem.json``, all or none (see :func:`staged`)."""
    from generation.audio import export_mp3
    from generation.codec import PNG_COMPRESS_LEVEL, exif_tags, save_png
    from generation.loudness import finish

    params = params or SpectrogramParams()
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    mp3 = folder / f"{stem}.mp3"
    raw_png = folder / f"{stem}.png"
    picture_png = folder / f"{stem}.picture.png"
    params_json = folder / f"{stem}.json"

    timings = dict(result.timings)
    picture = result.picture
    targets = (mp3, raw_png, params_json) + ((picture_png,) if picture is not None else ())
    with staged(*targets) as (tmp_mp3, tmp_raw, tmp_json, *tmp_pic):
        started = time.perf_counter()
        # The codec peak-normalises each clip; people compare clips by loudness, so the MP3
        # gets the one loudness policy (BS.1770 target, true-peak ceiling; wrapping for loops).
        loop = result.request.mode is Mode.LOOP
        audio, _report = finish(result.audio, result.sample_rate, loudness, periodic=loop)
        export_mp3(audio, result.sample_rate, tmp_mp3)
        timings["mp3"] = time.perf_counter() - started

        started = time.perf_counter()
        raw = result.raw_image.copy()
        exif = raw.getexif()
        for tag, value in exif_tags(params, stereo=result.audio.shape[0] > 1).items():
            exif[tag] = value
        save_png(raw, tmp_raw)
        if picture is not None:
            picture.save(tmp_pic[0], format="PNG", compress_level=PNG_COMPRESS_LEVEL)
        timings["png"] = time.perf_counter() - started

        files = {
            "mp3": mp3.name,
            "raw_png": raw_png.name,
            "picture_png": picture_png.name if picture is not None else None,
            "params_json": params_json.name,
        }
        record = clip_record(result, files, params)
        record["timings"] = {name: round(value, 6) for name, value in timings.items()}
        tmp_json.write_text(json.dumps(record, indent=2, ensure_ascii=False), encoding="utf-8")
    return ClipFiles(
        mp3=mp3,
        raw_png=raw_png,
        picture_png=picture_png if picture is not None else None,
        params_json=params_json,
        duration_s=result.duration_s,
        timings=timings,
    )


def raw_png_from_record(path: Path | str) -> Path:
    """The raw spectrogram PNG that a clip's JSON record points to (for ``extend``)."""
    record_path = Path(path)
    try:
        record = json.loads(record_path.read_text(encoding="utf-8"))
        name = record["files"]["raw_png"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        from generation.types import InvalidRequest

        raise InvalidRequest(f"'{record_path.name}' is not a Riffbot clip record.") from error
    return record_path.parent / str(name)
