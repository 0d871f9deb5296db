"""probe at the command level: collect, assess, and (for --watch) keep the previous sample."""
from __future__ import annotations

from dbops.config import Config
from dbops.probe.assess import Thresholds, assess
from dbops.probe.collect import Sample, collect
from dbops.reports import ProbeReport


def probe(config: Config, *, thresholds: Thresholds | None = None, show_queries: bool = False,
          statement_timeout: float = 2.0, previous: Sample | None = None,
          pgbouncer: str | None = None) -> tuple[ProbeReport, Sample]:
    sample = collect(config.url, connect_timeout=min(config.connect_timeout, 5.0),
                     statement_timeout=statement_timeout, show_queries=show_queries)
    bouncer = None
    if pgbouncer:
        from dbops.probe.pgbouncer import collect_pgbouncer

        bouncer = collect_pgbouncer(pgbouncer, connect_timeout=min(config.connect_timeout, 5.0))
    report = assess(sample, thresholds or Thresholds(), database=config.masked_url, previous=previous,
                    pgbouncer=bouncer)
    return report, sample
