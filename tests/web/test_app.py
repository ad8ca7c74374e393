"""The web app over HTTP on the demo world: scoping, escaping, headers, health and metrics."""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy.orm import Session

from db import Database, create_job
from generation.types import Endpoint, GenerationRequest, Mode
from tests.web.conftest import SECRET, Client, open_client
from web.app import HealthChecks
from web.demo import DEMO_GUILD, OTHER_GUILD, Demo
from web.links import LinkSigner


def gallery_path(demo: Demo, guild: int = DEMO_GUILD) -> str:
    return f"/g/{demo.deps.signer.token('gallery', guild)}"


def job_ids_on(page: str) -> list[int]:
    return [int(n) for n in re.findall(r'data-job="(\d+)"', page)]


async def test_gallery_lists_only_this_servers_jobs_newest_first(
    client: Client, demo: Demo
) -> None:
    response = await client.get(gallery_path(demo))
    assert response.status == 200
    page = await response.text()
    ids = job_ids_on(page)
    mine = [v for k, v in demo.job_ids.items() if k != "foreign"]
    assert ids == sorted(mine, reverse=True)
    assert demo.job_ids["foreign"] not in ids
    assert "a job of another server" not in page
    assert "Copy as /riff command" in page
    assert "/riff prompt:church bells on a sunday morning seed:11 steps:30 strength:0.75" in page
    assert "/blend a:rainy jazz cafe b:synthwave sunset seed_a:31 seed_b:32" in page
    assert "Copy as /blend command" in page


async def test_search_and_paging(client: Client, demo: Demo) -> None:
    found = await (await client.get(gallery_path(demo), params={"q": "COWBELL"})).text()
    assert sorted(job_ids_on(found)) == sorted(
        [demo.job_ids["funk-remix"], demo.job_ids["funk-remix-2"]]
    )
    nothing = await (await client.get(gallery_path(demo), params={"q": "100%_"})).text()
    assert job_ids_on(nothing) == []
    assert "No jobs match." in nothing

    demo.deps.config = type(demo.deps.config)(page_size=4)
    small = await open_client(demo.deps)
    try:
        first = await (await small.get(gallery_path(demo))).text()
        second = await (await small.get(gallery_path(demo), params={"page": "2"})).text()
    finally:
        await small.close()
    assert len(job_ids_on(first)) == 4
    assert 'rel="next"' in first
    assert len(job_ids_on(second)) == 2
    assert 'rel="next"' not in second
    assert set(job_ids_on(first)).isdisjoint(job_ids_on(second))


async def test_made_up_foreign_and_revoked_tokens_all_get_the_same_404(
    client: Client, demo: Demo
) -> None:
    good = await client.get(gallery_path(demo))
    assert good.status == 200
    foreign_radio = demo.deps.signer.token("radio", DEMO_GUILD)
    revoked = LinkSigner("an-older-secret-no-longer-used").token("gallery", DEMO_GUILD)
    paths = [
        "/g/not-a-token",
        f"/g/{revoked}",
        f"/g/{foreign_radio}",  # a radio token is not a gallery token
        f"{gallery_path(demo)}/job/{demo.job_ids['foreign']}",  # another server's job
        f"{gallery_path(demo)}/file/{demo.job_ids['foreign']}/mp3",
        f"{gallery_path(demo)}/job/999999",
        "/radio/xyz.abc",
        "/nothing/here",
    ]
    bodies = set()
    for path in paths:
        response = await client.get(path)
        assert response.status == 404, path
        bodies.add(await response.text())
        assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert len(bodies) == 1  # nothing tells a foreign job from a missing one


async def test_the_other_server_sees_its_own_job_and_not_ours(client: Client, demo: Demo) -> None:
    page = await (await client.get(gallery_path(demo, OTHER_GUILD))).text()
    assert job_ids_on(page) == [demo.job_ids["foreign"]]


async def test_permalink_shows_the_lineage_tree_within_the_server(
    client: Client, demo: Demo
) -> None:
    funk, remix, remix2, extend = (
        demo.job_ids[k] for k in ("funk", "funk-remix", "funk-remix-2", "funk-extend")
    )
    page = await (await client.get(f"{gallery_path(demo)}/job/{remix}")).text()
    ancestors = page.split("class='ancestors'>")[1].split("</ol>")[0]
    assert f"/job/{funk}" in ancestors
    tree = page.split("class='tree'>")[1].split("</section>")[0]
    assert tree.index(f"/job/{remix}") < tree.index(f"/job/{remix2}")
    root = await (await client.get(f"{gallery_path(demo)}/job/{funk}")).text()
    root_tree = root.split("class='tree'>")[1]
    for child in (remix, remix2, extend):
        assert f"/job/{child}" in root_tree
    assert "an original" in root


async def test_files_are_served_with_their_types(client: Client, demo: Demo) -> None:
    job = demo.job_ids["church"]
    mp3 = await client.get(f"{gallery_path(demo)}/file/{job}/mp3")
    assert mp3.status == 200
    assert mp3.headers["Content-Type"] == "audio/mpeg"
    data = await mp3.read()
    assert data[:3] == b"ID3" or data[0] == 0xFF
    picture = await client.get(f"{gallery_path(demo)}/file/{job}/picture_png")
    assert (await picture.read())[:8] == b"\x89PNG\r\n\x1a\n"
    json_file = await client.get(f"{gallery_path(demo)}/file/{job}/params_json")
    assert json_file.status == 404  # only audio and pictures are published


