"""``flask --app admin_app users create | grant | revoke | reset-password``.

Passwords are read from a hidden, confirmed prompt, or from standard input when it is not a terminal;
never from the command line (argv is visible to every user of the machine). ``--as USERNAME`` runs
``grant``/``revoke`` with that user's scope: a county admin cannot grant outside its county or above
its own role. Without ``--as`` the command runs with the server operator's full authority.
"""

from __future__ import annotations

import sys

import click
from flask import g
from flask.cli import with_appcontext
from sqlalchemy import select

from admin_app.extensions import db
from admin_app.scope import DELETE, Scope
from models import Grant, Region, User
from models.accounts import MIN_PASSWORD_LENGTH
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
        raise click.ClickException(f"密码至少 {MIN_PASSWORD_LENGTH} 位") from exc


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


def _actor_scope(actor: str | None) -> Scope | None:
    """The scope of ``--as`` (also installed as this command's current scope), or None for the operator."""
    if actor is None:
        return None
    user = _user(actor)
    if not user.active:
        raise click.ClickException(f"账号已停用:{actor}")
    scope = Scope.for_user(user)
    g._scope = scope
    return scope


def _check_may_grant(scope: Scope | None, role: str, region: Region) -> None:
    if scope is not None and not scope.may_grant(role, region):
        raise click.ClickException("不能授予高于本人角色或超出本人管辖范围的权限")


@users.command("create")
@click.argument("username")
@click.option("--display-name", default="", help="姓名")
@click.option("--role", type=ROLE_CHOICE, help="同时授予的角色")
@click.option("--region", "region_code", help="同时授予的区划代码(12 位)")
@click.option("--as", "actor", help="以该账号的权限执行")
@with_appcontext
def create(username: str, display_name: str, role: str | None, region_code: str | None,
           actor: str | None) -> None:
    """Create an account (password from a prompt or stdin)."""
    username = username.strip()
    if not username or len(username) > 40:
        raise click.ClickException("用户名不能为空,且不超过 40 个字符")
    if db.session.scalars(select(User).where(User.username == username)).first() is not None:
        raise click.ClickException(f"账号已存在:{username}")
    if (role is None) != (region_code is None):
        raise click.ClickException("--role 与 --region 须同时给出")
    scope = _actor_scope(actor)
    region = _region(region_code) if region_code else None
    if scope is not None and region is None:
        raise click.ClickException("以 --as 执行时必须同时授予本人管辖范围内的角色")
    if region is not None:
        _check_may_grant(scope, role, region)
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
@click.option("--as", "actor", help="以该账号的权限执行")
@with_appcontext
def grant(username: str, role: str, region_code: str, actor: str | None) -> None:
    """Grant ROLE over REGION_CODE (and everything under it) to USERNAME."""
    scope = _actor_scope(actor)
    user, region = _user(username), _region(region_code)
    _check_may_grant(scope, role, region)
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
@click.option("--as", "actor", help="以该账号的权限执行")
@with_appcontext
def revoke(username: str, role: str, region_code: str, actor: str | None) -> None:
    """Withdraw a grant."""
    scope = _actor_scope(actor)
    user, region = _user(username), _region(region_code)
    found = [gr for gr in user.grants if gr.role == role and gr.region_id == region.id]
    if not found:
        raise click.ClickException("没有这项授权")
    for gr in found:
        if scope is not None and not (scope.allows(gr, DELETE) and scope.may_grant(gr.role, region)):
            raise click.ClickException("不能收回高于本人角色或超出本人管辖范围的授权")
        db.session.delete(gr)
    db.session.commit()
    click.echo(f"已收回 {username} {Role.label_of(role)} @ {region.name}")


@users.command("reset-password")
@click.argument("username")
@with_appcontext
def reset_password(username: str) -> None:
    """Set a new password (from a prompt or stdin)."""
    user = _user(username)
    _set_password(user, _read_password())
    db.session.commit()
    click.echo(f"已重置 {username} 的密码")
