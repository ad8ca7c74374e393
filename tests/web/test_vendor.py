"""The vendored front-end files are exactly the pinned npm release's, licence included."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

VENDOR = Path(__file__).resolve().parents[2] / "web" / "static" / "vendor"


def test_vendored_files_match_their_recorded_hashes_and_pinned_version() -> None:
    manifest = json.loads((VENDOR / "package.json").read_text())
    assert manifest["dependencies"] == {"three": "0.170.0"}
    assert set(manifest["files"]) == {"three/three.module.min.js", "three/LICENSE"}
    for name, digest in manifest["files"].items():
        assert hashlib.sha256((VENDOR / name).read_bytes()).hexdigest() == digest, name
    assert (VENDOR / "three" / "three.module.min.js").read_text().startswith("/**\n * @license")
