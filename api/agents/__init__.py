"""The server side of stream agents: the internal agent API (not a LUNA spec operation).

Agents register, then heartbeat: each heartbeat renews their stream leases, reports stream
statuses and logs, and answers which streams to start (``assign``) and stop (``release``).
Analytic events arrive in batches, idempotently, and run each analytic's callbacks.

``protocol``: bodies and leases; ``leases``: the lease transactions; ``reports``: applying a
reported status; ``deliveries`` and ``luna_events``: events and their callbacks;
``endpoints``: the HTTP handlers. The wire contract is described in ``protocol``.
"""
