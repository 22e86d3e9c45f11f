"""The benchmark's own logic: reading wrk's report, combining rounds, and the verdicts.

Run with `.venv/bin/python -m pytest bench`.
"""

from __future__ import annotations

import dataclasses

import pytest

import foundry
from errors import BenchError
from limits import LimitResult
from load import WrkResult, _parse, best
from report import Measured, table

# wrk 4.1 as it prints (note the trailing blank after "1.15s" and the Stdev column's "%").
WRK_OUTPUT = """Running 4s test @ http://127.0.0.1:41315/responses
  1 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   327.04ms  166.42ms   1.22s    78.32%
    Req/Sec    98.10     53.63   254.00     71.43%
  Latency Distribution
     50%  304.95ms
     75%  380.84ms
     90%  424.20ms
     99%    1.15s 
  376 requests in 4.02s, 2.51MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 5
Requests/sec:     93.46
Transfer/sec:    637.64KB
"""


def test_wrk_report_is_read_with_units_and_errors() -> None:
    result = _parse(WRK_OUTPUT)
    assert (result.requests, result.per_second) == (376, 93.46)
    assert (result.p50_ms, result.p99_ms) == (304.95, 1150.0)
    assert result.bad == 5 + 3


def test_a_wrk_report_without_latencies_is_an_error() -> None:
    with pytest.raises(BenchError, match="50%"):
        _parse(WRK_OUTPUT.replace("     50%  304.95ms\n", ""))


def _run(per_second: float, p99_ms: float, bad: int = 0) -> WrkResult:
    return WrkResult(100, per_second, 1.0, p99_ms, bad, cpu_us=per_second / 10, wrk_busy=0.1)


def test_rounds_keep_each_best_value_and_every_error() -> None:
    combined = best([_run(900, 5.0, bad=1), _run(1000, 9.0, bad=2)], more_errors=4)
    assert (combined.per_second, combined.p99_ms, combined.cpu_us) == (1000, 5.0, 90)
    assert combined.bad == 7


def _measured(per_second: float, p99_ms: float, rss: float, cold: float) -> Measured:
    run = _run(per_second, p99_ms)
    return Measured(run, run, run, 0.5, rss, rss, cold, stored=True)


def test_targets_pass_and_fail_on_the_issue_thresholds() -> None:
    floor = _measured(10_000, 4.0, 35.0, 0.15)
    microsoft = _measured(334, 100.0, 50.0, 0.3)
    passing = _measured(5_010, 11.9, 45.0, 0.18)
    assert table({"generated": passing, "microsoft": microsoft, "floor": floor})[1] == 0
    failing = _measured(5_009, 12.1, 45.1, 0.19)
    text, missed = table({"generated": failing, "microsoft": microsoft, "floor": floor})
    # Just past each line: non-streaming and streamed (< 15x MS), p99, RSS, cold start.
    assert missed == 5
    assert text.count("FAIL") == 5


def test_the_export_row_wants_four_fifths_of_the_unexported_rate() -> None:
    floor = _measured(10_000, 4.0, 35.0, 0.15)
    microsoft = _measured(334, 100.0, 50.0, 0.3)
    generated = _measured(5_010, 11.9, 45.0, 0.18)
    for exported, missed in ((4_000, 0), (3_999, 1)):
        measured = dataclasses.replace(generated, export=(_run(5_000, 9.0), _run(exported, 9.0)))
        text, found = table({"generated": measured, "microsoft": microsoft, "floor": floor})
        assert found == missed
    row = next(line for line in text.splitlines() if line.startswith("| req/s with OTLP export"))
    assert row.count("n/a") == 2  # measured for the generated server only
    assert row.rstrip(" |").endswith("FAIL")


def test_the_foundry_rows_want_three_fifths_of_the_round_trip_bound() -> None:
    def run(per_second: float, bad: int = 0) -> WrkResult:
        return WrkResult(100, per_second, 1.0, 2.0, bad, cpu_us=500)

    ours, theirs = "generated, store=foundry", "microsoft, Foundry storage"
    met = {  # 32 connections: 960 req/s for one round trip, 480 for two
        (ours, "non-streaming, store on"): run(960),
        (ours, "streamed, store on"): run(480),
        (theirs, "non-streaming, store on"): run(100),
        (theirs, "streamed, store on"): run(50),
    }
    text, missed = foundry.report(met, 32)
    assert missed == 0 and text.count("PASS") == 2
    _, missed = foundry.report({**met, (ours, "streamed, store on"): run(479)}, 32)
    assert missed == 1
    _, missed = foundry.report({**met, (ours, "non-streaming, store on"): run(2000, bad=1)}, 32)
    assert missed == 1


def test_streams_also_need_three_tenths_of_the_floor() -> None:
    floor = _measured(10_000, 4.0, 35.0, 0.15)
    microsoft = _measured(100, 100.0, 50.0, 0.3)
    generated = _measured(5_010, 11.9, 45.0, 0.18)
    for streamed, missed in ((3_000, 0), (2_999, 1)):
        measured = dataclasses.replace(generated, stream=_run(streamed, 9.0))
        text, found = table({"generated": measured, "microsoft": microsoft, "floor": floor})
        assert found == missed
    row = next(line for line in text.splitlines() if line.startswith("| streamed responses/s"))
    assert row.rstrip(" |").endswith("FAIL")


def test_limit_rows_show_what_was_measured_and_set_no_verdict() -> None:
    floor = _measured(10_000, 4.0, 35.0, 0.15)
    microsoft = _measured(334, 100.0, 50.0, 0.3)
    generated = _measured(5_010, 11.9, 45.0, 0.18)
    servers = {"generated": generated, "microsoft": microsoft, "floor": floor}
    text, _ = table(servers)
    row = next(line for line in text.splitlines() if line.startswith("| peak RSS MB, one stream"))
    assert row.count("n/a") == 3
    limited = {
        name: dataclasses.replace(m, limits=LimitResult(100.0 + i, 9.0, 60.0, 30.0, 0))
        for i, (name, m) in enumerate(servers.items())
    }
    text, missed = table(limited)
    assert missed == 0
    row = next(line for line in text.splitlines() if line.startswith("| peak RSS MB, one stream"))
    assert "100.0" in row and "101.0" in row and "102.0" in row
    assert "PASS" not in row and "FAIL" not in row
