"""The reference data shipped in ``federation/data`` is an exact copy of the project's ``shared/data``."""

from __future__ import annotations

import pytest

from federation.data import CATALOGUE_CSV, DIVISIONS_CSV
from tests.conftest import IN_CI, SHARED_DATA


@pytest.mark.parametrize("shipped", [CATALOGUE_CSV, DIVISIONS_CSV], ids=lambda p: p.name)
def test_shipped_copy_matches_shared_data(shipped) -> None:  # type: ignore[no-untyped-def]
    original = SHARED_DATA / shipped.name
    if not original.exists():
        if IN_CI:
            pytest.fail(f"CI runs with shared/ beside the checkout, but {original} is missing")
        pytest.skip(f"no shared/ beside this checkout ({original})")
    assert shipped.read_bytes() == original.read_bytes(), f"federation/data/{shipped.name} drifted from {original}"
