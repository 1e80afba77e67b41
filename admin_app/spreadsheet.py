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
