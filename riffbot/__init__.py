"""Riffbot's composition root: settings, wiring and the command line.

``generation``, ``db`` and ``bot`` never read settings themselves; this package reads them
once and passes what each part needs in.
"""
