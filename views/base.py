"""The one secured base view every generated screen derives from.

Scoping lives here and in ``admin_app.scope``; templates only hide what this class already refuses.
"""

from __future__ import annotations

import csv
import io
import logging
from collections import OrderedDict

from flask import Response, abort, flash, g, has_request_context, redirect, request, url_for
from flask_admin.contrib.sqla import ModelView
from flask_admin.contrib.sqla.ajax import QueryAjaxModelLoader
from flask_admin.contrib.sqla.filters import FilterEqual
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf import FlaskForm
from jinja2 import pass_context
from sqlalchemy import UniqueConstraint, false, func, inspect, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.utils import secure_filename
from wtforms import HiddenField

from admin_app.extensions import db
from admin_app.scope import CREATE, DELETE, EDIT, EXPORT, SENSITIVE, VIEW, current_scope
from models import Grant, Region
from models.idnumber import mask_id_number, mask_phone, mask_text
from views.history import record_audit, row_snapshot

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


class AdminForm(FlaskForm):
    """Flask-WTF form (CSRF shared with CSRFProtect) that keeps the edited object, as Flask-Admin's
    validators (``Unique``) expect ``form._obj``."""

    def __init__(self, *args, obj=None, **kwargs):
        self._obj = obj
        super().__init__(*args, obj=obj, **kwargs)


