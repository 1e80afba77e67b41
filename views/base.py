"""The one secured base view every generated screen derives from.

Scoping lives here and in ``admin_app.scope``; templates only hide what this class already refuses.
"""

from __future__ import annotations

import csv
import datetime
import decimal
import io
import logging
import re
from collections import OrderedDict

from flask import (
    Response,
    abort,
    after_this_request,
    current_app,
    flash,
    g,
    has_request_context,
    redirect,
    request,
    url_for,
)
from flask_admin import expose
from flask_admin.contrib.sqla import ModelView
from flask_admin.contrib.sqla.ajax import QueryAjaxModelLoader
from flask_admin.contrib.sqla.filters import FilterEqual
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf import FlaskForm
from jinja2 import pass_context
from sqlalchemy import false, func, inspect, or_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.utils import secure_filename
from wtforms import HiddenField

from admin_app import privacy
from admin_app.audit import record_access
from admin_app.extensions import db
from admin_app.scope import CREATE, DELETE, EDIT, EXPORT, VIEW, current_scope
from admin_app.spreadsheet import bool_text, content_disposition, download_name, safe_cell
from models import Region
from models.people import GRAM_MAX

from .listing import EstimatedCountQuery, page_of, planned_rows
from .screens import find_view

log = logging.getLogger(__name__)

from admin_app.gate import SCOPE_MESSAGE, STALE_MESSAGE, WriteRefused  # noqa: E402

MAX_SEARCH_TERMS = 10  # words of a list search (each adds a LIKE per searched column)
MAX_SEARCH_CHARS = 200
MIN_SENSITIVE_FRAGMENT = 3  # characters of an ID number or phone fragment before it is searched
MAX_PAGE = 1_000_000  # list page numbers beyond this (or below 0) are the first page


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


def posted_pk(value) -> int | None:
    """A posted primary key as an int within the 64-bit range, else None (a forged value)."""
    try:
        pk = int(value)
    except (TypeError, ValueError):
        return None
    return pk if -INT64 <= pk < INT64 else None


class ScopedAjaxLoader(QueryAjaxModelLoader):
    """Ajax foreign-key lookups limited to the user's scope: suggestions and posted ids alike."""

    def get_query(self):
        return current_scope().filter(db.session.query(self.model), self.model, VIEW)

    def format(self, model):
        """The picker's label: a person with village and ID tail, so namesakes can be told apart."""
        if model is None:
            return None
        from .people_file import picker_label

        return getattr(model, self.pk), picker_label(model)

    def get_one(self, pk):
        pk = posted_pk(pk)
        if pk is None:
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


