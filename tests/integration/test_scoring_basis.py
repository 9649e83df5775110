"""What each measure counts, on SQLite and PostgreSQL: cases accepted in the period for volume, cases decided for
the clock, and the minimum sample per measure — a county that has accepted enough cases is ranked on those measures
while its clock measures wait for decisions (the demo's first days).

On top of the hand-built data set (``scoring_data``), county 371124 (D, city 3711) accepted five cases in the last
week of November and decided none of them in November (minimum sample: 3 a county, 2 a department or window):

* D1–D3 (ITEMA, window W01) accepted Nov 24, still running; D4 (ITEMA, W01) accepted Nov 30, decided Dec 2; D5
  (instant ITEMB, no window) accepted Nov 30, decided Dec 1. One yellow card (SUP-001 on D1, Nov 27).
* November, D: accepted 5 (instant 1), decided 0 — on-time rate, budget used, correction rate and the early-finish
  bonus are below the minimum (null, not 0). Per 100 accepted: yellow 20 → 5 · 30/50 = 3.00, red 0 → 5.00;
  complaints 0 → 10.00; instant 1 of 5 = 0.2 → 5 · 0.2/0.5 = 2.00; key data 1 → 10.00; no complaint or negative
  rating → 10.00 each. Measured 50.00 of the weights 55 → 90.91; yellow −5 · 1 · 1/5 = −1.00 → 89.91, ranked 2nd
  of 3 (B 95.24, A 47.14 as in ``test_scoring``, whose figures D leaves alone: it decided nothing in November).
* D6 (ITEMA, W01) accepted 00:30 on Dec 1 China time (Nov 30 in UTC): a December acceptance.
* December, D: decided 2 (D4, D5), accepted 1 (D6): below the minimum on every case basis — scored, not ranked.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import date, datetime
from typing import Any

import pytest
from sqlalchemy import Engine, insert

from city_aggregator.scoring.adapters.aggregates import day_table, monthly_rows
from city_aggregator.scoring.domain import MEASURES, samples
from city_aggregator.scoring.explain import explain_score
from city_aggregator.scoring.service import compute_scores, export_scores
from federation.standards import StandardsBundle
from federation.storage.standards_store import load_calendar
from federation.storage.tables import alerts, cases
from federation.storage.uow import UnitOfWork
from federation.timeutil import CST
from tests.integration import scoring_data as sd

PROVINCE = "370000"
VERSION = "2026.09.1"
D = "371124"
ACCEPTED_D6 = datetime(2026, 12, 1, 0, 30, tzinfo=CST)

D_CASES = [
    *(
        sd._case(f"{D}-D{i}", item="ITEMA0001", accepted=sd.cst(11, 24), decided=None, window="W01", budget=5)
        for i in (1, 2, 3)
    ),
    sd._case(f"{D}-D4", item="ITEMA0001", accepted=sd.cst(11, 30), decided=sd.cst(12, 2), window="W01", budget=5),
    sd._case(f"{D}-D5", item="ITEMB0001", accepted=sd.cst(11, 30), decided=sd.cst(12, 1), window=None, budget=0),
    # half an hour into December, China time (still November 30 in UTC): a December acceptance
    sd._case(f"{D}-D6", item="ITEMA0001", accepted=ACCEPTED_D6, decided=None, window="W01", budget=5),
]
D_ALERTS = [sd._alert(f"{D}-Y1", f"{D}-D1", "SUP-001", "yellow", sd.cst(11, 27))]


@pytest.fixture
def loaded(engine: Engine, bundle: StandardsBundle) -> Engine:
    sd.load(engine, bundle)
    with UnitOfWork(engine) as uow:
        uow.conn.execute(insert(cases), D_CASES)
        uow.conn.execute(insert(alerts), D_ALERTS)
        uow.commit()
    return engine


def _counts(engine: Engine, months: list[str]) -> dict[tuple[str, str | None, str], dict[str, int]]:
    """The monthly rows of the scope, summed per (county, window, month): the aggregate query's answer."""
    out: dict[tuple[str, str | None, str], Counter[str]] = {}
    with UnitOfWork(engine, readonly=True) as uow:
        calendar = load_calendar(uow.conn)
        with day_table(uow.conn, calendar, date(2016, 1, 1), date(2027, 1, 1)) as days:
            rows = monthly_rows(uow.conn, days, scope="37", months=months, now=sd.NOW, early_percent=50)
    for row in rows:
        acc = out.setdefault((row.county, row.window, row.month), Counter())
        for i, v in row.counts:
            acc[MEASURES[i]] += v
    return {k: dict(v) for k, v in out.items()}


