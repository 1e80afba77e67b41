"""Excel/CSV import for every generated screen (导入), with an error report.

Each row goes through the screen's own create form and the write gate — the same validation, scope
and business rules as typing it in — and the whole file is written in one transaction or not at all.
Linked rows are named as people write them (a region's name, a person's name or ID number) and are
resolved only among the rows the user may see.

Two passes, streamed in chunks of ``IMPORT_CHUNK_ROWS`` rows:

* **check** (the preview): every row through the form and the write gate's checks; the gate's flush is
  stopped once its checks passed (``gate_checks_only``), so nothing reaches the database and the
  chunk is rolled back. The rows that passed become a *plan*: per row the form's validated values.
* **write** (the confirmation): the plan's values, populated into the models as the form would, through a
  real flush of the write gate — scope, links, rules, uniqueness, audit — and committed once at the end.
  The plan is stored beside the upload, bound to its owner, its screen and the file's SHA-256; if a row
  it updates changed since, or a row it inserts now exists, the file is checked again from scratch.

A file of more than ``IMPORT_SYNC_ROWS`` rows is not imported in the request: it becomes a job
(``run_import_job``) that checks with live progress, then writes in one transaction and marks the job
done in that same transaction; the result (or the error report) is downloaded from 我的任务.
"""

from __future__ import annotations

import contextlib
import csv
import datetime
import decimal
import hashlib
import io
import json
import re
import secrets
import time
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from dataclasses import field as dc_field
from pathlib import Path

from flask import abort, current_app, flash, g, redirect, request, send_file, url_for
from flask_admin import expose
from flask_babel import gettext as _
from sqlalchemy import Integer, event, or_, select
from sqlalchemy.exc import IntegrityError
from werkzeug.datastructures import MultiDict
from wtforms import fields as wtf

from admin_app import privacy
from admin_app.extensions import db
from admin_app.gate import WriteRefused
from admin_app.spreadsheet import decode_csv, safe_cell
from models import JobStatus, Region

from .base import drop_empty_one_to_one
from .screens import find_view

MAX_ROWS = 200_000  # rows of one file; above IMPORT_SYNC_ROWS the file is imported as a job
MAX_BYTES = 5 * 1024 * 1024
MAX_UNPACKED_BYTES = 128 * 1024 * 1024  # an xlsx is a zip: 5 MB may unpack to gigabytes (100,000 rows of
# five columns unpack to 32 MB); openpyxl scans a sheet without a <dimension> to its end before the
# first row (~0.1 s per MB)
MAX_COLUMNS = 100  # cells per row; no screen has half as many fields
MAX_SHEET_ROWS = MAX_ROWS * 2 + 1  # rows read, blank ones included, before the file is refused
TRUE_WORDS = {"是", "y", "yes", "true", "1", "√", "✓", "t"}
FALSE_WORDS = {"否", "n", "no", "false", "0", "", "f"}
PREVIEW_LINES = 200  # rows listed in the preview (all are counted)
PREVIEW_CELLS = 6  # cells of each listed row
UPLOAD_TTL = 2 * 3600  # seconds a previewed upload waits for its confirmation
JOB_UPLOAD_TTL = 7 * 24 * 3600  # an import job's upload left behind (a job that never ran) is removed after
TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{32,64}$")
DEFAULTS = {
    "IMPORT_SYNC_ROWS": 10_000,  # a file with more data rows is imported as a background job (config)
    "IMPORT_CHUNK_ROWS": 2_000,  # rows per checked chunk and per flush (memory stays bounded)
}
PLAN_VERSION = 1
CHANGED_MESSAGE = "导入期间数据被他人修改,未导入任何数据,请重新导入"
REPORT_HEADER = ["行号", "字段", "填写内容", "问题"]


def setting(key: str, app=None):
    return (app or current_app).config.get(key, DEFAULTS[key])


@dataclass
class ImportOutcome:
    """What an import did (or, previewed, would do): counts, one entry per row, and the errors."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rows: int = 0  # data rows checked
    written: bool = False
    lines: list[dict] = dc_field(default_factory=list)  # line, status (insert/update/unchanged/error), cells
    errors: list[dict] = dc_field(default_factory=list)  # line, column, value, message
    error_count: int = 0

    @property
    def ok(self) -> bool:
        return self.error_count == 0 and not self.errors


class ImportFileError(ValueError):
    """A whole-file problem (not a row problem): unreadable file, unknown header, too many rows."""


class PlanStale(Exception):
    """The data changed since the file was checked: a row the plan updates was edited or removed, or a
    row it inserts now exists. The file is checked again."""


class _ChecksPassed(Exception):
    """Raised after the write gate's checks passed, to stop the flush before any SQL (the preview)."""


@contextlib.contextmanager
def gate_checks_only(session):
    """Flushes of ``session`` in this block run the write gate's checks (``before_flush``: rights,
    scope, links, rules, uniqueness) and stop before writing: ``_ChecksPassed`` instead of SQL, audit
    rows or a lock. ``session`` is a Session instance: on a ``scoped_session`` the listener would join
    its factory and stop every other request's flushes too.
    A listener on the session instance runs after the class-level gate (SQLAlchemy calls class listeners
    first), so it fires only when the gate found nothing to refuse."""
    from sqlalchemy.orm import Session

    if not isinstance(session, Session):
        raise TypeError("gate_checks_only needs a Session instance")

    def stop(session, flush_context, instances):
        raise _ChecksPassed

    event.listen(session, "before_flush", stop)
    try:
        yield
    finally:
        event.remove(session, "before_flush", stop)


