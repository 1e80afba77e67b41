"""Command-line interface: ``flask --app admin_app <command>``.

* ``regions import FILE.csv`` – upsert regions from a ``code,name,level,parent_code`` file;
* ``seed-demo [--reset]`` – fill an empty database with the 娄底 demo;
* ``backup OUT`` / ``restore IN [--force]`` – database backup and restore (``ops.py``);
* ``jobs worker`` – run background jobs (``jobs.py``);
* ``users …`` – account management, when ``admin_app/users_cli.py`` is present;
* ``db …`` – migrations, from Flask-Migrate.

Commands that never show a page (``COMMANDS_WITHOUT_SCREENS``) run without the Flask-Admin screens being
built (``build_screens_on_demand``): a cold ``flask print org-chart`` skips ~0.3 s of view set-up.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import click
from flask import Flask
from flask.cli import AppGroup, FlaskGroup, with_appcontext
from flask_babel import gettext as _

regions_cli = AppGroup("regions", help="行政区划管理 (administrative regions).")

# Top-level commands that neither serve pages nor run code that looks up an admin view. Every other
# command (``jobs`` runs exports through the views, ``run``, ``shell``, ``routes``, plugins) gets them.
COMMANDS_WITHOUT_SCREENS = frozenset({"print", "regions", "seed-demo", "backup", "restore", "users",
                                      "militia", "db"})


def loading_for_command() -> bool:
    """True while the ``flask`` command line loads the app to look up one of the app's commands (the
    current click command is the ``flask`` group itself, not ``run``, ``shell`` or ``routes``)."""
    ctx = click.get_current_context(silent=True)
    return ctx is not None and isinstance(ctx.command, FlaskGroup)


class ScreensOnDemand(AppGroup):
    """``app.cli`` of an app loaded by the command line: the screens are built as a command that needs
    them is looked up (``flask jobs …``, or every command for ``flask --help``), once."""

    def __init__(self, group: AppGroup, build: Callable[[], None]) -> None:
        super().__init__(group.name, commands=group.commands, help=group.help)
        self._build = build

    def get_command(self, ctx: click.Context, cmd_name: str):
        if cmd_name not in COMMANDS_WITHOUT_SCREENS and self._build is not None:
            build, self._build = self._build, None
            build()
        return super().get_command(ctx, cmd_name)


def build_screens_on_demand(app: Flask, init_screens: Callable[[Flask], None]) -> None:
    app.cli = ScreensOnDemand(app.cli, lambda: init_screens(app))


def as_option(bootstrap: str | None = None, operator: str | None = None):
    """``--as USERNAME``: the command's writes act as that user, through the write gate.

    ``bootstrap`` names the system actor used when the option is left out *and the database has no
    account yet* (the very first ``users create``, ``regions import`` before any account exists);
    otherwise a command without ``--as`` is refused. ``operator`` adds ``--system``: the server operator
    acts as that named system actor (reference data such as the official region file, which lies beyond
    any one account's region). A refusal of the gate exits 1 with its message.
    """
    import functools

    def decorate(fn):
        @click.option("--as", "as_user", metavar="USERNAME", help="以该账号的身份和权限执行(必填)")
        @functools.wraps(fn)
        def wrapper(*args, as_user: str | None = None, system: bool = False, **kwargs):
            from .actor import acting_as, system_actor
            from .extensions import db
            from .gate import WriteRefused

            if system and as_user:
                raise click.ClickException(_("--as 与 --system 只能选一个"))
            actor = system_actor(operator) if system else resolve_cli_actor(as_user, bootstrap)
            with acting_as(actor):
                try:
                    return fn(*args, **kwargs)
                except WriteRefused as exc:
                    db.session.rollback()
                    raise click.ClickException(exc.message) from None
        if operator:
            wrapper = click.option("--system", is_flag=True,
                                   help=f"以系统身份(system:{operator})执行,记入变更记录")(wrapper)
        return wrapper
    return decorate


def resolve_cli_actor(username: str | None, bootstrap: str | None = None):
    """The actor of a CLI command: an active user by name, or a system actor on an empty database."""
    from flask import g
    from sqlalchemy import select

    from models import User

    from .actor import system_actor, user_actor
    from .extensions import db
    from .scope import Scope

    if username:
        user = db.session.scalars(select(User).where(User.username == username.strip())).first()
        if user is None or not user.active:
            raise click.ClickException(_("账号不存在或已停用:%(name)s", name=username))
        g._scope = Scope.for_user(user)  # helpers that read current_scope() see this user's scope
        return user_actor(user)
    if bootstrap and db.session.scalar(select(User.id).limit(1)) is None:
        return system_actor(bootstrap)
    raise click.ClickException(_("请用 --as 用户名 指明以哪个账号的身份执行(所有写入都要记录操作人)"))



@regions_cli.command("import")
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False))
@with_appcontext
@as_option(bootstrap="regions-import", operator="regions-import")
def regions_import(csv_file: str) -> None:
    """导入行政区划 CSV(列:code,name,level,parent_code);按代码更新或新增,有错误则整体不写入。"""
    from .extensions import db
    from .regions import RegionImportError, import_regions_file

    started = time.perf_counter()
    try:
        result = import_regions_file(db.session, csv_file)
        db.session.commit()
    except RegionImportError as exc:
        db.session.rollback()
        raise click.ClickException(_("导入失败,未写入任何数据。%(error)s", error=str(exc))) from None
    except Exception:
        db.session.rollback()
        raise
    elapsed = time.perf_counter() - started
    click.echo(_("导入完成:新增 %(created)d,更新 %(updated)d,未变 %(unchanged)d,"
                 "下级路径更新 %(repathed)d(用时 %(seconds).2f 秒)",
                 created=result.created, updated=result.updated, unchanged=result.unchanged,
                 repathed=result.repathed, seconds=elapsed))


@click.command("seed-demo")
@click.option("--reset", is_flag=True, help="先清空已有数据(行政区划保留并复用)再生成演示数据。")
@with_appcontext
def seed_demo_command(reset: bool) -> None:
    """生成娄底市演示数据(区划、部站、岗位、人员、计划、账号)。"""
    from .actor import acting_as, system_actor
    from .demo import DEMO_PASSWORD, DatabaseNotEmpty, clear_data, seed_demo
    from .extensions import db

    try:
        with acting_as(system_actor("seed-demo")):
            if reset:
                clear_data(db.session)
            result = seed_demo(db.session)
            db.session.commit()
    except DatabaseNotEmpty as exc:
        db.session.rollback()
        raise click.ClickException(
            _("数据库中已有数据(%(tables)s),未做任何修改。如确需清空后重新生成,请加 --reset。",
              tables=", ".join(exc.tables))) from None
    except Exception:
        db.session.rollback()
        raise
    click.echo(_("演示数据已生成:"))
    for key, value in result["counts"].items():
        click.echo(f"  {key}: {value}")
    click.echo(_("演示账号(密码均为 %(password)s):", password=DEMO_PASSWORD))
    for account in result["accounts"]:
        click.echo(f"  {account['username']:<10} {account['role_label']} · {account['region']}")


def init_app(app: Flask) -> None:
    """Register CLI command groups."""
    app.cli.add_command(regions_cli)
    app.cli.add_command(seed_demo_command)
    from .jobs import jobs_cli

    app.cli.add_command(jobs_cli)
    from .militia_cli import militia_cli
    from .ops import backup_command, restore_command

    app.cli.add_command(militia_cli)

    app.cli.add_command(backup_command)
    app.cli.add_command(restore_command)
    try:
        from .users_cli import users
    except ModuleNotFoundError as exc:  # helper module absent; a broken import inside it still raises
        if exc.name != f"{__package__}.users_cli":
            raise
    else:
        app.cli.add_command(users)