def test_cases_are_counted_accepted_in_their_month_of_acceptance_and_decided_in_their_month_of_decision(
    loaded: Engine,
) -> None:
    got = _counts(loaded, ["2026-10", "2026-11", "2026-12"])

    def pick(key: tuple[str, str | None, str], *names: str) -> tuple[int, ...]:
        return tuple(got.get(key, {}).get(n, 0) for n in names)

    # (accepted, instant, decided)
    assert pick((D, "W01", "2026-11"), "accepted", "instant", "cases") == (4, 0, 0)
    assert pick((D, None, "2026-11"), "accepted", "instant", "cases") == (1, 1, 0)
    assert pick((D, "W01", "2026-12"), "accepted", "instant", "cases") == (1, 0, 1)  # D6; D4
    assert pick((D, None, "2026-12"), "accepted", "instant", "cases") == (0, 0, 1)
    assert pick(("371122", "W01", "2026-11"), "accepted", "cases") == (3, 2)  # A6 accepted, still running
    assert pick(("371122", "W02", "2026-11"), "accepted", "cases") == (1, 1)
    assert pick(("371122", None, "2026-11"), "accepted", "instant", "cases") == (2, 2, 2)
    assert pick(("371122", "W01", "2026-10"), "accepted", "cases") == (1, 1)  # A7
    assert pick(("371123", "W01", "2026-11"), "accepted", "cases") == (3, 3)
    assert pick(("371202", "W01", "2026-11"), "accepted", "cases") == (1, 1)
    assert sum(v.get("accepted", 0) for v in got.values()) == len(sd.CASES) + len(D_CASES)


def _rows(engine: Engine, period: str) -> dict[str, dict[str, Any]]:
    data = json.loads(export_scores(engine, computed_by=PROVINCE, rules_version=VERSION, period=period))
    return {r["subject"]: r for r in data}


def test_a_county_with_enough_accepted_cases_is_ranked_while_its_clock_measures_wait(loaded: Engine) -> None:
    compute_scores(loaded, node=PROVINCE, scope="37", periods=["2026-11", "2026-12"], now=sd.NOW)
    november = _rows(loaded, "2026-11")
    d = november[D]
    parts = {i["id"]: i for i in d["breakdown"]["indicators"]}
    assert samples(d["breakdown"]["measures"]) == {
        "accepted": 5,
        "decided": 0,
        "budgeted": 0,
        "complaints": 0,
        "negatives": 0,
    }
    # left out (null, not 0): nothing decided yet
    assert [k for k, p in parts.items() if p["points"] is None] == [
        "on_time_rate",
        "budget_used_share",
        "correction_rate",
    ]
    assert all(parts[k]["lost"] is None for k in ("on_time_rate", "budget_used_share", "correction_rate"))
    assert {k: (p["value"], p["points"]) for k, p in parts.items() if p["points"] is not None} == {
        "yellow_cards_per_100": ("20.0000", "3.00"),
        "red_cards_per_100": ("0.0000", "5.00"),
        "complaints_per_1000": ("0.0000", "10.00"),
        "complaint_on_time_response": (None, "10.00"),
        "negative_follow_up": (None, "10.00"),
        "instant_share": ("0.2000", "2.00"),
        "key_data_completeness": ("1.0000", "10.00"),
    }
    b = d["breakdown"]
    assert (b["measured_points"], b["measured_weight"], b["weighted"]) == ("50.00", "55", "90.91")
    assert [(x["id"], x["points"]) for x in (*b["deductions"], *b["bonuses"])] == [
        ("yellow_card", "-1.00"),
        ("red_card", "0.00"),
        ("early_finish", None),
    ]
    assert (d["score"], d["cases"], d["small_sample"], d["rank"], d["ranked_of"]) == ("89.91", 0, False, 2, 3)
    assert [(s, november[s]["rank"]) for s in ("371123", D, "371122", "371202")] == [
        ("371123", 1),
        (D, 2),
        ("371122", 3),
        ("371202", None),
    ]
    assert (november["371122"]["score"], november["371123"]["score"]) == ("47.14", "95.24")  # D changes neither
    # its department and its window have enough accepted cases too (minimum 2)
    assert november[f"{D}/{sd.DEPT}"]["rank"] is not None
    assert (november[f"{D}/W01"]["rank"], november[f"{D}/W01"]["small_sample"]) == (1, False)

    december = _rows(loaded, "2026-12")[D]
    assert december["breakdown"]["measures"]["cases"] == 2
    assert december["breakdown"]["measures"]["accepted"] == 1  # D6
    assert (december["small_sample"], december["rank"]) == (True, None)

    e = explain_score(loaded, node=PROVINCE, county=D, period="2026-11", now=sd.NOW)
    assert e.arithmetic_ok  # the measured points scaled to 100, minus the deduction
    assert e.changed == {}
    assert e.records["accepted_cases"] == [f"{D}-D{i}" for i in range(1, 6)]
    assert (e.records["instant_cases"], e.records["cases"]) == ([f"{D}-D5"], [])
