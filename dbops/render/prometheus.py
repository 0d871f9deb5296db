"""check-drift in Prometheus' text exposition format, for node_exporter's textfile collector:
the differences per verdict and whether the check could run, per target under fan-out."""
from __future__ import annotations

from typing import Any, TextIO

from dbops.redact import redact
from dbops.reports.drift import VERDICTS

HELP = (
    ("dbops_drift_items", "Differences check-drift found, by verdict (pending_migration does not fail the check)."),
    ("dbops_drift_clean", "1 when check-drift found nothing that fails the check, else 0."),
    ("dbops_drift_check_success", "1 when check-drift ran to a verdict, 0 when it could not (connection, config)."),
    ("dbops_drift_duration_seconds", "How long check-drift took."),
)


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(**labels: str | None) -> str:
    body = ",".join(f'{k}="{_label(v)}"' for k, v in labels.items() if v is not None)
    return "{" + body + "}" if body else ""


def _samples(target: str | None, items: tuple[Any, ...] | None, *, ran: bool, duration_ms: float) -> list[str]:
    lines = [f"dbops_drift_check_success{_labels(target=target)} {1 if ran else 0}"]
    if not ran:
        return lines
    items = items or ()
    for verdict in VERDICTS:
        count = sum(1 for i in items if i.verdict == verdict)
        lines.append(f"dbops_drift_items{_labels(target=target, verdict=verdict)} {count}")
    failing = any(i.verdict != "pending_migration" and i.severity != "warning" for i in items)
    lines.append(f"dbops_drift_clean{_labels(target=target)} {0 if failing else 1}")
    lines.append(f"dbops_drift_duration_seconds{_labels(target=target)} {duration_ms / 1000:.3f}")
    return lines


def render_prometheus(report: Any, out: TextIO, *, error: Any = None) -> None:
    lines: list[str] = []
    if report is not None and hasattr(report, "targets"):  # fan-out: one series per target
        for t in report.targets:
            ran = t.outcome in ("ok", "check_failed")
            lines += _samples(t.target, tuple(t.items or ()) + tuple(report.shared_items), ran=ran,
                              duration_ms=t.duration_ms)
    elif report is not None:
        lines += _samples(report.target, report.items, ran=True, duration_ms=report.duration_ms)
    else:
        lines += _samples(None, (), ran=False, duration_ms=0.0)
    body: list[str] = []
    for name, text in HELP:
        series = [line for line in lines if line.startswith(name + "{") or line.startswith(name + " ")]
        if series:
            body += [f"# HELP {name} {text}", f"# TYPE {name} gauge", *series]
    out.write(redact("\n".join(body)) + "\n")
    out.flush()
