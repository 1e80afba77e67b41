"""Operations: the health check, the slow-request log, and backup / restore of the database.

* ``GET /healthz`` answers 200 when the database answers, 503 with a JSON error when it does not;
* a request slower than ``SLOW_REQUEST_MS`` (default 500, env ``SLOW_REQUEST_MS``) is logged at WARNING
  on the ``admin_app.ops`` logger with its endpoint, method, status and duration;
* ``flask backup OUT`` / ``flask restore IN [--force]``: SQLite through its online backup API (a
  consistent copy while the app keeps serving), PostgreSQL through ``pg_dump`` / ``pg_restore``
  (custom format). Restore refuses a database that holds data unless ``--force``.
"""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
import subprocess  # noqa: S404 - runs pg_dump / pg_restore with an argument list, never a shell
import time
from pathlib import Path

import click
from flask import Blueprint, Flask, current_app, g, request
from flask.cli import with_appcontext
from flask_babel import gettext as _
from sqlalchemy import inspect, literal, select, table
from sqlalchemy.engine import URL
from sqlalchemy.exc import SQLAlchemyError

from .extensions import db

log = logging.getLogger(__name__)
bp = Blueprint("ops", __name__)

SQLITE_MAGIC = b"SQLite format 3\x00"
PGDUMP_MAGIC = b"PGDMP"  # pg_dump --format=custom


@bp.route("/healthz")
def healthz():
    try:
        db.session.execute(select(1))
    except SQLAlchemyError as exc:
        db.session.rollback()
        log.error("health check: the database does not answer: %s", exc.__class__.__name__)
        return {"status": "error", "database": "unavailable", "error": exc.__class__.__name__}, 503
    return {"status": "ok", "database": "ok"}


@bp.before_app_request
def _start_clock() -> None:
    g._request_started = time.perf_counter()


@bp.after_app_request
def _log_slow_request(response):
    started = g.pop("_request_started", None)
    if started is not None:
        elapsed_ms = (time.perf_counter() - started) * 1000
        if elapsed_ms > current_app.config["SLOW_REQUEST_MS"]:
            log.warning("slow request: %s %s endpoint=%s status=%d %.0f ms", request.method, request.path,
                        request.endpoint, response.status_code, elapsed_ms)
    return response


# ---------------------------------------------------------------- backup / restore


class RestoreRefused(click.ClickException):
    """Restore would overwrite data, or the file does not fit the database."""


def _tables_with_rows() -> list[str]:
    names = [t for t in inspect(db.engine).get_table_names() if t != "alembic_version"]
    with db.engine.connect() as conn:
        return [t for t in names
                if conn.execute(select(literal(1)).select_from(table(t)).limit(1)).first() is not None]


def _libpq(url: URL) -> tuple[str, dict[str, str]]:
    """A libpq connection string for the PostgreSQL tools, the password in the environment (not argv)."""
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    dsn = url.set(drivername="postgresql", password=None).render_as_string(hide_password=False)
    return dsn, env


def _run_pg_tool(args: list[str], env: dict[str, str]) -> None:
    if shutil.which(args[0]) is None:
        raise click.ClickException(_("找不到 %(tool)s,请安装 postgresql-client。", tool=args[0]))
    done = subprocess.run(args, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        raise click.ClickException(_("%(tool)s 执行失败:%(error)s", tool=args[0], error=done.stderr.strip()))


def backup_database(out: Path) -> None:
    """Write a consistent copy of the app's database to ``out``."""
    db.session.remove()
    engine = db.engine
    if engine.dialect.name == "sqlite":
        target = sqlite3.connect(out)
        try:
            raw = engine.raw_connection()
            try:
                raw.driver_connection.backup(target)
            finally:
                raw.close()
        finally:
            target.close()
    elif engine.dialect.name == "postgresql":
        dsn, env = _libpq(engine.url)
        _run_pg_tool(["pg_dump", "--format=custom", "--no-owner", "--no-privileges",
                      f"--file={out}", f"--dbname={dsn}"], env)
    else:  # pragma: no cover - only SQLite and PostgreSQL are supported
        raise click.ClickException(engine.dialect.name)


def restore_database(source: Path, force: bool = False) -> None:
    """Replace the app's database with the backup ``source``; refuses a database with data unless forced."""
    engine = db.engine
    with source.open("rb") as fh:
        magic = fh.read(len(SQLITE_MAGIC))
    wanted = SQLITE_MAGIC if engine.dialect.name == "sqlite" else PGDUMP_MAGIC
    if not magic.startswith(wanted):
        raise RestoreRefused(_("%(file)s 不是本数据库(%(dialect)s)的备份文件,未做任何修改。",
                               file=str(source), dialect=engine.dialect.name))
    if not force:
        tables = _tables_with_rows()
        if tables:
            raise RestoreRefused(_("数据库中已有数据(%(tables)s),未做任何修改。如确需用备份覆盖,请加 --force。",
                                   tables=", ".join(tables)))
    db.session.remove()
    if engine.dialect.name == "sqlite":
        backup = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
        try:
            raw = engine.raw_connection()
            try:
                backup.backup(raw.driver_connection)
            finally:
                raw.close()
        finally:
            backup.close()
    else:
        engine.dispose()  # no pooled connection of ours may hold a lock while tables are dropped
        dsn, env = _libpq(engine.url)
        _run_pg_tool(["pg_restore", "--clean", "--if-exists", "--no-owner", "--no-privileges",
                      "--single-transaction", "--exit-on-error", f"--dbname={dsn}", str(source)], env)


@click.command("backup")
@click.argument("out", type=click.Path(dir_okay=False, writable=True, path_type=Path))
@with_appcontext
def backup_command(out: Path) -> None:
    """备份数据库到文件 OUT(SQLite:在线备份;PostgreSQL:pg_dump 自定义格式)。"""
    started = time.perf_counter()
    backup_database(out)
    click.echo(_("已备份到 %(file)s(%(size)d 字节,用时 %(seconds).1f 秒)", file=str(out),
                 size=out.stat().st_size, seconds=time.perf_counter() - started))


@click.command("restore")
@click.argument("source", metavar="IN", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="数据库中已有数据时也用备份覆盖。")
@with_appcontext
def restore_command(source: Path, force: bool) -> None:
    """从备份文件 IN 恢复数据库;数据库中已有数据时须加 --force。恢复后请运行 flask db upgrade。"""
    restore_database(source, force=force)
    click.echo(_("已从 %(file)s 恢复数据库。请运行 flask db upgrade 升级到当前版本。", file=str(source)))


def init_app(app: Flask) -> None:
    """The health check and the slow-request log; the commands are registered by ``cli.init_app``."""
    app.config.setdefault("SLOW_REQUEST_MS", float(os.environ.get("SLOW_REQUEST_MS", 500)))
    app.register_blueprint(bp)
