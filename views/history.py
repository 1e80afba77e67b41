"""Audit history (变更记录): restoring a row as it was before a change.

Audit rows are written by the write gate (``admin_app.gate``) for every flush; restore is an ordinary
change through that gate, so it is refused exactly where a form would be (a grant above the user's own
role, a row outside the scope, a rule broken), and secrets are never in a snapshot to restore.
"""

from __future__ import annotations

import datetime
import decimal
from urllib.parse import urlsplit

from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import login_required
from sqlalchemy import inspect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from admin_app.audit import audit_as, restorable_values
from admin_app.extensions import db
from admin_app.gate import WriteRefused
from admin_app.scope import CREATE, EDIT, VIEW, current_scope, get_or_404
from models import AuditLog, Base

bp = Blueprint("history", __name__)


def _model_for_table(name: str):
    for mapper in Base.registry.mappers:
        if mapper.class_.__tablename__ == name:
            return mapper.class_
    return None


def _decode(model, values: dict) -> dict:
    """JSON snapshot → Python values of the model's column types (secrets and versions left out)."""
    out = {}
    columns = {attr.key: attr.columns[0] for attr in inspect(model).column_attrs}
    for key, value in restorable_values(model, values).items():
        try:
            kind = columns[key].type.python_type
        except NotImplementedError:
            kind = None
        if value is not None and kind is datetime.datetime:
            value = datetime.datetime.fromisoformat(value)
        elif value is not None and kind is datetime.date:
            value = datetime.date.fromisoformat(value)
        elif value is not None and kind is decimal.Decimal:
            value = decimal.Decimal(value)
        out[key] = value
    return out


def can_restore(entry: AuditLog) -> bool:
    """Offer the button: an update or delete with a snapshot, on a table the user may change at all.
    Whether this very restore is allowed is decided by the write gate when it is tried."""
    model = _model_for_table(entry.table_name)
    return (entry.action in ("update", "delete") and bool(entry.before) and model is not None
            and current_scope().can(model, EDIT if entry.action == "update" else CREATE))


@bp.app_template_global()
def can_restore_entry(entry: AuditLog) -> bool:
    return can_restore(entry)


def _local(target: str | None) -> str | None:
    """Only same-site relative paths are followed (never //host or http://host)."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target \
            and not urlsplit(target).netloc and not urlsplit(target).scheme:
        return target
    return None


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
    else:
        if obj is not None:
            flash(_("该记录仍然存在,无需恢复"), "error")
            return redirect(back)
        obj = model()
        db.session.add(obj)
    try:
        with db.session.no_autoflush:
            for key, value in _decode(model, entry.before).items():
                setattr(obj, key, value)
        with audit_as("restore"):
            db.session.flush()
        db.session.commit()
    except WriteRefused as exc:
        db.session.rollback()
        flash(_("不能恢复:%(why)s", why=exc.message), "error")
        return redirect(back)
    except (IntegrityError, StaleDataError):
        db.session.rollback()
        flash(_("不能恢复:相关记录已不存在或与现有记录冲突"), "error")
        return redirect(back)
    flash(_("已恢复到修改前的内容"), "success")
    return redirect(_local(request.form.get("next")) or back)


def format_snapshot(view, context, entry: AuditLog, name: str):
    """修改前 / 修改后 as a clerk reads them: the Chinese label of each field with its value, changed
    fields marked, sensitive values masked for users without 查看敏感信息 on the audited table."""
    from markupsafe import Markup, escape

    from admin_app import privacy

    values = getattr(entry, name)
    if not values:
        return ""
    model = _model_for_table(entry.table_name)
    shown = privacy.mask_snapshot(model, values, privacy.may_see(model) if model is not None else False)
    other = entry.after if name == "before" else entry.before
    labels = {}
    if model is not None:
        labels = {attr.key: attr.columns[0].info.get("label", attr.key) for attr in inspect(model).column_attrs}
    rows = []
    for key, value in shown.items():
        if key in ("version", "created_at", "updated_at", "name_pinyin", "name_initials", "path"):
            continue
        changed = other is not None and other.get(key) != values.get(key)
        text = "" if value is None else value
        rows.append(Markup('<tr class="{cls}"><th>{label}</th><td>{value}</td></tr>').format(
            cls="table-warning" if changed else "", label=_(labels.get(key, key)), value=text))
    return Markup('<table class="table table-sm audit-snapshot mb-0">{}</table>').format(
        Markup("").join(rows)) if rows else escape("")
