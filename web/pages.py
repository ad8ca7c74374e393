"""HTML pages as plain strings: every piece of user text goes through :func:`esc`.

No template engine: the pages are small, and one escaping function that every value passes
through is easier to audit than autoescape rules. Scripts are separate files (the CSP allows
no inline script); data for them travels in ``data-`` attributes, escaped like the rest.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlencode

from db import Job, JobKind, OutputRole
from web.gallery import Lineage, TreeNode

STATIC = "/static"


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def page(title: str, body: str, *, scripts: Iterable[str] = (), main_class: str = "") -> str:
    tags = "".join(f'<script type="module" src="{STATIC}/{esc(s)}"></script>' for s in scripts)
    return (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="referrer" content="no-referrer">'
        f"<title>{esc(title)}</title>"
        f'<link rel="icon" href="{STATIC}/icon.svg">'
        f'<link rel="stylesheet" href="{STATIC}/style.css">{tags}</head>'
        f'<body><header><a class="brand" href="/">Riffbot</a></header>'
        f'<main class="{esc(main_class)}">{body}</main></body></html>'
    )


NOT_FOUND = page("Not found", "<h1>Not found</h1><p>There is nothing at this address.</p>")


def index(links: Iterable[tuple[str, str]]) -> str:
    items = "".join(f'<li><a href="{esc(url)}">{esc(label)}</a></li>' for label, url in links)
    body = (
        "<h1>Riffbot</h1><p>Music made with spectrogram diffusion. Each server's pages open "
        "from the links the bot posts with <code>/web</code>.</p>"
    )
    if items:
        body += f"<ul class='links'>{items}</ul>"
    return page("Riffbot", body)


def radio(*, base: str, gallery_url: str, now: dict[str, Any] | None) -> str:
    playing = (now or {}).get("now_playing") or "Nothing is playing yet."
    up_next = (now or {}).get("up_next") or []
    queue = "".join(f"<li>{esc(p)}</li>" for p in up_next) or "<li class='empty'>empty</li>"
    body = (
        f'<section id="radio" data-base="{esc(base)}">'
        "<h1>Radio</h1>"
        '<div class="stage"><canvas id="timeline" width="960" height="420"></canvas>'
        '<button id="play" type="button">▶ Listen</button></div>'
        '<p class="mode">view: <span id="view-mode">loading</span> · '
        '<span id="conn">not connected</span></p>'
        f'<h2>Now playing</h2><p id="now">{esc(playing)}</p>'
        f'<h2>Up next</h2><ol id="queue">{queue}</ol>'
        '<audio id="audio" preload="none"></audio>'
        f'<p><a href="{esc(gallery_url)}">Gallery</a></p>'
        "</section>"
    )
    return page("Riffbot radio", body, scripts=["radio.js"], main_class="radio")


def _file_url(base: str, job: Job, role: OutputRole) -> str:
    return f"{base}/file/{job.id}/{role.value}"


def riff_command(job: Job) -> str:
    """The slash command that makes this clip again, with the options the bot offers.

    A blend replays as ``/blend``; everything else as ``/riff`` with its prompt, seed and
    settings (a parent's picture as seed image cannot be typed, so it is left out).
    """
    if job.kind == JobKind.BLEND and job.end_prompt:
        parts = [f"/blend a:{_one_line(job.prompt)}", f"b:{_one_line(job.end_prompt)}"]
        parts.append(f"seed_a:{job.seed}")
        if job.end_seed is not None:
            parts.append(f"seed_b:{job.end_seed}")
        return " ".join(parts)
    parts = [f"/riff prompt:{_one_line(job.prompt)}", f"seed:{job.seed}", f"steps:{job.steps}"]
    parts.append(f"strength:{job.strength:g}")
    if job.negative_prompt:
        parts.append(f"negative:{_one_line(job.negative_prompt)}")
    if job.seed_image and "/" not in job.seed_image:
        parts.append(f"seed_image:{job.seed_image}")
    if job.kind == JobKind.LOOP:
        parts.append("loop:True")
    return " ".join(parts)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def job_card(base: str, job: Job) -> str:
    mp3 = job.output(OutputRole.MP3)
    picture = job.output(OutputRole.PICTURE_PNG)
    media = ""
    if job.outputs_purged_at is None and picture is not None:
        media += (
            f'<img class="picture" alt="spectrogram of {esc(job.display_id)}" loading="lazy" '
            f'src="{esc(_file_url(base, job, OutputRole.PICTURE_PNG))}">'
        )
    if job.outputs_purged_at is None and mp3 is not None:
        media += (
            f'<audio controls preload="none" src="{esc(_file_url(base, job, OutputRole.MP3))}">'
            "</audio>"
        )
    prompt = esc(job.prompt)
    if job.end_prompt and job.end_prompt != job.prompt:
        prompt += f" → {esc(job.end_prompt)}"
    params = {
        "kind": str(job.kind),
        "status": str(job.status),
        "seed": job.seed,
        "steps": job.steps,
        "strength": f"{job.strength:g}",
        "guidance": f"{job.guidance:g}",
        "scheduler": job.scheduler,
        "seed image": job.seed_image if job.seed_image and "/" not in job.seed_image else "-",
        "alpha": f"{job.alpha:g}",
        "made": job.created_at.strftime("%Y-%m-%d %H:%M UTC"),
    }
    if job.duration_s:
        params["length"] = f"{job.duration_s:.1f} s"
    rows = "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in params.items())
    link = f"{base}/job/{job.id}"
    command = riff_command(job)
    label = f"Copy as {command.split(' ', 1)[0]} command"
    heading = f'<a class="permalink" href="{esc(link)}">{esc(job.display_id)}</a>'
    return (
        f'<article class="job" id="job-{job.id}" data-job="{job.id}">'
        f"<h2>{heading} <span class='prompt'>{prompt}</span></h2>{media}"
        f"<dl class='params'>{rows}</dl>"
        f'<p class="replay"><code class="cmd">{esc(command)}</code> '
        f'<button type="button" class="copy" data-copy="{esc(command)}">'
        f"{esc(label)}</button></p></article>"
    )


def gallery(
    *,
    base: str,
    jobs: list[Job],
    query: str,
    page_no: int,
    has_more: bool,
    include_radio: bool,
    radio_url: str,
) -> str:
    cards = "".join(job_card(base, job) for job in jobs)
    if not cards:
        cards = (
            "<p class='empty'>No jobs match.</p>" if query else "<p class='empty'>No jobs yet.</p>"
        )

    def page_link(n: int) -> str:
        params = {"page": str(n)} | ({"q": query} if query else {})
        params |= {"radio": "1"} if include_radio else {}
        return f"{base}?{urlencode(params)}"

    nav = ""
    if page_no > 1:
        nav += f'<a rel="prev" href="{esc(page_link(page_no - 1))}">← newer</a> '
    if has_more:
        nav += f'<a rel="next" href="{esc(page_link(page_no + 1))}">older →</a>'
    body = (
        "<h1>Gallery</h1>"
        f'<form class="search" method="get" action="{esc(base)}">'
        f'<input type="search" name="q" value="{esc(query)}" placeholder="search prompts" '
        'maxlength="200"><label><input type="checkbox" name="radio" value="1"'
        f"{' checked' if include_radio else ''}> radio clips</label>"
        '<button type="submit">Search</button></form>'
        f'<p><a href="{esc(radio_url)}">Radio</a> · page {page_no}</p>'
        f'<div class="jobs">{cards}</div><nav class="pages">{nav}</nav>'
    )
    return page("Riffbot gallery", body, scripts=["gallery.js"], main_class="gallery")


def _tree(base: str, node: TreeNode, current: int) -> str:
    label = f"{node.job.display_id} {node.job.action or node.job.kind}: {node.job.prompt[:80]}"
    mark = ' class="current"' if node.job.id == current else ""
    item = f'<a{mark} href="{esc(base)}/job/{node.job.id}">{esc(label)}</a>'
    kids = "".join(_tree(base, child, current) for child in node.children)
    return f"<li>{item}{f'<ul>{kids}</ul>' if kids else ''}</li>"


def job_page(*, base: str, job: Job, family: Lineage) -> str:
    ancestors = "".join(
        f'<li><a href="{esc(base)}/job/{j.id}">{esc(j.display_id)} {esc(j.prompt[:80])}</a></li>'
        for j in family.ancestors
    )
    tree = _tree(base, family.tree, job.id)
    body = (
        f'<p><a href="{esc(base)}">← gallery</a></p>'
        f"{job_card(base, job)}"
        "<section class='lineage'><h2>Lineage</h2>"
        f"<h3>Made from</h3><ol class='ancestors'>{ancestors or '<li>an original</li>'}</ol>"
        f"<h3>This job and what was made from it</h3><ul class='tree'>{tree}</ul></section>"
    )
    return page(f"Riffbot {job.display_id}", body, scripts=["gallery.js"], main_class="gallery")


def to_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
