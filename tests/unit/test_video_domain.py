"""The pure video index core: camera ids, bindings, overlap of segments, gaps, retention decisions."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from county_node.video.domain import (
    Binding,
    ClipMargin,
    Hold,
    RetentionPolicy,
    Segment,
    check_binding,
    check_new_segments,
    find_gaps,
    held,
    parse_camera_id,
    purge_limit,
    untrusted_reason,
)
from federation.errors import Conflict, ValidationError
from federation.timeutil import CST

CAM = "37112200" + "00" + "131" + "1" + "000001"
T0 = datetime(2026, 11, 25, 23, 50, tzinfo=CST)


def seg(minute: int, length: int = 5, camera: str = CAM, uri: str = "") -> Segment:
    start = T0 + timedelta(minutes=minute)
    return Segment(camera, start, start + timedelta(minutes=length), uri or f"v/{minute}.mp4", 100, "sha256:x")


def test_valid_camera_id_splits_into_parts() -> None:
    cid = parse_camera_id(CAM, "371122")
    assert (cid.centre, cid.industry, cid.type, cid.network, cid.serial) == ("37112200", "00", "131", "1", "000001")
    assert str(cid) == CAM


@pytest.mark.parametrize(
    ("raw", "part"),
    [
        ("3711220000131100001", "20 位"),
        ("3711220000131100000A", "20 位"),
        ("37010200001311000001", "中心编码"),
        ("37112200001181000001", "类型编码"),
        ("37112200001319000001", "网络标识"),
        ("37112200001311000000", "序号"),
    ],
)
def test_invalid_camera_id_names_the_bad_part(raw: str, part: str) -> None:
    with pytest.raises(ValidationError) as err:
        parse_camera_id(raw, "371122")
    assert part in err.value.message


def test_binding_overlaps_refused_for_camera_and_window() -> None:
    a = Binding(CAM, "W01", T0, T0 + timedelta(hours=1))
    with pytest.raises(Conflict, match="时段不能重叠"):
        check_binding(Binding(CAM, "W02", T0 + timedelta(minutes=30)), [a], [])
    other = Binding("37112200001311000002", "W01", T0 + timedelta(minutes=59))
    with pytest.raises(Conflict, match="只能绑定一台摄像机"):
        check_binding(Binding(CAM, "W01", T0 + timedelta(hours=2)), [], [other])
    check_binding(Binding(CAM, "W02", T0 + timedelta(hours=1)), [a], [])  # touching is fine


def test_exact_duplicates_are_dropped_overlaps_refused() -> None:
    stored = [seg(0), seg(5)]
    assert check_new_segments([seg(5), seg(10), seg(10)], stored) == [seg(10)]
    with pytest.raises(Conflict, match="已入库的片段"):
        check_new_segments([seg(3)], stored)
    with pytest.raises(Conflict, match="已入库的片段"):
        check_new_segments([seg(5, uri="other.mp4")], stored)  # same start, different content
    with pytest.raises(Conflict, match="同批中的片段"):
        check_new_segments([seg(20), seg(22)], stored)
    with pytest.raises(Conflict):  # a new long segment swallowing a stored one
        check_new_segments([seg(-1, length=20)], stored)
    assert check_new_segments([seg(0, camera="37112200001311000002")], stored)  # another camera


def test_gaps_at_the_edges() -> None:
    segs = [seg(0), seg(10)]
    start, end = T0, T0 + timedelta(minutes=20)
    gaps = find_gaps(segs, start, end)
    assert [(g.start, g.end) for g in gaps] == [
        (T0 + timedelta(minutes=5), T0 + timedelta(minutes=10)),
        (T0 + timedelta(minutes=15), end),
    ]
    assert find_gaps([seg(0), seg(5)], T0, T0 + timedelta(minutes=10)) == []
    assert len(find_gaps([], T0, end)) == 1


def test_retention_decisions() -> None:
    policy = RetentionPolicy(days=30, max_share=0.1, min_ratio=0.5)
    assert untrusted_reason(0, None, policy) is not None
    assert untrusted_reason(40, 100, policy) is not None
    assert untrusted_reason(60, 100, policy) is None
    assert untrusted_reason(5, None, policy) is None
    assert purge_limit(1000, policy) == 100
    h = Hold("alert:A1", CAM, *ClipMargin().around(T0 + timedelta(minutes=7)))
    # the clip is [23:55, 00:02]: a segment ending at 23:55 is not in it, one across midnight is
    assert [m for m in (0, 5, 10, 15) if held(seg(m), [h])] == [5, 10]
    assert not held(seg(5, camera="37112200001311000002"), [h])
    with pytest.raises(ValidationError):
        RetentionPolicy(max_share=0)


def test_the_hold_index_agrees_with_the_plain_rule_on_random_holds_and_segments() -> None:
    """The purge looks each expired segment up in a :class:`HoldIndex` (a binary search) instead of scanning every
    hold; both must say the same, touching edges included."""
    import random
    from datetime import UTC, datetime, timedelta

    from county_node.video.domain import Hold, HoldIndex, held
    from county_node.video.domain.segments import Segment

    rng = random.Random(5)
    base = datetime(2026, 10, 1, tzinfo=UTC)
    cams = ["37112200001311000001", "37112200001311000002"]

    def moment() -> datetime:
        return base + timedelta(minutes=rng.randrange(0, 600))

    holds = []
    for i in range(60):
        start = moment()
        holds.append(Hold(f"alert:{i}", rng.choice(cams), start, start + timedelta(minutes=rng.randrange(0, 40))))
    index = HoldIndex(holds)
    for _ in range(3000):
        start = moment()
        seg = Segment(rng.choice(cams), start, start + timedelta(minutes=5), "u", 1, "c")
        assert index.holds(seg) == held(seg, holds)
    assert not HoldIndex([]).holds(Segment(cams[0], base, base + timedelta(minutes=5), "u", 1, "c"))
