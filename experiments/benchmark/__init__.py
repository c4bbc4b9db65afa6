"""Throughput benchmark, `python -m experiments.benchmark` (see `records` for what it
measures): `harness` times compiled workloads, `peers` runs the reference implementations,
`records` takes the measurements in alternation and writes the table, JSON and plot."""
from experiments.benchmark.harness import Timing, parse_env
from experiments.benchmark.records import (
    KINDS,
    BenchmarkConfig,
    _interleaved_records,
    main,
    ratios,
    records,
)

__all__ = ["KINDS", "BenchmarkConfig", "Timing", "_interleaved_records", "main", "parse_env",
           "ratios", "records"]