class ScopedRegionLoader(QueryAjaxModelLoader):
    """A form's region field as a lookup (a province has ~2,000 townships: the form embedded them all).

    Suggestions and posted ids alike are the regions the drop-down offered: where the user may edit
    ``owner_name`` rows, of the field's levels (``scoped_choices``). The label carries the code, so two
    townships of one name are told apart."""

    LIMIT = 20  # suggestions per request, whatever the request asks

    def __init__(self, name: str, owner_name: str, levels: tuple[str, ...] | None, **options):
        super().__init__(name, None, Region, fields=["name", "code"], **options)
        self.owner_name, self.levels = owner_name, levels

    def get_query(self):
        return scoped_choices(self.owner_name, Region, self.levels)()

    def format(self, model):
        return None if model is None else (model.id, f"{model.name}({model.code})")

    def get_one(self, pk):
        """The region ``pk`` if the field may take it, else None; remembered for the request (an import
        validates one form per row, mostly naming the same few townships)."""
        pk = posted_pk(pk)
        if pk is None:
            return None
        seen = g.setdefault("_region_lookups", {}) if has_request_context() else {}
        key = (self.owner_name, self.levels, pk)
        if key not in seen:
            with db.session.no_autoflush:
                seen[key] = self.get_query().filter(Region.id == pk).first()
        return seen[key]

    def get_list(self, term, offset=0, limit=10):
        query = self.get_query()
        term = (term or "").strip()[:40]
        if term:
            query = query.filter(or_(_contains(Region.name, term), _contains(Region.code, term)))
        offset = max(0, min(offset or 0, 100_000))
        return query.offset(offset).limit(max(1, min(limit or self.LIMIT, self.LIMIT))).all()


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
    search_sensitive: tuple[str, ...] = ()  # fragment search, only for users who may see the values
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
        if name in ("index_view", "details_view", "export"):
            after_this_request(_no_store)  # lists and exports of personal data stay out of caches
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
        # Above listing.ESTIMATE_ABOVE rows PostgreSQL shows the planner's estimate (views/listing.py).
        return self.scoped(EstimatedCountQuery(func.count(), session=db.session()).select_from(self.model))

    def _apply_pagination(self, query, page, page_size):
        """On PostgreSQL short lists are read by their ids first and deep pages read the skipped rows as
        ids only (views/listing.py page_of)."""
        size = self.page_size if page_size is None else page_size
        if size and db.session.get_bind().dialect.name == "postgresql":
            return page_of(query, self.model, (page or 0) * size, size)
        return super()._apply_pagination(query, page, page_size)

    def get_one(self, id):
        try:
            ident = int(id)
        except (TypeError, ValueError):
            abort(404)
        if not -INT64 <= ident < INT64:
            abort(404)  # no row has it; the database would refuse to even compare it
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
            if not all(-INT64 <= i < INT64 for i in wanted):
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
        # Masked values must not be findable by those who may not see them (no search oracle): the policy
        # is admin_app.privacy.searchable.
        sensitive = self.may_see_sensitive()
        exact = [getattr(self.model, name) for name in self.search_exact
                 if privacy.searchable(getattr(self.model, name), sensitive)]
        fragments = [getattr(self.model, name) for name in self.search_sensitive
                     if privacy.searchable(getattr(self.model, name), sensitive)]
        plain = self._scope_is_small()
        # Each term adds a LIKE per searched column: a thousand words would exceed SQLite's expression
        # depth (a 500) and cost seconds; more than MAX_SEARCH_TERMS words add nothing useful.
        for term in search.split()[:MAX_SEARCH_TERMS]:
            # The list and its count join the searched relationships separately (own aliases), so each
            # gets conditions on its own aliases: mixing them made a cartesian product and a wrong count.
            conditions, count_conditions = [], []
            for field, path in self._search_fields:
                if not privacy.searchable(field, sensitive):
                    continue
                query, joins, alias = self._apply_path_joins(query, joins, path, inner_join=False)
                conditions.append(_term_condition(field, alias, term, plain))
                if count_query is not None:
                    count_query, count_joins, count_alias = self._apply_path_joins(
                        count_query, count_joins, path, inner_join=False)
                    count_conditions.append(_term_condition(field, count_alias, term, plain))
            exact_matches = [col == term.upper() for col in exact]
            if len(term) >= MIN_SENSITIVE_FRAGMENT:  # "1" would match every phone number
                exact_matches += [_term_condition(col, None, term, plain) for col in fragments]
            query = query.filter(or_(*conditions, *exact_matches, false()))
            if count_query is not None:
                count_query = count_query.filter(or_(*count_conditions, *exact_matches, false()))
        return query, count_query, joins, count_joins

    def _scope_is_small(self) -> bool:
        """On PostgreSQL: does the user's scope hold few rows of this screen (a clerk's township)? Then a
        search filters those rows instead of asking the trigram indexes, whose posting lists for common
        pinyin (``zhangjian``) span the whole province: 18 ms of index scan to find rows among ~1,000 that
        a filter reads in well under a millisecond. The planner's estimate decides (one EXPLAIN)."""
        if db.session.get_bind().dialect.name != "postgresql":
            return False
        scope = current_scope()
        if scope.is_global:
            return False
        rows = planned_rows(db.session, db.session.query(self.model.id).filter(scope.condition(self.model, VIEW)))
        return rows is not None and rows <= SMALL_SCOPE_ROWS

    # -- filters: options computed per request, inside the scope -------------------------------------
    def _get_list_filter_args(self):
        """The list filters of the URL, without those whose number no database column can hold (SQLite
        raised OverflowError for an integer past 64 bits: a 500)."""
        return [flt for flt in super()._get_list_filter_args() or () if _fits_int64(flt[2])]

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

    # -- sensitive fields (the policy: admin_app.privacy) -------------------------------------------
    def may_see_sensitive(self) -> bool:
        if not has_request_context():
            return True
        cache = g.setdefault("_may_see_sensitive", {})
        if self.endpoint not in cache:
            cache[self.endpoint] = privacy.may_see(self.model)
        return cache[self.endpoint]

    def _masked(self, name: str) -> bool:
        return name in self.sensitive_columns and not self.may_see_sensitive()

    def _mask(self, name: str, value):
        return privacy.mask_value(self.model, name, value)

    def is_sortable(self, name) -> bool:
        return super().is_sortable(name) and privacy.sortable(self.model, name, self.may_see_sensitive())

    def _apply_sorting(self, query, joins, sort_column, sort_desc):
        if sort_column is not None and self._masked(sort_column):
            sort_column = None  # no sorting oracle on masked columns
        return super()._apply_sorting(query, joins, sort_column, sort_desc)

    def _get_list_extra_args(self):
        """The list's query arguments, bounded: a page beyond any list or below zero is the first page
        (an offset past 2^63 or a negative one is a database error), a page size from the offered ones."""
        args = super()._get_list_extra_args()
        if args.page is None or not 0 <= args.page <= MAX_PAGE:
            args.page = 0
        if args.page_size is not None and not 0 <= args.page_size <= 1000:
            args.page_size = 0
        if args.sort is not None and not 0 <= args.sort < 1000:
            args.sort = None
        if args.search and len(args.search) > MAX_SEARCH_CHARS:
            args.search = args.search[:MAX_SEARCH_CHARS]
        return args

    @pass_context
    def get_list_value(self, context, model, name):
        if self._masked(name):
            return self._mask(name, getattr(model, name))
        labels = self._choice_labels(name)
        if labels is not None:
            value = getattr(model, name)
            return labels.get(value) or ("" if value is None else value)  # an empty cell, not "None"
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
        if self._masked(name):
            return self._mask(name, getattr(model, name))
        labels = self._choice_labels(name)
        if labels is not None:
            value = getattr(model, name)
            return labels.get(value) or value
        value = getattr(model, name, None)
        if isinstance(value, bool) and name not in (self.column_formatters_export or {}):
            return bool_text(value)  # 是/否, as clerks write it and the import reads it
        if isinstance(value, int | float | decimal.Decimal | datetime.date) and not isinstance(value, bool) \
                and name not in (self.column_formatters_export or {}):
            return value  # typed in XLSX; CSV writes its text
        return super().get_export_value(model, name)

    # -- exports: small ones in the request, big ones as a background job (run_export_job) -----------
    @expose("/export/<export_type>/", methods=("GET", "POST"))
    def export(self, export_type):
        """Flask-Admin's export, also answering the POST of a big export's confirmation (``_export``)."""
        return super().export(export_type)

    def _export_csv(self, return_url):
        """The CSV built inside the request, not streamed as Flask-Admin does (its stream runs after the
        request's session and scope are gone, so lazy loads of related rows fail there)."""
        return self._export("csv")

    def _export_tablib(self, export_type, return_url):
        """XLSX written with openpyxl (``write_export``), not tablib: typed numbers and dates."""
        return self._export(export_type)

    def _export(self, export_type: str):
        """Up to ``EXPORT_SYNC_ROWS`` rows are written here and downloaded at once; a bigger list becomes
        a job (我的任务) that rebuilds the same list as its owner and writes it in the background."""
        if export_type not in EXPORT_MIMETYPES:
            abort(404)
        count, query = self._export_list(self._get_list_extra_args())
        if count is None:
            count = query.enable_eagerloads(False).order_by(None).count()
        if count > int(current_app.config["EXPORT_SYNC_ROWS"]):  # admin_app/config.py: 5,000 by default
            return self._export_as_job(export_type, count)
        out = io.BytesIO()
        rows = write_export(out, export_type, self._export_sheet_title(), self._export_header(),
                            self._export_cells(query))
        record_access("export", self.model.__name__, rows)
        return self._download(out.getvalue(), export_type, EXPORT_MIMETYPES[export_type])

    def _export_list(self, args) -> tuple:
        """(count, unexecuted query) of the list being exported: its sort, search and filters, no page;
        rows of equal sort values in id order, so an export job writes them in the request's order.
        The count is the list's (the planner's estimate on PostgreSQL for big lists)."""
        sort = self._get_column_by_idx(args.sort)
        count, query = self.get_list(0, sort[0] if sort else None, args.sort_desc, args.search, args.filters,
                                     execute=False, page_size=0)
        return count, query.order_by(self.model.id)

    def _export_header(self) -> list[str]:
        return [safe_cell(str(c[1])) for c in self._export_columns]

    def _export_cells(self, rows):
        """Each row's cells, each through the one formula neutraliser and the privacy mask."""
        for row in rows:
            yield [safe_cell(self.get_export_value(row, c[0])) for c in self._export_columns]

    def _export_sheet_title(self) -> str:
        return secure_filename(self.endpoint)[:30] or "export"

    def _export_as_job(self, export_type: str, count: int):
        """The GET asks, the POST queues the job (or finds the same one unfinished) and shows it in
        我的任务 (``views.jobs.start_job``)."""
        from urllib.parse import urlencode

        from models import JobKind

        from .jobs import start_job

        args = [[k, v] for k, v in request.args.items(multi=True) if _export_arg(k, v)]
        back_url = self.get_url(".index_view") + (f"?{urlencode([(k, v) for k, v in args])}" if args else "")
        return start_job(JobKind.EXPORT, {"endpoint": self.endpoint, "format": export_type, "args": args},
                         title=_("%(name)s 导出(%(format)s)", name=self.name, format=export_type.upper()),
                         size=_("约 %(n)s 行", n=f"{count:,}"), back_url=back_url, view=self.endpoint)

    def _foreign_region_filter(self, filters) -> bool:
        """Does a region filter of the list name a region outside the user's export scope? (A job's
        parameters are not trusted: the list would be empty, the job says why instead.)"""
        scope = current_scope()
        for idx, _name, value in filters or ():
            flt = self._filters[idx]
            if not isinstance(flt, ScopedRegionFilter):
                continue
            region = db.session.get(Region, flt.clean(value))
            if region is None or not scope.covers_path(region.path, EXPORT, self.model.__name__):
                return True
        return False

    def get_export_name(self, export_type: str = "csv") -> str:
        """``人员-杉山镇-2026-11-27.csv``: the screen, the user's one township or county, the day."""
        return download_name(self.name, export_region_name(), datetime.date.today(), export_type)

    def _download(self, payload: bytes, export_type: str, mimetype: str) -> Response:
        filename = self.get_export_name(export_type=export_type)
        return Response(payload, mimetype=mimetype,
                        headers={"Content-Disposition": content_disposition(filename),
                                 "Cache-Control": "no-store"})

    @pass_context
    def get_detail_value(self, context, model, name):
        if self._masked(name):
            return self._mask(name, getattr(model, name))
        value = super().get_detail_value(context, model, name)
        return "" if value is None else value  # an empty enum cell, not "None"

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
        if obj is not None:
            self._blind_sensitive_fields(form, obj)
        return form

    def _blind_sensitive_fields(self, form, obj) -> None:
        """Without the right, the edit form never carries a sensitive value: its field is empty with the
        mask as placeholder, and left empty it keeps the stored value (a new value replaces it)."""
        if self.may_see_sensitive():
            return
        for name in self.sensitive_columns:
            field = form._fields.get(name)
            if field is None:
                continue
            posted = request.method == "POST" and field.raw_data and str(field.raw_data[0]).strip()
            if not posted:
                field.data = None
                field.raw_data = []
                field.populate_obj = _keep_stored_value
                field.render_kw = {**(field.render_kw or {}),
                                   "placeholder": self._mask(name, getattr(obj, name)) or ""}

    def validate_form(self, form) -> bool:
        valid = super().validate_form(form)
        if request.method != "POST" or not hasattr(form, "row_version"):
            return valid
        forged = _forged_choices(form)
        for field in forged:
            field.errors = [*field.errors, _(SCOPE_MESSAGE)] if isinstance(field.errors, list) else \
                [_(SCOPE_MESSAGE)]
        return valid and not forged

    # -- saving: the write gate decides; this turns its refusals into field errors ------------------
    def create_model(self, form):
        model = self.build_new_instance()
        return model if self._save(form, model, created=True) else False

    def update_model(self, form, model):
        if not form.row_version.raw_data or not form.row_version.data or _missing_child_versions(form):
            # Without the version the user saw, a stale form would silently overwrite newer data.
            flash(_(VERSION_MISSING_MESSAGE), "error")
            return False
        return self._save(form, model, created=False)

    def _save(self, form, model, created: bool) -> bool:
        session = db.session
        try:
            with session.no_autoflush:
                for field in form._fields.values():
                    field.populate_obj(model, field.name)  # row_version too: the gate compares it
                drop_empty_one_to_one(form, model)
                if created:
                    session.add(model)
                    if hasattr(model, "author_id") and model.author_id is None:
                        model.author_id = current_user.id  # who made it (e.g. 职责调整的调整人)
            self.on_model_change(form, model, created)
            session.flush()
            session.commit()
        except WriteRefused as exc:
            session.rollback()
            show_refusal(form, model, exc)
            return False
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

    def delete_model(self, model) -> bool:
        if not current_scope().allows(model, DELETE):  # every path ends here: re-check the row itself
            abort(404)
        try:
            self.on_model_delete(model)
            db.session.delete(model)
            db.session.commit()
        except WriteRefused as exc:
            db.session.rollback()
            flash(_("不能删除:%(why)s", why=exc.message), "error")
            return False
        except IntegrityError:
            db.session.rollback()
            flash(_("不能删除:还有其他记录引用它,请先处理相关记录"), "error")
            return False
        self.after_model_delete(model)
        return True

    def handle_view_exception(self, exc):
        if isinstance(exc, StaleDataError):
            flash(_(STALE_MESSAGE), "error")
            return True
        return super().handle_view_exception(exc)


