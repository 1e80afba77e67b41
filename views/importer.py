"""Excel/CSV import for every generated screen (导入), with an error report.

Each row goes through the screen's own create form and the write gate — the same validation, scope
and business rules as typing it in — and the whole file is written in one transaction or not at all.
Linked rows are named as people write them (a region's name, a person's name or ID number) and are
resolved only among the rows the user may see.
"""

from __future__ import annotations

import csv
import datetime
import io
import json
import re
import secrets
import time
import zipfile
from dataclasses import dataclass
from dataclasses import field as dc_field
from pathlib import Path

from flask import abort, current_app, flash, redirect, request, send_file
from flask_admin import expose
from flask_babel import gettext as _
from sqlalchemy import Integer, or_, select
from sqlalchemy.exc import IntegrityError
from werkzeug.datastructures import MultiDict
from wtforms import fields as wtf

from admin_app import privacy
from admin_app.extensions import db
from admin_app.gate import WriteRefused
from admin_app.spreadsheet import decode_csv, safe_cell
from models import Region

from .base import drop_empty_one_to_one

MAX_ROWS = 20_000  # rows of one file; a 10,000-row file imports in seconds (make bench: bench_import)
MAX_BYTES = 5 * 1024 * 1024
MAX_UNPACKED_BYTES = 16 * 1024 * 1024  # an xlsx is a zip: 5 MB may unpack to gigabytes, and openpyxl
# scans a sheet without a <dimension> to its end before the first row (~0.1 s per MB)
MAX_COLUMNS = 100  # cells per row; no screen has half as many fields
MAX_SHEET_ROWS = MAX_ROWS * 2 + 1  # rows read, blank ones included, before the file is refused
TRUE_WORDS = {"是", "y", "yes", "true", "1", "√", "✓", "t"}
FALSE_WORDS = {"否", "n", "no", "false", "0", "", "f"}
PREVIEW_LINES = 200  # rows listed in the preview (all are counted)
PREVIEW_CELLS = 6  # cells of each listed row
UPLOAD_TTL = 2 * 3600  # seconds a previewed upload waits for its confirmation
TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{32,64}$")


