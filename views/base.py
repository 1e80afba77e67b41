"""The one secured base view every generated screen derives from.

Scoping lives here and in ``admin_app.scope``; templates only hide what this class already refuses.
"""

from __future__ import annotations

import datetime
import decimal
import logging
from collections import OrderedDict

from flask import abort, flash, has_request_context, redirect, request, url_for
from flask_admin.contrib.sqla import ModelView
from flask_admin.contrib.sqla.ajax import QueryAjaxModelLoader
from flask_admin.contrib.sqla.filters import FilterEqual
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf import FlaskForm
from jinja2 import pass_context
from markupsafe import Markup
from sqlalchemy import UniqueConstraint, func, inspect, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError
from wtforms import HiddenField

from admin_app.extensions import db
from admin_app.scope import CREATE, DELETE, EDIT, EXPORT, SENSITIVE, VIEW, current_scope
from models import AuditLog, Region
from models.idnumber import mask_id_number, mask_phone, mask_text

log = logging.getLogger(__name__)

STALE_MESSAGE = "此记录已被他人修改(您打开后有新的保存)。请刷新页面,核对后重新填写。"
SCOPE_MESSAGE = "所选内容不在您的授权范围内"


def _endpoint_action() -> str:
    """The scope action the current request needs, from the Flask-Admin endpoint it hits."""
    endpoint = (request.endpoint or "").rsplit(".", 1)[-1]
    if endpoint in ("edit_view", "ajax_update"):
        return EDIT
    if endpoint == "delete_view":
        return DELETE
    if endpoint == "action_view":
        return DELETE if request.form.get("action") == "delete" else EDIT
    if endpoint == "export":
        return EXPORT
    if endpoint == "create_view":
        return CREATE
    return VIEW


def _jsonable(value):
    if isinstance(value, datetime.date | datetime.datetime):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    return value


def row_snapshot(obj) -> dict:
    """Column values of a row, JSON-ready (for the audit log and restore)."""
    return {c.key: _jsonable(getattr(obj, c.key)) for c in inspect(type(obj)).column_attrs}


class ScopedAjaxLoader(QueryAjaxModelLoader):
    """Ajax foreign-key lookups limited to the user's scope: suggestions and posted ids alike."""

    def get_query(self):
        return current_scope().filter(db.session.query(self.model), self.model, VIEW)

    def get_one(self, pk):
        try:
            pk = int(pk)
        except (TypeError, ValueError):
            return None
        with db.session.no_autoflush:
            return self.get_query().filter(self.model.id == pk).first()

    def get_list(self, term, offset=0, limit=10):
        query = self.get_query()
        term = (term or "").strip()
        if term:
            like = f"%{term.lower()}%"
            query = query.filter(or_(*[func.lower(f).like(like) for f in self._cached_fields]))
        return query.order_by(self.model.id).offset(offset).limit(limit).all()


