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
import zipfile

from flask import abort, flash, request, send_file
from flask_admin import expose
from flask_babel import gettext as _
from sqlalchemy import or_
from sqlalchemy.exc import IntegrityError
from werkzeug.datastructures import MultiDict
from wtforms import fields as wtf

from admin_app import privacy
from admin_app.extensions import db
from admin_app.gate import WriteRefused
from admin_app.spreadsheet import safe_cell

from .base import drop_empty_one_to_one

MAX_ROWS = 5000
MAX_BYTES = 5 * 1024 * 1024
MAX_UNPACKED_BYTES = 50 * 1024 * 1024  # an xlsx is a zip: 5 MB may unpack to gigabytes
MAX_COLUMNS = 100  # cells per row; no screen has half as many fields
MAX_SHEET_ROWS = MAX_ROWS * 2 + 1  # rows read, blank ones included, before the file is refused
TRUE_WORDS = {"是", "y", "yes", "true", "1", "√", "✓", "t"}
FALSE_WORDS = {"否", "n", "no", "false", "0", "", "f"}


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
            rows = _limited(csv.reader(io.StringIO(payload.decode("utf-8-sig"))))
        elif name.endswith(".xlsx"):
            rows = _xlsx_rows(payload)
        else:
            raise ImportFileError(_("只能导入 .xlsx 或 .csv 文件"))
    except ImportFileError:
        raise
    except Exception:  # noqa: BLE001 - any parse failure is the user's file, not our bug
        raise ImportFileError(_("无法读取该文件,请确认是 Excel(.xlsx)或 UTF-8 编码的 CSV 文件")) from None
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
    def import_rows(self, rows: list[list[str]]) -> tuple[int, list[dict]]:
        """Validate every row and write them all, or nothing. Returns (rows written, errors)."""
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
        errors: list[dict] = []
        created = []
        seen: dict[tuple, int] = {}
        unique_groups = self._unique_groups()
        # Nothing is flushed while rows are read (a lookup would flush half a file into the gate);
        # the one flush at the end checks every row and reports each problem on its line.
        with db.session.no_autoflush:
            for line, row in enumerate(rows[1:], start=2):
                data = MultiDict()
                row_errors: dict[str, str] = {}
                for name, text in zip(names, row, strict=False):
                    if not name:
                        continue
                    value, problem = resolvers[name](text)
                    if problem:
                        row_errors[name] = problem
                    elif value != "":
                        data[name] = value
                form = self._create_form_class(formdata=data, meta={"csrf": False})
                if not form.validate():
                    for name, messages in form.errors.items():
                        if name in labels:
                            row_errors.setdefault(name, "；".join(str(m) for m in messages))
                if not row_errors:
                    model = self.build_new_instance()
                    with db.session.no_autoflush:
                        for name, field in form._fields.items():
                            if name != "row_version":
                                field.populate_obj(model, name)
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
                        db.session.expunge(model)
                    else:
                        created.append((line, row, model))
                for name, message in row_errors.items():
                    errors.append({"line": line, "column": labels.get(name, name), "message": str(message),
                                   "value": _value_at(row, names, name)})
        try:
            # The write gate checks scope, links and rules of every row (even when some rows already
            # failed the form, so that the report lists every problem), then audits.
            db.session.flush()
        except WriteRefused as exc:
            db.session.rollback()
            for line, row, model in created:
                for name, message in exc.errors_for(model).items():
                    errors.append({"line": line, "column": labels.get(name, name), "message": str(message),
                                   "value": _value_at(row, names, name)})
            if not errors:
                errors.append({"line": "-", "column": "-", "value": "", "message": exc.message})
        except IntegrityError:
            db.session.rollback()
            errors.append({"line": "-", "column": "-", "value": "", "message": _("数据与已有记录冲突,未导入任何数据")})
        if errors:
            db.session.rollback()
            return 0, sorted(errors, key=lambda e: (not isinstance(e["line"], int), e["line"]
                                                    if isinstance(e["line"], int) else 0))
        db.session.commit()
        return len(created), []

    def _unique_groups(self) -> list[tuple[str, ...]]:
        from sqlalchemy import UniqueConstraint

        table = self.model.__table__
        groups = [(c.key,) for c in table.columns if c.unique]
        groups += [tuple(c.key for c in con.columns) for con in table.constraints
                   if isinstance(con, UniqueConstraint)]
        return list(dict.fromkeys(groups))  # unique=True columns also appear as constraints

    # -- routes ---------------------------------------------------------------------------------------
    @expose("/import/", methods=("GET", "POST"))
    def import_view(self):
        if not self.can_create:
            abort(404)
        errors, written, status = [], None, 200
        if request.method == "POST":
            upload = request.files.get("file")
            if upload is None or not upload.filename:
                flash(_("请选择要导入的文件"), "error")
                status = 400
            else:
                try:
                    written, errors = self.import_rows(read_rows(upload.filename, upload.read()))
                except ImportFileError as exc:
                    flash(str(exc), "error")
                    status = 400
                if written:
                    flash(_("已导入 %(n)s 条记录", n=written), "success")
                if errors:
                    status = 422
        probe = self._blank_form()
        return self.render(self.import_template, fields=self._import_fields(probe), errors=errors,
                           errors_json=json.dumps(errors, ensure_ascii=False), written=written), status

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