VERSION_MISSING_MESSAGE = "表单缺少版本信息,无法确认您看到的是最新内容。请刷新页面后重新编辑"


def show_refusal(form, model, exc: WriteRefused) -> None:
    """The gate's reasons next to the fields they concern; the rest (inline rows, the row as a whole) as
    messages at the top of the form."""
    for problem in exc.problems:
        target = form._fields.get(problem.field) if problem.obj is model else None
        message = _(problem.message)
        if target is not None:
            target.errors = [*list(target.errors or []), message]
        elif problem.obj is not None and problem.obj is not model:
            flash(f"{problem.obj}:{message}", "error")
        else:
            flash(message, "error")


def _inline_entries(form):
    """(entry form, existing child or None) of every inline child form (lists and one-to-one)."""
    from wtforms.fields import FieldList, FormField

    for field in form:
        if isinstance(field, FieldList):
            entries = field.entries
        elif isinstance(field, FormField):
            entries = [field]
        else:
            continue
        for entry in entries:
            sub = getattr(entry, "form", None)
            if sub is not None and "row_version" in sub._fields:
                yield sub, getattr(entry, "object_data", None)


def _missing_child_versions(form) -> bool:
    """An existing inline child posted without its version (a crafted or outdated form)."""
    # raw_data: what was posted (a field missing from the POST would otherwise take the stored value)
    return any(existing is not None and getattr(existing, "id", None) is not None
               and not (sub.row_version.raw_data and sub.row_version.data)
               for sub, existing in _inline_entries(form))


