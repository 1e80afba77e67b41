"""``flask --app admin_app users create | grant | revoke | reset-password | deactivate``.

Passwords are read from a hidden, confirmed prompt, or from standard input when it is not a terminal;
never from the command line (argv is visible to every user of the machine). ``--as USERNAME`` runs
every command as that user, through the write gate: a county admin cannot grant outside its county or
above its own role, and every change is audited under that name. ``--as`` is required, except for the
very first account of an empty database (made by the system actor ``system:first-account``).
"""

from __future__ import annotations

import sys

import click
from flask.cli import with_appcontext
from sqlalchemy import select

from admin_app.actor import current_actor
from admin_app.cli import as_option
from admin_app.extensions import db
from models import Grant, Region, User
from models.enums import Role

ROLE_CHOICE = click.Choice([r.value for r in Role])


@click.group("users", help="管理账号与授权")
def users() -> None:
    """Accounts and grants."""


def _read_password() -> str:
    if sys.stdin is not None and sys.stdin.isatty():
        return click.prompt("密码", hide_input=True, confirmation_prompt="再次输入密码")
    line = sys.stdin.readline() if sys.stdin is not None else ""
    return line.rstrip("\r\n")


def _set_password(user: User, password: str) -> None:
    try:
        user.set_password(password)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc  # the policy's own message (length, common, ...)


def _user(username: str) -> User:
    user = db.session.scalars(select(User).where(User.username == username)).first()
    if user is None:
        raise click.ClickException(f"账号不存在:{username}")
    return user


def _region(code: str) -> Region:
    region = db.session.scalars(select(Region).where(Region.code == code)).first()
    if region is None:
        raise click.ClickException(f"区划不存在:{code}")
    return region


@users.command("create")
@click.argument("username")
@click.option("--display-name", default="", help="姓名")
@click.option("--role", type=ROLE_CHOICE, help="同时授予的角色")
@click.option("--region", "region_code", help="同时授予的区划代码(12 位)")
@with_appcontext
@as_option(bootstrap="first-account")
def create(username: str, display_name: str, role: str | None, region_code: str | None) -> None:
    """Create an account (password from a prompt or stdin)."""
    username = username.strip()
    if not username or len(username) > 40:
        raise click.ClickException("用户名不能为空,且不超过 40 个字符")
    if db.session.scalars(select(User).where(User.username == username)).first() is not None:
        raise click.ClickException(f"账号已存在:{username}")
    if (role is None) != (region_code is None):
        raise click.ClickException("--role 与 --region 须同时给出")
    region = _region(region_code) if region_code else None
    if region is None and not current_actor().is_system:
        raise click.ClickException("以 --as 执行时必须同时授予本人管辖范围内的角色")
    user = User(username=username, display_name=display_name or username)
    _set_password(user, _read_password())
    db.session.add(user)
    if region is not None:
        db.session.add(Grant(user=user, role=role, region=region))
    db.session.commit()
    click.echo(f"已创建账号 {username}")


@users.command("grant")
@click.argument("username")
@click.argument("role", type=ROLE_CHOICE)
@click.argument("region_code")
@with_appcontext
@as_option()
def grant(username: str, role: str, region_code: str) -> None:
    """Grant ROLE over REGION_CODE (and everything under it) to USERNAME."""
    user, region = _user(username), _region(region_code)
    if any(gr.role == role and gr.region_id == region.id for gr in user.grants):
        click.echo("该授权已存在")
        return
    db.session.add(Grant(user=user, role=role, region=region))
    db.session.commit()
    click.echo(f"已授予 {username} {Role.label_of(role)} @ {region.name}")


@users.command("revoke")
@click.argument("username")
@click.argument("role", type=ROLE_CHOICE)
@click.argument("region_code")
@with_appcontext
@as_option()
def revoke(username: str, role: str, region_code: str) -> None:
    """Withdraw a grant."""
    user, region = _user(username), _region(region_code)
    found = [gr for gr in user.grants if gr.role == role and gr.region_id == region.id]
    if not found:
        raise click.ClickException("没有这项授权")
    for gr in found:
        db.session.delete(gr)
    db.session.commit()
    click.echo(f"已收回 {username} {Role.label_of(role)} @ {region.name}")


@users.command("reset-password")
@click.argument("username")
@with_appcontext
@as_option()
def reset_password(username: str) -> None:
    """Set a new password (from a prompt or stdin)."""
    user = _user(username)
    _set_password(user, _read_password())  # a new password ends every session of the account
    db.session.commit()
    click.echo(f"已重置 {username} 的密码")


@users.command("deactivate")
@click.argument("username")
@with_appcontext
@as_option()
def deactivate(username: str) -> None:
    """Disable an account: it can no longer log in, and every session it has ends now."""
    user = _user(username)
    if not user.active:
        click.echo(f"账号已停用:{username}")
        return
    user.active = False  # ends its sessions (admin_app.auth)
    db.session.commit()
    click.echo(f"已停用账号 {username},其所有登录会话已结束")
