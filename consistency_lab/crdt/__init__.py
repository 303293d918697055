"""Conflict-free replicated data types: pure data with state-based ``merge`` and ``value``.

No SimPy, no simulator: running these on simulated nodes is ``replication``'s job.
"""

__all__: list[str] = []