class SecuredModelView(ModelView):
    """Login, rights, row scope, field-level errors, optimistic locking and audit for every screen."""

    form_base_class = FlaskForm
    page_size = 50
    can_view_details = True
    can_set_page_size = True
    export_types = ["csv", "xlsx"]
    list_template = "admin/scoped_list.html"
    create_template = "admin/scoped_create.html"
    edit_template = "admin/scoped_edit.html"
    details_template = "admin/scoped_details.html"
    column_display_actions = True
    # Filled in by the factory from the model's metadata:
    search_exact: tuple[str, ...] = ()
    sensitive_columns: tuple[str, ...] = ()
    read_only: bool = False

    # -- access -------------------------------------------------------------------------------------
    def is_accessible(self) -> bool:
        return current_user.is_authenticated and current_scope().can(self.model, VIEW)

    def inaccessible_callback(self, name, **kwargs):
        if not current_user.is_authenticated:
            return redirect(url_for("auth.login", next=request.full_path))
        abort(404)

    def _right(self, action: str) -> bool:
        if not has_request_context():
            return True
        if self.read_only and action in (CREATE, EDIT, DELETE):
            return False
        return current_scope().can(self.model, action)

    @property
    def can_create(self) -> bool:  # type: ignore[override]
        return self._right(CREATE)

    @property
    def can_edit(self) -> bool:  # type: ignore[override]
        return self._right(EDIT)

    @property
    def can_delete(self) -> bool:  # type: ignore[override]
        return self._right(DELETE)

    @property
    def can_export(self) -> bool:  # type: ignore[override]
        return self._right(EXPORT)

    def is_action_allowed(self, name: str) -> bool:
        if name == "delete":
            return self._right(DELETE)
        return super().is_action_allowed(name)

    # -- rows ---------------------------------------------------------------------------------------
    def scoped(self, query, action: str | None = None):
        return current_scope().filter(query, self.model, action or _endpoint_action())

    def get_query(self):
        return self.scoped(super().get_query())

    def get_count_query(self):
        return self.scoped(db.session.query(func.count(self.model.id)).select_from(self.model))

    def get_one(self, id):
        try:
            ident = int(id)
        except (TypeError, ValueError):
            abort(404)
        obj = self.scoped(db.session.query(self.model)).filter(self.model.id == ident).first()
        if obj is None:
            abort(404)
        return obj

    # -- search: substring on names and pinyin, exact on ID numbers ----------------------------------
    def _apply_search(self, query, count_query, joins, count_joins, search):
        exact = [getattr(self.model, name) for name in self.search_exact]
        for term in search.split():
            conditions = []
            for field, path in self._search_fields:
                query, joins, alias = self._apply_path_joins(query, joins, path, inner_join=False)
                if count_query is not None:
                    count_query, count_joins, count_alias = self._apply_path_joins(
                        count_query, count_joins, path, inner_join=False)
                column = field if alias is None else getattr(alias, field.key)
                conditions.append(func.lower(column).like(f"%{term.lower()}%"))
            conditions.extend(col == term.upper() for col in exact)
            query = query.filter(or_(*conditions))
            if count_query is not None:
                count_query = count_query.filter(or_(*conditions))
        return query, count_query, joins, count_joins

    # -- filters: options computed per request, inside the scope -------------------------------------
    def _get_filter_groups(self):
        if not self._filters:
            return None
        groups: OrderedDict[str, list] = OrderedDict()
        for i, flt in enumerate(self._filters):
            groups.setdefault(str(flt.name), []).append({
                "index": i, "arg": self.get_filter_arg(i, flt), "operation": str(flt.operation()),
                "options": [(str(k), str(v)) for k, v in (flt.get_options(self) or [])] or None,
                "type": flt.data_type,
            })
        return groups

    # -- sensitive fields ---------------------------------------------------------------------------
    def may_see_sensitive(self) -> bool:
        return current_scope().can(self.model, SENSITIVE)

    def _mask(self, name: str, value):
        info = self.model.__table__.c[name].info if name in self.model.__table__.c else {}
        if info.get("id_number"):
            return mask_id_number(value)
        if info.get("phone"):
            return mask_phone(value)
        return mask_text(value)

    @pass_context
    def get_list_value(self, context, model, name):
        if name in self.sensitive_columns:
            return self._mask(name, getattr(model, name))
        return super().get_list_value(context, model, name)

    def get_export_value(self, model, name):
        if name in self.sensitive_columns and not self.may_see_sensitive():
            return self._mask(name, getattr(model, name))
        return super().get_export_value(model, name)

    @pass_context
    def get_detail_value(self, context, model, name):
        if name in self.sensitive_columns and not self.may_see_sensitive():
            return self._mask(name, getattr(model, name))
        return super().get_detail_value(context, model, name)

    # -- forms --------------------------------------------------------------------------------------
    def scaffold_form(self):
        form_class = super().scaffold_form()
        form_class.row_version = HiddenField()
        return form_class

    def on_form_prefill(self, form, id):
        obj = self.get_one(id)
        form.row_version.data = obj.version

    def edit_form(self, obj=None):
        form = super().edit_form(obj)
        if request.method == "GET" and obj is not None:
            form.row_version.data = obj.version
        return form

    # -- saving -------------------------------------------------------------------------------------
    def create_model(self, form):
        model = self.build_new_instance()
        return model if self._save(form, model, created=True) else False

    def update_model(self, form, model):
        expected = form.row_version.data
        if expected and str(model.version) != str(expected):
            flash(_(STALE_MESSAGE), "error")
            return False
        return self._save(form, model, created=False)

    def _save(self, form, model, created: bool) -> bool:
        session = db.session
        before = None if created else row_snapshot(model)
        try:
            with session.no_autoflush:
                form_data = {k: f for k, f in form._fields.items() if k != "row_version"}
                for field in form_data.values():
                    field.populate_obj(model, field.name)
                if created:
                    session.add(model)
                errors = self.check_rules(form, model, created)
            if errors:
                for name, message in errors.items():
                    target = form._fields.get(name)
                    if target is not None:
                        target.errors = list(target.errors or []) + [message]
                    else:
                        flash(message, "error")
                session.rollback()
                return False
            self.on_model_change(form, model, created)
            session.flush()
            self._audit("create" if created else "update", model, before, row_snapshot(model))
            session.commit()
        except StaleDataError:
            session.rollback()
            flash(_(STALE_MESSAGE), "error")
            return False
        except IntegrityError:
            session.rollback()
            log.info("integrity error saving %s", self.model.__name__, exc_info=True)
            flash(_("保存失败:数据与已有记录冲突或缺少必填项,请检查后重试"), "error")
            return False
        self.after_model_change(form, model, created)
        return True

    def check_rules(self, form, model, created: bool) -> dict[str, str]:
        """Field name → Chinese message; empty when the row may be saved."""
        errors: dict[str, str] = {}
        scope = current_scope()
        # Every linked row must be one the user may see …
        for rel in inspect(self.model).relationships:
            if rel.direction.name != "MANYTOONE" or rel.key not in form._fields:
                continue
            value = getattr(model, rel.key)
            if value is not None and not scope.allows(value, VIEW):
                errors[rel.key] = SCOPE_MESSAGE
        # … and the row itself must land inside the scope.
        if not errors and not scope.allows(model, CREATE if created else EDIT):
            field = next((n for n in ("region", "township", "person", "post", "plan", "user", "parent")
                          if n in form._fields), None)
            errors[field or "_"] = SCOPE_MESSAGE
        errors.update(self._unique_errors(form, model))
        check = getattr(model, "check", None)
        if callable(check):
            for name, message in check().items():
                errors.setdefault(name, message)
        return errors

    def _unique_errors(self, form, model) -> dict[str, str]:
        errors: dict[str, str] = {}
        table = self.model.__table__
        groups = [[c] for c in table.columns if c.unique]
        groups += [list(con.columns) for con in table.constraints if isinstance(con, UniqueConstraint)]
        for cols in groups:
            values = [getattr(model, c.key) for c in cols]
            if any(v is None for v in values):
                continue
            stmt = select(self.model.id).where(*[getattr(self.model, c.key) == v for c, v in
                                                 zip(cols, values, strict=True)])
            if model.id is not None:
                stmt = stmt.where(self.model.id != model.id)
            if db.session.execute(stmt.limit(1)).first() is not None:
                field = _form_field_for(form, cols[0].key)
                labels = "、".join(c.info.get("label", c.key) for c in cols)
                errors[field] = _("已存在相同%(what)s的记录", what=labels)
        return errors

    def delete_model(self, model) -> bool:
        before = row_snapshot(model)
        try:
            self.on_model_delete(model)
            self._audit("delete", model, before, None)
            db.session.delete(model)
            db.session.commit()
        except IntegrityError:
            db.session.rollback()
            flash(_("不能删除:还有其他记录引用它,请先处理相关记录"), "error")
            return False
        self.after_model_delete(model)
        return True

    def _audit(self, action: str, model, before, after) -> None:
        regions = []
        spec = getattr(self.model, "__scope__", None)
        if spec and spec != "self":
            from admin_app.scope import _regions_of

            regions = [r for r in _regions_of(model, spec.split(".")) if r is not None]
        db.session.add(AuditLog(
            user_id=getattr(current_user, "id", None), action=action, table_name=self.model.__tablename__,
            row_id=model.id, region_id=regions[0].id if regions else None,
            summary=str(model)[:200], before=before, after=after))

    def handle_view_exception(self, exc):
        if isinstance(exc, StaleDataError):
            flash(_(STALE_MESSAGE), "error")
            return True
        return super().handle_view_exception(exc)