def drop_empty_one_to_one(form, model) -> None:
    """A one-to-one child (a person's veteran profile) exists only when one of its fields is filled:
    an inline form left empty makes no row (forms and imports alike)."""
    from sqlalchemy.orm import object_session

    for rel in inspect(type(model)).relationships:
        if rel.uselist or rel.direction.name != "ONETOMANY" or rel.key not in form._fields:
            continue
        child = getattr(model, rel.key)
        if child is None or inspect(child).persistent:
            continue
        sub = getattr(form._fields[rel.key], "form", None)
        values = [f.data for f in sub if f.name not in ("id", "row_version", "csrf_token")] if sub else []
        if all(v in (None, "", False, []) for v in values):
            setattr(model, rel.key, None)
            session = object_session(child)
            if session is not None and child in session:
                session.expunge(child)


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


INT64 = 2**63


def _fits_int64(value) -> bool:
    """Does every integer written in ``value`` (a filter argument) fit a 64-bit column?"""
    return all(abs(int(n)) < INT64 for n in re.findall(r"\d+", str(value)))


def _keep_stored_value(obj, name) -> None:
    """``populate_obj`` of a blinded sensitive field left empty: the stored value stays."""


def _no_store(response):
    response.headers["Cache-Control"] = "no-store"
    return response


