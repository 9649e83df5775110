"""Bounded FastAPI parameter types shared by every HTTP API: a page, a page size, a step number.

Every integer taken from a path or a query is bounded here (``le=…``), so a number too large for the database or
for an index is refused with a 422 before a route runs (see :mod:`federation.paging` for the service-side check).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

from federation.paging import MAX_PAGE, MAX_PAGE_SIZE, MAX_STEP

__all__ = ["PageQuery", "PageSizeQuery", "StepPath"]

PageQuery = Annotated[int, Query(ge=1, le=MAX_PAGE, description=f"页码，从 1 开始（至多 {MAX_PAGE}）")]
PageSizeQuery = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description=f"每页条数（1–{MAX_PAGE_SIZE}）")]
StepPath = Annotated[int, Path(ge=1, le=MAX_STEP, description="办理过程中的第几步")]
