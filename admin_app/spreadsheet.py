"""Cells written into files a spreadsheet will open (CSV and XLSX exports, import error reports)."""

from __future__ import annotations

import datetime
import decimal

#: A text starting with one of these may run as a formula (or a DDE command) in Excel/WPS/LibreOffice:
#: = + - @, and a tab or carriage return, which some importers strip before looking at the first character.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value):
    """The value to write into a spreadsheet cell, never a live formula.

    Numbers, dates and booleans stay typed (a negative number is a number, not a formula); text that
    could start a formula gets a leading apostrophe, the marker spreadsheets use for "this is text".
    The same function serves CSV and XLSX, so both neutralise the same cells.
    """
    if value is None:
        return ""
    if isinstance(value, bool | int | float | decimal.Decimal | datetime.date | datetime.time):
        return value
    text = str(value)
    if text.startswith(FORMULA_STARTS):
        return "'" + text
    return text


def bool_text(value: bool) -> str:
    """A yes/no cell as clerks write it (是/否); the import reads it back."""
    return "是" if value else "否"


def download_name(title: str, region_name: str | None, day, extension: str) -> str:
    """``人员-杉山镇-2026-11-27.csv``: what, where (when the user has one township or county), when."""
    parts = [str(title), region_name, day.isoformat()]
    name = "-".join(p for p in parts if p)
    for bad in '/\\:*?"<>|\r\n\t':  # never a path or a header break, whatever a name holds
        name = name.replace(bad, "_")
    return f"{name}.{extension}"


def content_disposition(filename: str) -> str:
    """``attachment`` with an ASCII fallback name and the real one in RFC 5987 ``filename*`` (browsers
    show the Chinese name; old clients get the ASCII one)."""
    from urllib.parse import quote

    from werkzeug.utils import secure_filename

    extension = filename.rpartition(".")[2]
    fallback = secure_filename(filename)  # the ASCII part: 人员-杉山镇-2026-11-27.csv → 2026-11-27.csv
    if not fallback or fallback == extension:
        fallback = f"export.{extension}"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


class CsvEncodingError(ValueError):
    """Neither UTF-8 nor GB18030: not a text file a spreadsheet saved."""


def decode_csv(payload: bytes) -> str:
    """The text of a CSV as clerks have them: UTF-8 (with or without the BOM Excel writes), else the
    GBK/GB18030 that Chinese Excel and WPS write by default ("CSV (逗号分隔)"). GB18030 is a superset of
    GBK and GB2312; valid UTF-8 is tried first because a UTF-8 file is almost never valid GB18030 text of
    the same meaning, while short GB18030 text can happen to be valid UTF-8 only by rare accident."""
    try:
        return payload.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return payload.decode("gb18030")
    except UnicodeDecodeError:
        raise CsvEncodingError("not UTF-8 or GB18030") from None
