"""Codec commands: ``audio-to-image`` and ``image-to-audio`` (no model needed)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Registered by the codec work; empty until then."""
