"""``flask --app admin_app print org-chart --region CODE --out FILE.pdf [--as USER] [--workers 2]``."""

from __future__ import annotations

import sys

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import select

from admin_app.extensions import db
from models import Region, User
from models.enums import RegionLevel

print_cli = AppGroup("print", help="打印架构图等(PDF)")


def worker_config(app) -> dict:
    """What a worker process needs to recreate this app."""
    keys = ("SQLALCHEMY_DATABASE_URI", "SECRET_KEY", "TESTING")
    return {k: app.config[k] for k in keys if k in app.config}


@print_cli.command("org-chart")
@click.option("--region", "code", required=True, help="乡镇、区县或市的 12 位区划代码")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, writable=True))
@click.option("--as", "username", default=None, help="按该账号的授权范围打印")
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 16))
def org_chart(code: str, out: str, username: str | None, workers: int) -> None:
    """一个乡镇、一个区县或全市的架构图,合成一个 PDF(每个乡镇一页,按区划代码排序)。"""
    from admin_app.scope import PRINT, Scope

    from .batch import render_batch
    from .render import PrintEnvironmentError

    region = db.session.scalars(select(Region).where(Region.code == code)).first()
    if region is None:
        raise click.ClickException(f"区划代码 {code} 不存在")
    scope = None
    if username:
        user = db.session.scalars(select(User).where(User.username == username)).first()
        if user is None or not user.active:
            raise click.ClickException(f"账号 {username} 不存在或已停用")
        scope = Scope.for_user(user)
        if not scope.can("Post", PRINT) or not scope.covers_path(region.path, PRINT, "Post") and not any(
                gr.path.startswith(region.path) for gr in scope.grants):
            raise click.ClickException(f"{region.name} 不在账号 {username} 的打印授权范围内")
    stmt = select(Region).where(Region.path.like(region.path + "%"),
                                Region.level == RegionLevel.TOWNSHIP.value).order_by(Region.code)
    townships = [t for t in db.session.scalars(stmt)
                 if scope is None or scope.covers_path(t.path, PRINT, "Post")]
    if not townships:
        raise click.ClickException(f"{region.name} 下没有可打印的乡镇/街道")
    workers = min(workers, len(townships))
    is_memory_db = current_app.config["SQLALCHEMY_DATABASE_URI"] in ("sqlite://", "sqlite:///:memory:")
    if is_memory_db:
        workers = 1
    try:
        with click.progressbar(length=len(townships), label=f"正在打印 {region.name} 架构图",
                               file=sys.stderr) as bar:
            data = render_batch([t.id for t in townships], config=worker_config(current_app),
                                workers=workers, session=db.session, on_done=bar.update,
                                app=current_app._get_current_object())
    except PrintEnvironmentError as exc:
        raise click.ClickException(str(exc)) from exc
    with open(out, "wb") as fh:
        fh.write(data)
    click.echo(f"已生成 {out}:{len(townships)} 个乡镇,{len(data) / 1024:.0f} KB")