# -- stored uploads: a preview's file (and its checked plan) waiting for the confirmation ----------------
def _uploads_dir(app=None) -> Path:
    """Uploads wait under ``JOBS_DIR/imports``: the volume every web and worker machine shares, so the
    confirmation (or the job) may reach another machine than the upload."""
    folder = Path((app or current_app).config["JOBS_DIR"]) / "imports"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _sweep(folder: Path) -> None:
    """Forget previews never confirmed, and job uploads no job took."""
    now = time.time()
    for old in [*folder.glob("*.json"), *folder.glob("*.upload")]:
        try:
            ttl = JOB_UPLOAD_TTL if old.suffix == ".upload" else UPLOAD_TTL
            if now - old.stat().st_mtime > ttl:
                for suffix in (".json", ".bin", ".plan") if old.suffix == ".json" else (".upload",):
                    old.with_suffix(suffix).unlink(missing_ok=True)
        except OSError:
            pass


def store_upload(endpoint: str, filename: str, payload: bytes, plan: list[str] | None = None) -> str:
    """Keep a previewed upload (and the plan its check made) for its confirmation; returns its token."""
    from flask_login import current_user

    folder = _uploads_dir()
    _sweep(folder)
    token = secrets.token_urlsafe(32)
    (folder / f"{token}.bin").write_bytes(payload)
    if plan is not None:
        (folder / f"{token}.plan").write_text("\n".join(plan), encoding="utf-8")
    meta = {"user_id": current_user.id, "endpoint": endpoint, "filename": filename[:200], "at": time.time()}
    (folder / f"{token}.json").write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
    return token


def take_upload(token: str, endpoint: str) -> tuple[str, bytes, list[str] | None] | None:
    """The upload ``token`` names (file name, bytes, checked plan), once, if the current user stored it for
    this screen and it is recent."""
    from flask_login import current_user

    if not TOKEN_RE.match(token or ""):
        return None
    folder = _uploads_dir()
    meta_file, data_file, plan_file = (folder / f"{token}{s}" for s in (".json", ".bin", ".plan"))
    try:
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
        payload = data_file.read_bytes()
    except (OSError, ValueError):
        return None
    if meta.get("user_id") != current_user.id or meta.get("endpoint") != endpoint:
        return None  # someone else's upload, or another screen's: as if it did not exist (kept for its owner)
    try:
        plan = plan_file.read_text(encoding="utf-8").split("\n")
    except OSError:
        plan = None
    for path in (meta_file, data_file, plan_file):
        path.unlink(missing_ok=True)
    if time.time() - float(meta.get("at", 0)) > UPLOAD_TTL:
        return None
    return str(meta.get("filename", "")), payload, plan


def _changed_keys(obj) -> list[str]:
    """Columns of an existing row the import changed (before the flush)."""
    from sqlalchemy import inspect as sa_inspect

    state = sa_inspect(obj)
    return [attr.key for attr in state.mapper.column_attrs
            if attr.key != "version" and state.attrs[attr.key].history.has_changes()
            and state.attrs[attr.key].history.deleted != state.attrs[attr.key].history.added]


# -- reading files ---------------------------------------------------------------------------------------
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
    """The cells of an .xlsx or .csv file as text rows (the header row first), blank rows left out."""
    return [row for _line, row in iter_rows(filename, payload)]


def iter_rows(filename: str, payload: bytes) -> Iterator[tuple[int, list[str]]]:
    """(row number in the file, text cells) of every non-blank row, the header first, streamed.

    Limits are checked before any other work and while streaming: the file size, the unpacked size of an
    xlsx, the number of rows (blank ones too: a sheet may claim a cell at XFD1048576) and of columns.
    Raises ``ImportFileError`` (at once for a whole-file problem, or when the stream passes a limit).
    """
    name = _check_size_and_kind(filename, payload)
    try:
        if name.endswith(".csv"):
            source = csv.reader(io.StringIO(decode_csv(payload)))
        else:
            _check_unpacked(payload)
            source = _xlsx_source(payload)
        rows = _limited(source)
        first = next(rows, None)
    except ImportFileError:
        raise
    except Exception:  # noqa: BLE001 - any parse failure is the user's file, not our bug
        raise _unreadable() from None
    if first is None:
        raise ImportFileError(_("文件是空的"))
    return _guarded(first, rows)


def _check_size_and_kind(filename: str, payload: bytes) -> str:
    """The file's lower-case name, if its size and kind may be imported."""
    if len(payload) > MAX_BYTES:
        raise ImportFileError(_("文件超过 5 MB,请拆分后分批导入"))
    name = (filename or "").lower()
    if not name.endswith((".csv", ".xlsx")):
        raise ImportFileError(_("只能导入 .xlsx 或 .csv 文件"))
    return name


def _unreadable() -> ImportFileError:
    return ImportFileError(_("无法读取该文件,请确认是 Excel(.xlsx)或 CSV 文件(UTF-8 或 GBK 编码)"))


def _guarded(first, rows) -> Iterator[tuple[int, list[str]]]:
    yield first
    try:
        yield from rows
    except ImportFileError:
        raise
    except Exception:  # noqa: BLE001 - a file broken further down
        raise _unreadable() from None


