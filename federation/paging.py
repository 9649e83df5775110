"""Paging shared by every paged list (办件、预警、投诉、评价、督办指令、考核排名): one bound, one check, one offset.

A page number beyond :data:`MAX_PAGE` is refused (422) before it reaches the database, where an offset past a
64-bit integer would overflow (SQLite raises ``OverflowError``, PostgreSQL ``NumericValueOutOfRange``).
"""

from __future__ import annotations

from federation.errors import ValidationError

__all__ = ["MAX_PAGE", "MAX_PAGE_SIZE", "MAX_STEP", "check_page", "page_offset"]

MAX_PAGE = 1_000_000
"""The largest page number asked (with :data:`MAX_PAGE_SIZE` rows a page: 2×10⁸ rows, far beyond any list)."""

MAX_PAGE_SIZE = 200
"""The most rows of one page."""

MAX_STEP = 10_000
"""The largest step number of a case asked for (a case has a few dozen steps; a larger number has no step)."""


def check_page(page: int, page_size: int) -> None:
    """Refuse a page number outside 1…:data:`MAX_PAGE` or a page size outside 1…:data:`MAX_PAGE_SIZE`."""
    if not 1 <= page <= MAX_PAGE or not 1 <= page_size <= MAX_PAGE_SIZE:
        raise ValidationError(
            f"分页参数无效：页码从 1 到 {MAX_PAGE}，每页 1 到 {MAX_PAGE_SIZE} 条", page=page, page_size=page_size
        )


def page_offset(page: int, page_size: int) -> int:
    """The offset of the first row of ``page`` (checked first by :func:`check_page`)."""
    check_page(page, page_size)
    return (page - 1) * page_size
