"""The demo's county that loses its disk: its records drained up, its node and agent stopped, its database moved
away as a lost disk would take it, rebuilt from its city (``sunshine county recover --from-parent``), its first
administrator made again (``county init``), its node and agent started again — and the ordered stop's verdicts
then show that its city and the province agree with what it states next."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import func, select

from federation.storage.engine import engine_from_config
from federation.storage.tables import cases, outbox
from federation.storage.uow import UnitOfWork
from province_center.demo.launcher import Federation
from province_center.demo.topology import LaunchError, cli

__all__ = ["recovery_round_trip"]

Say = Callable[[str], None]


def _holds(fed: Federation, county: str) -> tuple[int, int]:
    """The county's cases and its outbox's last seq."""
    engine = engine_from_config(fed.load(county))
    try:
        with UnitOfWork(engine, readonly=True) as uow:
            n = uow.conn.execute(select(func.count()).select_from(cases).where(cases.c.origin == county)).scalar_one()
            top = uow.conn.execute(select(func.max(outbox.c.seq)).where(outbox.c.origin == county)).scalar()
        return int(n), int(top or 0)
    finally:
        engine.dispose()


def _run(fed: Federation, what: str, *args: str) -> str:
    done = subprocess.run(cli(*args), env=fed.child_env, capture_output=True, text=True, check=False, timeout=300)
    if done.returncode != 0:
        raise LaunchError(f"{what}失败：{done.stdout[-400:]}{done.stderr[-400:]}")
    return done.stdout


def recovery_round_trip(fed: Federation, county: str, say: Say) -> None:
    name = fed.by_code[county].name
    agent = str(fed.agent_config(county))
    say("")
    say(f"==== 恢复：{name}（{county}）的数据库丢失，从市级节点重建 ====")
    _run(fed, "排空同步积压", "admin", "drain", "--config", agent, "--link", "up", "--timeout", "60")
    fed.stop(f"node:{county}", f"agent:{county}")
    cases_before, top_before = _holds(fed, county)
    lost = fed.dir(county) / "lost-disk"
    lost.mkdir(exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        path = Path(f"{fed.dir(county) / 'node.db'}{suffix}")
        if path.exists():
            path.rename(lost / path.name)
    say(f"  县级节点与同步代理已停止；数据库已移走（模拟磁盘损坏）：办件 {cases_before} 件，发件箱至第 {top_before} 条")
    for line in _run(fed, "从市级恢复", "county", "recover", "--from-parent", "--config", agent).splitlines():
        say(f"  {line}")
    init = ["county", "init", "--division", county, "--name", name, "--data-dir", str(fed.dir(county))]
    _run(fed, "重建首个管理员", *init, "--no-standards", "--admin-password-file", str(fed.password_file))
    fed.start_node(county)
    fed.start_agent(county)
    cases_after, top_after = _holds(fed, county)
    same = "与丢失前一致" if cases_after == cases_before and top_after >= top_before else "✗ 与丢失前不一致"
    say(f"  重建后：办件 {cases_after} 件（{same}），发件箱至第 {top_after} 条；节点与同步代理已重新启动")