def _contains(column, term: str):
    """Case-insensitive substring match; LIKE wildcards typed by the user are taken literally.

    SQLite's LIKE already ignores ASCII case (and its lower() knows only ASCII), so lower() there only
    costs time (4x on 100k people); PostgreSQL needs ILIKE.
    """
    pattern = "%" + term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    if db.session.get_bind().dialect.name == "sqlite":
        return column.like(pattern, escape="\\")
    return column.ilike(pattern, escape="\\")


def _term_condition(field, alias, term: str, plain: bool = False):
    """Does ``field`` (on ``alias`` when the search joined its table) contain ``term``? Same rows as
    ``_contains``, found through an index on PostgreSQL at any scale, unless ``plain`` (a small scope:
    the column is compared as an expression no index serves, so the scope's rows are filtered):

    * three characters or more: ``ILIKE``, served by the trigram GIN indexes (revision 0005);
    * one or two characters (trigrams need three): a person's name through ``search_grams @> ARRAY[…]``,
      the GIN-indexed pieces of the name (``models.people.search_grams``); a pinyin column never holds a
      Chinese character, so a Chinese term there is no condition at all.
    """
    column = field if alias is None else getattr(alias, field.key)
    if plain:
        return _contains(column.op("||")(""), term)
    if len(term) > GRAM_MAX or db.session.get_bind().dialect.name != "postgresql" or not _gram_safe(term):
        return _contains(column, term)
    grams = _grams_column(field, alias) if field.key == "name" else None
    if grams is not None:
        from sqlalchemy import Text, cast
        from sqlalchemy.dialects.postgresql import ARRAY, array

        return grams.op("@>")(cast(array([term.lower()]), ARRAY(Text)))
    if field.key in PINYIN_KEYS and not term.isascii():
        return false()  # readings are ASCII letters: a Chinese character never occurs in them
    return _contains(column, term)


