"""Start and stop the web server on a running event loop (inside ``riffbot run`` or alone)."""

from __future__ import annotations

from aiohttp import web

from web.app import WebDeps, create_app


class WebServer:
    def __init__(self, deps: WebDeps) -> None:
        self.deps = deps
        self.app = create_app(deps)
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    async def start(self) -> int:
        """Bind ``config.host:config.port`` (port 0 picks a free one); returns the port."""
        runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
        await runner.setup()
        self._runner = runner
        await web.TCPSite(runner, self.deps.config.host, self.deps.config.port).start()
        self.port = int(runner.addresses[0][1])
        return self.port

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
