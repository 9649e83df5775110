"""The materials checklist of an intake (收件材料) and what a correction notice (一次性告知书) asks for.

The standards bundle's catalogue names each item's key data but no list of materials, so the hall's checklist is
the materials every application needs (the application form, the applicant's identity) and one supporting
document per key data field of the item. The materials ticked at intake are kept with the case's data under
:data:`MATERIALS_FIELD`; the ones not ticked are listed on the 一次性告知书 with the correction's own reason.
"""

from __future__ import annotations

from collections.abc import Mapping

from federation.standards import Item

__all__ = ["COMMON_MATERIALS", "MATERIALS_FIELD", "materials_of", "missing_materials"]

MATERIALS_FIELD = "收件材料"
COMMON_MATERIALS: tuple[str, ...] = ("申请书", "申请人身份证明")


def materials_of(item: Item) -> list[str]:
    """The checklist of ``item``: the common materials, then a supporting document per key data field."""
    return [*COMMON_MATERIALS, *(f"{field}证明材料" for field in item.key_fields)]


def missing_materials(item: Item, data: Mapping[str, str]) -> list[str]:
    """The materials of ``item``'s checklist not received at intake (by the case's :data:`MATERIALS_FIELD`)."""
    received = set(str(data.get(MATERIALS_FIELD, "")).split("、")) - {""}
    return [m for m in materials_of(item) if m not in received]
