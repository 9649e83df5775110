"""``sunshine admin enrol|join|certs|renew|revoke|secret``: the federation PKI and the keyring, for exchange admins.

=====================================================  ===========================================================
admin enrol --division 371122 [--output F] [--hours H]  at a parent: a one-time enrolment token for one child,
                                                        written with the federation root to an enrolment file
admin join FILE                                         at the child: generate keys here, enrol with the file
admin certs [--json]                                    this node's certificate, and those its CA issued
admin renew [--force]                                   renew this node's certificate now (the agent does it
                                                        by itself before expiry)
admin revoke --division D | --fingerprint F --reason R  at the province: revoke; published down to every node
admin secret set NAME / delete NAME                     a secret into the keyring (read from standard input)
admin trust pins                                        the signing key this receiver pinned for each origin
admin trust repin DIVISION                              forget an origin's pinned key (after checking its new
                                                        certificate): its next verified batch is pinned
=====================================================  ===========================================================
"""

from __future__ import annotations

import json
import sys
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import typer

from federation.cli import config_option, setup
from federation.config import Config
from federation.errors import ConfigError, ValidationError
from federation.text import moment_text

__all__ = ["pki_admin_app"]

pki_admin_app = typer.Typer(help="联邦证书与密钥库。", no_args_is_help=True)
secret_app = typer.Typer(help="密钥库中的密钥（口令、令牌）：写入、删除。", no_args_is_help=True)
pki_admin_app.add_typer(secret_app, name="secret")
trust_app = typer.Typer(help="接收端为各来源确认（固定）的签名密钥：查看、重新确认。", no_args_is_help=True)
pki_admin_app.add_typer(trust_app, name="trust")

_Config = Annotated[Path | None, config_option]
_SECRET_NAMES = {"sms-token": "短信网关令牌"}