class SecuredModelView(ModelView):
    """Login, rights, row scope, field-level errors, optimistic locking and audit for every screen."""

    form_base_class = AdminForm
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

    def _handle_view(self, name, **kwargs):
        response = super()._handle_view(name, **kwargs)
        if response is not None:
            return response
        # A write the role may not do at all answers 404 like a row outside the scope (not a redirect).
        if name in ("create_view", "edit_view", "delete_view", "action_view", "export", "ajax_update"):
            action = _endpoint_action()
            if not self._right(action):
                abort(404)
        return None

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
        # count(*), not count(id): SQLite answers count(*) from the smallest index (0.07 ms on 100k
        # people) but reads every row for count(id) (8 ms).
        return self.scoped(db.session.query(func.count()).select_from(self.model))

    def get_one(self, id):
        try:
            ident = int(id)
        except (TypeError, ValueError):
            abort(404)
        action = _endpoint_action()
        obj = self.scoped(db.session.query(self.model), action).filter(self.model.id == ident).first()
        # A row reaching several regions (a user with grants in two counties) may be changed only by
        # someone whose scope holds all of them.
        if obj is None or (action in (EDIT, DELETE) and not current_scope().allows(obj, action)):
            abort(404)
        return obj

    # -- bulk actions: every posted id must be in scope, or the whole request is refused ------------
    def handle_action(self, return_view=None):
        ids = request.form.getlist("rowid")
        if ids:
            action = _endpoint_action()
            try:
                wanted = {int(i) for i in ids}
            except (TypeError, ValueError):
                abort(404)
            rows = self.scoped(db.session.query(self.model), action).filter(self.model.id.in_(wanted)).all()
            scope = current_scope()
            if len(rows) != len(wanted) or (action in (EDIT, DELETE)
                                             and not all(scope.allows(r, action) for r in rows)):
                abort(404)
        return super().handle_action(return_view)

    def action_delete(self, ids):
        # ids arrive as strings; PostgreSQL refuses "integer IN (varchar)", so they are cast here
        return super().action_delete([int(i) for i in ids])

    action_delete._action = ModelView.action_delete._action  # keep it registered as the "delete" action

    # -- search: substring on names and pinyin, exact on ID numbers ----------------------------------
    def _apply_search(self, query, count_query, joins, count_joins, search):
        # Masked values must not be findable by those who may not see them (no search oracle).
        sensitive = self.may_see_sensitive()
        exact = [getattr(self.model, name) for name in self.search_exact] if sensitive else []
        for term in search.split():
            # The list and its count join the searched relationships separately (own aliases), so each
            # gets conditions on its own aliases: mixing them made a cartesian product and a wrong count.
            conditions, count_conditions = [], []
            for field, path in self._search_fields:
                if not sensitive and _is_sensitive_column(field):
                    continue
                query, joins, alias = self._apply_path_joins(query, joins, path, inner_join=False)
                conditions.append(_contains(field if alias is None else getattr(alias, field.key), term))
                if count_query is not None:
                    count_query, count_joins, count_alias = self._apply_path_joins(
                        count_query, count_joins, path, inner_join=False)
                    count_conditions.append(
                        _contains(field if count_alias is None else getattr(count_alias, field.key), term))
            exact_matches = [col == term.upper() for col in exact]
            query = query.filter(or_(*conditions, *exact_matches, false()))
            if count_query is not None:
                count_query = count_query.filter(or_(*count_conditions, *exact_matches, false()))
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
        if name in self.sensitive_columns and not self.may_see_sensitive():
            return self._mask(name, getattr(model, name))
        labels = self._choice_labels(name)
        if labels is not None:
            value = getattr(model, name)
            return labels.get(value) or value
        return super().get_list_value(context, model, name)

    def _choice_labels(self, name: str) -> dict | None:
        """An enum column's labels translated once per request (lazy strings resolved per cell cost two
        gettext calls each, ~15 % of a 50-row list)."""
        choices = self._column_choices_map.get(name)
        if not choices or name in (self.column_formatters or {}):
            return None
        cache = g.setdefault("_choice_labels", {})
        key = (self.endpoint, name)
        if key not in cache:
            cache[key] = {value: str(label) for value, label in choices.items()}
        return cache[key]

    def get_export_value(self, model, name):
        if name in self.sensitive_columns and not self.may_see_sensitive():
            return self._mask(name, getattr(model, name))
        return super().get_export_value(model, name)

    def _export_csv(self, return_url):
        """The CSV built inside the request (Flask-Admin streams it after the request's session and
        scope are gone, so lazy loads of related rows fail there); masking applies as in lists."""
        _count, data = self._export_data()
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow([str(c[1]) for c in self._export_columns])
        for row in data:
            writer.writerow([_csv_cell(self.get_export_value(row, c[0])) for c in self._export_columns])
        filename = secure_filename(self.get_export_name(export_type="csv"))
        return Response(out.getvalue(), mimetype="text/csv",
                        headers={"Content-Disposition": f"attachment;filename={filename}"})

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

    def validate_form(self, form) -> bool:
        valid = super().validate_form(form)
        if request.method != "POST" or not hasattr(form, "row_version"):
            return valid
        forged = _forged_choices(form)
        for field in forged:
            field.errors = [*field.errors, _(SCOPE_MESSAGE)] if isinstance(field.errors, list) else \
                [_(SCOPE_MESSAGE)]
        return valid and not forged

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
                    if hasattr(model, "author_id") and model.author_id is None:
                        model.author_id = current_user.id  # who made it (e.g. 职责调整的调整人)
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
        # … so must every row an inline form links to (PlanItem.lead_post inside AnnualPlan, …) …
        for rel in inspect(self.model).relationships:
            if rel.direction.name != "ONETOMANY" or rel.key not in form._fields:
                continue
            children = getattr(model, rel.key)
            children = children if isinstance(children, list | tuple | set) else [children]
            for child in children:
                message = _child_error(child, scope)
                if message:
                    errors.setdefault(rel.key, message)
        # … a grant never reaches beyond, or above, what the user holds …
        if isinstance(model, Grant):
            message = _grant_error(model, scope)
            if message:
                errors.setdefault("role", message)
        # … and the row itself must land inside the scope.
        if not errors and not scope.allows(model, CREATE if created else EDIT):
            field = next((n for n in ("region", "township", "person", "post", "plan", "user", "parent",
                                      "grants")
                          if n in form._fields), None)
            errors[field or "_"] = SCOPE_MESSAGE
        # check() first: it normalises values (an ID number typed in lower case or with spaces), so the
        # uniqueness check compares what will be stored.
        check = getattr(model, "check", None)
        if callable(check):
            for name, message in check().items():
                errors.setdefault(name, message)
        for name, message in self._unique_errors(form, model).items():
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
        if not current_scope().allows(model, DELETE):  # every path ends here: re-check the row itself
            abort(404)
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
        record_audit(action, model, before, after)

    def handle_view_exception(self, exc):
        if isinstance(exc, StaleDataError):
            flash(_(STALE_MESSAGE), "error")
            return True
        return super().handle_view_exception(exc)


