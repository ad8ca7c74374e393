"""Signed links: scoped to one server and one page, revoked by a new secret, never guessable."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from web.links import LinkMaker, LinkSigner

SIGNER = LinkSigner("a-secret-of-enough-length")


def test_a_token_names_its_guild_and_only_for_its_page() -> None:
    token = SIGNER.token("radio", 123456789012345678)
    assert SIGNER.verify("radio", token) == 123456789012345678
    assert SIGNER.verify("gallery", token) is None


def test_another_guilds_mac_or_a_tampered_token_is_refused() -> None:
    mine = SIGNER.token("gallery", 1)
    theirs = SIGNER.token("gallery", 2)
    forged = theirs.split(".")[0] + "." + mine.split(".")[1]
    assert SIGNER.verify("gallery", forged) is None
    flipped = mine[:-1] + ("A" if mine[-1] != "A" else "B")
    assert SIGNER.verify("gallery", flipped) is None


def test_rotating_the_secret_revokes_every_link() -> None:
    token = SIGNER.token("radio", 42)
    assert LinkSigner("a-different-secret-now").verify("radio", token) is None


def test_short_secrets_are_refused_with_a_reason() -> None:
    with pytest.raises(ValueError, match="at least 16"):
        LinkSigner("short")


@given(st.text(max_size=120))
def test_any_made_up_text_is_refused_without_raising(text: str) -> None:
    assert SIGNER.verify("radio", text) is None


def test_leading_zeros_do_not_make_a_second_valid_spelling() -> None:
    token = SIGNER.token("radio", 35)
    head, mac = token.split(".")
    assert SIGNER.verify("radio", f"0{head}.{mac}") is None


def test_link_maker_builds_absolute_links_that_verify() -> None:
    links = LinkMaker(SIGNER, "https://riff.example/")(77)
    assert links.radio.startswith("https://riff.example/radio/")
    assert links.gallery.startswith("https://riff.example/g/")
    assert SIGNER.verify("radio", links.radio.rsplit("/", 1)[1]) == 77
    assert SIGNER.verify("gallery", links.gallery.rsplit("/", 1)[1]) == 77
