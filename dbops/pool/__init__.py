"""Pool instrumentation for apps: ``instrument(engine)``, the snapshot endpoint, readiness.
(instrument.py, endpoint.py; the `dbops pool` CLI reads the endpoint: inspect.py)."""
from __future__ import annotations

from dbops.pool.instrument import PoolStats, all_stats, current_site, instrument, pool_ready

__all__ = ["PoolStats", "all_stats", "current_site", "instrument", "pool_ready"]