GRANT_MESSAGE = "不能授予高于本人角色或超出本人管辖范围的权限"


def _grant_error(grant, scope) -> str | None:
    """Why ``grant`` may not be saved by the user of ``scope`` (None when it may)."""
    region = grant.region
    if region is None and grant.region_id is not None:
        region = db.session.get(Region, grant.region_id)
    if grant.role is None or region is None:
        return None  # the required-field check reports it
    if not scope.may_grant(grant.role, region):
        return _(GRANT_MESSAGE)
    return None


def _child_error(child, scope) -> str | None:
    """Why an inline child row may not be saved (foreign link, foreign region, too wide a grant)."""
    if child is None:
        return None
    for rel in inspect(type(child)).relationships:
        if rel.direction.name != "MANYTOONE":
            continue
        value = getattr(child, rel.key)
        if value is not None and not scope.allows(value, VIEW):
            return _(SCOPE_MESSAGE)
    if isinstance(child, Grant):
        message = _grant_error(child, scope)
        if message:
            return message
    state = inspect(child)
    if state.deleted or (state.persistent and not state.modified):
        return None
    spec = getattr(type(child), "__scope__", None)
    if not spec or "." in spec:
        return None  # city-wide, or reached through the parent, which is checked itself
    if not scope.allows(child, CREATE if state.pending or state.transient else EDIT):
        return _(SCOPE_MESSAGE)
    return None


def _is_sensitive_column(column) -> bool:
    """Is a searchable column one of the masked ones (its info, or its model's ``__sensitive__``)?"""
    from models import scoped_models

    info = getattr(column, "info", None) or {}
    if info.get("id_number") or info.get("phone") or info.get("sensitive"):
        return True
    table = getattr(column, "table", None)
    for model in scoped_models():
        if model.__table__ is table:
            return column.key in getattr(model, "__sensitive__", ())
    return False


def _forged_choices(form) -> list:
    """Link fields (drop-downs, ajax lookups, inline ones too) whose posted id is not among the rows the
    user may pick: Flask-Admin quietly turns such an id into an empty value; we refuse it instead."""
    from flask_admin.contrib.sqla.fields import QuerySelectField
    from flask_admin.model.fields import AjaxSelectField
    from wtforms.fields import FieldList, FormField

    out = []
    for field in form:
        if isinstance(field, FieldList):
            for entry in field.entries:
                out.extend(_forged_choices(entry.form) if isinstance(entry, FormField) else
                           _forged_choices_of_field(entry, QuerySelectField, AjaxSelectField))
        elif isinstance(field, FormField):
            out.extend(_forged_choices(field.form))
        else:
            out.extend(_forged_choices_of_field(field, QuerySelectField, AjaxSelectField))
    return out


def _forged_choices_of_field(field, *kinds) -> list:
    if not isinstance(field, kinds) or not field.raw_data:
        return []
    raw = field.raw_data[0]
    if raw in (None, "", "__None"):
        return []
    return [field] if field.data is None else []


def _csv_cell(value) -> str:
    text = "" if value is None else str(value)
    # A leading =, +, - or @ would run as a formula in a spreadsheet (CSV injection).
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


def _contains(column, term: str):
    """Case-insensitive substring match; LIKE wildcards typed by the user are taken literally.

    SQLite's LIKE already ignores ASCII case (and its lower() knows only ASCII), so lower() there only
    costs time (4x on 100k people); PostgreSQL needs ILIKE.
    """
    pattern = "%" + term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    if db.session.get_bind().dialect.name == "sqlite":
        return column.like(pattern, escape="\\")
    return column.ilike(pattern, escape="\\")


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

