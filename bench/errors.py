"""The one error the benchmark reports: a one-line cause and what to do, then exit 1."""


class BenchError(Exception):
    """Something the benchmark cannot measure past; the message says why."""
