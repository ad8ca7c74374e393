"""``/radio``: an endless, morphing stream in a voice channel, steered by everyone in it.

- ``controller``: the rules (start, steer, votes, stop, status, save, resume) over small ports.
- ``store``: where sessions live between restarts (``RadioStore``, ``DbRadioStore``).
- ``cog``: the Discord side (the ``/radio`` commands, voice-state listeners, resume-on-ready).
"""
