"""The web companion: a radio page, a gallery, health and metrics, served by aiohttp.

Everything a page shows is scoped to the one server (guild) its signed link names; nothing
here imports Discord or torch. The composition root (``riffbot.wiring`` or ``web.demo``)
hands in the database, a radio feed and the link signer through :class:`web.app.WebDeps`.
"""
