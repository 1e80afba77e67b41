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
from flask_babel import format_datetime
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
    """Show the button only when it can do something: an update on a row that exists, a delete while
    the row is still gone (the route itself explains the other cases)."""
    if not can_restore(entry):
        return False
    exists = entry.row_id is not None and db.session.get(_model_for_table(entry.table_name), entry.row_id)
    return bool(exists) if entry.action == "update" else not exists


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
    """修改前 / 修改后 as a clerk reads them: the Chinese label of each field with its value (linked rows
    by name, enum labels, 是/否), changed fields marked, sensitive values masked for users without
    查看敏感信息 on the audited table."""
    from markupsafe import Markup, escape

    values = getattr(entry, name)
    if not values:
        return ""
    reader = _Reader(_model_for_table(entry.table_name))
    shown = _shown_snapshot(entry, values)
    other = entry.after if name == "before" else entry.before
    rows = []
    for key, value in shown.items():
        if key in HIDDEN_KEYS:
            continue
        changed = other is not None and other.get(key) != values.get(key)
        rows.append(Markup('<tr class="{cls}"><th>{label}</th><td>{value}</td></tr>').format(
            cls="table-warning" if changed else "", label=reader.label(key), value=reader.value(key, value)))
    return Markup('<table class="table table-sm audit-snapshot mb-0">{}</table>').format(
        Markup("").join(rows)) if rows else escape("")


# -- reading the audit: Chinese names, linked rows by name, a timeline per record ----------------------
ACTION_LABELS = {"create": "新建", "update": "修改", "delete": "删除", "restore": "恢复",
                 "bulk-create": "批量新建", "bulk-update": "批量修改", "bulk-delete": "批量删除",
                 "export": "导出", "print": "打印"}
HIDDEN_KEYS = ("id", "version", "created_at", "updated_at", "name_pinyin", "name_initials", "search_grams", "path")
NOT_VISIBLE = "(无权查看)"
TIMELINE_LIMIT = 20


def action_label(action: str | None) -> str:
    return _(ACTION_LABELS[action]) if action in ACTION_LABELS else (action or "")


def table_label(table_name: str | None) -> str:
    """The Chinese name of the table's screen (人员, 年度工作计划 …), else the table name."""
    model = _model_for_table(table_name or "")
    meta = getattr(model, "__admin__", None) if model is not None else None
    return _(meta["name"]) if meta and meta.get("name") else (table_name or "")


def table_options() -> list[tuple[str, str]]:
    """(table name, Chinese name) of every audited screen, for the 变更记录 filter."""
    out = []
    for mapper in Base.registry.mappers:
        model = mapper.class_
        if hasattr(model, "__admin__") and model.__tablename__ != "audit_log":
            out.append((model.__tablename__, table_label(model.__tablename__)))
    return sorted(out, key=lambda pair: pair[1])


def action_options() -> list[tuple[str, str]]:
    return [(key, _(label)) for key, label in ACTION_LABELS.items()]


def format_action(view, context, entry: AuditLog, name: str):
    return action_label(entry.action)


def format_table(view, context, entry: AuditLog, name: str):
    return table_label(entry.table_name)


class _Reader:
    """Turns snapshot values into what a clerk reads: labels, enum labels, 是/否, linked rows by name
    (looked up through the user's scope; a row they may not see shows as 无权查看), masked values."""

    def __init__(self, model):
        self.model = model
        self.columns = {attr.key: attr.columns[0] for attr in inspect(model).column_attrs} if model else {}
        self._names: dict[tuple, str] = {}

    def label(self, key: str) -> str:
        column = self.columns.get(key)
        label = column.info.get("label") if column is not None else None
        return _(label) if label else key

    def value(self, key: str, value) -> str:
        column = self.columns.get(key)
        if value is None or value == "":
            return ""
        if column is None:
            return str(value)
        if column.foreign_keys and isinstance(value, int):
            return self.linked(column, value)
        choices = column.info.get("choices")
        if choices is not None and isinstance(value, str):
            return _(choices.label_of(value)) if hasattr(choices, "label_of") else value
        if isinstance(value, bool):
            return _("是") if value else _("否")
        if isinstance(value, str) and len(value) > 19 and value[10:11] == "T":  # ISO date-time
            return value[:16].replace("T", " ")
        return str(value)

    def linked(self, column, ident: int) -> str:
        (fk,) = list(column.foreign_keys)[:1]
        target = _model_for_table(fk.column.table.name)
        key = (fk.column.table.name, ident)
        if key not in self._names:
            if target is None:
                self._names[key] = f"#{ident}"
            else:
                row = current_scope().filter(db.session.query(target), target, VIEW) \
                    .filter(target.id == ident).first()
                self._names[key] = str(row) if row is not None else _(NOT_VISIBLE)
        return self._names[key]


def _shown_snapshot(entry: AuditLog, values: dict | None) -> dict:
    from admin_app import privacy

    if not values:
        return {}
    model = _model_for_table(entry.table_name)
    return privacy.mask_snapshot(model, values, privacy.may_see(model) if model is not None else False) or {}


def entry_changes(entry: AuditLog, reader: _Reader | None = None) -> list[dict]:
    """The fields an entry changed: label, before, after (as read), masked and named."""
    reader = reader or _Reader(_model_for_table(entry.table_name))
    before, after = _shown_snapshot(entry, entry.before), _shown_snapshot(entry, entry.after)
    raw_before, raw_after = entry.before or {}, entry.after or {}
    out = []
    for key in dict.fromkeys([*raw_before, *raw_after]):
        if key in HIDDEN_KEYS:
            continue
        if entry.action in ("update", "restore") and raw_before.get(key) == raw_after.get(key):
            continue
        old, new = reader.value(key, before.get(key)), reader.value(key, after.get(key))
        if entry.action in ("create", "delete") and not (old or new):
            continue
        out.append({"label": reader.label(key), "before": old, "after": new})
    return out


@bp.app_template_global()
def record_timeline(obj) -> list[dict]:
    """Changes of one record, newest first, for its details page (only for users who may read the audit)."""
    scope = current_scope()
    table = getattr(type(obj), "__tablename__", None)
    if table in (None, "audit_log") or getattr(obj, "id", None) is None or not scope.can(AuditLog, VIEW):
        return []
    entries = scope.filter(db.session.query(AuditLog), AuditLog, VIEW).filter(
        AuditLog.table_name == table, AuditLog.row_id == obj.id).order_by(
        AuditLog.at.desc(), AuditLog.id.desc()).limit(TIMELINE_LIMIT).all()
    reader = _Reader(type(obj))
    return [{"id": e.id, "who": (e.user.display_name or e.user.username) if e.user else (e.actor or ""),
             "at": format_datetime(e.at, "yyyy-MM-dd HH:mm") if e.at else "", "action": action_label(e.action),
             "changes": entry_changes(e, reader)} for e in entries]


@bp.app_template_global()
def audit_entry_changes(entry: AuditLog) -> list[dict]:
    return entry_changes(entry)
