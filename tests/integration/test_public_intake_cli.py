"""``sunshine case intake …``, ``sunshine case submit --phone`` with the query code at acceptance, and ``sunshine
county publish-catalogue``: real commands (subprocesses) on a node initialised by ``county init`` with an extranet
node configured, run as logged-in people."""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy import select

from county_node.bootstrap import build_county_node
from federation.config import load_config
from federation.storage.tables import outbox, public_submissions
from security.access import Role
from tests.integration.test_cli import add_staff, error_line, init, login, ok, sunshine
from tests.integration.test_public_intake import PHONE, SUB_ID, receive, record, submission
from tests.people import add_user

CODE_LINE = re.compile(r"查询码：([0-9A-Z]{8})")


def test_the_desk_from_the_command_line(tmp_path: Path) -> None:
    node_dir = tmp_path / "county"
    ok(init(node_dir))
    config_path = node_dir / "sunshine.toml"
    with config_path.open("a", encoding="utf-8") as f:
        f.write('\n[extranet]\nlink = "127.0.0.1:7001"\nportal_url = "https://zwfw.example.cn"\n')
    config = ["--config", str(config_path)]
    add_staff(node_dir)

    node = build_county_node(load_config(config_path))
    try:
        add_user(node.accounts, "exchange", [Role.EXCHANGE_ADMIN])
        assert receive(node, record("public_submission", SUB_ID, submission())) == []
    finally:
        node.close()

    login(config, "clerk")
    listed = ok(sunshine("case", "intake", "list", *config))
    assert SUB_ID in listed
    assert "待受理" in listed
    shown = ok(sunshine("case", "intake", "show", SUB_ID, *config))
    assert "138****5678" in shown
    assert PHONE not in shown
    accepted = ok(sunshine("case", "intake", "accept", SUB_ID, "--window", "W02", *config))
    assert "已受理办件 371122-" in accepted
    assert "查询码：" in accepted
    assert f"网上申报（{SUB_ID}）时获得的查询码同样可用" in accepted
    assert "已受理" in error_line(sunshine("case", "intake", "accept", SUB_ID, *config))

    made = ok(sunshine("case", "submit", "--item", "XK00003000", "--applicant", "王五", "--phone", PHONE, *config))
    case_no = re.search(r"\d{6}-\d{8}-\d{6}", made)
    assert case_no is not None
    act = ok(sunshine("case", "act", case_no.group(0), "accept", *config))
    code = CODE_LINE.search(act)
    assert code is not None, act
    assert "仅显示这一次" in act

    error_line(sunshine("county", "publish-catalogue", *config))  # a clerk may not
    login(config, "exchange")
    published = ok(sunshine("county", "publish-catalogue", *config))
    assert "已发布外网事项目录" in published

    node = build_county_node(load_config(config_path))
    try:
        with node.engine.connect() as conn:
            (status,) = conn.execute(select(public_submissions.c.status)).one()
            types = [r[0] for r in conn.execute(select(outbox.c.record_type).where(outbox.c.origin == "371122-pub"))]
    finally:
        node.close()
    assert status == "accepted"
    assert types.count("public_catalogue") == 2
    assert {"submission_result", "public_case"} <= set(types)