def _add_job(session: Session, guild: int, prompt: str) -> int:
    request = GenerationRequest(Mode.RIFF, Endpoint(prompt, 5), width=256)
    return create_job(session, request, user_id=9, model_id="m", guild_id=guild).id


async def test_user_text_is_escaped_and_no_secret_or_path_is_shown(
    client: Client, demo: Demo
) -> None:
    guild = 5_550_000_001
    nasty = '<script>alert("x")</script> & <img src=x onerror=alert(1)>'
    job = demo.deps.database.call(_add_job, guild, nasty)
    pages = []
    for path in (gallery_path(demo, guild), f"{gallery_path(demo, guild)}/job/{job}"):
        response = await client.get(path)
        pages.append(await response.text())
    for page in pages:
        assert "<script>alert" not in page
        assert "<img src=x" not in page
        assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &lt;img" in page
    radio = await (await client.get(f"/radio/{demo.deps.signer.token('radio', DEMO_GUILD)}")).text()
    index = await (await client.get("/")).text()
    for page in [*pages, radio, index]:
        assert SECRET not in page
        assert str(demo.directory) not in page
        assert "demo.db" not in page


async def test_security_headers_and_a_csp_without_inline_script(client: Client, demo: Demo) -> None:
    response = await client.get(gallery_path(demo))
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["X-Frame-Options"] == "DENY"
    page = await response.text()
    assert re.search(r"<script(?![^>]*\bsrc=)", page) is None  # every script is a file
    assert " on" + "click=" not in page


async def test_three_js_and_its_licence_are_served_by_the_bot(client: Client) -> None:
    three = await client.get("/static/vendor/three/three.module.min.js")
    assert three.status == 200
    assert "javascript" in three.headers["Content-Type"]
    licence = await (await client.get("/static/vendor/three/LICENSE")).text()
    assert "three.js authors" in licence
    radio_js = await (await client.get("/static/radio.js")).text()
    assert "./vendor/three/three.module.min.js" in radio_js
    assert "http" not in radio_js.split("\n", 5)[-1].split("import(")[0]  # no CDN


async def test_index_links_only_what_the_deps_name(client: Client, demo: Demo) -> None:
    index = await (await client.get("/")).text()
    assert index.count("<li>") == 2
    assert demo.deps.signer.token("radio", DEMO_GUILD) in index
    assert str(OTHER_GUILD) not in index


async def test_rate_limit_answers_429_per_client(demo: Demo) -> None:
    demo.deps.config = type(demo.deps.config)(rate_per_s=0.001, rate_burst=3)
    limited = await open_client(demo.deps)
    try:
        codes = [(await limited.get("/")).status for _ in range(5)]
    finally:
        await limited.close()
    assert codes == [200, 200, 200, 429, 429]


async def test_healthz_reports_each_check_and_fails_with_503(demo: Demo, tmp_path: Path) -> None:
    demo.deps.health = HealthChecks(engine_alive=lambda: True, discord_connected=lambda: True)
    c = await open_client(demo.deps)
    try:
        ok = await c.get("/healthz")
        assert ok.status == 200
        assert await ok.json() == {
            "status": "ok",
            "checks": {"database": True, "engine": True, "discord": True},
        }
        demo.deps.health = HealthChecks(engine_alive=lambda: True, discord_connected=lambda: False)
        down = await c.get("/healthz")
        assert down.status == 503
        assert (await down.json())["checks"]["discord"] is False
    finally:
        await c.close()
    broken = Database(f"sqlite:///{tmp_path / 'missing' / 'dir' / 'x.db'}")
    demo.deps.database, real = broken, demo.deps.database
    c = await open_client(demo.deps)
    try:
        bad = await c.get("/healthz")
        assert bad.status == 503
        assert (await bad.json())["checks"]["database"] is False
    finally:
        await c.close()
        demo.deps.database = real
        broken.dispose()


async def test_metrics_expose_the_riffbot_figures(client: Client, demo: Demo) -> None:
    text = await (await client.get("/metrics")).text()
    for name in (
        "riffbot_queue_depth",
        "riffbot_jobs",
        "riffbot_generation_seconds_bucket",
        "riffbot_radio_clips_buffered",
        "riffbot_radio_underruns_total",
        "riffbot_radio_listeners",
    ):
        assert f"\n{name}" in text, name
    done = re.search(r'riffbot_jobs\{kind="riff",state="done"\} (\d+)', text)
    assert done is not None
    assert int(float(done.group(1))) >= 6
    count = re.search(r"riffbot_generation_seconds_count (\S+)", text)
    assert count is not None
    assert float(count.group(1)) >= 7
    assert str(DEMO_GUILD) not in text


async def test_a_failing_database_gives_a_plain_500_that_reveals_nothing(
    demo: Demo, tmp_path: Path
) -> None:
    broken = Database(f"sqlite:///{tmp_path / 'empty.db'}")  # no tables
    demo.deps.database, real = broken, demo.deps.database
    c = await open_client(demo.deps)
    try:
        response = await c.get(gallery_path(demo))
        body = await response.text()
    finally:
        await c.close()
        demo.deps.database = real
        await broken.aclose()
        broken.dispose()
    assert response.status == 500
    assert body == "Something went wrong."
    assert response.headers["X-Content-Type-Options"] == "nosniff"