def _check_unpacked(payload: bytes) -> None:
    with zipfile.ZipFile(io.BytesIO(payload)) as archive:
        unpacked = sum(info.file_size for info in archive.infolist())
    if unpacked > MAX_UNPACKED_BYTES:
        raise ImportFileError(_("文件内容过大(解压后超过 %(n)s MB),请拆分后分批导入",
                                n=MAX_UNPACKED_BYTES // (1024 * 1024)))


def _xlsx_source(payload: bytes) -> Iterator[tuple]:
    """The first sheet's rows, streamed (openpyxl read-only: memory does not grow with the rows)."""
    import openpyxl  # ~0.25 s to import: only when a workbook is read or written

    book = openpyxl.load_workbook(io.BytesIO(payload), read_only=True, data_only=True)
    try:
        sheet = book.worksheets[0]
        # The <dimension> a file declares may lie (a 4 KB file claiming A1:XFD1048576 made openpyxl pad
        # a million empty rows): read only the rows and cells the sheet really holds.
        sheet.reset_dimensions()
        yield from sheet.iter_rows(values_only=True)
    finally:
        book.close()


def _limited(source) -> Iterator[tuple[int, list[str]]]:
    """Non-blank text rows of ``source`` with their row numbers; refused as soon as a limit is passed."""
    kept = 0
    for index, raw in enumerate(source, start=1):
        if index > MAX_SHEET_ROWS:
            raise ImportFileError(_("一次最多导入 %(n)s 行", n=MAX_ROWS))
        if len(raw) > MAX_COLUMNS:
            raise ImportFileError(_("第 %(line)s 行超过 %(n)s 列,请使用导入模板", line=index, n=MAX_COLUMNS))
        row = [_cell_text(c) for c in raw]
        if any(row):
            kept += 1
            if kept - 1 > MAX_ROWS:
                raise ImportFileError(_("一次最多导入 %(n)s 行", n=MAX_ROWS))
            yield index, row


ROW_TAG = re.compile(rb"<(?:\w+:)?row[\s>/]")


def count_rows(filename: str, payload: bytes) -> int:
    """How many rows (the header and blank rows included) a file holds at most, without parsing it: the
    line breaks of a CSV, the ``<row>`` elements of an xlsx's first sheet (streamed, ~0.4 s for 100,000
    rows). Decides between the request and a job; the reading itself still counts and limits exactly."""
    if (filename or "").lower().endswith(".csv"):
        return payload.count(b"\n") + (0 if payload.endswith(b"\n") else 1)
    try:
        from openpyxl.reader.excel import ExcelReader

        reader = ExcelReader(io.BytesIO(payload), read_only=True)
        reader.read_manifest()
        reader.read_workbook()  # the workbook part and its relationships only; no cell is parsed
        part = next((rel.target.lstrip("/") for _sheet, rel in reader.parser.find_sheets()), None)
        if part is None:
            return 0
        found, tail = 0, b""
        with reader.archive.open(part) as stream:
            while block := stream.read(1 << 20):
                data = tail + block
                tail = data[-64:]
                found += len(ROW_TAG.findall(data)) - len(ROW_TAG.findall(tail))  # the tail: next time
        return found + len(ROW_TAG.findall(tail))
    except Exception:  # noqa: BLE001 - unreadable: the reading reports it
        return 0


# -- the plan: a checked row's form values, stored between the check and the write ------------------------
class _Unplannable(Exception):
    """A form value the plan cannot store: the write checks the file again instead."""


def _encode(value):
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, datetime.datetime):
        return {"$datetime": value.isoformat()}
    if isinstance(value, datetime.date):
        return {"$date": value.isoformat()}
    if isinstance(value, datetime.time):
        return {"$time": value.isoformat()}
    if isinstance(value, decimal.Decimal):
        return {"$decimal": str(value)}
    if isinstance(value, list | tuple):
        return {"$list": [_encode(v) for v in value]}
    from sqlalchemy import inspect as sa_inspect

    state = sa_inspect(value, raiseerr=False)
    if state is not None and getattr(state, "identity", None) and len(state.identity) == 1:
        return {"$ref": state.identity[0]}  # a linked row, by id (its model: the relationship's target)
    raise _Unplannable(type(value).__name__)


def _decode(value, target, refs: dict):
    if not isinstance(value, dict):
        return value
    ((tag, inner),) = value.items()
    if tag == "$ref":
        found = refs.get((target, inner))
        if found is None:
            raise PlanStale(f"{target.__name__} {inner} is gone")
        return found
    if tag == "$list":
        return [_decode(v, target, refs) for v in inner]
    return {"$datetime": datetime.datetime.fromisoformat, "$date": datetime.date.fromisoformat,
            "$time": datetime.time.fromisoformat, "$decimal": decimal.Decimal}[tag](inner)


def _ref_ids(value) -> list:
    if not isinstance(value, dict):
        return []
    ((tag, inner),) = value.items()
    if tag == "$ref":
        return [inner]
    if tag == "$list":
        return [i for v in inner for i in _ref_ids(v)]
    return []


def _plain(value):
    """An encoded value as a unique key compares it (a linked row by its id)."""
    ids = _ref_ids(value)
    return ids[0] if ids else value


def _batched(items: Iterable, size: int) -> Iterator[list]:
    chunk: list = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


class ImportRefused(Exception):
    """The write found problems (the data changed since the check): nothing was written."""

    def __init__(self, errors: list[dict]):
        super().__init__(f"{len(errors)} problems")
        self.errors = errors


class FileImport:
    """One file's rows for one screen, as the current user: checked (``check``), then written (``write``).

    Rows are handled in chunks (``IMPORT_CHUNK_ROWS``); what a chunk needs from the database — the rows
    its unique values name, the values already taken, the drop-down choices (read once per file) — is
    read in a few queries, and the write gate checks the whole chunk in one flush.
    """

    def __init__(self, view, header: list[str], *, keep_lines: bool = True, on_error=None,
                 release: bool = False):
        from sqlalchemy import inspect as sa_inspect

        self.view = view
        fields = view._import_fields(view._blank_form())
        by_header = {view._label(f): f.name for f in fields} | {f.name: f.name for f in fields}
        unknown = [h for h in header if h and h not in by_header]
        if unknown:
            raise ImportFileError(_("表头“%(h)s”不是本表的字段,请使用导入模板", h="、".join(unknown)))
        self.header = header
        self.names = [by_header.get(h) for h in header]
        self.resolvers = {f.name: view._resolver(f) for f in fields}
        self.labels = {f.name: view._label(f) for f in fields}
        self.unique_groups = view._unique_groups()
        self.keys = view._update_keys(self.labels)
        # One form for the whole file, processed row by row: its drop-downs load their choices once.
        self.form = view._import_form_class()(formdata=MultiDict(), meta={"csrf": False})
        self.uniques = _unique_validators(self.form)
        relationships = sa_inspect(view.model).relationships
        self.targets = {name: relationships[name].mapper.class_ for name in self.form._fields
                        if name in relationships}
        self.chunk_rows = max(1, int(setting("IMPORT_CHUNK_ROWS")))
        self.seen: dict[tuple, int] = {}
        self.outcome = ImportOutcome()  # what the check found
        self.written = ImportOutcome()  # what the write wrote
        self.keep_lines = keep_lines
        self.on_error = on_error or self.outcome.errors.append
        self.plannable = True
        self.release = release

    # -- check ------------------------------------------------------------------------------------------
    def check(self, rows: Iterable[tuple[int, list[str]]], plan=None, progress=None) -> ImportOutcome:
        """Check every row (form, then the write gate's checks, nothing written); each row that passed
        goes to ``plan`` (a callable taking the row's plan entry); ``progress(last_line)`` after each chunk."""
        for chunk in _batched(rows, self.chunk_rows):
            self._check_chunk(chunk, plan)
            if progress is not None:
                progress(chunk[-1][0])
        return self.outcome

    def _check_chunk(self, chunk: list[tuple[int, list[str]]], plan) -> None:
        session = db.session
        view, names, labels = self.view, self.names, self.labels
        form = self.form
        entries = []  # (line, row, model, existing, status, row_errors, plan values)
        with session.no_autoflush:
            rows = [row for _line, row in chunk]
            existing_by_key = view._existing_rows(self.keys, names, rows, self.resolvers)
            self._preload_uniques(rows)
            for line, row in chunk:
                data = MultiDict()
                filled: set[str] = set()
                row_errors: dict[str, str] = {}
                for name, text in zip(names, row, strict=False):
                    if not name:
                        continue
                    value, problem = self.resolvers[name](text)
                    if problem:
                        row_errors[name] = problem
                    elif value != "":
                        data[name] = value
                    if text != "":
                        filled.add(name)
                existing = None if row_errors else view._existing_row(self.keys, data, existing_by_key)
                form._obj = existing
                form.process(formdata=data, obj=existing)
                if not form.validate():
                    for name, messages in form.errors.items():
                        if name in labels:
                            row_errors.setdefault(name, "；".join(str(m) for m in messages))
                model, values = None, None
                if not row_errors:
                    model = existing if existing is not None else view.build_new_instance()
                    values = {}
                    for name, fld in form._fields.items():
                        if name == "row_version" or (existing is not None and name not in filled):
                            continue
                        fld.populate_obj(model, name)
                        values[name] = self._encoded(fld.data)
                    if existing is None:
                        drop_empty_one_to_one(form, model)
                        session.add(model)
                    self._check_repeats(model, line, row_errors)
                    if row_errors:
                        if existing is None:
                            session.expunge(model)
                        else:
                            session.refresh(existing)
                        model = None
                status = "error" if row_errors else ("update" if existing is not None else "insert")
                if model is not None and existing is not None:
                    changed = [labels.get(_field_of(key, labels), key) for key in _changed_keys(model)]
                    status = "update" if changed else "unchanged"
                    changed_text = "、".join(dict.fromkeys(str(c) for c in changed))
                else:
                    changed_text = ""
                entries.append([line, row, model, existing, status, row_errors, values, changed_text])
            # The write gate checks scope, links and rules of every row of the chunk (even when some
            # rows already failed the form, so that the report lists every problem) — and writes nothing.
            try:
                with gate_checks_only(session()):  # this session only, never the factory
                    session.flush()
            except _ChecksPassed:
                pass
            except WriteRefused as exc:
                for entry in entries:
                    if entry[2] is not None:
                        for name, message in exc.errors_for(entry[2]).items():
                            entry[5].setdefault(name, str(message))
                if not any(exc.errors_for(entry[2]) for entry in entries if entry[2] is not None):
                    self._error("-", "-", "", exc.message)
        session.rollback()  # forget the chunk: nothing was written, and no lock is held
        self._record(entries, plan)

    def _encoded(self, value):
        if value is None or type(value) is str:
            return value
        if not self.plannable:
            return None
        try:
            return _encode(value)
        except _Unplannable:
            self.plannable = False
            return None

    def _check_repeats(self, model, line: int, row_errors: dict) -> None:
        """A unique value given twice in the file (the gate sees one chunk; this sees the whole file)."""
        for cols in self.unique_groups:
            key = (cols, tuple(getattr(model, c) for c in cols))
            if None in key[1]:
                continue
            if key in self.seen:
                row_errors.setdefault(_field_of(cols[0], self.labels), _("与第 %(n)s 行重复", n=self.seen[key]))
            self.seen.setdefault(key, line)

    def _record(self, entries: list, plan) -> None:
        outcome = self.outcome
        for line, row, _model, existing, status, row_errors, values, changed in entries:
            outcome.rows += 1
            if row_errors:
                status = "error"
                for name, message in row_errors.items():
                    self._error(line, self.labels.get(name, name), _value_at(row, self.names, name), str(message))
            elif status == "insert":
                outcome.inserted += 1
            elif status == "update":
                outcome.updated += 1
            else:
                outcome.unchanged += 1
            if self.keep_lines and len(outcome.lines) < PREVIEW_LINES:
                outcome.lines.append({"line": line, "status": status, "cells": row[:PREVIEW_CELLS],
                                      "changed": changed})
            if plan is not None and not row_errors and outcome.ok and self.plannable:
                plan({"l": line, "s": status, "id": existing.id if existing is not None else None,
                      "v": getattr(existing, "version", None) if existing is not None else None,
                      "r": row, "f": values})

    def _error(self, line, column: str, value: str, message: str) -> None:
        self.outcome.error_count += 1
        self.on_error({"line": line, "column": column, "value": value, "message": message})

    def _preload_uniques(self, rows: list[list[str]]) -> None:
        """The values of this chunk already taken, for the form's ``Unique`` checks: one read per chunk."""
        model = self.view.model
        for fld, index, original in self.uniques:
            values = {v.strip() for v in _column_values(fld.name, self.names, rows, self.resolvers)}
            taken: dict = {}
            column = original.column
            for part in _chunks(sorted(values)):
                for value, ident in db.session.execute(select(column, model.id).where(column.in_(part))):
                    taken[value] = ident
            fld.validators[index] = PreloadedUnique(original, taken)

    # -- write ------------------------------------------------------------------------------------------
    def write(self, entries: Iterable[dict], progress=None) -> int:
        """Write the plan's rows through the write gate, chunk by chunk, in the caller's transaction (the
        caller commits or rolls back). ``PlanStale`` when the data changed since the check;
        ``ImportRefused`` with the errors when the gate or the database refuses a row."""
        written = 0
        for chunk in _batched(entries, self.chunk_rows):
            written += self._write_chunk(chunk)
            if progress is not None:
                progress(chunk[-1]["l"])
        return written

    def _write_chunk(self, chunk: list[dict]) -> int:
        session = db.session
        view, form = self.view, self.form
        with session.no_autoflush:
            existing = self._still_as_checked(chunk)
            refs = self._load_refs(chunk)
            built = []
            for entry in chunk:
                model = existing.get(entry["id"]) if entry["id"] is not None else None
                is_new = model is None
                if is_new:
                    model = view.build_new_instance()
                for name, value in entry["f"].items():
                    fld = form._fields[name]
                    fld.data = _decode(value, self.targets.get(name), refs)
                    fld.populate_obj(model, name)
                if is_new:
                    drop_empty_one_to_one(form, model)
                    session.add(model)
                built.append((entry, model))
                self._count(entry.get("s"))
        try:
            session.flush()
        except WriteRefused as exc:
            errors = [{"line": entry["l"], "column": self.labels.get(name, name), "message": str(message),
                       "value": _value_at(entry["r"], self.names, name)}
                      for entry, model in built for name, message in exc.errors_for(model).items()]
            raise ImportRefused(errors or [{"line": "-", "column": "-", "value": "", "message": exc.message}]) \
                from None
        except IntegrityError:
            raise ImportRefused([{"line": "-", "column": "-", "value": "",
                                  "message": _("数据与已有记录冲突,未导入任何数据")}]) from None
        if self.release:  # written: the session need not hold them (a job's memory stays bounded)
            for _entry, model in built:
                if model in session:
                    session.expunge(model)
        return len(built)

    def _count(self, status) -> None:
        if status == "insert":
            self.written.inserted += 1
        elif status == "update":
            self.written.updated += 1
        else:
            self.written.unchanged += 1
        self.written.rows += 1

    def _still_as_checked(self, chunk: list[dict]) -> dict:
        """The rows the chunk updates, as the user may edit them, at the version the check saw; and no
        row the chunk inserts is named by an existing one meanwhile. Else ``PlanStale``."""
        from sqlalchemy import inspect as sa_inspect

        from admin_app.scope import EDIT

        model = self.view.model
        ids = [e["id"] for e in chunk if e["id"] is not None]
        found = {}
        for part in _chunks(ids):
            for obj in self.view.scoped(db.session.query(model), EDIT).filter(model.id.in_(part)):
                found[obj.id] = obj
        for entry in chunk:
            if entry["id"] is not None:
                obj = found.get(entry["id"])
                if obj is None or getattr(obj, "version", None) != entry["v"]:
                    raise PlanStale(f"row {entry['id']} changed")
        columns = sa_inspect(model).columns
        for key, fld in self.keys:
            values = {_key_value(columns[key], _plain(e["f"].get(fld))) for e in chunk if e["id"] is None}
            values -= {None}
            for part in _chunks(sorted(values, key=str)):
                query = self.view.scoped(db.session.query(model.id), EDIT).filter(columns[key].in_(part))
                if query.first() is not None:
                    raise PlanStale(f"a {key} now names an existing row")
        return found

    def _load_refs(self, chunk: list[dict]) -> dict:
        """(model, id) → row for every linked row the chunk names (the gate checks that each is one the
        user may see and lies in the row's township)."""
        wanted: dict[type, set] = {}
        for entry in chunk:
            for name, value in entry["f"].items():
                ids = _ref_ids(value)
                if ids:
                    wanted.setdefault(self.targets[name], set()).update(ids)
        refs = {}
        for target, ids in wanted.items():
            for part in _chunks(sorted(ids)):
                for obj in db.session.scalars(select(target).where(target.id.in_(part))):
                    refs[(target, obj.id)] = obj
        return refs


def _unique_validators(form) -> list:
    """(field, position, validator) of the form's ``Unique`` checks; each field gets its own list."""
    from flask_admin.contrib.sqla.validators import Unique

    found = []
    for fld in form:
        fld.validators = list(fld.validators or ())
        for index, validator in enumerate(fld.validators):
            if isinstance(validator, Unique):
                found.append((fld, index, validator))
    return found


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
            may_see = privacy.may_see(model)
            known: dict[str, tuple] = {}  # a name the file repeats is looked up once

            def by_lookup(text):
                if not text:
                    return "", None
                if text not in known:
                    query = loader.get_query()
                    conds = [model.name == text] if hasattr(model, "name") else []
                    if hasattr(model, "id_number") and may_see:
                        conds.append(model.id_number == text.upper())  # no ID-number oracle without the right
                    rows = query.filter(or_(*conds)).limit(2).all() if conds else []
                    if not rows:
                        known[text] = ("", _("找不到“%(v)s”(或不在您的授权范围内)", v=text))
                    elif len(rows) > 1:  # a region (a lookup too) has no ID number to tell namesakes apart
                        known[text] = ("", _("“%(v)s”有重名,请改填公民身份号码", v=text) if hasattr(model, "id_number")
                                       else _("“%(v)s”有重名,无法确定是哪一个", v=text))
                    else:
                        known[text] = (str(rows[0].id), None)
                return known[text]
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
    def check_file(self, filename: str, payload: bytes) -> tuple[ImportOutcome, list[str] | None]:
        """The preview: every row checked (form and write gate), nothing written. Returns the outcome
        and, when every row passed, the plan the confirmation writes (JSON lines, a header first)."""
        rows = iter_rows(filename, payload)
        _line, header = next(rows)
        if self._is_region_file(header):
            return self._import_region_rows([header, *(r for _l, r in rows)], dry_run=True), None
        importer = FileImport(self, header)
        plan = [json.dumps(self._plan_header(payload, header), ensure_ascii=False)]
        importer.check(rows, lambda entry: plan.append(json.dumps(entry, ensure_ascii=False)))
        outcome = importer.outcome
        _sort_errors(outcome)
        if outcome.ok and importer.plannable:
            return outcome, plan
        return outcome, None

    def import_file(self, filename: str, payload: bytes) -> ImportOutcome:
        """Check every row, then write them all through the write gate and commit — or nothing."""
        rows = iter_rows(filename, payload)
        _line, header = next(rows)
        if self._is_region_file(header):
            return self._import_region_rows([header, *(r for _l, r in rows)], dry_run=False)
        return self._check_and_write(FileImport(self, header), rows)

    def import_rows(self, rows: list[list[str]], dry_run: bool = False) -> ImportOutcome:
        """Rows already read (the header first): checked, and unless ``dry_run`` written, all or none."""
        if self._is_region_file(rows[0]):
            return self._import_region_rows(rows, dry_run)
        importer = FileImport(self, rows[0])
        numbered = enumerate(rows[1:], start=2)
        if dry_run:
            importer.check(numbered)
            _sort_errors(importer.outcome)
            return importer.outcome
        return self._check_and_write(importer, numbered)

    def _check_and_write(self, importer: FileImport, rows) -> ImportOutcome:
        entries: list[dict] = []
        importer.check(rows, entries.append)
        outcome = importer.outcome
        if outcome.ok:
            try:
                if not importer.plannable:
                    raise RuntimeError("a form value the plan cannot hold")  # never seen; loud if it is
                importer.write(entries)
            except ImportRefused as exc:
                outcome.errors.extend(exc.errors)
                outcome.error_count += len(exc.errors)
            except PlanStale:  # another user changed these rows in the instant between check and write
                outcome.errors.append({"line": "-", "column": "-", "value": "", "message": _(CHANGED_MESSAGE)})
                outcome.error_count += 1
        _sort_errors(outcome)
        return self._finish(outcome, dry_run=False)

    def write_plan(self, filename: str, payload: bytes, plan: list[str]) -> ImportOutcome | None:
        """The confirmation: write the rows the preview checked (``check_file``'s plan) through the write
        gate and commit. None when the plan does not fit this upload or the data changed since the
        preview: the caller checks the file again."""
        try:
            head = json.loads(plan[0])
            if head != self._plan_header(payload, head.get("header")):
                return None
            importer = FileImport(self, head["header"])
            importer.write(json.loads(line) for line in plan[1:] if line)
        except ImportRefused as exc:
            db.session.rollback()
            return ImportOutcome(errors=exc.errors, error_count=len(exc.errors))
        except (PlanStale, ValueError, KeyError, TypeError, IndexError):
            db.session.rollback()  # changed meanwhile, or a plan that does not read: check again
            return None
        db.session.commit()
        importer.written.written = True
        return importer.written

    def _plan_header(self, payload: bytes, header) -> dict:
        from flask_login import current_user

        return {"plan": PLAN_VERSION, "endpoint": self.endpoint, "user_id": current_user.id,
                "sha256": hashlib.sha256(payload).hexdigest(), "header": header}

    def _finish(self, outcome: ImportOutcome, dry_run: bool) -> ImportOutcome:
        """Roll back (a preview, or any error) or commit."""
        if outcome.errors or outcome.error_count or dry_run:
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
        for (key,) in (group for group in self._unique_groups() if len(group) == 1):
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
            elif entry["status"] == "insert":
                outcome.inserted += 1
            elif entry["status"] == "update":
                outcome.updated += 1
            else:
                outcome.unchanged += 1
        outcome.rows = len(outcome.lines)
        outcome.error_count = len(outcome.errors)
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
        written. The confirm button posts a token naming the stored upload (``import_confirm_view``).
        A file of more than ``IMPORT_SYNC_ROWS`` rows becomes a background job instead (我的任务)."""
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
            rows = _precheck(upload.filename, payload)
            if rows - 1 > int(setting("IMPORT_SYNC_ROWS")):
                return self._start_import_job(upload.filename, payload, rows - 1)
            outcome, plan = self.check_file(upload.filename, payload)
        except ImportFileError as exc:
            db.session.rollback()
            flash(str(exc), "error")
            return self._render_import(None, status=400)
        token = None if not outcome.ok else store_upload(self.endpoint, upload.filename, payload, plan)
        return self._render_import(outcome, token=token, status=200 if outcome.ok else 422)

    @expose("/import/confirm/", methods=("POST",))
    def import_confirm_view(self):
        """Write the upload the preview showed, through the same rules and the write gate: the rows the
        preview checked (its plan), or the whole file checked again when the data changed meanwhile."""
        if not self.can_create:
            abort(404)
        stored = take_upload(request.form.get("token", ""), self.endpoint)
        if stored is None:
            flash(_("导入预览已过期或不存在,请重新上传文件"), "error")
            return self._render_import(None, status=400)
        filename, payload, plan = stored
        try:
            outcome = self.write_plan(filename, payload, plan) if plan else None
            if outcome is None:
                outcome = self.import_file(filename, payload)
        except ImportFileError as exc:
            db.session.rollback()
            flash(str(exc), "error")
            return self._render_import(None, status=400)
        if not outcome.ok:  # the data changed since the preview
            return self._render_import(outcome, status=422)
        flash(_("已导入 %(n)s 条记录(新增 %(a)s 条,更新 %(b)s 条)", n=outcome.inserted + outcome.updated,
                a=outcome.inserted, b=outcome.updated), "success")
        return redirect(self.get_url(".index_view"))

    def _start_import_job(self, filename: str, payload: bytes, rows: int):
        """Queue a large file as an import job owned by the user (progress and result on 我的任务)."""
        from admin_app.jobs import enqueue
        from models import JobKind

        folder = _uploads_dir()
        _sweep(folder)
        token = secrets.token_urlsafe(32)
        (folder / f"{token}.upload").write_bytes(payload)
        params = {"endpoint": self.endpoint, "upload": token, "filename": filename[:200],
                  "sha256": hashlib.sha256(payload).hexdigest()}
        job = enqueue(JobKind.IMPORT, params, title=_("导入%(what)s:%(file)s", what=self.name, file=filename[:100]),
                      reuse=False)
        flash(_("文件约有 %(n)s 行,已转为后台导入任务:先逐行检查,全部无误后一次写入;有任何问题则不写入,"
                "并提供错误报告下载。可以离开本页,在“我的任务”中查看进度和结果。", n=rows), "info")
        return redirect(url_for("jobs.job", job_id=job.id), code=303)

    def _render_import(self, outcome: ImportOutcome | None, token: str | None = None, status: int = 200):
        probe = self._blank_form()
        errors = outcome.errors if outcome else []
        return self.render(self.import_template, fields=self._import_fields(probe), outcome=outcome,
                           token=token, errors=errors, errors_json=json.dumps(errors, ensure_ascii=False),
                           preview_limit=PREVIEW_LINES, region_file=self.model is Region,
                           sync_rows=int(setting("IMPORT_SYNC_ROWS"))), status

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
                         mimetype=XLSX_MIMETYPE)

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
        out = io.BytesIO(error_report(e for e in errors if isinstance(e, dict)))
        return send_file(out, as_attachment=True, download_name=f"{self.endpoint}-import-errors.xlsx",
                         mimetype=XLSX_MIMETYPE)


XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
IN_CHUNK = 500  # values per IN (...) of the batched look-ups


def _precheck(filename: str, payload: bytes) -> int:
    """The whole-file limits, checked before any reading; returns the rows the file holds at most."""
    if _check_size_and_kind(filename, payload).endswith(".xlsx"):
        try:
            _check_unpacked(payload)
        except zipfile.BadZipFile:
            raise _unreadable() from None
    rows = count_rows(filename, payload)
    if rows > MAX_SHEET_ROWS:
        raise ImportFileError(_("一次最多导入 %(n)s 行", n=MAX_ROWS))
    return rows


def error_report(errors: Iterable[dict]) -> bytes:
    """The error report as clerks download it (行号, 字段, 填写内容, 问题), streamed (write-only)."""
    import openpyxl  # ~0.25 s to import: only when a workbook is read or written

    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet("导入错误")
    sheet.append(REPORT_HEADER)
    for err in errors:
        sheet.append([_safe_cell(err.get(k)) for k in ("line", "column", "value", "message")])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _sort_errors(outcome: ImportOutcome) -> None:
    outcome.errors.sort(key=lambda e: (not isinstance(e["line"], int), e["line"] if isinstance(e["line"], int) else 0))


def _chunks(values: list) -> list[list]:
    return [values[i:i + IN_CHUNK] for i in range(0, len(values), IN_CHUNK)]


def _key_value(column, value):
    """A cell's value as the unique column stores it (None when it cannot name a row)."""
    if value in (None, ""):
        return None
    if column.foreign_keys or isinstance(column.type, Integer):
        try:
            return int(value)
        except (TypeError, ValueError):
            return None
    if column.info.get("id_number"):
        return str(value).strip().upper()
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
    """Flask-Admin's ``Unique`` check with the values already taken read once per chunk."""

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


# -- the import job (JobKind.IMPORT): a file above IMPORT_SYNC_ROWS -----------------------------------------
JOB_DONE_MESSAGE = "已导入 %(n)s 条记录(新增 %(a)s 条,更新 %(b)s 条)"
JOB_REFUSED_MESSAGE = "未导入任何数据:发现 %(n)s 处问题,请下载错误报告"
JOB_WRITING_MESSAGE = "检查通过,正在写入 %(n)s 条记录…"


def run_import_job(run) -> None:
    """Check the file with live progress (nothing written, no lock held: each chunk's progress commits),
    then write every row in one transaction that also marks the job done; or, with any problem, nothing
    and an error report. Acts as the job's owner (scope, rights and the write gate as in the request).
    A re-run starts from scratch: the write is one transaction, so nothing half-written is ever kept."""
    from admin_app.jobs import JobFailed

    params = run.job.params or {}
    view = find_view(run.app, str(params.get("endpoint", "")), ImportMixin)
    token = str(params.get("upload", ""))
    if view is None or not TOKEN_RE.match(token):
        raise JobFailed(_("导入任务的参数无效"))
    upload = _uploads_dir(run.app) / f"{token}.upload"
    try:
        payload = upload.read_bytes()
    except OSError:
        raise JobFailed(_("上传的文件已不存在,请重新上传")) from None
    if hashlib.sha256(payload).hexdigest() != params.get("sha256"):
        raise JobFailed(_("上传的文件已不存在,请重新上传"))
    folder = Path(run.app.config["JOBS_DIR"]) / str(run.job_id)
    folder.mkdir(parents=True, exist_ok=True)
    for old in [*folder.glob(".plan.*"), *folder.glob(".errors.*")]:
        old.unlink(missing_ok=True)  # an earlier attempt's
    work = (folder / f".plan.{run.attempt}", folder / f".errors.{run.attempt}")
    try:
        with run.app.test_request_context(f"{view.url}/import/", method="POST"):
            g._login_user = run.owner  # the owner's scope, rights and sensitive-data right, as in a request
            if not view.can_create:
                raise JobFailed(_("您没有导入本表的权限"))
            _import_job(run, view, str(params.get("filename", "")), payload, *work)
    except JobFailed:
        upload.unlink(missing_ok=True)
        raise
    finally:
        for path in work:
            path.unlink(missing_ok=True)
    upload.unlink(missing_ok=True)


def _import_job(run, view, filename: str, payload: bytes, plan_path: Path, errors_path: Path) -> None:
    from admin_app.jobs import JobFailed

    total = max(count_rows(filename, payload) - 1, 0)
    run.start(total)
    try:
        rows = iter_rows(filename, payload)
        _line, header = next(rows)
        if view._is_region_file(header):
            _region_job(run, view, filename, [header, *(r for _l, r in rows)])
            return
        with open(errors_path, "w", encoding="utf-8", newline="") as err_out, \
                open(plan_path, "w", encoding="utf-8") as plan_out:
            errors = csv.writer(err_out)
            importer = FileImport(view, header, keep_lines=False, release=True,
                                  on_error=lambda e: errors.writerow([e[k] for k in ("line", "column", "value", "message")]))
            reported = [1]

            def progress(line: int) -> None:
                run.advance(max(0, min(line, total + 1) - reported[0]))
                reported[0] = max(reported[0], min(line, total + 1))

            importer.check(rows, lambda entry: plan_out.write(json.dumps(entry, ensure_ascii=False) + "\n"),
                           progress)
    except ImportFileError as exc:
        db.session.rollback()
        raise JobFailed(str(exc)) from None
    run.advance(max(0, total - run.done))
    outcome = importer.outcome
    if not outcome.ok:
        _finish_refused(run, filename, _read_errors(errors_path), outcome.error_count)
        return
    if not importer.plannable:
        raise JobFailed(_("导入任务的参数无效"))
    run.note(_(JOB_WRITING_MESSAGE, n=outcome.rows))  # no progress commit may happen inside the write
    try:
        with open(plan_path, encoding="utf-8") as plan_in:
            importer.write(json.loads(line) for line in plan_in)
    except PlanStale as exc:
        db.session.rollback()
        raise RuntimeError(f"data changed while the file was checked ({exc}); the job runs again") from None
    except ImportRefused as exc:
        db.session.rollback()
        _finish_refused(run, filename, exc.errors, len(exc.errors))
        return
    written = importer.written
    # The rows and the job's 已完成 commit together: a worker that lost the job (or died) leaves neither.
    run.finish(_summary(filename, written), _result_name(filename, "导入结果"),
               _(JOB_DONE_MESSAGE, n=written.inserted + written.updated, a=written.inserted, b=written.updated))


def _region_job(run, view, filename: str, rows: list[list[str]]) -> None:
    outcome = view._import_region_rows(rows, dry_run=False)
    run.advance(max(0, run.job.total - run.done) if outcome.written else 0)
    if not outcome.written:
        _finish_refused(run, filename, outcome.errors, len(outcome.errors))
        return
    run.finish(_summary(filename, outcome), _result_name(filename, "导入结果"),
               _(JOB_DONE_MESSAGE, n=outcome.inserted + outcome.updated, a=outcome.inserted, b=outcome.updated))


def _finish_refused(run, filename: str, errors: Iterable[dict], count: int) -> None:
    """Nothing written: the job ends with the error report to download."""
    run.finish(error_report(errors), _result_name(filename, "导入错误报告"), _(JOB_REFUSED_MESSAGE, n=count),
               status=JobStatus.FAILED)


def _read_errors(path: Path) -> Iterator[dict]:
    with open(path, encoding="utf-8", newline="") as fh:
        for line, column, value, message in csv.reader(fh):
            yield {"line": int(line) if line.isdigit() else line, "column": column, "value": value,
                   "message": message}


def _summary(filename: str, outcome: ImportOutcome) -> bytes:
    import openpyxl  # ~0.25 s to import: only when a workbook is read or written

    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet("导入结果")
    for row in (["文件", _safe_cell(filename)], ["新增", outcome.inserted], ["更新", outcome.updated],
                ["无变化", outcome.unchanged]):
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _result_name(filename: str, what: str) -> str:
    stem = Path(filename or "import").stem[:80] or "import"
    return f"{stem}-{what}.xlsx"


