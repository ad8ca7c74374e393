"""Writing a clip received as bytes into the caller's own data folder, whole or not at all."""

from __future__ import annotations

import os
import re
from pathlib import Path

from generation.fleet.wire import ClipBytes
from generation.types import ClipFiles


def stem_for(job_id: str) -> str:
    """The file stem the in-process engine uses for a job, so both engines lay out alike."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", job_id).strip(".") or "clip"


def _write_whole(path: Path, data: bytes) -> None:
    # A temporary name, then a rename: a reader (the web gallery, a crash) never sees half a
    # file, and writing the same job again (a re-run) replaces it with equal bytes.
    partial = path.with_name(f".{path.name}.{os.getpid()}.part")
    partial.write_bytes(data)
    os.replace(partial, path)


def write_clip(clip: ClipBytes, out_dir: Path, stem: str) -> ClipFiles:
    """Write ``stem.mp3``, ``stem.png``, ``stem.picture.png`` (when there is one) and
    ``stem.json`` into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    files = ClipFiles(
        mp3=out_dir / f"{stem}.mp3",
        raw_png=out_dir / f"{stem}.png",
        picture_png=out_dir / f"{stem}.picture.png" if clip.picture_png is not None else None,
        params_json=out_dir / f"{stem}.json",
        duration_s=clip.duration_s,
        timings=dict(clip.timings),
    )
    # The JSON record last: its presence says the clip is complete.
    _write_whole(files.mp3, clip.mp3)
    _write_whole(files.raw_png, clip.raw_png)
    if files.picture_png is not None and clip.picture_png is not None:
        _write_whole(files.picture_png, clip.picture_png)
    _write_whole(files.params_json, clip.params_json)
    return files
