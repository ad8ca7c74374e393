"""A tiny Discord on 127.0.0.1 (aiohttp REST + gateway) for checks where the HTTP layer matters.

SimCord replaces discord.py's HTTP client, so multipart encoding and rate-limit handling are
never exercised there. This fake speaks the real wire format to unmodified discord.py: the bot
logs in, syncs, receives an INTERACTION_CREATE over a websocket, and its callback and edits
arrive here as real HTTP requests (JSON or multipart). ``rate_limit_next_patch`` answers one
edit with a 429 the way Discord does, to show discord.py waits and retries.

Pitfalls this handles (see ../shared/reference/discord.md, 1.9): JSON responses must have
``Content-Type: application/json`` exactly; READY needs ``application.id``; interactions need
``attachment_size_limit``; a 429 without a ``Via`` header is taken for a Cloudflare ban.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any

import discord
from aiohttp import web

APP_ID = 4242
BOT_ID = 4242
USER_ID = 777
CHANNEL_ID = 555


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        status=status,
        body=json.dumps(data).encode(),
        headers={"Content-Type": "application/json", **(headers or {})},
    )


def user_payload(user_id: int, name: str, *, bot: bool = False) -> dict[str, Any]:
    return {
        "id": str(user_id),
        "username": name,
        "discriminator": "0",
        "global_name": name,
        "avatar": None,
        "bot": bot,
        "public_flags": 0,
        "flags": 0,
    }


@dataclass
class Received:
    method: str
    path: str
    at: float
    json: Any = None
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    status: int = 200


class WireDiscord:
    def __init__(self) -> None:
        self.received: list[Received] = []
        self.rate_limit_next_patch: float | None = None
        self._ids = itertools.count(10_000)
        self._sockets: list[web.WebSocketResponse] = []
        self.ready = asyncio.Event()
        self.delivered = asyncio.Event()  # an edit carrying the MP3 was accepted
        self.runner: web.AppRunner | None = None
        self.port = 0

    # --- lifecycle ----------------------------------------------------------------------
    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/gateway", self.gateway)
        app.router.add_route("*", "/api/v10/{tail:.*}", self.rest)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        for socket in self._sockets:
            await socket.close()
        if self.runner is not None:
            await self.runner.cleanup()

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v10"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway"

    # --- gateway ------------------------------------------------------------------------
    async def gateway(self, request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        self._sockets.append(socket)
        await socket.send_json({"op": 10, "d": {"heartbeat_interval": 45_000}})
        sequence = itertools.count(1)
        async for message in socket:
            data = json.loads(message.data)
            if data.get("op") == 1:
                await socket.send_json({"op": 11})
            elif data.get("op") == 2:
                ready = {
                    "v": 10,
                    "user": user_payload(BOT_ID, "riffbot", bot=True),
                    "guilds": [],
                    "session_id": "wire-session",
                    "resume_gateway_url": self.gateway_url,
                    "application": {"id": str(APP_ID), "flags": 0},
                    "private_channels": [],
                    "relationships": [],
                }
                await socket.send_json({"op": 0, "t": "READY", "s": next(sequence), "d": ready})
                self.ready.set()
        return socket

    async def interact(self, command: str, options: list[dict[str, Any]]) -> str:
        """Send a slash command over the gateway (in a DM, so no guild state is needed)."""
        # A real snowflake: discord.py derives the token's 15-minute lifetime from it.
        interaction_id = discord.utils.time_snowflake(discord.utils.utcnow()) + next(self._ids)
        token = f"wire-token-{interaction_id}"
        payload = {
            "id": str(interaction_id),
            "application_id": str(APP_ID),
            "type": 2,
            "token": token,
            "version": 1,
            "data": {"id": str(next(self._ids)), "name": command, "type": 1, "options": options},
            "channel_id": str(CHANNEL_ID),
            "channel": {
                "id": str(CHANNEL_ID),
                "type": 1,
                "recipients": [user_payload(USER_ID, "alice")],
            },
            "user": user_payload(USER_ID, "alice"),
            "locale": "en-US",
            "app_permissions": "0",
            "entitlements": [],
            "authorizing_integration_owners": {},
            "context": 1,
            "attachment_size_limit": 10 * 2**20,
        }
        for socket in self._sockets:
            await socket.send_json({"op": 0, "t": "INTERACTION_CREATE", "s": 2, "d": payload})
        return token

    # --- REST ---------------------------------------------------------------------------
    def _message(self, content: str, attachments: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "id": str(next(self._ids)),
            "channel_id": str(CHANNEL_ID),
            "author": user_payload(BOT_ID, "riffbot", bot=True),
            "content": content,
            "timestamp": "2026-01-01T00:00:00+00:00",
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": attachments,
            "embeds": [],
            "pinned": False,
            "type": 0,
            "flags": 0,
            "components": [],
        }

    async def rest(self, request: web.Request) -> web.Response:
        path = "/" + request.match_info["tail"]
        record = Received(request.method, path, time.perf_counter())
        if request.content_type.startswith("multipart/"):
            reader = await request.multipart()
            async for part in reader:
                body = await part.read()  # type: ignore[union-attr]
                if part.name == "payload_json":  # type: ignore[union-attr]
                    record.json = json.loads(body)
                else:
                    name = part.name or ""  # type: ignore[union-attr]
                    record.files[name] = (part.filename or "", bytes(body))  # type: ignore[union-attr]
        elif request.can_read_body:
            record.json = await request.json()
        self.received.append(record)

        if path == "/users/@me":
            return _json(user_payload(BOT_ID, "riffbot", bot=True))
        if path == "/oauth2/applications/@me":
            return _json(
                {
                    "id": str(APP_ID),
                    "name": "riffbot",
                    "description": "",
                    "icon": None,
                    "bot_public": True,
                    "bot_require_code_grant": False,
                    "verify_key": "0" * 64,
                    "flags": 0,
                    "owner": user_payload(1, "owner"),
                }
            )
        if path.startswith("/applications/") and path.endswith("/commands"):
            return _json([])
        if path.startswith("/interactions/") and path.endswith("/callback"):
            interaction_id = path.split("/")[2]
            return _json(
                {
                    "interaction": {
                        "id": interaction_id,
                        "type": 2,
                        "response_message_loading": True,
                        "response_message_ephemeral": False,
                    },
                    "resource": {"type": 5},
                }
            )
        if request.method == "PATCH" and path.endswith("/messages/@original"):
            has_mp3 = any(name.endswith(".mp3") for name, _ in record.files.values())
            if self.rate_limit_next_patch is not None and has_mp3:
                retry_after, self.rate_limit_next_patch = self.rate_limit_next_patch, None
                record.status = 429
                return _json(
                    {
                        "message": "You are being rate limited.",
                        "retry_after": retry_after,
                        "global": False,
                    },
                    status=429,
                    headers={
                        "Via": "1.1 google",
                        "Retry-After": str(retry_after),
                        "X-RateLimit-Limit": "5",
                        "X-RateLimit-Remaining": "0",
                        "X-RateLimit-Reset-After": str(retry_after),
                        "X-RateLimit-Bucket": "wire",
                        "X-RateLimit-Scope": "user",
                    },
                )
            payload = record.json or {}
            attachments = [
                {
                    "id": str(next(self._ids)),
                    "filename": filename,
                    "size": len(data),
                    "url": f"http://127.0.0.1:{self.port}/cdn/{filename}",
                    "proxy_url": f"http://127.0.0.1:{self.port}/cdn/{filename}",
                }
                for filename, data in record.files.values()
            ]
            if has_mp3:
                self.delivered.set()
            return _json(self._message(str(payload.get("content") or ""), attachments))
        return _json({"message": "Unknown route (wire fake)", "code": 0}, status=404)