def _form_field_for(form, column_key: str) -> str:
    if column_key in form._fields:
        return column_key
    if column_key.endswith("_id") and column_key[:-3] in form._fields:
        return column_key[:-3]
    return "_"


def scoped_choices(owner_name: str, target, levels: tuple[str, ...] | None = None):
    """A query factory for a relationship drop-down of ``owner_name``'s form.

    Regions offered are those where the user may edit ``owner_name`` rows; other targets are the rows
    of ``target`` the user may see. Evaluated per request, so the choices follow the user, and the
    posted id is validated against the same list.
    """
    def factory():
        scope = current_scope()
        if target is Region:
            query = db.session.query(Region).order_by(Region.code)
            ids = scope.region_ids(EDIT, owner_name)
            if ids is not None:
                query = query.filter(Region.id.in_(ids))
            if levels:
                query = query.filter(Region.level.in_(levels))
            return query
        return scope.filter(db.session.query(target), target, VIEW).order_by(target.id)
    return factory


class ScopedRegionFilter(FilterEqual):
    """Equal-filter on a region column whose options are the user's regions, per request."""

    def __init__(self, column, name, levels=None):
        super().__init__(column, name, options=self._options)
        self.levels = levels

    def _options(self):
        from admin_app.scope import regions_in_scope

        if not has_request_context():
            return []  # computed per request in SecuredModelView._get_filter_groups

        return [(r.id, r.name) for r in regions_in_scope(VIEW, self.levels)]

    def clean(self, value):
        try:
            return int(value)
        except (TypeError, ValueError):
            return -1


def masked(value: str) -> Markup:
    return Markup.escape(value)
