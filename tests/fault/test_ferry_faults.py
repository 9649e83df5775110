"""A ferry link (网闸) in a federation of real processes: 莒县's agent sends its link up as files, the city's node takes
them from its spool, and a gateway played by the test carries them — reversed, each one twice, some first
truncated — and carries the city's signed statements back. 五莲县 stays on gRPC beside it; the city relays both up
to the province over gRPC. Every tier must converge on exactly its subtree, and a city killed while it applies
files must recover by itself.

Every node and agent is started by :class:`province_center.demo.launcher.Federation` exactly as ``sunshine county
|city|province serve`` and ``sunshine agent run`` run in production (enrolled, mutual TLS, signed batches); the
only differences are configuration keys: ``transport = "ferry"`` for 莒县's agent and ``ferry_in``/``ferry_ack`` for
the city's node.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from federation.toml_files import dump_toml, read_toml_sections
from province_center.demo.launcher import Federation
from sync_agent.ferry_link import spool_files
from tests.fault.conftest import CITY, JU, TOPOLOGY, WULIAN, BackgroundLoad, CountyWriter, Probe, up_link, wait_for

pytestmark = pytest.mark.fault


class FerryFederation(Federation):
    """The launcher's federation, with 莒县's link up as a ferry (its agent's configuration)."""

    def write_agent_config(self, division: str, *, upstream: str | None = None) -> Path:
        path = super().write_agent_config(division, upstream=upstream)
        if division == JU:
            sections = read_toml_sections(path)
            sections["replication"] |= {
                "upstream": "",
                "transport": "ferry",
                "ferry_out": str(self.workdir / "ferry" / "out"),
                "ferry_return": str(self.workdir / "ferry" / "return"),
                "ferry_resend_s": 5.0,
            }
            path.write_text(dump_toml(sections, "莒县同步代理（摆渡链路）"), encoding="utf-8")
        return path


class Gateway:
    """The one-way gateway: new files of 莒县's spool into the city's, reversed in each round, each delivered again
    one round later (duplicates), in every other round the oldest one first as its truncated first half written in
    place (a gateway that does not write atomically) and completed 0.7 s later; statements carried back."""

    def __init__(self, root: Path) -> None:
        self.out, self.inbox, self.ack, self.ret = (root / d for d in ("out", "in", "ack", "return"))
        for d in (self.out, self.inbox, self.ack, self.ret):
            d.mkdir(parents=True, exist_ok=True)
        self.carried: dict[str, int] = {}  # name → times delivered
        self.truncated = 0
        self.rounds = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="gateway", daemon=True)

    def __enter__(self) -> Gateway:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def _deliver(self, source: Path) -> None:
        tmp = self.inbox / f".tmp-{source.name}"
        try:
            shutil.copyfile(source, tmp)
        except FileNotFoundError:  # acknowledged and deleted meanwhile
            return
        os.replace(tmp, self.inbox / source.name)

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            for f in spool_files(self.out):
                if self.carried.get(f.path.name) == 1:  # delivered last round: again (a duplicate)
                    self._deliver(f.path)
                    self.carried[f.path.name] = 2
            new = [f for f in spool_files(self.out) if f.path.name not in self.carried]
            self.rounds += bool(new)
            for i, f in enumerate(reversed(new)):
                if i == len(new) - 1 and self.rounds % 2:  # the oldest: the one the city reads next
                    data = f.path.read_bytes()
                    (self.inbox / f.path.name).write_bytes(data[: len(data) // 2])
                    self.truncated += 1
                    self._stop.wait(0.7)
                self._deliver(f.path)
                self.carried[f.path.name] = 1
            for statement in self.ack.glob("statement.*.json"):
                shutil.copyfile(statement, self.ret / f".tmp-{statement.name}")
                os.replace(self.ret / f".tmp-{statement.name}", self.ret / statement.name)
                statement.unlink(missing_ok=True)


@dataclass
class FerryRig:
    fed: Federation
    probe: Probe
    gateway: Gateway
    writers: dict[str, CountyWriter]


@pytest.fixture(scope="module")
def ferry_rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FerryRig]:
    work = tmp_path_factory.mktemp("ferry-federation")
    fed = FerryFederation(work, TOPOLOGY)
    probe = Probe(fed)
    gateway = Gateway(work.resolve() / "ferry")
    writers: dict[str, CountyWriter] = {}
    try:
        fed.init_all()
        city_toml = fed.config(CITY)
        sections = read_toml_sections(city_toml)
        sections.setdefault("replication", {})
        sections["replication"] |= {
            "ferry_in": str(gateway.inbox),
            "ferry_ack": str(gateway.ack),
            "ferry_settle_s": 0.3,
            "ferry_statement_s": 2.0,
        }
        city_toml.write_text(dump_toml(sections, "日照市（摆渡接收）"), encoding="utf-8")
        fed.start_nodes()
        for spec in TOPOLOGY:
            fed.start_agent(spec.division, wait=False)
        for spec in TOPOLOGY:
            fed.wait_agent(spec.division)
        fed.wait_for_standards()
        writers.update((c, CountyWriter(fed, c)) for c in (JU, WULIAN))
        with gateway:
            yield FerryRig(fed, probe, gateway, writers)
    finally:
        for w in writers.values():
            w.close()
        probe.close()
        fed.stop_all()


def test_a_ferry_link_through_a_faulty_gateway_converges_with_nothing_lost(ferry_rig: FerryRig) -> None:
    for county in (JU, WULIAN):
        ferry_rig.writers[county].run(300)
    ferry_rig.probe.wait_converged()
    assert ferry_rig.gateway.truncated >= 1
    assert any(n == 2 for n in ferry_rig.gateway.carried.values())  # duplicates were delivered
    refused = list((ferry_rig.gateway.inbox / "refused").glob("*.reason.txt"))
    assert refused  # the truncated halves, set aside with their reason
    assert all("校验失败" in r.read_text(encoding="utf-8") for r in refused)
    link = up_link(ferry_rig.fed, JU)
    assert link["target"].startswith("ferry:")
    wait_for(lambda: up_link(ferry_rig.fed, JU)["spool"]["files"] == 0, "莒县摆渡目录中的文件全部得到确认")
    assert up_link(ferry_rig.fed, JU)["origins"][0]["acked_seq"] == ferry_rig.probe.last_seq(JU)


def test_a_city_killed_while_it_applies_files_recovers(ferry_rig: FerryRig) -> None:
    with BackgroundLoad(ferry_rig.writers[JU]) as load:
        load.wait_more(200)
        wait_for(lambda: bool(spool_files(ferry_rig.gateway.inbox)), "城市摆渡目录中有待处理的文件", every=0.005)
        ferry_rig.fed.kill(f"node:{CITY}")
        load.wait_more(100)
        ferry_rig.fed.start_node(CITY)
        load.wait_more(100)
    ferry_rig.probe.wait_converged()
    wait_for(lambda: up_link(ferry_rig.fed, JU)["spool"]["files"] == 0, "莒县摆渡目录中的文件全部得到确认")
