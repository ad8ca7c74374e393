"""The aiohttp application: routes, security headers, rate limits and the scoped pages.

Every page under ``/radio/<token>`` and ``/g/<token>`` starts by verifying the token; what
fails (made up, foreign, revoked, or a job of another server) gets the same plain 404, so
nothing can be learnt by probing. Responses carry a CSP that allows only our own files (no
inline script), ``nosniff``, no referrer (the URL holds the token) and no framing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import select
from sqlalchemy.orm import Session

from db import Database, Job, OutputRole, parse_job_id
from web import gallery, pages
from web.encode import OGG_OPUS, ogg_opus
from web.links import Kind, LinkSigner
from web.metrics import JobFigures, RadioFigures, RiffbotCollector, job_figures, registry
from web.radio_feed import RadioHub, RadioSource, Tap
from web.ratelimit import RateLimiter

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).parent / "static"
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "media-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}
FILE_TYPES = {
    OutputRole.MP3: "audio/mpeg",
    OutputRole.PICTURE_PNG: "image/png",
    OutputRole.RAW_PNG: "image/png",
}


@dataclass(frozen=True)
class WebConfig:
    host: str = "127.0.0.1"
    port: int = 8787
    rate_per_s: float = 20.0
    rate_burst: int = 80
    max_streams_per_client: int = 2
    trust_forwarded: bool = False
    """Take the client address from X-Forwarded-For (only behind your own reverse proxy)."""
    stream_bitrate_kbps: int = 128
    page_size: int = 12


@dataclass(frozen=True)
class HealthChecks:
    """Optional liveness probes; ``None`` means "not part of this process" (the demo)."""

    engine_alive: Callable[[], bool] | None = None
    discord_connected: Callable[[], bool] | None = None


@dataclass
class WebDeps:
    database: Database
    data_dir: Path
    signer: LinkSigner
    config: WebConfig = field(default_factory=WebConfig)
    radios: RadioSource | None = None
    health: HealthChecks = field(default_factory=HealthChecks)
    index_links: Sequence[tuple[str, str]] = ()
    """Links on ``/`` (the demo's); the real bot lists none, so no page lists servers."""


HUB = web.AppKey("hub", RadioHub)
DEPS = web.AppKey("deps", WebDeps)


def create_app(deps: WebDeps) -> web.Application:
    limiter = RateLimiter(deps.config.rate_per_s, deps.config.rate_burst)
    app = web.Application(
        middlewares=[_headers, _limit(limiter, deps.config)], client_max_size=4096
    )
    app[DEPS] = deps
    hub = RadioHub(deps.radios or _NoRadios())
    app[HUB] = hub
    routes = _Routes(deps, hub)
    app.router.add_get("/", routes.index)
    app.router.add_get("/healthz", routes.healthz)
    app.router.add_get("/metrics", routes.metrics)
    app.router.add_get("/radio/{token}", routes.radio_page)
    app.router.add_get("/radio/{token}/now.json", routes.radio_now)
    app.router.add_get("/radio/{token}/stream.ogg", routes.radio_stream)
    app.router.add_get("/radio/{token}/clip/{job}.png", routes.radio_clip)
    app.router.add_get("/g/{token}", routes.gallery)
    app.router.add_get("/g/{token}/job/{job}", routes.job)
    app.router.add_get("/g/{token}/file/{job}/{role}", routes.file)
    app.router.add_static("/static", STATIC_DIR, follow_symlinks=False)

    async def start_hub(_app: web.Application) -> None:
        hub.start()

    async def close_hub(_app: web.Application) -> None:
        await hub.close()

    app.on_startup.append(start_hub)
    app.on_cleanup.append(close_hub)
    return app


class _NoRadios:
    def station(self, guild_id: int) -> None:
        return None

    def stations(self) -> dict[int, Any]:
        return {}


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def _headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPNotFound:
        response = _not_found()
    except web.HTTPException as exc:
        if exc.status >= 400:
            response = web.Response(status=exc.status, text=exc.reason, content_type="text/plain")
        else:
            raise
    except Exception:
        log.exception("web request failed: %s", request.path.split("/")[1][:20])
        response = web.Response(status=500, text="Something went wrong.", content_type="text/plain")
    if not response.prepared:
        response.headers.update(SECURITY_HEADERS)
        if not request.path.startswith("/static/"):
            response.headers.setdefault("Cache-Control", "no-store")
    return response


def _limit(limiter: RateLimiter, config: WebConfig) -> Any:
    @web.middleware
    async def limit(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not limiter.allow(client_of(request, config)):
            return web.Response(
                status=429,
                text="Too many requests; slow down.",
                headers={"Retry-After": "1", **SECURITY_HEADERS},
            )
        return await handler(request)

    return limit


def client_of(request: web.Request, config: WebConfig) -> str:
    if config.trust_forwarded:
        forwarded = request.headers.get("X-Forwarded-For", "")
        first = forwarded.split(",")[0].strip()
        if first:
            return first[:64]
    return request.remote or "unknown"


def _not_found() -> web.Response:
    response = web.Response(status=404, text=pages.NOT_FOUND, content_type="text/html")
    response.headers.update(SECURITY_HEADERS)
    return response


def _html(body: str) -> web.Response:
    return web.Response(text=body, content_type="text/html")


class _Routes:
    def __init__(self, deps: WebDeps, hub: RadioHub) -> None:
        self.deps = deps
        self.hub = hub
        self.streams: dict[str, int] = {}
        self.registry = registry(RiffbotCollector(self._job_figures, self._radio_figures))

    # ------------------------------------------------------------------ helpers
    def guild(self, request: web.Request, kind: Kind) -> int:
        guild_id = self.deps.signer.verify(kind, request.match_info["token"])
        if guild_id is None:
            raise web.HTTPNotFound()
        return guild_id

    @staticmethod
    def job_id(request: web.Request) -> int:
        try:
            return parse_job_id(request.match_info["job"])
        except ValueError:
            raise web.HTTPNotFound() from None

    def base(self, kind: Kind, guild_id: int) -> str:
        prefix = "/radio" if kind == "radio" else "/g"
        return f"{prefix}/{self.deps.signer.token(kind, guild_id)}"

    # ------------------------------------------------------------------ index, health
    async def index(self, request: web.Request) -> web.Response:
        return _html(pages.index(self.deps.index_links))

    async def healthz(self, request: web.Request) -> web.Response:
        checks: dict[str, bool | None] = {"database": await self._db_ok()}
        for name, probe in (
            ("engine", self.deps.health.engine_alive),
            ("discord", self.deps.health.discord_connected),
        ):
            checks[name] = None if probe is None else _safe(probe)
        ok = all(v is not False for v in checks.values())
        return web.json_response(
            {"status": "ok" if ok else "unhealthy", "checks": checks}, status=200 if ok else 503
        )

    async def _db_ok(self) -> bool:
        def ping(session: Session) -> bool:
            session.execute(select(Job.id).limit(1)).all()  # reachable, and our schema is there
            return True

        try:
            return await asyncio.wait_for(self.deps.database.run(ping), 5.0)
        except Exception:
            return False

    async def metrics(self, request: web.Request) -> web.Response:
        data = await asyncio.to_thread(generate_latest, self.registry)
        return web.Response(body=data, headers={"Content-Type": CONTENT_TYPE_LATEST})

    def _job_figures(self) -> JobFigures:
        return self.deps.database.call(job_figures)

    def _radio_figures(self) -> RadioFigures:
        stations = list(self.deps.radios.stations().values()) if self.deps.radios else []
        statuses = [s.status() for s in stations]
        return RadioFigures(
            stations=len(stations),
            clips_buffered=sum(s.buffered_clips for s in statuses),
            underruns=sum(s.underruns for s in statuses),
            listeners=sum(t.listeners for t in self.hub.taps()),
        )

    # ------------------------------------------------------------------ radio
    async def radio_page(self, request: web.Request) -> web.Response:
        guild_id = self.guild(request, "radio")
        tap = self.hub.tap(guild_id)
        now = _now_json(tap, self.base("radio", guild_id)) if tap else None
        return _html(
            pages.radio(
                base=self.base("radio", guild_id),
                gallery_url=self.base("gallery", guild_id),
                now=now,
            )
        )

    async def radio_now(self, request: web.Request) -> web.Response:
        guild_id = self.guild(request, "radio")
        tap = self.hub.tap(guild_id)
        if tap is None:
            return web.json_response({"playing": False})
        return web.json_response(_now_json(tap, self.base("radio", guild_id)))

    async def radio_clip(self, request: web.Request) -> web.StreamResponse:
        guild_id = self.guild(request, "radio")
        return await self._file(guild_id, self.job_id(request), OutputRole.RAW_PNG)

    async def radio_stream(self, request: web.Request) -> web.StreamResponse:
        guild_id = self.guild(request, "radio")
        tap = self.hub.tap(guild_id)
        if tap is None:
            raise web.HTTPNotFound()
        client = client_of(request, self.deps.config)
        if self.streams.get(client, 0) >= self.deps.config.max_streams_per_client:
            return web.Response(status=429, text="Too many streams from this address.")
        try:
            start = int(request.query.get("from", tap.frame))
        except ValueError:
            start = tap.frame
        # The page asks for the live frame; anything else is clamped to what the tap holds.
        start = min(max(start, tap.oldest_frame), tap.frame)
        response = web.StreamResponse(
            headers={
                "Content-Type": OGG_OPUS,
                "Cache-Control": "no-store",
                "X-Stream-Start-Frame": str(start),
                **SECURITY_HEADERS,
            }
        )
        self.streams[client] = self.streams.get(client, 0) + 1
        tap.listeners += 1
        try:
            await response.prepare(request)
            async for chunk in ogg_opus(
                _pcm_from(tap, start), bitrate_kbps=self.deps.config.stream_bitrate_kbps
            ):
                await response.write(chunk)
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            tap.listeners -= 1
            self.streams[client] -= 1
            if not self.streams[client]:
                del self.streams[client]
        return response

    # ------------------------------------------------------------------ gallery
    async def gallery(self, request: web.Request) -> web.Response:
        guild_id = self.guild(request, "gallery")
        query = request.query.get("q", "")[:200]
        radio = request.query.get("radio") == "1"
        try:
            page_no = max(1, min(int(request.query.get("page", "1")), 10_000))
        except ValueError:
            page_no = 1
        jobs, has_more = await self.deps.database.run(
            gallery.guild_jobs,
            guild_id,
            query=query,
            page=page_no,
            per_page=self.deps.config.page_size,
            include_radio=radio,
        )
        return _html(
            pages.gallery(
                base=self.base("gallery", guild_id),
                jobs=jobs,
                query=query,
                page_no=page_no,
                has_more=has_more,
                include_radio=radio,
                radio_url=self.base("radio", guild_id),
            )
        )

    async def job(self, request: web.Request) -> web.Response:
        guild_id = self.guild(request, "gallery")
        job_id = self.job_id(request)

        def read(session: Session) -> tuple[Any, gallery.Lineage] | None:
            job = gallery.guild_job(session, guild_id, job_id)
            return None if job is None else (job, gallery.job_lineage(session, guild_id, job))

        found = await self.deps.database.run(read)
        if found is None:
            raise web.HTTPNotFound()
        job, family = found
        return _html(pages.job_page(base=self.base("gallery", guild_id), job=job, family=family))

    async def file(self, request: web.Request) -> web.StreamResponse:
        guild_id = self.guild(request, "gallery")
        try:
            role = OutputRole(request.match_info["role"])
        except ValueError:
            raise web.HTTPNotFound() from None
        return await self._file(guild_id, self.job_id(request), role)

    async def _file(self, guild_id: int, job_id: int, role: OutputRole) -> web.StreamResponse:
        if role not in FILE_TYPES:
            raise web.HTTPNotFound()
        job = await self.deps.database.run(gallery.guild_job, guild_id, job_id)
        output = job.output(role) if job is not None and job.outputs_purged_at is None else None
        if output is None:
            raise web.HTTPNotFound()
        path = output.resolve(self.deps.data_dir)
        if not path.is_file():
            raise web.HTTPNotFound()
        return web.FileResponse(
            path,
            headers={
                "Content-Type": FILE_TYPES[role],
                "Cache-Control": "private, max-age=3600",
                **SECURITY_HEADERS,
            },
        )


def _safe(probe: Callable[[], bool]) -> bool:
    try:
        return bool(probe())
    except Exception:
        return False


def _now_json(tap: Tap, base: str) -> dict[str, Any]:
    now = tap.now()
    data = asdict(now)
    clips = []
    for mark in now.clips:
        image = None
        if mark.job_id is not None:
            with contextlib.suppress(ValueError):
                image = f"{base}/clip/{parse_job_id(mark.job_id)}.png"
        clips.append({"frame": mark.frame, "prompt": mark.description, "image": image})
    data["clips"] = clips
    data["playing"] = True
    data["frame_ms"] = 20
    return data


async def _pcm_from(tap: Tap, start: int) -> AsyncIterator[bytes]:
    """The tap's frames from ``start`` on, as they arrive (a late start jumps to the oldest)."""
    frame = start
    while True:
        first, pcm = tap.frames_from(frame)
        if pcm:
            frame = first + len(pcm) // 3840
            yield pcm
        else:
            await tap.wait_new()
            if not tap.running:
                return
