"""``--version``, ``--help`` with defaults and choices, and the operators' log format."""

from __future__ import annotations

import json
import logging

import pytest

from riffbot.cli import main
from riffbot.logs import JsonLines, configure_logging


def test_version_and_help_show_defaults_and_choices(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.startswith("riffbot ")
    with pytest.raises(SystemExit):
        main(["riff", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "{pndm,dpm++,ddim,euler}" in text
    assert "columns (512 = 5.11 s) (default: 512)" in text
    assert "(default: )" not in text  # an empty default says nothing


def test_json_lines_format_one_object_per_record_with_the_exception() -> None:
    logger = logging.getLogger("riffbot.test.json")
    records: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(self.format(record))

    handler = Keep()
    handler.setFormatter(JsonLines())
    logger.addHandler(handler)
    try:
        logger.warning("disk %s", "full")
        try:
            raise ValueError("boom")
        except ValueError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
    first, second = (json.loads(line) for line in records)
    assert first["level"] == "WARNING"
    assert first["message"] == "disk full"
    assert first["logger"] == "riffbot.test.json"
    assert "ValueError: boom" in second["exception"]


def test_configure_logging_sets_the_level_and_replaces_its_handler() -> None:
    root = logging.getLogger("riffbot.test.root")
    configure_logging("warning", "json", root=root)
    configure_logging("DEBUG", "json", root=root)
    assert root.level == logging.DEBUG
    assert len(root.handlers) == 1
    assert isinstance(root.handlers[0].formatter, JsonLines)
