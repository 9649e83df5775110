"""The ``soak`` benchmark's federation, laid out before anything runs (:mod:`bench.soak`): every city and county of
the division table (Shandong: 17 cities, 137 counties) with the province, each a node with its own SQLite
database, its certificate from the federation PKI (the province's root, each city's CA) and its encrypted keyring
— loaded by the hosts through the production path (:func:`security.node.node_trust`) — and the processes that host
them: the province, the cities spread over a few relay hosts, the counties over a few sender hosts.

Everything a host needs is in the plan file (JSON); the hosts (:mod:`bench.soak_host`) read it at every start, a
restart after SIGKILL included.
"""

from __future__ import annotations

import json
import random
import shutil
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import delete

from bench.pki_material import PASSPHRASE, enrolled_config
from county_node.approval.services import ApprovalService
from federation.bound_ports import spare_port
from federation.data import DIVISIONS_CSV
from federation.identities import DivisionLevel, DivisionRegistry
from federation.standards import StandardsBundle
from federation.storage.engine import make_engine
from federation.storage.tables import batch_log, counters, outbox
from federation.storage.uow import UnitOfWork
from federation.timeutil import CST, utcnow
from migrations.runner import upgrade
from security.pki import CertificateAuthority, generate_tls_key

__all__ = ["FRAME_KINDS", "PASSPHRASE", "Fault", "Plan", "make_plan", "schedule"]

FRAME_KINDS = ("duplicate", "reorder", "corrupt")  # injected by a host into what its link sends


@dataclass(frozen=True, slots=True)
class Fault:
    id: int
    at: float  # seconds after the run's start (the ``go`` file: its wall-clock moment) when it is due
    kind: str
    target: str  # a host (kill), a proxy's receiver (cut), a node (lock; frame faults)


@dataclass
class Plan:
    root: str
    province: str
    cities: list[str]
    counties: dict[str, list[str]]  # city → its counties
    hosts: dict[str, list[str]]  # host name → the nodes it runs
    ports: dict[str, int]  # receiver → the port its server binds
    proxies: dict[str, int] = field(default_factory=dict)  # receiver → the port its TCP proxy listens on
    faults: list[Fault] = field(default_factory=list)
    case_every_s: float = 4.0  # each county writes a case (its snapshot and events) about this often
    linger_s: float = 0.5
    attest_records: int = 400
    attest_interval_s: float = 10.0

    def path(self, node: str) -> Path:
        return Path(self.root) / node

    def config(self, node: str) -> Path:
        return self.path(node) / "sunshine.toml"

    def database(self, node: str) -> Path:
        return self.path(node) / "node.db"

    def city_of(self, county: str) -> str:
        return next(c for c, members in self.counties.items() if county in members)

    def write(self) -> Path:
        path = Path(self.root) / "plan.json"
        path.write_text(json.dumps(asdict(self), ensure_ascii=False, indent=1), encoding="utf-8")
        return path

    @classmethod
    def read(cls, path: Path) -> Plan:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        data["faults"] = [Fault(**f) for f in data["faults"]]
        return cls(**data)


def _template(directory: Path, bundle: StandardsBundle) -> Path:
    """One migrated database with the standards in force (calendar, catalogue, boundary policy), copied to every
    node: a receiver computes due moments on its own calendar, a county screens what it writes with the policy."""
    path = directory / "template.db"
    engine = make_engine(f"sqlite:///{path}", sqlite_synchronous="normal")
    try:
        upgrade(engine)
        ApprovalService(engine, "370000", lambda: datetime(2026, 1, 5, tzinfo=CST)).apply_standards(bundle)
        with UnitOfWork(engine) as uow:  # what applying wrote of its own: no node's records belong in the copy
            for table in (outbox, batch_log, counters):
                uow.conn.execute(delete(table))
            uow.commit()
    finally:
        engine.dispose()
    return path


def make_plan(
    directory: Path,
    bundle: StandardsBundle,
    *,
    cities: int | None = None,
    counties_per_city: int | None = None,
    county_hosts: int = 4,
    city_hosts: int = 2,
) -> Plan:
    """Every city (or the first ``cities``) and its counties (or the first ``counties_per_city`` of each), enrolled
    and with their databases, spread over the hosts."""
    registry = DivisionRegistry.from_csv(DIVISIONS_CSV)
    (province,) = registry.of_level(DivisionLevel.PROVINCE)
    chosen = registry.children(province.code)[:cities]
    counties = {c.code: [d.code for d in registry.children(c.code)][:counties_per_city] for c in chosen}
    template = _template(directory, bundle)
    root = CertificateAuthority.create_root(province.code, utcnow())
    _node(directory, province.code, root, template)
    for city, members in counties.items():
        key = generate_tls_key()
        issued = root.issue_intermediate(city, key.public_key(), utcnow(), 30)
        ca = CertificateAuthority(issued.certificate, key, issued.chain, root.certificate)
        _node(directory, city, ca, template)
        for county in members:
            _node(directory, county, ca, template)
    all_counties = [c for members in counties.values() for c in members]
    hosts: dict[str, list[str]] = {"province": [province.code]}
    hosts |= {f"relay-{i}": list(counties)[i::city_hosts] for i in range(min(city_hosts, len(counties)))}
    hosts |= {f"sender-{i}": all_counties[i::county_hosts] for i in range(min(county_hosts, len(all_counties)))}
    receivers = [province.code, *counties]
    return Plan(
        root=str(directory),
        province=province.code,
        cities=list(counties),
        counties=counties,
        hosts=hosts,
        ports={r: spare_port() for r in receivers},  # bound again at every restart of the host
    )


def _node(directory: Path, division: str, ca: CertificateAuthority, template: Path) -> None:
    database = directory / division / "node.db"
    enrolled_config(directory, division, f"sqlite:///{database}", ca)
    shutil.copyfile(template, database)


def schedule(plan: Plan, n: int, span: float, rng: random.Random) -> list[Fault]:
    """``n`` faults at random moments over the first ``span`` seconds: SIGKILL of a host (senders, relays and the
    receiver at the top), a connection cut mid-stream at a receiver's proxy, a write lock held on a receiver's
    database, and duplicated, reordered and corrupted batches sent by a county or a city."""
    kinds = {"kill": 0.08, "cut": 0.30, "lock": 0.14, "duplicate": 0.16, "reorder": 0.16, "corrupt": 0.16}
    receivers = [plan.province, *plan.cities]
    senders = [*plan.cities, *(c for members in plan.counties.values() for c in members)]
    faults = []
    for i, at in enumerate(sorted(rng.random() * span for _ in range(n))):
        kind = rng.choices(list(kinds), weights=list(kinds.values()))[0]
        if kind == "kill":
            target = rng.choice(list(plan.hosts))
        elif kind in ("cut", "lock"):
            target = rng.choice(receivers)
        else:
            target = rng.choice(senders)
        faults.append(Fault(i, at, kind, target))
    return faults
