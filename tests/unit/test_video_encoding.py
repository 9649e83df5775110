"""The hand-assembled outbox payload and record id of a segment are exactly what the generic encoders give."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from county_node.video.domain import Segment
from county_node.video.services import _segment_json, _segment_payload, segment_record_id
from federation.storage.outbox import EncodedPayload, canonical_json
from federation.timeutil import CST

CAMERA = "37112200001311000001"


@pytest.mark.parametrize(
    ("start", "uri", "checksum"),
    [
        (datetime(2026, 11, 26, 9, 45, tzinfo=CST), "nvr://a/b.mp4", "ab" * 32),
        (datetime(2026, 1, 1, 0, 0, 0, 1, tzinfo=UTC), '录像/大厅 "1"\\窗口\n.mp4', "sha256:ü\t"),
        (datetime(2026, 12, 31, 23, 59, 59, 999999, tzinfo=timezone(timedelta(hours=-5))), "x", "c"),
    ],
)
def test_segment_json_and_id_match_the_generic_encoders(start: datetime, uri: str, checksum: str) -> None:
    s = Segment(CAMERA, start, start + timedelta(minutes=5), uri, 52_428_800, checksum)
    encoded = _segment_json(s)
    assert isinstance(encoded, EncodedPayload)
    assert encoded == canonical_json(_segment_payload(s))
    assert segment_record_id(CAMERA, start) == f"{CAMERA}@{start.astimezone(UTC).strftime('%Y%m%dT%H%M%S.%fZ')}"