@dataclass
class ImportOutcome:
    """What an import did (or, previewed, would do): counts, one entry per row, and the errors."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    written: bool = False
    lines: list[dict] = dc_field(default_factory=list)  # line, status (insert/update/unchanged/error), cells
    errors: list[dict] = dc_field(default_factory=list)  # line, column, value, message


def _uploads_dir() -> Path:
    """Previewed uploads wait under ``JOBS_DIR/imports``: the volume every web machine shares, so the
    confirmation may reach another machine than the preview."""
    folder = Path(current_app.config["JOBS_DIR"]) / "imports"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def store_upload(endpoint: str, filename: str, payload: bytes) -> str:
    """Keep a previewed upload for its confirmation; returns the token that names it."""
    from flask_login import current_user

    folder = _uploads_dir()
    now = time.time()
    for old in folder.glob("*.json"):  # forget uploads never confirmed
        try:
            if now - old.stat().st_mtime > UPLOAD_TTL:
                old.unlink(missing_ok=True)
                old.with_suffix(".bin").unlink(missing_ok=True)
        except OSError:
            pass
    token = secrets.token_urlsafe(32)
    (folder / f"{token}.bin").write_bytes(payload)
    meta = {"user_id": current_user.id, "endpoint": endpoint, "filename": filename[:200], "at": now}
    (folder / f"{token}.json").write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
    return token


def take_upload(token: str, endpoint: str) -> tuple[str, bytes] | None:
    """The upload ``token`` names, once, if the current user stored it for this screen and it is recent."""
    from flask_login import current_user

    if not TOKEN_RE.match(token or ""):
        return None
    folder = _uploads_dir()
    meta_file, data_file = folder / f"{token}.json", folder / f"{token}.bin"
    try:
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
        payload = data_file.read_bytes()
    except (OSError, ValueError):
        return None
    if meta.get("user_id") != current_user.id or meta.get("endpoint") != endpoint:
        return None  # someone else's upload, or another screen's: as if it did not exist (kept for its owner)
    meta_file.unlink(missing_ok=True)
    data_file.unlink(missing_ok=True)
    if time.time() - float(meta.get("at", 0)) > UPLOAD_TTL:
        return None
    return str(meta.get("filename", "")), payload


def _changed_keys(obj) -> list[str]:
    """Columns of an existing row the import changed (before the flush)."""
    from sqlalchemy import inspect as sa_inspect

    state = sa_inspect(obj)
    return [attr.key for attr in state.mapper.column_attrs
            if attr.key != "version" and state.attrs[attr.key].history.has_changes()
            and state.attrs[attr.key].history.deleted != state.attrs[attr.key].history.added]


class ImportFileError(ValueError):
    """A whole-file problem (not a row problem): unreadable file, unknown header, too many rows."""


def _cell_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime.datetime):
        return value.date().isoformat() if value.time() == datetime.time() else value.isoformat(" ")
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def read_rows(filename: str, payload: bytes) -> list[list[str]]:
    """The cells of an .xlsx or .csv file as text rows (the header row first).

    Limits are checked while streaming, before any other work: the file size, the unpacked size of an
    xlsx, the number of rows (blank ones too: a sheet may claim a cell at XFD1048576) and of columns.
    """
    if len(payload) > MAX_BYTES:
        raise ImportFileError(_("文件超过 5 MB,请拆分后分批导入"))
    name = (filename or "").lower()
    try:
        if name.endswith(".csv"):
            rows = _limited(csv.reader(io.StringIO(decode_csv(payload))))
        elif name.endswith(".xlsx"):
            rows = _xlsx_rows(payload)
        else:
            raise ImportFileError(_("只能导入 .xlsx 或 .csv 文件"))
    except ImportFileError:
        raise
    except Exception:  # noqa: BLE001 - any parse failure is the user's file, not our bug
        raise ImportFileError(_("无法读取该文件,请确认是 Excel(.xlsx)或 CSV 文件(UTF-8 或 GBK 编码)")) from None
    if not rows:
        raise ImportFileError(_("文件是空的"))
    return rows


def _xlsx_rows(payload: bytes) -> list[list[str]]:
    with zipfile.ZipFile(io.BytesIO(payload)) as archive:
        unpacked = sum(info.file_size for info in archive.infolist())
    if unpacked > MAX_UNPACKED_BYTES:
        raise ImportFileError(_("文件内容过大(解压后超过 %(n)s MB),请拆分后分批导入",
                                n=MAX_UNPACKED_BYTES // (1024 * 1024)))
    import openpyxl  # ~0.25 s to import: only when a workbook is read or written

    book = openpyxl.load_workbook(io.BytesIO(payload), read_only=True, data_only=True)
    try:
        sheet = book.worksheets[0]
        # The <dimension> a file declares may lie (a 4 KB file claiming A1:XFD1048576 made openpyxl pad
        # a million empty rows): read only the rows and cells the sheet really holds.
        sheet.reset_dimensions()
        return _limited(sheet.iter_rows(values_only=True))
    finally:
        book.close()


def _limited(source) -> list[list[str]]:
    """Text rows of ``source`` without blank ones; refused as soon as a limit is passed."""
    rows: list[list[str]] = []
    for index, raw in enumerate(source, start=1):
        if index > MAX_SHEET_ROWS:
            raise ImportFileError(_("一次最多导入 %(n)s 行", n=MAX_ROWS))
        if len(raw) > MAX_COLUMNS:
            raise ImportFileError(_("第 %(line)s 行超过 %(n)s 列,请使用导入模板", line=index, n=MAX_COLUMNS))
        row = [_cell_text(c) for c in raw]
        if any(row):
            rows.append(row)
            if len(rows) - 1 > MAX_ROWS:
                raise ImportFileError(_("一次最多导入 %(n)s 行", n=MAX_ROWS))
    return rows


class ImportMixin:
    """Adds 导入 (import), its template download and the error-report download to a generated view."""

    import_template = "admin/import.html"

    # -- which fields a file may fill -----------------------------------------------------------------
    def _import_fields(self, form) -> list:
        return [f for name, f in form._fields.items()
                if name not in ("csrf_token", "row_version")
                and not isinstance(f, wtf.FieldList | wtf.FormField)]

    def _blank_form(self):
        return self._create_form_class(formdata=MultiDict(), meta={"csrf": False})

    @staticmethod
    def _label(field) -> str:
        return str(field.label.text)

    # -- cell text → form value -----------------------------------------------------------------------
    def _resolver(self, field):
        """A function cell text → (form value, error) for one field; built once per import."""
        if hasattr(field, "loader"):  # ajax relationship (e.g. a person): name or ID number
            loader = field.loader
            model = loader.model

            def by_lookup(text):
                if not text:
                    return "", None
                query = loader.get_query()
                conds = [model.name == text] if hasattr(model, "name") else []
                if hasattr(model, "id_number") and privacy.may_see(model):
                    conds.append(model.id_number == text.upper())  # no ID-number oracle without the right
                rows = query.filter(or_(*conds)).limit(2).all() if conds else []
                if not rows:
                    return "", _("找不到“%(v)s”(或不在您的授权范围内)", v=text)
                if len(rows) > 1:
                    return "", _("“%(v)s”有重名,请改填公民身份号码", v=text)
                return str(rows[0].id), None
            return by_lookup
        if hasattr(field, "query_factory"):  # drop-down relationship: its label as shown in the form
            get_label = field.get_label or str
            choices: dict[str, list[str]] = {}
            for obj in field.query_factory():
                choices.setdefault(str(get_label(obj)), []).append(str(obj.id))

            def by_label(text):
                if not text:
                    return "", None
                ids = choices.get(text)
                if not ids:
                    return "", _("找不到“%(v)s”(或不在您的授权范围内)", v=text)
                if len(ids) > 1:
                    return "", _("“%(v)s”有重名,无法确定是哪一个", v=text)
                return ids[0], None
            return by_label
        if getattr(field, "choices", None):  # an enumeration: its label or its value
            pairs = [(str(c[0]), str(c[1])) if isinstance(c, tuple | list) else (str(c), str(c))
                     for c in field.choices]
            lookup = {label: value for value, label in pairs} | {value: value for value, _l in pairs}

            def by_choice(text):
                if not text:
                    return "", None
                if text not in lookup:
                    allowed = "、".join(label for value, label in pairs if value not in ("", "__None"))
                    return "", _("“%(v)s”不是可选值(可选:%(a)s)", v=text, a=allowed)
                return lookup[text], None
            return by_choice
        if isinstance(field, wtf.BooleanField):
            def by_bool(text):
                low = text.lower()
                if low in TRUE_WORDS:
                    return "y", None
                if low in FALSE_WORDS:
                    return "", None
                return "", _("请填写“是”或“否”")
            return by_bool
        return lambda text: (text, None)

    # -- the import itself ----------------------------------------------------------------------------
    def import_rows(self, rows: list[list[str]], dry_run: bool = False) -> ImportOutcome:
        """Validate every row and write them all, or nothing.

        A row whose unique value (a person's ID number, a region's code) names an existing row the user
        may edit updates that row — only the cells filled in; an empty cell keeps the stored value —
        otherwise it inserts one. ``dry_run`` (the preview) does all of it, the write gate included, then
        rolls back: the preview and the confirmed import answer alike.
        """
        if self._is_region_file(rows[0]):
            return self._import_region_rows(rows, dry_run)
        probe = self._blank_form()
        fields = self._import_fields(probe)
        by_header = {self._label(f): f.name for f in fields} | {f.name: f.name for f in fields}
        header = rows[0]
        unknown = [h for h in header if h and h not in by_header]
        if unknown:
            raise ImportFileError(_("表头“%(h)s”不是本表的字段,请使用导入模板", h="、".join(unknown)))
        names = [by_header.get(h) for h in header]
        resolvers = {f.name: self._resolver(f) for f in fields}
        labels = {f.name: self._label(f) for f in fields}
        outcome = ImportOutcome()
        errors = outcome.errors
        written = []  # (line, row, model, existing?)
        seen: dict[tuple, int] = {}
        unique_groups = self._unique_groups()
        keys = self._update_keys(labels)
        # Nothing is flushed while rows are read (a lookup would flush half a file into the gate);
        # the one flush at the end checks every row and reports each problem on its line.
        with db.session.no_autoflush:
            # Speed (a 10,000-row file in seconds): one form for the whole file, processed row by row, so
            # its drop-downs load their choices once; the rows the file's unique values name, and the
            # values already taken, are read in a few queries instead of one per row.
            form = self._import_form_class()(formdata=MultiDict(), meta={"csrf": False})
            existing_by_key = self._existing_rows(keys, names, rows[1:], resolvers)
            _preload_unique_checks(form, self.model, names, rows[1:], resolvers)
            for line, row in enumerate(rows[1:], start=2):
                data = MultiDict()
                filled: set[str] = set()
                row_errors: dict[str, str] = {}
                for name, text in zip(names, row, strict=False):
                    if not name:
                        continue
                    value, problem = resolvers[name](text)
                    if problem:
                        row_errors[name] = problem
                    elif value != "":
                        data[name] = value
                    if text != "":
                        filled.add(name)
                existing = None if row_errors else self._existing_row(keys, data, existing_by_key)
                form._obj = existing
                form.process(formdata=data, obj=existing)
                if not form.validate():
                    for name, messages in form.errors.items():
                        if name in labels:
                            row_errors.setdefault(name, "；".join(str(m) for m in messages))
                if not row_errors:
                    model = existing if existing is not None else self.build_new_instance()
                    with db.session.no_autoflush:
                        for name, field in form._fields.items():
                            if name == "row_version" or (existing is not None and name not in filled):
                                continue
                            field.populate_obj(model, name)
                        if existing is None:
                            drop_empty_one_to_one(form, model)
                            db.session.add(model)
                    for cols in unique_groups:
                        key = (cols, tuple(getattr(model, c) for c in cols))
                        if None in key[1]:
                            continue
                        if key in seen:
                            row_errors.setdefault(_field_of(cols[0], labels),
                                                  _("与第 %(n)s 行重复", n=seen[key]))
                        seen.setdefault(key, line)
                    if row_errors:
                        if existing is None:
                            db.session.expunge(model)
                        else:
                            db.session.refresh(existing)
                    else:
                        written.append((line, row, model, existing is not None))
                for name, message in row_errors.items():
                    errors.append({"line": line, "column": labels.get(name, name), "message": str(message),
                                   "value": _value_at(row, names, name)})
                outcome.lines.append({"line": line, "status": "error" if row_errors else
                                      ("update" if existing is not None else "insert"),
                                      "cells": row[:PREVIEW_CELLS], "changed": ""})
        by_line = {entry["line"]: entry for entry in outcome.lines}
        for line, _row, model, is_update in written:
            if is_update:
                changed = [labels.get(_field_of(key, labels), key) for key in _changed_keys(model)]
                by_line[line]["changed"] = "、".join(dict.fromkeys(str(c) for c in changed))
                if not changed:
                    by_line[line]["status"] = "unchanged"
        try:
            # The write gate checks scope, links and rules of every row (even when some rows already
            # failed the form, so that the report lists every problem), then audits.
            db.session.flush()
        except WriteRefused as exc:
            db.session.rollback()
            for line, row, model, _is_update in written:
                for name, message in exc.errors_for(model).items():
                    errors.append({"line": line, "column": labels.get(name, name), "message": str(message),
                                   "value": _value_at(row, names, name)})
                    by_line[line]["status"] = "error"
            if not errors:
                errors.append({"line": "-", "column": "-", "value": "", "message": exc.message})
        except IntegrityError:
            db.session.rollback()
            errors.append({"line": "-", "column": "-", "value": "", "message": _("数据与已有记录冲突,未导入任何数据")})
        return self._finish(outcome, dry_run)

    def _finish(self, outcome: ImportOutcome, dry_run: bool) -> ImportOutcome:
        """Count the rows, then roll back (a preview, or any error) or commit."""
        for entry in outcome.lines:
            if entry["status"] == "insert":
                outcome.inserted += 1
            elif entry["status"] == "update":
                outcome.updated += 1
            elif entry["status"] == "unchanged":
                outcome.unchanged += 1
        outcome.errors.sort(key=lambda e: (not isinstance(e["line"], int),
                                           e["line"] if isinstance(e["line"], int) else 0))
        if outcome.errors or dry_run:
            db.session.rollback()
            outcome.written = False
        else:
            db.session.commit()
            outcome.written = True
        return outcome

    # -- updates: rows named by a unique value ----------------------------------------------------------
    def _update_keys(self, labels: dict) -> list[tuple[str, str]]:
        """(column, form field) of the single-column unique values a file may name an existing row by.

        A sensitive column (an ID number) only for users who may see it: otherwise "updated" versus
        "inserted" would tell whether someone with that number exists.
        """
        from sqlalchemy import inspect as sa_inspect

        columns = sa_inspect(self.model).columns
        keys = []
        for (key,) in (g for g in self._unique_groups() if len(g) == 1):
            field = _field_of(key, labels)
            if key == "id" or field not in labels:
                continue
            if not privacy.searchable(columns[key], self.may_see_sensitive()):
                continue
            keys.append((key, field))
        return keys

    def _existing_row(self, keys: list[tuple[str, str]], data: MultiDict, preloaded: dict | None = None):
        """The row the user may edit that one of the row's unique values names, or None.

        ``preloaded`` (``_existing_rows``): (column, value) → row for the values of the whole file, read
        in a few queries; a value not in it names no row the user may edit."""
        from sqlalchemy import inspect as sa_inspect

        from admin_app.scope import EDIT, current_scope

        columns = sa_inspect(self.model).columns
        for key, field in keys:
            value = _key_value(columns[key], data.get(field))
            if value is None:
                continue
            if preloaded is not None:
                found = preloaded.get((key, value))
            else:
                found = self.scoped(db.session.query(self.model), EDIT).filter(columns[key] == value).first()
            if found is not None and current_scope().allows(found, EDIT):
                return found
        return None

    def _import_form_class(self):
        """The create form without its inline child forms: a file never fills them (``_import_fields``),
        and an inline one-to-one left empty makes no row anyway (``drop_empty_one_to_one``); building
        them for every row was a fifth of an import's time."""
        inline = [name for name, unbound in self._create_form_class.__dict__.items()
                  if getattr(unbound, "field_class", None) in (wtf.FieldList, wtf.FormField)
                  or (isinstance(getattr(unbound, "field_class", None), type)
                      and issubclass(unbound.field_class, wtf.FieldList | wtf.FormField))]
        return type("ImportForm", (self._create_form_class,), dict.fromkeys(inline))

    def _existing_rows(self, keys: list[tuple[str, str]], names: list, rows: list[list[str]],
                       resolvers: dict) -> dict:
        """(column, value) → the row the user may edit, for every unique value the file names."""
        from sqlalchemy import inspect as sa_inspect

        from admin_app.scope import EDIT

        columns = sa_inspect(self.model).columns
        found: dict = {}
        for key, field in keys:
            values = {_key_value(columns[key], v) for v in _column_values(field, names, rows, resolvers)} - {None}
            for chunk in _chunks(sorted(values, key=str)):
                query = self.scoped(db.session.query(self.model), EDIT).filter(columns[key].in_(chunk))
                for obj in query:
                    found.setdefault((key, getattr(obj, key)), obj)
        return found

    # -- the official region file (code,name,level,parent_code), as the CLI reads it ------------------
    def _is_region_file(self, header: list[str]) -> bool:
        from admin_app.regions import COLUMNS

        return self.model is Region and set(COLUMNS) <= {h.strip().lower() for h in header}

    def _import_region_rows(self, rows: list[list[str]], dry_run: bool) -> ImportOutcome:
        """Upsert regions by code with the CLI's rules; each new or changed region passes the write gate
        as the logged-in user (their region and below)."""
        from admin_app.regions import COLUMNS, LINE_KEY, RegionImportError, import_regions

        header = [h.strip().lower() for h in rows[0]]
        records = []
        for line, row in enumerate(rows[1:], start=2):
            record = {c: (row[header.index(c)] if header.index(c) < len(row) else "") for c in COLUMNS}
            record[LINE_KEY] = str(line)
            records.append(record)
        line_of = {r["code"].strip(): int(r[LINE_KEY]) for r in records}
        existing = {code: (name, level) for code, name, level in
                    db.session.execute(select(Region.code, Region.name, Region.level))}
        outcome = ImportOutcome()
        for r in records:
            old = existing.get(r["code"].strip())
            status = "insert" if old is None else (
                "unchanged" if old == (r["name"].strip(), r["level"].strip()) else "update")
            outcome.lines.append({"line": int(r[LINE_KEY]), "status": status,
                                  "cells": [r[c] for c in COLUMNS], "changed": ""})
        try:
            with db.session.no_autoflush:
                import_regions(db.session, records, orm=True)
            db.session.flush()
        except RegionImportError as exc:
            db.session.rollback()
            outcome.errors.append({"line": exc.line or "-", "column": "-", "value": "", "message": exc.message})
        except WriteRefused as exc:
            db.session.rollback()
            for problem in exc.problems:
                code = getattr(problem.obj, "code", None)
                outcome.errors.append({"line": line_of.get(code, "-"), "column": str(problem.field),
                                       "value": code or "", "message": str(problem.message)})
        except IntegrityError:
            db.session.rollback()
            outcome.errors.append({"line": "-", "column": "-", "value": "",
                                   "message": _("数据与已有记录冲突,未导入任何数据")})
        bad = {e["line"] for e in outcome.errors}
        for entry in outcome.lines:
            if entry["line"] in bad:
                entry["status"] = "error"
        return self._finish(outcome, dry_run)

    def _unique_groups(self) -> list[tuple[str, ...]]:
        from sqlalchemy import UniqueConstraint

        table = self.model.__table__
        groups = [(c.key,) for c in table.columns if c.unique]
        groups += [tuple(c.key for c in con.columns) for con in table.constraints
                   if isinstance(con, UniqueConstraint)]
        return list(dict.fromkeys(groups))  # unique=True columns also appear as constraints

    # -- routes: upload → preview (nothing written) → confirm ------------------------------------------
    @expose("/import/", methods=("GET", "POST"))
    def import_view(self):
        """Upload a file: the preview shows what would be inserted, updated and refused; nothing is
        written. The confirm button posts a token naming the stored upload (``import_confirm_view``)."""
        if not self.can_create:
            abort(404)
        if request.method == "GET":
            return self._render_import(None)
        upload = request.files.get("file")
        if upload is None or not upload.filename:
            flash(_("请选择要导入的文件"), "error")
            return self._render_import(None, status=400)
        payload = upload.read()
        try:
            outcome = self.import_rows(read_rows(upload.filename, payload), dry_run=True)
        except ImportFileError as exc:
            flash(str(exc), "error")
            return self._render_import(None, status=400)
        token = None if outcome.errors else store_upload(self.endpoint, upload.filename, payload)
        return self._render_import(outcome, token=token, status=422 if outcome.errors else 200)

    @expose("/import/confirm/", methods=("POST",))
    def import_confirm_view(self):
        """Write the upload the preview showed, through the same rules and the write gate."""
        if not self.can_create:
            abort(404)
        stored = take_upload(request.form.get("token", ""), self.endpoint)
        if stored is None:
            flash(_("导入预览已过期或不存在,请重新上传文件"), "error")
            return self._render_import(None, status=400)
        filename, payload = stored
        try:
            outcome = self.import_rows(read_rows(filename, payload))
        except ImportFileError as exc:
            flash(str(exc), "error")
            return self._render_import(None, status=400)
        if outcome.errors:  # the data changed since the preview
            return self._render_import(outcome, status=422)
        flash(_("已导入 %(n)s 条记录(新增 %(a)s 条,更新 %(b)s 条)", n=outcome.inserted + outcome.updated,
                a=outcome.inserted, b=outcome.updated), "success")
        return redirect(self.get_url(".index_view"))

    def _render_import(self, outcome: ImportOutcome | None, token: str | None = None, status: int = 200):
        probe = self._blank_form()
        errors = outcome.errors if outcome else []
        return self.render(self.import_template, fields=self._import_fields(probe), outcome=outcome,
                           token=token, errors=errors, errors_json=json.dumps(errors, ensure_ascii=False),
                           preview_limit=PREVIEW_LINES, region_file=self.model is Region), status

    @expose("/import/template.xlsx")
    def import_template_view(self):
        if not self.can_create:
            abort(404)
        import openpyxl  # ~0.25 s to import: only when a workbook is read or written

        book = openpyxl.Workbook()
        sheet = book.active
        sheet.title = str(self.name)[:30]
        sheet.append([self._label(f) for f in self._import_fields(self._blank_form())])
        out = io.BytesIO()
        book.save(out)
        out.seek(0)
        return send_file(out, as_attachment=True, download_name=f"{self.endpoint}-import-template.xlsx",
                         mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")

    @expose("/import/report.xlsx", methods=("POST",))
    def import_report_view(self):
        """The error report of a refused import as a spreadsheet (the errors come back from the page)."""
        if not self.can_create:
            abort(404)
        try:
            errors = json.loads(request.form.get("errors", "[]"))
        except ValueError:
            abort(400)
        if not isinstance(errors, list) or len(errors) > MAX_ROWS * 50:
            abort(400)
        import openpyxl  # ~0.25 s to import: only when a workbook is read or written

        book = openpyxl.Workbook()
        sheet = book.active
        sheet.title = "导入错误"
        sheet.append(["行号", "字段", "填写内容", "问题"])
        for err in errors:
            if isinstance(err, dict):
                sheet.append([_safe_cell(err.get(k)) for k in ("line", "column", "value", "message")])
        out = io.BytesIO()
        book.save(out)
        out.seek(0)
        return send_file(out, as_attachment=True, download_name=f"{self.endpoint}-import-errors.xlsx",
                         mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")


IN_CHUNK = 500  # values per IN (...) of the batched look-ups


def _chunks(values: list) -> list[list]:
    return [values[i:i + IN_CHUNK] for i in range(0, len(values), IN_CHUNK)]


def _key_value(column, value):
    """A cell's value as the unique column stores it (None when it cannot name a row)."""
    if value in (None, ""):
        return None
    if column.foreign_keys or isinstance(column.type, Integer):
        try:
            return int(value)
        except ValueError:
            return None
    if column.info.get("id_number"):
        return value.strip().upper()
    return value


def _column_values(field: str, names: list, rows: list[list[str]], resolvers: dict) -> set[str]:
    """The (resolved) values a file gives one form field."""
    if field not in names:
        return set()
    index = names.index(field)
    out = set()
    for row in rows:
        if index < len(row) and row[index] != "":
            value, problem = resolvers[field](row[index])
            if not problem and value != "":
                out.add(value)
    return out


class PreloadedUnique:
    """Flask-Admin's ``Unique`` check with the values already taken read once for the whole file."""

    def __init__(self, original, taken: dict):
        self.original = original
        self.taken = taken  # value → id of the row holding it

    def __call__(self, form, field) -> None:
        from wtforms.validators import ValidationError

        if field.data is None:
            return
        holder = self.taken.get(field.data)
        if holder is not None and getattr(getattr(form, "_obj", None), "id", None) != holder:
            raise ValidationError(str(self.original.message))


def _preload_unique_checks(form, model, names: list, rows: list[list[str]], resolvers: dict) -> None:
    """Swap the form's ``Unique`` validators for ones that look the file's values up in one read."""
    from flask_admin.contrib.sqla.validators import Unique

    for field in form:
        validators = list(field.validators or ())
        for i, validator in enumerate(validators):
            if not isinstance(validator, Unique):
                continue
            values = {v.strip() for v in _column_values(field.name, names, rows, resolvers)}
            taken: dict = {}
            column = validator.column
            for chunk in _chunks(sorted(values)):
                for value, ident in db.session.execute(select(column, model.id).where(column.in_(chunk))):
                    taken[value] = ident
            validators[i] = PreloadedUnique(validator, taken)
        field.validators = validators


def _field_of(column_key: str, labels: dict) -> str:
    if column_key in labels:
        return column_key
    return column_key[:-3] if column_key.endswith("_id") and column_key[:-3] in labels else column_key


def _value_at(row: list[str], names: list, name: str) -> str:
    for n, text in zip(names, row, strict=False):
        if n == name:
            return text
    return ""


def _safe_cell(value):
    """A report cell: at most 500 characters, never a live formula (the one neutraliser)."""
    return safe_cell(None if value is None else str(value)[:500])
