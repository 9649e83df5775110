"""A bounded property-based run of every HTTP API (issue 15): schemathesis generates requests from each app's own
OpenAPI — the county's, the city's inspectors' and orders' — sends them logged in (a person holding every role of
that tier, so the requests reach the use cases, not only the rules) and fails on any 5xx. Bounded: a few examples
per operation (``slow``); a longer run for a release is ``SUNSHINE_FUZZ_EXAMPLES=200 pytest -m slow …``."""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from sqlalchemy import Engine

from county_node.bootstrap import CountyNode
from county_node.entrypoints.http import create_app
from federation.config import Config, NodeConfig
from federation.nodes import build_node
from federation.standards import StandardsBundle
from federation.storage.engine import make_engine
from migrations.runner import upgrade
from security.access import Role
from tests.conftest import FakeClock
from tests.integration.test_http_api import make_node
from tests.people import add_user

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=r"Using `httpx` with `starlette.testclient` is deprecated")
    from fastapi.testclient import TestClient

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings(r"ignore:Using `httpx` with `starlette.testclient` is deprecated"),
]

EXAMPLES = int(os.environ.get("SUNSHINE_FUZZ_EXAMPLES", "5"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,  # the same requests every run: a failure is reproducible, CI is stable
    database=None,
    suppress_health_check=list(HealthCheck),
)


def _token(app: Any, user_id: str) -> str:
    with TestClient(app) as client:
        r = client.post("/api/v1/auth/token", data={"username": user_id, "password": "Sunshine-test-2026"})
        assert r.status_code == 200, r.text
        return str(r.json()["access_token"])


@pytest.fixture
def engine(sqlite_url: str) -> Iterator[Engine]:
    eng = make_engine(sqlite_url)
    upgrade(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def county(engine: Engine, clock: FakeClock, bundle: StandardsBundle) -> CountyNode:
    node = make_node(engine, clock)
    node.approval.apply_standards(bundle)
    add_user(node.accounts, "fuzz", [Role.APPROVER, Role.SUPERVISOR, Role.NODE_ADMIN])
    return node


@pytest.fixture
def county_api(county: CountyNode) -> tuple[Any, str]:
    app = create_app(county)
    return _with_auth(schemathesis.openapi.from_asgi("/openapi.json", app), _token(app, "fuzz"))


@pytest.fixture
def inspector_api(engine: Engine, clock: FakeClock, bundle: StandardsBundle) -> tuple[Any, str]:
    node = build_node(Config(node=NodeConfig(division="370000")), engine=engine, clock=clock)
    add_user(node.accounts, "fuzz", [Role.INSPECTOR])
    app = node.http_app()
    return _with_auth(schemathesis.openapi.from_asgi("/openapi.json", app), _token(app, "fuzz"))


def _with_auth(schema: Any, token: str) -> tuple[Any, str]:
    """The schema without the login routes (a fuzzed logout would end the fuzzer's own session), and the token."""
    return schema.exclude(path_regex=r"^/api/v1/auth/"), token


def _fuzz(schema: Any, token: str) -> list[str]:
    """Every operation of ``schema``, a few generated requests each as ``token``'s person; the operations that
    answered a 5xx."""
    failed: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @FUZZ
        def check(case: Any) -> None:
            response = case.call(headers={"Authorization": f"Bearer {token}"})
            assert response.status_code < 500, f"{response.status_code} {response.text[:300]}"
            assert response.status_code != 401, "the fuzzer was not logged in"

        try:
            check()
        except AssertionError as exc:
            failed.append(f"{operation.method.upper()} {operation.path}: {exc}")
        except Exception as exc:  # an unexpected error: the app answered 500 (the test client raises it)
            failed.append(f"{operation.method.upper()} {operation.path}: 500 {type(exc).__name__}: {exc}")
    return failed


def test_the_county_api_never_answers_5xx(county_api: tuple[Any, str]) -> None:
    assert _fuzz(*county_api) == []


def test_the_inspectors_api_never_answers_5xx(inspector_api: tuple[Any, str]) -> None:
    assert _fuzz(*inspector_api) == []


def test_the_fuzzer_finds_a_5xx(county: CountyNode, monkeypatch: pytest.MonkeyPatch) -> None:
    """The run above can fail: with one use case broken, the fuzzer names its operation."""

    def broken() -> None:
        raise RuntimeError("broken on purpose")

    monkeypatch.setattr(county.approval, "summary", broken)
    app = create_app(county)
    schema, token = _with_auth(schemathesis.openapi.from_asgi("/openapi.json", app), _token(app, "fuzz"))
    failed = _fuzz(schema.include(path_regex=r"^/api/v1/(summary|catalogue)$"), token)
    assert len(failed) == 1
    assert failed[0].startswith("GET /api/v1/summary: 500")
