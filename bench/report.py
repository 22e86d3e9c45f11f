"""The one table: every metric for each server, the ratios, and the issue's targets."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from limits import LimitResult
from load import WrkResult

SERVERS = ("generated", "microsoft", "floor")


@dataclass(frozen=True)
class Measured:
    """Everything measured for one server."""

    json_store: WrkResult
    json_no_store: WrkResult
    stream: WrkResult
    ttfb_ms: float
    idle_rss_mb: float
    loaded_rss_mb: float
    cold_start_s: float
    stored: bool | None  # GET after a create with store on; None where not applicable
    export: tuple[WrkResult, WrkResult] | None = None
    """The generated server only: the exported scenario with OTLP export (off, on)."""
    limits: LimitResult | None = None
    """The limit rows (limits.py), when measured."""


@dataclass(frozen=True)
class Row:
    """One metric: how to read it, how to print it, and the generated server's target."""

    label: str
    value: Callable[[Measured], float | None]  # None: not measured for this server
    digits: int
    target: str = ""
    met: Callable[[float, float, float], bool] | None = None  # (generated, microsoft, floor)
    compared: bool = True  # whether generated/peer ratios mean anything for this metric


LIMITS: tuple[tuple[str, Callable[[LimitResult], float], int], ...] = (
    ("peak RSS MB, one stream of a 4 MiB input", lambda r: r.big_input_peak_mb, 1),
    ("seconds to read that stream (120 = cut off)", lambda r: r.big_input_seconds, 1),
    ("RSS MB, 500 streams to clients that do not read", lambda r: r.slow_readers_mb, 1),
    ("p99 latency ms, non-streaming, 256 connections", lambda r: r.wide_p99_ms, 2),
    ("non-2xx + socket errors, 256 connections", lambda r: r.wide_bad, 0),
)
"""The limit rows (limits.py): label, value, digits. Measured, not targets."""


def _limit_row(label: str, value: Callable[[LimitResult], float], digits: int) -> Row:
    return Row(label, lambda m: value(m.limits) if m.limits else None, digits)


ROWS = (
    Row(
        "non-streaming req/s, store on",
        lambda m: m.json_store.per_second,
        0,
        ">= 15x MS and >= 0.5x floor",
        lambda g, ms, fl: g >= 15 * ms and g >= 0.5 * fl,
    ),
    Row("non-streaming req/s, store off", lambda m: m.json_no_store.per_second, 0),
    Row(
        "streamed responses/s, store on",
        lambda m: m.stream.per_second,
        0,
        ">= 15x MS and >= 0.3x floor",
        lambda g, ms, fl: g >= 15 * ms and g >= 0.3 * fl,
    ),
    Row("server CPU us/request, non-streaming, store on", lambda m: m.json_store.cpu_us, 0),
    Row("server CPU us/request, non-streaming, store off", lambda m: m.json_no_store.cpu_us, 0),
    Row("server CPU us/request, streamed, store on", lambda m: m.stream.cpu_us, 0),
    Row(
        "wrk CPU, busiest run (cores; 1 = wrk is the limit)",
        lambda m: max(m.json_store.wrk_busy, m.json_no_store.wrk_busy, m.stream.wrk_busy),
        2,
        compared=False,
    ),
    Row("p50 latency ms, non-streaming", lambda m: m.json_store.p50_ms, 2),
    Row(
        "p99 latency ms, non-streaming",
        lambda m: m.json_store.p99_ms,
        2,
        "< 3x floor",
        lambda g, ms, fl: g < 3 * fl,
    ),
    Row("p50 latency ms, streamed", lambda m: m.stream.p50_ms, 2),
    Row("p99 latency ms, streamed", lambda m: m.stream.p99_ms, 2),
    Row("first streamed byte ms (median)", lambda m: m.ttfb_ms, 2),
    Row(
        "idle RSS MB",
        lambda m: m.idle_rss_mb,
        1,
        "<= floor + 10 MB",
        lambda g, ms, fl: g <= fl + 10,
    ),
    Row("loaded RSS MB", lambda m: m.loaded_rss_mb, 1),
    *(_limit_row(*limit) for limit in LIMITS),
    Row(
        "non-streaming req/s, store on, OTLP export on",
        lambda m: m.export[1].per_second if m.export else None,
        0,
        compared=False,
    ),
    Row(
        "server CPU us/request, same, OTLP export on",
        lambda m: m.export[1].cpu_us if m.export else None,
        0,
        compared=False,
    ),
    Row(
        "req/s with OTLP export on / off (same run)",
        lambda m: m.export[1].per_second / m.export[0].per_second if m.export else None,
        2,
        ">= 0.80",
        lambda g, ms, fl: g >= 0.8,
        compared=False,
    ),
    Row(
        "cold start to /readiness s (median)",
        lambda m: m.cold_start_s,
        3,
        "<= 1.2x floor",
        lambda g, ms, fl: g <= 1.2 * fl,
    ),
    Row(
        "non-2xx + socket errors under load",
        lambda m: m.json_store.bad + m.json_no_store.bad + m.stream.bad,
        0,
        "0 for every server",
        lambda g, ms, fl: g == ms == fl == 0,
        compared=False,
    ),
)


def _ratio(ours: float | None, peer: float | None) -> str:
    if ours is None or peer is None:
        return ""
    return f"{ours / peer:.2f}x" if peer else "-"


def table(results: dict[str, Measured]) -> tuple[str, int]:
    """The markdown table and how many targets the generated server missed."""
    header = ["metric", *SERVERS, "gen/MS", "gen/floor", "target (generated)", "verdict"]
    lines = [header]
    missed = 0
    for row in ROWS:
        values = [row.value(results[name]) for name in SERVERS]
        verdict = ""
        if row.met and values[0] is not None:
            verdict = "PASS" if row.met(*values) else "FAIL"
            missed += verdict == "FAIL"
        lines.append(
            [
                row.label,
                *("n/a" if value is None else f"{value:,.{row.digits}f}" for value in values),
                _ratio(values[0], values[1]) if row.compared else "",
                _ratio(values[0], values[2]) if row.compared else "",
                row.target,
                verdict,
            ]
        )
    stored = [results[name].stored for name in SERVERS]
    missed += not stored[0]
    lines.append(
        [
            "GET after create, store on",
            *("n/a" if s is None else "yes" if s else "no" for s in stored),
            "",
            "",
            "returns the stored Response",
            "PASS" if stored[0] else "FAIL",
        ]
    )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]

    def render(cells: list[str]) -> str:
        padded = (
            cell.ljust(w) if i == 0 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(cells, widths, strict=True))
        )
        return "| " + " | ".join(padded) + " |"

    rule = "|" + "|".join("-" * (w + 1) + (":" if i else "-") for i, w in enumerate(widths)) + "|"
    return "\n".join([render(lines[0]), rule, *(render(line) for line in lines[1:])]), missed
