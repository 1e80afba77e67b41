"""The privacy policy for personal data (个人敏感信息): the one place that decides what is masked.

Who sees what
-------------
A field listed in a model's ``__sensitive__`` belongs to that model (today only ``Person``: 公民身份号码,
出生日期, 联系电话, 户籍地址). A user sees it in full only with the 查看敏感信息 right (``SENSITIVE``) on the
model that owns the field *and* on the model of the screen, print or export showing it (a veterans' roster
shows people: it needs the right on ``VeteranProfile`` and on ``Person``). Everyone else sees:

=============  ======================  ====================================================================
field           shown as               why
=============  ======================  ====================================================================
公民身份号码     ``4313**********0018``   digits 1–4 (prefecture) and 15–18 (sequence, check) only
出生日期         ``1990``                 the year only; month and day are digits 11–14 of the ID number
联系电话         ``138****1234``          mobile: first 3 and last 4; shorter numbers keep their last 2
户籍地址         ``湖南省****``            the first three characters
=============  ======================  ====================================================================

The set, not the column, is what must stay safe: together these show digits 1–4, 7–10 (the year) and
15–18 of an ID number; digits 5–6 (county) and 11–14 (month and day of birth) are never shown anywhere —
list, details, CSV/XLSX export, print, search, sorting, audit history. Even knowing the county from the
person's region, about 365 / 11 ≈ 33 birth dates fit the check character, so no ID number can be rebuilt.

What else follows from the policy
---------------------------------
* No search oracle: a user without the right cannot search sensitive columns at all — neither the exact
  ID number nor fragments of a phone or address find anyone (``searchable``).
* No sorting oracle: sorting a list by a sensitive column is refused, or the order of birth dates would
  reveal them (``sortable``).
* Audit snapshots (修改前 / 修改后) are masked with the same rules (``mask_snapshot``).
* Exports and prints of persons are recorded in the audit log with who, what, when and how many rows
  (``admin_app.audit.record_access``).
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping

from sqlalchemy import inspect

from models.idnumber import mask_birth_date, mask_id_number, mask_phone, mask_text

#: The model whose fields are personal data (its ``__sensitive__`` names them).
OWNER_MODELS = ("Person",)


def sensitive_columns(model) -> tuple[str, ...]:
    """The model's sensitive column names (``__sensitive__``)."""
    return tuple(getattr(model, "__sensitive__", ()))


def _model_class(model):
    if isinstance(model, str):
        from models import Base

        for mapper in Base.registry.mappers:
            cls = mapper.class_
            if cls.__name__ == model or getattr(cls, "__tablename__", None) == model:
                return cls
        return None
    return model if isinstance(model, type) else type(model)


def may_see(model, region=None) -> bool:
    """May the current user see ``model``'s sensitive fields (and those of the people it shows)?

    With ``region`` (prints), the right must also cover that region.
    """
    from admin_app.scope import SENSITIVE, current_scope

    scope = current_scope()
    names = {model if isinstance(model, str) else _model_class(model).__name__, *OWNER_MODELS}
    for name in names:
        if not scope.can(name, SENSITIVE):
            return False
        if region is not None and not scope.covers_path(region.path, SENSITIVE, name):
            return False
    return True


def mask_value(model, name: str, value) -> str:
    """``value`` of column ``name`` of ``model`` as a user without the right sees it."""
    cls = _model_class(model)
    column = inspect(cls).columns.get(name) if cls is not None else None
    info = column.info if column is not None else {}
    if value is None or value == "":
        return ""
    if info.get("id_number"):
        return mask_id_number(str(value))
    if info.get("phone"):
        return mask_phone(str(value))
    if isinstance(value, datetime.date):
        return mask_birth_date(value)
    if column is not None and isinstance(value, str) and _is_date_column(column):
        try:  # a snapshot holds dates as ISO text
            return mask_birth_date(datetime.date.fromisoformat(value[:10]))
        except ValueError:
            return mask_text(value)
    return mask_text(str(value))


def _is_date_column(column) -> bool:
    try:
        return issubclass(column.type.python_type, datetime.date)
    except NotImplementedError:
        return False


def shown(model, obj, name: str, may: bool):
    """What a screen shows of ``obj.name``: the value itself, or its mask when ``may`` is false and the
    column is sensitive."""
    value = getattr(obj, name)
    if may or name not in sensitive_columns(_model_class(model)):
        return value
    return mask_value(model, name, value)


def mask_snapshot(model, values: Mapping | None, may_see: bool) -> dict | None:
    """An audit snapshot (column → JSON value) with the sensitive columns masked unless ``may_see``.

    ``model`` is the model class (or its name / table name) the snapshot belongs to.
    """
    if values is None:
        return None
    cls = _model_class(model)
    if may_see or cls is None:
        return dict(values)
    hidden = sensitive_columns(cls)
    return {k: (mask_value(cls, k, v) if k in hidden and v not in (None, "") else v)
            for k, v in values.items()}


def is_sensitive_column(column) -> bool:
    """Is this mapped column one of the masked ones (its ``info`` or its model's ``__sensitive__``)?"""
    from models import scoped_models

    info = getattr(column, "info", None) or {}
    if info.get("id_number") or info.get("phone") or info.get("sensitive"):
        return True
    table = getattr(column, "table", None)
    for model in scoped_models():
        if model.__table__ is table:
            return column.key in sensitive_columns(model)
    return False


def searchable(column, may: bool) -> bool:
    """May a user search this column? Not a sensitive one without the right (no existence oracle)."""
    return may or not is_sensitive_column(column)


def sortable(model, name: str, may: bool) -> bool:
    """May a user sort a list by this column? Not a sensitive one without the right: the order of birth
    dates (or of ID numbers) next to a row one wrote oneself would reveal them."""
    return may or name not in sensitive_columns(_model_class(model))
