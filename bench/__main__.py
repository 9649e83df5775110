"""``python -m bench NAME|all [--scale X] [--seed N] [--no-postgresql]``: run benchmarks, one JSON line each.

``SUNSHINE_BENCH_POSTGRES_URL`` (read here, once) is the admin URL of the PostgreSQL server the benchmarks
create their temporary databases on.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bench import approval, clock, evaluate, ferry, latency, pages, replication, scoring, soak, sweep, video
from bench.harness import DEFAULT_POSTGRES_ADMIN_URL, DEFAULT_SEED, Options, emit
from federation.errors import SunshineError

__all__ = ["BENCHMARKS", "Benchmark", "main"]


@dataclass(frozen=True, slots=True)
class Benchmark:
    name: str
    summary: str
    run: Callable[[Options], Mapping[str, Any]]
    default_scale: float = 1.0  # the scale when --scale is not given


BENCHMARKS: Mapping[str, Benchmark] = {
    b.name: b
    for b in (
        Benchmark(clock.NAME, "due-moment computations per second (target ≥ 200,000/s)", clock.run),
        Benchmark(approval.NAME, "case lifecycles per second, SQLite and PostgreSQL (target ≥ 300/s)", approval.run),
        Benchmark(
            replication.NAME,
            "case events per second county → city over gRPC, vs the transport's ceiling (target ≥ 50,000/s)",
            replication.run,
        ),
        Benchmark(
            ferry.NAME,
            "case events per second county → city over the file ferry (网闸) vs the gRPC link (target ≥ 0.5 ×)",
            ferry.run,
        ),
        Benchmark(
            latency.NAME,
            "county commit → visible at the province, p50/p99, under 1,000 events/s background (target p99 < 1 s)",
            latency.run,
        ),
        Benchmark(
            sweep.NAME,
            "one supervision sweep over 1,000,000 open cases, SQLite and PostgreSQL (target < 3 s)",
            sweep.run,
        ),
        Benchmark(
            evaluate.NAME,
            "incremental supervision evaluation per case event, p50/p99 (target p99 < 2 ms)",
            evaluate.run,
        ),
        Benchmark(
            scoring.NAME,
            "a province-year (137 counties, ~3.4 M cases) scored for 12 months, vs one GROUP BY (target < 60 s, ≤ 5 ×)",
            scoring.run,
        ),
        Benchmark(
            video.NAME,
            "video index: 10,000,000 segments ingested (target ≥ 50,000/s) and camera + time-range queries "
            "(target p99 < 5 ms), SQLite and PostgreSQL",
            video.run,
        ),
        Benchmark(
            pages.NAME,
            "the inspectors' lights wall, rankings and trends pages rendered over a province-year (scale 0.2 by "
            "default), p99 (target < 300 ms)",
            pages.run,
            default_scale=pages.DEFAULT_SCALE,
        ),
        Benchmark(
            soak.NAME,
            "every city and county of Shandong (154 origins on 7 processes) under 1,000 faults: lost, duplicated and "
            "divergent records (target 0), convergence after the last fault",
            soak.run,
        ),
    )
}


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0: {text!r}")
    return value


def _parser() -> argparse.ArgumentParser:
    listing = "\n".join(f"  {b.name:<10} {b.summary}" for b in BENCHMARKS.values())
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Run Sunshine benchmarks. Progress goes to stderr; each benchmark ends with one JSON line "
        "on stdout.",
        epilog=f"benchmarks:\n{listing}\n  {'all':<10} every benchmark above, in order",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("name", choices=[*BENCHMARKS, "all"], help="benchmark to run, or 'all'")
    parser.add_argument(
        "--scale",
        type=_positive_float,
        default=None,
        help="workload size multiplier (default 1.0, pages 0.2; 0.01 to smoke)",
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="seed of generated workloads")
    parser.add_argument("--no-postgresql", action="store_true", help="skip the PostgreSQL figures (reported as null)")
    parser.add_argument(
        "--plaintext",
        action="store_true",
        help="latency: the federation in plaintext, unsigned (--insecure-dev), to compare with the default mTLS run",
    )
    return parser


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    """Parse ``argv``, run the chosen benchmarks, print each one's result line; 0 when all succeeded."""
    args = _parser().parse_args(argv)
    env = os.environ if environ is None else environ
    options = Options(
        scale=1.0,
        seed=args.seed,
        postgresql=not args.no_postgresql,
        postgres_admin_url=env.get("SUNSHINE_BENCH_POSTGRES_URL", DEFAULT_POSTGRES_ADMIN_URL),
        plaintext=args.plaintext,
    )
    names = list(BENCHMARKS) if args.name == "all" else [args.name]
    status = 0
    for name in names:
        try:
            bench = BENCHMARKS[name]
            scale = bench.default_scale if args.scale is None else args.scale
            result = bench.run(dataclasses.replace(options, scale=scale))
        except SunshineError as exc:
            print(f"[bench {name}] failed: {exc}", file=sys.stderr, flush=True)
            status = 1
            continue
        emit(result)
    return status


if __name__ == "__main__":
    from federation.logging import configure_logging

    configure_logging(level="warning")
    sys.exit(main())
