"""The audit writer (变更记录): snapshots of rows, with secrets left out, written only by the write gate.

Nothing else writes ``AuditLog`` rows: ``admin_app.gate`` calls ``audit_rows`` after every flush, so
forms, imports, restores, CLI commands, seeds and jobs are audited alike.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime
import decimal

from sqlalchemy import inspect

from models import AuditLog
from models.base import utcnow

SECRET_MARK = "●●●●●●"  # noqa: S105 - a mask, not a password
SECRET_CHANGED = "●●●●●●(已修改)"  # noqa: S105

_ACTION: contextvars.ContextVar[str | None] = contextvars.ContextVar("yby_audit_action", default=None)


@contextlib.contextmanager
def audit_as(action: str):
    """Record the changes of this block under ``action`` (e.g. "restore") instead of create/update."""
    token = _ACTION.set(action)
    try:
        yield
    finally:
        _ACTION.reset(token)


def current_audit_action(default: str) -> str:
    return _ACTION.get() or default


def _jsonable(value):
    if isinstance(value, datetime.date | datetime.datetime):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    return value


def is_secret(column) -> bool:
    return bool(column.info.get("secret"))


def is_bookkeeping(column) -> bool:
    return bool(column.info.get("bookkeeping"))


def row_snapshot(obj, committed: bool = False) -> dict:
    """Column values of a row, JSON-ready; secret columns are masked, never stored.

    ``committed`` reads the row as the database holds it (before this flush): in-memory history is not
    enough, since an attribute expired by a commit and then set has no "before" in memory.
    """
    state = inspect(obj)
    stored = None
    if committed and state.identity is not None and state.session is not None:
        table = state.mapper.local_table
        pk = state.mapper.primary_key[0]
        stored = state.session.connection().execute(
            table.select().where(pk == state.identity[0])).mappings().first()
    out = {}
    for attr in state.mapper.column_attrs:
        column = attr.columns[0]
        if is_bookkeeping(column):
            continue
        if stored is not None and column.key in stored:
            value = stored[column.key]
        else:
            value = getattr(obj, attr.key, None)
        out[attr.key] = SECRET_MARK if is_secret(column) and value is not None else _jsonable(value)
    return out


def mark_changed_secrets(obj, after: dict) -> dict:
    """A secret that changed shows as changed, still without its value."""
    state = inspect(obj)
    for attr in state.mapper.column_attrs:
        if is_secret(attr.columns[0]) and state.attrs[attr.key].history.has_changes():
            after[attr.key] = SECRET_CHANGED
    return after


def changed_columns(obj) -> set[str]:
    state = inspect(obj)
    return {attr.key for attr in state.mapper.column_attrs if state.attrs[attr.key].history.has_changes()}


def audit_region_id(obj) -> int | None:
    """The region an audit entry is filed under: the row's own region (a region's changes are filed under
    its parent, which outlives its deletion); None for city-wide tables."""
    from admin_app.scope import _regions_of

    spec = getattr(type(obj), "__scope__", None)
    if spec == "self":
        return obj.parent_id
    if not spec:
        return None
    with contextlib.suppress(Exception):
        regions = [r for r in _regions_of(obj, spec.split(".")) if r is not None]
        return regions[0].id if regions else None
    return None


def audit_row(actor, action: str, obj, before: dict | None, after: dict | None, region_id) -> dict:
    """One audit_log row as a dict for a core INSERT (the gate writes it during the flush)."""
    return {
        "at": utcnow(), "user_id": actor.user_id, "actor": str(actor)[:60], "action": action,
        "table_name": type(obj).__tablename__, "row_id": getattr(obj, "id", None), "region_id": region_id,
        "summary": _summary(obj), "before": before, "after": after,
    }


def _summary(obj) -> str:
    try:
        return str(obj)[:200]
    except Exception:  # noqa: BLE001 - a summary never stops an audit row
        return f"{type(obj).__tablename__}#{getattr(obj, 'id', '')}"


def audit_table():
    return AuditLog.__table__


def restorable_values(model, values: dict) -> dict:
    """The keys of a snapshot that a restore may put back: never secrets, bookkeeping or versions."""
    skip = {"version", "created_at", "updated_at"}
    out = {}
    for attr in inspect(model).column_attrs:
        column = attr.columns[0]
        if attr.key in values and attr.key not in skip and not is_secret(column) and not is_bookkeeping(column):
            out[attr.key] = values[attr.key]
    return out


def record_access(kind: str, model_name: str, count: int, detail: str = "") -> None:
    """Reads of personal data that leave the screen (exports, prints) are audited too: one row per export
    or print with who (the logged-in user), what (the table, ``kind`` "export"/"print"), when and how
    many rows (``summary`` and ``after.rows``). A read is no ORM change for the gate to check, so it is
    written here, beside the gate's own audit rows, on the session's connection and committed at once."""
    from flask import has_request_context
    from flask_login import current_user

    from admin_app.extensions import db
    from admin_app.privacy import _model_class
    from admin_app.scope import current_scope

    model = _model_class(model_name)
    user = current_user if has_request_context() and current_user.is_authenticated else None
    grants = sorted(current_scope().grants, key=lambda g: len(g.path)) if user else []
    values = {
        "at": utcnow(), "user_id": user.id if user else None, "actor": (user.username if user else "system")[:60],
        "action": kind[:20], "table_name": getattr(model, "__tablename__", model_name)[:40], "row_id": None,
        "region_id": grants[0].region_id if grants else None,  # the widest grant: supervisors see it
        "summary": f"{kind} {count} 行 {detail}".strip()[:200],
        "before": None, "after": {"rows": count, **({"detail": detail} if detail else {})},
    }
    db.session.connection().execute(audit_table().insert().values(values))
    db.session.commit()
