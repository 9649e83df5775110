"""Benchmarks of the hot paths, runnable as ``python -m bench NAME [--scale X]`` or ``python -m bench all``.

* ``clock`` — due-moment computations per second (:func:`federation.clock.compute_deadline`) over a seeded,
  realistic mix of catalogue budgets, holidays, pauses and extensions; target ≥ 200,000/s.
* ``approval`` — full case lifecycles per second through :class:`county_node.approval.services.ApprovalService`
  (submit → accept → review → decide → conclude, five transactions) on SQLite and PostgreSQL; target ≥ 300/s
  on SQLite.

Each benchmark writes progress lines to stderr and ends with exactly one JSON line on stdout,
``{"bench": NAME, ...}``, so that a script (or CI) can keep the figures. ``--scale`` multiplies the workload
(``--scale 0.01`` for a smoke run). PostgreSQL figures use a fresh temporary database on the server named by
``SUNSHINE_BENCH_POSTGRES_URL`` (an admin URL, default ``postgresql+psycopg://postgres@127.0.0.1:5432/postgres``)
and are ``null`` when that server cannot be reached.
"""