PINYIN_KEYS = ("name_pinyin", "name_initials")
SMALL_SCOPE_ROWS = 5_000  # rows in scope (planner's estimate) a search filters rather than looks up


def _grams_column(field, alias):
    """The ``search_grams`` beside a searched name (a mapped attribute or a table column), if any."""
    if alias is not None:
        return getattr(alias, "search_grams", None)
    owner = getattr(field, "class_", None)
    if owner is not None:
        return getattr(owner, "search_grams", None)
    table = getattr(field, "table", None)
    return table.c.get("search_grams") if table is not None else None


def _gram_safe(term: str) -> bool:
    """A term whose characters fold case alike in Python and in PostgreSQL's ILIKE (ASCII, and the
    caseless CJK ideographs), so its lower-cased form is the stored piece exactly."""
    return all(ch.isascii() or "\u3400" <= ch <= "\u9fff" or "\uf900" <= ch <= "\ufaff"
               or "\U00020000" <= ch <= "\U0003134f" for ch in term)


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
    """Equal-filter on a region column, chosen through a lookup (``views/region_lookup.py``): the page
    carries no options (a province has ~2,000 townships), the browser asks for the regions in the user's
    scope as the user types (``views/static/region_filter.js``, select2)."""

    def __init__(self, column, name, levels=None):
        # The type tells region_filter.js (through the page's filter groups) to make the field a lookup
        # of regions of these levels.
        super().__init__(column, name, data_type="region-lookup:" + ",".join(levels or ()))
        self.levels = levels

    def get_options(self, view):
        return None

    def clean(self, value):
        try:
            number = int(value)
        except (TypeError, ValueError):
            return -1
        return number if -INT64 <= number < INT64 else -1