def _read_port(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _enrol_address(cfg: Config) -> str:
    """Where children reach this node's enrolment port (the bound port when ``enrol_listen`` asks for port 0)."""
    if not cfg.pki.enrol_listen:
        raise ConfigError("本节点未配置登记端口 [pki] enrol_listen，下级无法登记", node=cfg.node.division)
    host, _, port = cfg.pki.enrol_listen.rpartition(":")
    if port == "0":
        bound = _read_port(Path(cfg.node.data_dir).expanduser().resolve() / "enrol.port")
        if bound is None:
            raise ConfigError("登记端口尚未启动：请先启动本节点（serve），再签发登记令牌", node=cfg.node.division)
        port = str(bound)
    return f"{'127.0.0.1' if host in {'', '0.0.0.0'} else host}:{port}"


@pki_admin_app.command("enrol")
def admin_enrol(
    *,
    division: Annotated[str, typer.Option("--division", help="下级节点的区划代码（或县级外网节点，如 371122-ext）")],
    output: Annotated[Path | None, typer.Option("--output", "-o", help="登记文件（默认写在数据目录）")] = None,
    hours: Annotated[float | None, typer.Option("--hours", help="令牌有效小时数（默认取 pki.token_hours）")] = None,
    config: _Config = None,
) -> None:
    """为一个下级节点签发一次性登记令牌，与联邦根证书一起写入登记文件（交给下级管理员，执行 sunshine admin join）。"""
    from federation.identities import ca_parent_of, validate_node_id
    from federation.nodes import build_node
    from federation.storage.uow import UnitOfWork
    from federation.timeutil import utcnow
    from security.enrolment import EnrolmentFile, write_enrolment_file
    from security.node import federation_suite, node_trust
    from security.pki import chain_pem
    from security.tokens import issue_token

    cfg = setup(config)
    validate_node_id(division)  # a child, or a county's extranet node (371122-ext): its city's CA certifies it
    if ca_parent_of(division) != cfg.node.division:
        raise ValidationError(
            f"{division} 的上级是 {ca_parent_of(division)}，不是本节点 {cfg.node.division}：请在其上级签发",
            division=division,
        )
    node = build_node(cfg)
    try:
        trust = node_trust(cfg, node.engine)
        if trust.authority() is None:
            raise ConfigError("本节点没有下级 CA，不能签发登记令牌（请先完成本节点的登记）", node=cfg.node.division)
        address = _enrol_address(cfg)
        with UnitOfWork(node.engine) as uow:
            token = issue_token(
                uow.conn,
                division=division,
                issued_by=cfg.node.division,
                now=utcnow(),
                ttl=timedelta(hours=hours if hours is not None else cfg.pki.token_hours),
            )
            uow.commit()
        suite = federation_suite(node.engine)
    finally:
        node.close()
    path = output or Path(cfg.node.data_dir).expanduser().resolve() / f"enrol-{division}.json"
    enrolment = EnrolmentFile(
        division=division,
        parent=cfg.node.division,
        address=address,
        token=token.token,
        root_pem=chain_pem([trust.credentials.root]).decode(),
        suite=suite,
        expires_at=token.expires_at.isoformat(timespec="seconds"),
    )
    write_enrolment_file(path, enrolment)
    from security.pki import fingerprint

    typer.echo(f"已为 {division} 签发一次性登记令牌，有效至 {moment_text(enrolment.expires_at)}")
    typer.echo(f"登记文件：{path}（含令牌，请安全交给 {division} 的管理员；仅本人可读）")
    typer.echo(f"联邦根证书指纹（请另行核对）：sha256:{fingerprint(trust.credentials.root)}")
    typer.echo(f"在 {division} 上执行：sunshine admin join {path.name} --config <其配置文件>")


@pki_admin_app.command("join")
def admin_join(
    file: Annotated[Path, typer.Argument(help="上级签发的登记文件", exists=True, dir_okay=False)],
    root_fingerprint: Annotated[
        str | None, typer.Option("--root-fingerprint", help="另行核对的联邦根证书指纹（sha256:…）")
    ] = None,
    config: _Config = None,
) -> None:
    """在本节点生成密钥（不离开本机），凭登记文件向上级申请证书；城市节点同时获得下级 CA。"""
    from security.enrolment import EnrolmentFile, enrol
    from security.keystore import keystore_for
    from security.pki import fingerprint

    cfg = setup(config)
    enrolment = EnrolmentFile.read(file)
    actual = fingerprint(enrolment.root)
    if root_fingerprint is not None and root_fingerprint.lower().removeprefix("sha256:") != actual:
        raise ValidationError(f"登记文件中的根证书指纹是 sha256:{actual}，与所核对的不符：拒绝登记")
    cert = enrol(cfg, keystore_for(cfg), enrolment)
    typer.echo(
        f"节点 {cfg.node.division} 已在 {enrolment.parent} 登记：证书 sha256:{fingerprint(cert)[:16]}…，"
        f"有效至 {cert.not_valid_after_utc.date()}"
    )


def _certs(cfg: Config) -> dict[str, Any]:
    from sqlalchemy import select

    from federation.nodes import build_node
    from federation.storage.tables import issued_certificates
    from federation.storage.uow import UnitOfWork
    from security.credentials import NodeCredentials
    from security.keystore import keystore_for
    from security.pki import fingerprint
    from security.trust import issuer_division

    creds = NodeCredentials(cfg, keystore_for(cfg))
    leaf = creds.chain[0]
    node = build_node(cfg)
    try:
        with UnitOfWork(node.engine, readonly=True) as uow:
            rows = uow.conn.execute(select(issued_certificates).order_by(issued_certificates.c.issued_at.desc())).all()
    finally:
        node.close()
    return {
        "node": cfg.node.division,
        "certificate": {
            "fingerprint": fingerprint(leaf),
            "issuer": issuer_division(leaf),
            "not_before": leaf.not_valid_before_utc.isoformat(),
            "not_after": leaf.not_valid_after_utc.isoformat(),
            "suite": creds.signing.suite,
        },
        "root": fingerprint(creds.root),
        "issued": [
            {
                "fingerprint": r.fingerprint,
                "division": r.division,
                "kind": r.kind,
                "issued_at": r.issued_at.isoformat(),
                "not_after": r.not_after.isoformat(),
            }
            for r in rows
        ],
    }


@pki_admin_app.command("certs")
def admin_certs(
    config: _Config = None,
    as_json: Annotated[bool, typer.Option("--json", help="输出 JSON")] = False,
) -> None:
    """本节点的证书（指纹、签发者、有效期、签名算法），以及本节点 CA 签发过的证书。"""
    data = _certs(setup(config))
    if as_json:
        typer.echo(json.dumps(data, ensure_ascii=False, indent=1))
        return
    c = data["certificate"]
    typer.echo(f"节点 {data['node']} 的证书 sha256:{c['fingerprint']}")
    typer.echo(f"  签发者 {c['issuer']}；有效期 {c['not_before'][:10]} 至 {c['not_after'][:10]}；签名算法 {c['suite']}")
    typer.echo(f"  联邦根证书 sha256:{data['root']}")
    kinds = {"node": "节点证书", "ca": "下级 CA"}
    if data["issued"]:
        typer.echo(f"本节点 CA 签发的证书（{len(data['issued'])} 张）：")
        for r in data["issued"]:
            typer.echo(
                f"  {r['division']}  {kinds.get(r['kind'], r['kind'])}  签发于 {moment_text(r['issued_at'])}  "
                f"有效至 {r['not_after'][:10]}  sha256:{r['fingerprint'][:16]}…"
            )


@pki_admin_app.command("renew")
def admin_renew(
    config: _Config = None,
    force: Annotated[bool, typer.Option("--force", help="未到续期时间也立即续期")] = False,
) -> None:
    """续期本节点证书（同步代理会在到期前自动续期）：新密钥、同一身份，旧证书在新证书保存前继续有效。"""
    from federation.nodes import build_node
    from security.node import node_trust

    cfg = setup(config)
    node = build_node(cfg)
    try:
        trust = node_trust(cfg, node.engine)
        renewed = trust.renew_if_due(cfg.replication.upstream, force=force)
    finally:
        node.close()
    after = trust.credentials.not_after.date()
    typer.echo(f"证书已续期，有效至 {after}" if renewed else f"证书有效至 {after}，尚未到续期时间（--force 立即续期）")


@pki_admin_app.command("revoke")
def admin_revoke(
    *,
    reason: Annotated[str, typer.Option("--reason", help="吊销原因（记入吊销列表）")],
    division: Annotated[list[str] | None, typer.Option("--division", help="吊销此区划此前签发的全部证书")] = None,
    fingerprint_: Annotated[
        list[str] | None, typer.Option("--fingerprint", help="吊销一张证书（sunshine admin certs 中的指纹）")
    ] = None,
    config: _Config = None,
) -> None:
    """（省级）吊销证书：新版吊销列表在本节点生效，并随标准下发到各市、县，被吊销的节点无法再建立链路。"""
    from federation.nodes import build_node
    from federation.storage.uow import UnitOfWork
    from federation.timeutil import utcnow
    from security.revocations import publish_revocation

    cfg = setup(config)
    node = build_node(cfg)
    try:
        with UnitOfWork(node.engine) as uow:
            new = publish_revocation(
                uow.conn,
                province=cfg.node.division,
                now=utcnow(),
                divisions=division or (),
                fingerprints=fingerprint_ or (),
                reason=reason,
            )
            uow.commit()
    finally:
        node.close()
    typer.echo(
        f"吊销列表第 {new.version} 版已生效（区划 {len(new.divisions)} 个，证书 {len(new.fingerprints)} 张），"
        "同步代理将下发到各市、县"
    )


@secret_app.command("set")
def secret_set(
    name: Annotated[str, typer.Argument(help=f"密钥名称：{'、'.join(_SECRET_NAMES)}")],
    config: _Config = None,
) -> None:
    """从标准输入读取密钥写入密钥库（不会出现在命令行、配置文件或日志中）。"""
    from security.keystore import keystore_for

    if name not in _SECRET_NAMES:
        raise ValidationError(f"未知的密钥名称“{name}”（{'、'.join(_SECRET_NAMES)}）", name=name)
    cfg = setup(config)
    value = sys.stdin.readline().strip() if not sys.stdin.isatty() else typer.prompt("请输入密钥", hide_input=True)
    if not value:
        raise ValidationError("密钥为空")
    keystore_for(cfg).put(name, value.encode())
    typer.echo(f"已将{_SECRET_NAMES[name]}写入密钥库（{name}）")


@secret_app.command("delete")
def secret_delete(name: Annotated[str, typer.Argument(help="密钥名称")], config: _Config = None) -> None:
    """从密钥库删除一个密钥。"""
    from security.keystore import keystore_for

    keystore_for(setup(config)).delete(name)
    typer.echo(f"已删除 {name}")


def _pins(cfg: Config) -> Any:
    from federation.nodes import build_node
    from federation.timeutil import utcnow
    from security.pins import SigningKeyPins

    node = build_node(cfg)
    return node, SigningKeyPins(node.engine, utcnow)


@trust_app.command("pins")
def trust_pins(config: _Config = None) -> None:
    """本接收端为各来源确认的签名密钥（首次验证通过时确认；续期时由原密钥证明后更新）。"""
    node, pins = _pins(setup(config))
    try:
        held = pins.held()
    finally:
        node.close()
    if not held:
        typer.echo("尚未确认任何来源的签名密钥")
    for p in held:
        typer.echo(f"  {p.origin}  {p.suite}  证书 sha256:{p.certificate[:16]}…  确认于 {moment_text(p.pinned_at)}")


@trust_app.command("repin")
def trust_repin(
    division: Annotated[str, typer.Argument(help="来源的行政区划代码")],
    config: _Config = None,
) -> None:
    """重新确认一个来源的签名密钥：先核实其新证书（如在其上级执行 sunshine admin certs 核对指纹），
    再执行本命令；该来源下一个验证通过的批次的密钥即被确认，其他密钥此后一律拒绝。"""
    from federation.identities import validate_node_id

    validate_node_id(division)  # a division, or a county's extranet node (371122-ext) re-enrolled at its city
    node, pins = _pins(setup(config))
    try:
        dropped = pins.forget(division)
    finally:
        node.close()
    if dropped is None:
        typer.echo(f"{division} 没有已确认的签名密钥：其下一个验证通过的批次将被确认")
    else:
        typer.echo(
            f"已撤销 {division} 原确认的签名密钥（证书 sha256:{dropped.certificate[:16]}…）："
            "其下一个验证通过的批次的密钥将被确认"
        )
