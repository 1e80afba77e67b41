"""Audit history (变更记录): recording changes and restoring a row as it was before one."""

from __future__ import annotations

import datetime
import decimal

from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import inspect
from sqlalchemy.exc import IntegrityError

from admin_app.extensions import db
from admin_app.scope import CREATE, EDIT, VIEW, _regions_of, current_scope, get_or_404
from models import AuditLog, Base

bp = Blueprint("history", __name__)

_SKIP_ON_RESTORE = ("version", "created_at", "updated_at")


def _jsonable(value):
    if isinstance(value, datetime.date | datetime.datetime):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    return value


def row_snapshot(obj) -> dict:
    """Column values of a row, JSON-ready."""
    return {c.key: _jsonable(getattr(obj, c.key)) for c in inspect(type(obj)).column_attrs}


def record_audit(action: str, obj, before: dict | None, after: dict | None) -> AuditLog:
    """Add an audit entry for ``obj`` to the session (committed with the change itself)."""
    model = type(obj)
    spec = getattr(model, "__scope__", None)
    regions = [r for r in _regions_of(obj, spec.split("."))
               if r is not None] if spec and spec != "self" else []
    entry = AuditLog(user_id=getattr(current_user, "id", None), action=action,
                     table_name=model.__tablename__, row_id=obj.id,
                     # a region's own changes are filed under its parent, which outlives its deletion
                     region_id=regions[0].id if regions else (obj.parent_id if spec == "self" else None),
                     summary=str(obj)[:200], before=before, after=after)
    db.session.add(entry)
    return entry


def _model_for_table(name: str):
    for mapper in Base.registry.mappers:
        if mapper.class_.__tablename__ == name:
            return mapper.class_
    return None


def _decode(model, values: dict) -> dict:
    """JSON snapshot → Python values of the model's column types."""
    out = {}
    for attr in inspect(model).column_attrs:
        if attr.key not in values or attr.key in _SKIP_ON_RESTORE:
            continue
        value = values[attr.key]
        column = attr.columns[0]
        try:
            kind = column.type.python_type
        except NotImplementedError:
            kind = None
        if value is not None and kind is datetime.datetime:
            value = datetime.datetime.fromisoformat(value)
        elif value is not None and kind is datetime.date:
            value = datetime.date.fromisoformat(value)
        elif value is not None and kind is decimal.Decimal:
            value = decimal.Decimal(value)
        out[attr.key] = value
    return out


def can_restore(entry: AuditLog) -> bool:
    model = _model_for_table(entry.table_name)
    return (entry.action in ("update", "delete") and bool(entry.before) and model is not None
            and current_scope().can(model, EDIT if entry.action == "update" else CREATE))


@bp.app_template_global()
def can_restore_entry(entry: AuditLog) -> bool:
    return can_restore(entry)


@bp.route("/admin/history/<int:log_id>/restore", methods=["POST"])
@login_required
def restore(log_id: int):
    """Put the row back as it was before the change ``log_id`` recorded."""
    entry = get_or_404(AuditLog, log_id, VIEW)
    model = _model_for_table(entry.table_name)
    back = url_for("audit_log.details_view", id=entry.id)
    if not can_restore(entry):
        abort(404)
    obj = db.session.get(model, entry.row_id)
    if entry.action == "update":
        if obj is None:
            flash(_("该记录已被删除,请先恢复删除操作"), "error")
            return redirect(back)
        obj = get_or_404(model, entry.row_id, EDIT)
        current = row_snapshot(obj)
    else:
        if obj is not None:
            flash(_("该记录仍然存在,无需恢复"), "error")
            return redirect(back)
        obj = model()
        db.session.add(obj)
        current = None
    with db.session.no_autoflush:
        for key, value in _decode(model, entry.before).items():
            setattr(obj, key, value)
        check = getattr(obj, "check", None)
        errors = check() if callable(check) else {}
        allowed = current_scope().allows(obj, EDIT if current is not None else CREATE)
    if errors or not allowed:
        db.session.rollback()
        flash(_("不能恢复:%(why)s", why="；".join(errors.values()) or _("恢复后的记录不在您的授权范围内")),
              "error")
        return redirect(back)
    try:
        db.session.flush()
        record_audit("restore", obj, current, row_snapshot(obj))
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        flash(_("不能恢复:相关记录已不存在或与现有记录冲突"), "error")
        return redirect(back)
    flash(_("已恢复到修改前的内容"), "success")
    return redirect(request.form.get("next") or back)

