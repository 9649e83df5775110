"""What every benchmark shares: options, progress lines, timing, the result line, temporary PostgreSQL databases.

Progress goes to stderr; the one result line goes to stdout (:func:`emit`). Nothing here reads the environment:
the entry point (:mod:`bench.__main__`) reads ``SUNSHINE_BENCH_POSTGRES_URL`` once into :class:`Options`.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from federation.calendar_seed import seed_years
from federation.data import CATALOGUE_CSV
from federation.standards import StandardsBundle, bundle_from_catalogue_csv

__all__ = [
    "CATALOGUE_CSV",
    "DEFAULT_POSTGRES_ADMIN_URL",
    "DEFAULT_SEED",
    "Options",
    "Rounds",
    "catalogue_bundle",
    "emit",
    "optional_postgresql",
    "postgresql_problem",
    "progress",
    "scaled",
    "temp_postgresql_database",
    "time_rounds",
]

DEFAULT_POSTGRES_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
DEFAULT_SEED = 20260921


@dataclass(frozen=True, slots=True)
class Options:
    """How a benchmark run is configured (from the command line and, for the URL, the environment)."""

    scale: float = 1.0
    seed: int = DEFAULT_SEED
    postgresql: bool = True  # False: skip the PostgreSQL figures (reported as null)
    postgres_admin_url: str = DEFAULT_POSTGRES_ADMIN_URL
    plaintext: bool = False  # latency: the federation with --insecure-dev (no TLS, no signatures), for comparison


def progress(bench: str, message: str) -> None:
    """One human-readable progress line on stderr."""
    print(f"[bench {bench}] {message}", file=sys.stderr, flush=True)


def emit(result: Mapping[str, Any]) -> None:
    """The benchmark's final line: its figures as one JSON object on stdout."""
    print(json.dumps(result, ensure_ascii=False), flush=True)


def scaled(base: int, scale: float, minimum: int = 1) -> int:
    """``base`` multiplied by ``scale``, rounded, never below ``minimum``."""
    return max(minimum, round(base * scale))


@dataclass(frozen=True, slots=True)
class Rounds:
    """Wall-clock seconds of each timed round over the same ``n`` operations."""

    n: int
    seconds: tuple[float, ...]

    @property
    def best_per_s(self) -> float:
        return self.n / min(self.seconds)

    @property
    def median_per_s(self) -> float:
        return self.n / statistics.median(self.seconds)


def time_rounds(n: int, rounds: int, body: Callable[[], object]) -> Rounds:
    """Run ``body`` (which performs ``n`` operations) ``rounds`` times, timing each run with ``perf_counter``."""
    seconds: list[float] = []
    for _ in range(rounds):
        started = time.perf_counter()
        body()
        seconds.append(time.perf_counter() - started)
    return Rounds(n, tuple(seconds))


def catalogue_bundle() -> StandardsBundle:
    """The illustrative county catalogue with every calendar year ``chinese-calendar`` publishes."""
    return bundle_from_catalogue_csv(CATALOGUE_CSV, "2026.09.1", date(2026, 9, 1), seed_years())


def _redacted(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # a malformed URL: say so rather than echo what may hold a password
        return "<malformed URL>"


def postgresql_problem(admin_url: str) -> str | None:
    """None when the PostgreSQL server behind ``admin_url`` answers, else a one-line reason."""
    engine: Engine | None = None
    try:
        engine = create_engine(admin_url, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("select 1"))
    except Exception as exc:  # any failure (bad URL, no driver, no server) means "not reachable"
        return f"{_redacted(admin_url)} unreachable: {type(exc).__name__}: {exc}".splitlines()[0]
    finally:
        if engine is not None:
            engine.dispose()
    return None


@contextmanager
def temp_postgresql_database(admin_url: str) -> Iterator[str]:
    """A freshly created, uniquely named database on the server of ``admin_url``; dropped on exit."""
    name = f"sunshine_bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


@contextmanager
def optional_postgresql(
    options: Options, say: Callable[[str], None], *, nulls: str = "figures are"
) -> Iterator[str | None]:
    """A fresh PostgreSQL database for the run's PostgreSQL half (dropped on exit), or None — said why — when
    ``--no-postgresql`` was given or the server does not answer; ``nulls``: "figures are" / "figure is" (null)."""
    if not options.postgresql:
        say(f"postgresql: skipped (--no-postgresql); {nulls} null")
        yield None
    elif (problem := postgresql_problem(options.postgres_admin_url)) is not None:
        say(f"postgresql: skipped, {nulls} null — {problem}")
        yield None
    else:
        with temp_postgresql_database(options.postgres_admin_url) as url:
            yield url
