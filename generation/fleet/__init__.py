"""Generation on a Ray Serve cluster: one engine per replica, and a runner that talks to it.

The fleet is the road out of one GPU. Each replica runs today's ``Engine`` (fair queue, batching
by shape, radio share), so batching still happens inside a GPU; the caller's ``FleetRunner`` has
the in-process engine's faces (``render``, ``generate``, ``cancel``, ``position``), streams
progress back, and writes the files it receives as bytes into its own data folder.

Modules: ``wire`` (the plain messages that cross the cluster, Ray-free), ``replica`` (the
replica's body: an engine plus job-id idempotency), ``deploy`` (the Serve deployment from
settings), ``runner`` (the caller's side: retries, waiting for the cluster, cancel), ``files``
(writing received bytes whole).
"""
