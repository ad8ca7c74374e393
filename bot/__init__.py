"""The Discord layer: commands, buttons and reactions in; status edits and result posts out.

It talks to the generator only through ``generation.types`` (the ``JobRunner`` protocol) and
to the history database through :class:`bot.store.JobStore` (``bot.db_store.DbStore`` in
production). It never imports torch or holds audio arrays.

- ``app``: ``create_bot(BotDeps) -> RiffBot``; extensions (the radio) plug in through deps.
- ``config``: ``BotConfig``, the bot's knobs (``riffbot.wiring`` builds it from settings).
- ``services``: what every handler needs (runner, store, config, dispatcher), bundled.
- ``commands/``: one module per slash command, each ``register(tree, services)``.
- ``actions``: the one road from a request to a running job (admit, acknowledge, refuse,
  run), shared by commands, buttons, modals, sets of takes and reactions.
- ``dispatcher``: admission limits, the one live status message, delivery, cancel, restart recovery.
- ``surfaces``: where that message lives (interaction response, or the channel as fallback).
- ``buttons``: persistent ``riff:<action>:<job_id>`` buttons, the blend select, the remix modal,
  and what a click on each does.
- ``reactions``: remix by emoji on result posts found by message id.
- ``requests``: pure validation and request building; ``messages``: every text the bot posts;
  ``replies``: the one private answer.
- ``store``/``db_store``: the database interface and its adapter; ``media``: ffmpeg probing
  and MP3 shrinking.
- ``takes``: sets of takes; ``posts``: result embeds and the Spectrogram button; ``chains``:
  ``/riff length`` extend chains.
- ``radio/``: ``/radio`` as a ``GroupCog`` (``cog``) over its rules (``controller``, given
  ``deps``; ``votes``) and its sessions (``store``); ``voice``: the endless audio source and
  the voice watchdog.
"""