def export_region_name() -> str | None:
    """The name of the user's one township or county (for file names); None for several regions or a
    city-wide user."""
    if not has_request_context():
        return None
    region_ids = {gr.region_id for gr in current_scope().grants}
    if len(region_ids) != 1:
        return None
    region = db.session.get(Region, next(iter(region_ids)))
    return region.name if region is not None and region.level in ("township", "county") else None


# -- exports: the file writer (requests and jobs alike) and the export job ---------------------------
EXPORT_BATCH = 1_000  # rows an export job reads per round trip; one progress step each
XLSX_SHEET_ROWS = 1_048_575  # data rows per worksheet (Excel shows 1,048,576 rows, the header included)
EXPORT_MIMETYPES = {"csv": "text/csv; charset=utf-8",
                    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
EXPORT_ARG = re.compile(r"sort|desc|search|flt\d{1,3}_\w{1,40}")  # the list's arguments a job keeps
EXPORT_REFUSED_MESSAGE = "该列表不存在或您无权导出"
EXPORT_FILTER_MESSAGE = "筛选条件中的区划不在您的导出范围内"
EXPORT_DONE_MESSAGE = "已导出 %(n)s 行"


def _export_arg(key, value) -> bool:
    """Is ``key=value`` a list argument an export keeps (sort, search, filters; not the page)?"""
    return bool(EXPORT_ARG.fullmatch(str(key))) and len(str(value)) <= MAX_SEARCH_CHARS


def write_export(out, export_type: str, title: str, header: list, rows) -> int:
    """Write ``header`` and ``rows`` (cells already neutralised) to the binary file ``out`` as CSV (UTF-8
    with the BOM Excel needs) or XLSX (write-only openpyxl: typed cells, memory bounded, a new sheet
    every ``XLSX_SHEET_ROWS`` rows). Returns the number of rows written."""
    count = 0

    def counted():
        nonlocal count
        for row in rows:
            count += 1
            yield row

    if export_type == "csv":
        text = io.TextIOWrapper(out, encoding="utf-8-sig", newline="")
        writer = csv.writer(text)
        writer.writerow(header)
        writer.writerows(counted())
        text.flush()
        text.detach()  # the caller's file stays open
        return count
    import openpyxl  # ~0.25 s to import: only when a workbook is written

    book = openpyxl.Workbook(write_only=True)
    sheet = None
    for row in counted():
        if sheet is None or (count - 1) % XLSX_SHEET_ROWS == 0:
            part = (count - 1) // XLSX_SHEET_ROWS
            sheet = book.create_sheet(title=title if part == 0 else f"{title[:27]}-{part + 1}")  # ≤ 31 chars
            sheet.append(header)
        sheet.append(row)
    if sheet is None:
        book.create_sheet(title=title).append(header)
    book.save(out)
    return count


def _export_reader():
    """The session an export job reads its rows on. PostgreSQL: a connection of its own, so the job's
    progress commits do not close the server-side cursor. SQLite: the job's own session (a second
    connection's open read would block those commits; a commit leaves the same connection's read open)."""
    from contextlib import nullcontext

    from sqlalchemy.orm import Session

    if db.session.get_bind().dialect.name == "sqlite":
        return nullcontext(db.session())
    return Session(bind=db.engine)


def _advancing(rows, run, batch: int):
    """``rows`` unchanged; one progress step (a commit of the job row) after every ``batch`` rows, at the
    boundary of a ``yield_per`` batch, so no row of a batch in use is expired by the commit."""
    done = 0
    for row in rows:
        yield row
        done += 1
        if done % batch == 0:
            run.advance(batch)


def run_export_job(run) -> None:
    """A big list export (``JobKind.EXPORT``): the owner's list rebuilt from the job's parameters.

    Nothing in the parameters is trusted: the screen must be a generated one the owner may export now,
    a region filter must lie inside the owner's export scope (else the job fails with a message and
    reads nothing), and the rows are the owner's scoped list. The list is built inside a request
    context of the export URL with the owner as the logged-in user, so the scope, the privacy masks,
    the formula neutraliser and the audit record are exactly those of a small export; the rows are read
    in ``yield_per`` batches and spooled to a temporary file, never held in memory at once.
    """
    import mmap
    import tempfile

    from admin_app.jobs import JobFailed

    params = run.job.params if isinstance(run.job.params, dict) else {}
    export_type, args = params.get("format"), params.get("args") or []
    view = find_view(run.app, params.get("endpoint"), SecuredModelView)
    if (view is None or export_type not in EXPORT_MIMETYPES or export_type not in view.export_types
            or not isinstance(args, list) or not all(isinstance(a, list) and len(a) == 2 for a in args)):
        raise JobFailed(_(EXPORT_REFUSED_MESSAGE))
    query_string = [(str(k), str(v)) for k, v in args if _export_arg(k, v)]
    with run.app.test_request_context(f"{view.url}/export/{export_type}/", query_string=query_string):
        g._login_user = run.owner  # Flask-Login's current user: scope, masks and audit are the owner's
        if not (view.is_accessible() and view.can_export):
            raise JobFailed(_(EXPORT_REFUSED_MESSAGE))
        list_args = view._get_list_extra_args()
        if view._foreign_region_filter(list_args.filters):
            raise JobFailed(_(EXPORT_FILTER_MESSAGE))
        _count, query = view._export_list(list_args)
        run.start(query.enable_eagerloads(False).order_by(None).count())
        with _export_reader() as reader, tempfile.TemporaryFile() as spool:
            rows = query.with_session(reader).yield_per(EXPORT_BATCH)
            written = write_export(spool, export_type, view._export_sheet_title(), view._export_header(),
                                   _advancing(view._export_cells(rows), run, EXPORT_BATCH))
            filename = view.get_export_name(export_type)
            record_access("export", view.model.__name__, written, f"后台任务 {run.job_id}")
            spool.flush()
            # The result is copied from a memory map of the spool file: a million rows never sit in memory.
            with mmap.mmap(spool.fileno(), 0, access=mmap.ACCESS_READ) as data:
                run.finish(data, filename, _(EXPORT_DONE_MESSAGE, n=written))
