"""The county node a ``sunshine case …`` command works on: the configured one, refused when never initialised."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy.engine import make_url

from county_node.bootstrap import CountyNode, build_county_node
from federation.cli import setup
from federation.errors import ConfigError

__all__ = ["node_of"]


@contextmanager
def node_of(config: Path | None) -> Iterator[CountyNode]:
    """The node of ``config`` (closed afterwards); ConfigError when its database does not exist yet (rather than
    creating an empty one)."""
    cfg = setup(config)
    url = make_url(cfg.database_url)
    if url.get_backend_name() == "sqlite" and url.database and not Path(url.database).exists():
        raise ConfigError(
            f"本节点尚未初始化（找不到数据库 {url.database}），"
            "请先执行 sunshine county init 或用 --config 指定配置文件",
            database=url.database,
        )
    node = build_county_node(cfg)
    try:
        yield node
    finally:
        node.close()
