"""The hand-assembled outbox payload and record id of a segment are exactly what the generic encoders give."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from county_node.video.adapters.segments import _segment_json, _segment_records, segment_record_id
from county_node.video.clip_service import _segment_payload
from county_node.video.domain import Segment
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


def test_a_batch_shares_moment_texts_yet_renders_each_moment_as_it_was_given() -> None:
    """Within a batch each distinct moment is rendered once; the same instant given in two offsets keeps each."""
    local = datetime(2026, 11, 26, 9, 45, tzinfo=CST)
    utc = local.astimezone(UTC)
    other = CAMERA[:-1] + "2"
    segments = [
        Segment(CAMERA, local, local + timedelta(minutes=5), "a", 1, "c"),
        Segment(CAMERA, local + timedelta(minutes=5), local + timedelta(minutes=10), "b", 1, "c"),
        Segment(other, utc, utc + timedelta(minutes=5), "c", 1, "c"),
    ]
    ids, payloads = _segment_records(segments)
    assert payloads == [canonical_json(_segment_payload(s)) for s in segments]
    assert ids == [segment_record_id(s.camera_id, s.start) for s in segments]
    assert '"start":"2026-11-26T01:45:00+00:00"' in payloads[2]
    one_zone = segments[:2]  # the cached path: one time zone object, no fold
    assert _segment_records(one_zone) == (
        [segment_record_id(s.camera_id, s.start) for s in one_zone],
        [canonical_json(_segment_payload(s)) for s in one_zone],
    )


def test_the_repeated_hour_of_a_daylight_saving_zone_keeps_both_segments_apart() -> None:
    """01:30 twice on the night daylight saving time ends: equal as datetimes, an hour apart as instants."""
    zone = ZoneInfo("America/New_York")
    first = datetime(2026, 11, 1, 1, 30, tzinfo=zone)
    second = first.replace(fold=1)
    segments = [
        Segment(CAMERA, first, first + timedelta(minutes=30), "a", 1, "c"),
        Segment(CAMERA, second, second + timedelta(minutes=30), "b", 1, "c"),
    ]
    ids, payloads = _segment_records(segments)
    assert ids == [segment_record_id(s.camera_id, s.start) for s in segments]
    assert ids[0] != ids[1]
    assert payloads == [canonical_json(_segment_payload(s)) for s in segments]
