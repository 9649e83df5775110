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
from hypothesis import HealthCheck, settings
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
def county_api(county: CountyNode) -> Any:
    app = create_app(county)
    return _with_auth(schemathesis.openapi.from_asgi("/openapi.json", app), _token(app, "fuzz"))


@pytest.fixture
def inspector_api(engine: Engine, clock: FakeClock, bundle: StandardsBundle) -> Any:
    node = build_node(Config(node=NodeConfig(division="370000")), engine=engine, clock=clock)
    add_user(node.accounts, "fuzz", [Role.INSPECTOR])
    app = node.http_app()
    return _with_auth(schemathesis.openapi.from_asgi("/openapi.json", app), _token(app, "fuzz"))


def _with_auth(schema: Any, token: str) -> Any:
    """The schema without the login routes (a fuzzed logout would end the fuzzer's own session), with the token."""
    schema = schema.exclude(path_regex=r"^/api/v1/auth/")
    schema.fuzz_token = token
    return schema


county_schema = schemathesis.pytest.from_fixture("county_api")
inspector_schema = schemathesis.pytest.from_fixture("inspector_api")


def _no_server_error(case: Any) -> None:
    token = getattr(case.operation.schema, "fuzz_token", None)
    headers = {"Authorization": f"Bearer {token}"} if token else None
    response = case.call(headers=headers)
    assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.status_code} {response.text}"
    assert response.status_code != 401, f"{case.method} {case.formatted_path}: the fuzzer was not logged in"


@county_schema.parametrize()
@FUZZ
def test_the_county_api_never_answers_5xx(case: Any) -> None:
    _no_server_error(case)


@inspector_schema.parametrize()
@FUZZ
def test_the_inspectors_api_never_answers_5xx(case: Any) -> None:
    _no_server_error(case)
