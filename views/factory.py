"""One view factory: every admin screen is generated from the model's metadata.

A model describes its screen in ``__admin__`` (name, menu group, list/search/filter/form columns,
inline children, ajax lookups) and each column in ``info`` (label, description, choices, levels).
Adding a model or a column is an edit to ``models/`` only.
"""

from __future__ import annotations

import decimal
import re

from flask_admin.contrib.sqla.fields import QuerySelectField
from flask_admin.contrib.sqla.filters import FilterEqual
from flask_admin.model.form import InlineFormAdmin
from flask_babel import LazyString, gettext
from flask_babel import lazy_gettext as _l
from sqlalchemy import Boolean, Integer, Numeric, String, inspect
from sqlalchemy.orm import RelationshipProperty
from wtforms import HiddenField
from wtforms.validators import DataRequired, InputRequired, ValidationError

from models import Region, scoped_models

from .base import ScopedAjaxLoader, ScopedRegionFilter, ScopedRegionLoader, SecuredModelView, scoped_choices
from .importer import ImportMixin

MENU_ORDER = ["组织机构", "人员", "职责与计划", "退役军人服务", "民兵", "打印", "系统管理"]
PINYIN_FIELDS = ("name", "name_pinyin", "name_initials")


def _column_info(model, name: str) -> dict:
    mapper = inspect(model)
    if name in mapper.columns:
        return mapper.columns[name].info
    if name in mapper.relationships:
        rel = mapper.relationships[name]
        info = dict(rel.info)
        (local,) = list(rel.local_columns)[:1] or [None]
        if local is not None:
            info = {**local.info, **info}
        return info
    return {}


def _joined_label(first: str, second: str) -> str:
    """Two schema labels as one, translated ("人员" + "姓名" → "人员姓名", "Person Name"); a second label
    that already names the first is used alone ("岗位" + "岗位名称" → "岗位名称", not "岗位岗位名称")."""
    a, b = gettext(first), gettext(second)
    if b.lower().startswith(a.lower()):
        return b
    return f"{a}{b}" if (a, b) == (first, second) else f"{a} {b}"


def labels_for(model, translate: bool = False) -> dict:
    """Column and relationship name → Chinese label, from ``info``.

    With ``translate`` the labels are lazy strings translated when rendered (the msgids are the
    Chinese labels; ``make messages`` extracts them from ``models/``).
    """
    mapper = inspect(model)
    wrap = _l if translate else str
    labels = {}
    for col in mapper.columns:
        if "label" in col.info:
            labels[col.key] = wrap(col.info["label"])
    for rel in mapper.relationships:
        info = _column_info(model, rel.key)
        if "label" in info:
            labels[rel.key] = wrap(info["label"])
    for name in getattr(model, "__admin__", {}).get("search", []):
        if "." in name:
            rel, col = name.split(".", 1)
            target = mapper.relationships[rel].mapper.class_
            first = _column_info(model, rel).get("label", rel)
            second = _column_info(target, col).get("label", col)
            labels[name] = (LazyString(_joined_label, first, second) if translate
                            else second if second.startswith(first) else f"{first}{second}")
    return labels


def _choices(enum_cls) -> list[tuple]:
    """An enum's (value, label) pairs with the labels translated when rendered."""
    return [(value, _l(label)) for value, label in enum_cls.choices()]


def _enum_columns(model) -> dict[str, type]:
    return {c.key: c.info["choices"] for c in inspect(model).columns if "choices" in c.info}


def region_levels(model, name: str) -> tuple[str, ...] | None:
    """Which region levels a region field offers: ``info["levels"]``, else townships for ``township``."""
    info = _column_info(model, name)
    if "levels" in info:
        return tuple(info["levels"])
    return ("township",) if name == "township" else None


def _filters(model, names: list[str]) -> list:
    mapper = inspect(model)
    labels = labels_for(model, translate=True)
    enums = _enum_columns(model)
    # "filter_options": {column: "module:function"}: a drop-down whose (value, label) pairs the function
    # returns, per request (e.g. 变更记录's tables by their Chinese names).
    options = getattr(model, "__admin__", {}).get("filter_options", {})
    out: list = []
    for name in names:
        label = labels.get(name, name)
        if name in options:
            out.append(FilterEqual(getattr(model, name), label, options=_dotted(options[name])))
        elif name in enums:
            out.append(FilterEqual(getattr(model, name), label, options=_choices(enums[name])))
        elif name in mapper.relationships and mapper.relationships[name].mapper.class_ is Region:
            (local,) = mapper.relationships[name].local_columns
            out.append(ScopedRegionFilter(getattr(model, local.key), label, levels=region_levels(model, name)))
        elif name in mapper.relationships:
            continue  # relationship filters would list foreign rows; search covers them
        else:
            out.append(name)
    return out


INT32 = 2**31 - 1  # PostgreSQL INTEGER; SQLite would take more, but both databases must agree


class IntegerRange:
    """An integer column's bounds: ``info["min"]``/``info["max"]``, else the 32-bit INTEGER range.

    A value past 64 bits would reach SQLite as an OverflowError and PostgreSQL as a DataError (500s).
    """

    def __init__(self, low: int, high: int):
        self.low, self.high = low, high

    def __call__(self, form, field):
        if field.data is None:
            return
        if not self.low <= field.data <= self.high:
            field.data = None  # never echo a 300-digit number back into the form
            raise ValidationError(gettext("应为 %(low)s 到 %(high)s 之间的整数", low=self.low, high=self.high))


class DecimalRange:
    """A NUMERIC(p, s) column: a finite number with at most p - s integer digits (``1e309``, ``Infinity``
    and ``NaN`` parse as decimals, and comparing NaN raises: each was a 500)."""

    def __init__(self, precision: int | None, scale: int | None, low=None):
        self.precision, self.scale, self.low = precision, scale or 0, low

    def __call__(self, form, field):
        value = field.data
        if value is None:
            return
        if not isinstance(value, decimal.Decimal) or not value.is_finite():
            field.data = None
            raise ValidationError(gettext("请填写有效的数字"))
        if self.low is not None and value < self.low:
            raise ValidationError(gettext("不能小于 %(low)s", low=self.low))
        if self.precision is not None and abs(value) >= decimal.Decimal(10) ** (self.precision - self.scale):
            field.data = None
            raise ValidationError(gettext("数值过大(最多 %(n)s 位整数)", n=self.precision - self.scale))


def no_control_characters(form, field):
    """Text without NUL or other control characters (PostgreSQL refuses NUL in text: a 500)."""
    if isinstance(field.data, str) and CONTROL_CHARS.search(field.data):
        raise ValidationError(gettext("不能包含空字符或其他控制字符"))


CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def column_validators(column) -> list:
    """Validators every generated form field of ``column`` gets from its type (and ``info`` bounds)."""
    if column.primary_key or column.foreign_keys or "choices" in column.info:
        return []
    kind = column.type
    if isinstance(kind, Boolean):
        return []
    if isinstance(kind, Integer):
        return [IntegerRange(column.info.get("min", -INT32 - 1), column.info.get("max", INT32))]
    if isinstance(kind, Numeric):
        return [DecimalRange(kind.precision, kind.scale, column.info.get("min"))]
    if isinstance(kind, String):  # Text too
        return [no_control_characters]
    return []


class RequiredQuerySelectField(QuerySelectField):
    """A required drop-down that starts empty: nothing is preselected (the first post of the list was, so a
    hurried clerk appointed everyone 武装部部长), and leaving it empty is refused next to the field."""

    def __init__(self, *args, **kwargs):
        kwargs["allow_blank"] = True
        kwargs.setdefault("blank_text", _l("请选择…"))
        kwargs["validators"] = [DataRequired() if isinstance(v, InputRequired) else v
                                for v in kwargs.get("validators", [])]
        super().__init__(*args, **kwargs)


def region_lookups(model) -> list[str]:
    """The region fields of ``model``'s own form, shown as lookups (``ScopedRegionLoader``): a province's
    ~2,000 townships are not embedded in every form. Inline child forms keep their scoped drop-downs."""
    form = getattr(model, "__admin__", {}).get("form")
    return [rel.key for rel in inspect(model).relationships
            if rel.direction.name == "MANYTOONE" and rel.mapper.class_ is Region
            and (form is None or rel.key in form)]


def _form_overrides(model, lookups: tuple[str, ...] | list[str] = ()) -> dict[str, type]:
    """Required many-to-one drop-downs (not the ajax look-ups) start empty."""
    ajax = set(getattr(model, "__admin__", {}).get("ajax", [])) | set(lookups)
    out = {}
    for rel in inspect(model).relationships:
        if rel.direction.name != "MANYTOONE" or rel.key in ajax:
            continue
        if not any(col.nullable for col in rel.local_columns):
            out[rel.key] = RequiredQuerySelectField
    return out


def _form_args(model, lookups: tuple[str, ...] | list[str] = ()) -> dict[str, dict]:
    """Scoped query factories for every drop-down relationship field (ajax fields and the region
    ``lookups`` use their loader), and the bounds of every integer, decimal and text column."""
    args: dict[str, dict] = {}
    for column in inspect(model).columns:
        found = column_validators(column)
        if found:
            args[column.key] = {"validators": found}
    ajax = set(getattr(model, "__admin__", {}).get("ajax", [])) | set(lookups)
    for rel in inspect(model).relationships:
        if rel.direction.name != "MANYTOONE" or rel.key in ajax:
            continue
        args[rel.key] = {"query_factory": scoped_choices(model.__name__, rel.mapper.class_,
                                                         region_levels(model, rel.key))}
    return args


class VersionedInlineForm(InlineFormAdmin):
    """An inline child form that carries the version of the child the user saw: the write gate refuses
    a stale one (optimistic locking for children edited elsewhere, e.g. a plan item's status)."""

    def postprocess_form(self, form_class):
        form_class.row_version = HiddenField()
        return super().postprocess_form(form_class)


def _inline(model, name: str):
    rel: RelationshipProperty = inspect(model).relationships[name]
    child = rel.mapper.class_
    meta = getattr(child, "__admin__", {})
    back = rel.back_populates
    columns = [c for c in meta.get("form", []) if c != back] or None
    # The inline block's heading ("添加 计划事项", "计划事项 1"): the relationship's label, else the child's
    # screen name; never the attribute name ("Items").
    label = _column_info(model, name).get("label") or meta.get("name")
    inline = VersionedInlineForm(
        child,
        form_label=_l(label) if label else None,
        form_columns=["id", *columns] if columns else None,
        form_args={k: v for k, v in _form_args(child).items() if k != back},
        form_overrides={k: v for k, v in _form_overrides(child).items() if k != back},
        column_labels=labels_for(child, translate=True),
        form_choices={k: _choices(e) for k, e in _enum_columns(child).items()},
    )
    if not rel.uselist:  # one-to-one (Person → VeteranProfile): the list converter would crash
        from flask_admin.contrib.sqla.form import InlineOneToOneModelConverter

        inline.inline_converter = InlineOneToOneModelConverter
    return inline


def _link_columns(model) -> list[str]:
    """Foreign-key columns shown through their relationship (``parent`` rather than ``parent_id``)."""
    return sorted({col.key for rel in inspect(model).relationships if rel.direction.name == "MANYTOONE"
                   for col in rel.local_columns if col.key != "id"})


def _default_sort(spec: str):
    """``"code"`` sorts ascending, ``"-served_on"`` descending (newest first)."""
    return (spec[1:], True) if spec.startswith("-") else spec


def _dotted(path: str):
    """``"views.history:format_snapshot"`` → the function (named in the model's ``__admin__``)."""
    import importlib

    module, _sep, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def _plain(fn):
    """An HTML formatter's text for exports (no markup in a spreadsheet)."""
    import re

    def plain(view, context, model, name):
        html = str(fn(view, context, model, name) or "")
        return re.sub(r"<[^>]+>", " ", html).strip()
    return plain


def build_view_class(model) -> type[SecuredModelView]:
    """The ModelView subclass for ``model``, generated from its metadata."""
    meta = getattr(model, "__admin__", {})
    enums = _enum_columns(model)
    labels = labels_for(model, translate=True)
    ajax = {name: ScopedAjaxLoader(name, None, inspect(model).relationships[name].mapper.class_,
                                   fields=[f for f in PINYIN_FIELDS
                                           if hasattr(inspect(model).relationships[name].mapper.class_, f)]
                                   or ["id"],
                                   placeholder=_ajax_placeholder(inspect(model).relationships[name].mapper.class_))
            for name in meta.get("ajax", [])}
    lookups = region_lookups(model)
    ajax.update({name: ScopedRegionLoader(name, model.__name__, region_levels(model, name),
                                          placeholder=_l("输入名称或代码查找"), minimum_input_length=0)
                 for name in lookups})
    attrs = {
        "column_list": meta.get("list"),
        "column_labels": labels,
        "column_descriptions": {c.key: _l(c.info["description"]) for c in inspect(model).columns
                                if "description" in c.info},
        "column_searchable_list": meta.get("search") or None,
        "column_filters": _filters(model, meta.get("filters", [])) or None,
        "column_choices": {k: _choices(e) for k, e in enums.items()},
        "form_choices": {k: _choices(e) for k, e in enums.items()},
        "form_columns": meta.get("form"),
        "form_args": _form_args(model, lookups),
        "form_overrides": _form_overrides(model, lookups),
        "form_ajax_refs": ajax or None,
        "inline_models": [_inline(model, n) for n in meta.get("inline", [])] or None,
        "column_default_sort": _default_sort(meta.get("sort", "-id")),
        "column_details_exclude_list": ["password_hash", "name_pinyin", "name_initials", "search_grams", "path",
                                        "version",
                                        *_link_columns(model)],
        "search_exact": tuple(meta.get("search_exact", ())),
        "search_sensitive": tuple(meta.get("search_sensitive", ())),
        "sensitive_columns": tuple(getattr(model, "__sensitive__", ())),
        "read_only": bool(meta.get("read_only")),
        "details_extra_template": meta.get("details_extra"),
    }
    formatters = {name: _dotted(path) for name, path in meta.get("formatters", {}).items()}
    if formatters:
        attrs["column_formatters"] = formatters
        attrs["column_formatters_detail"] = formatters
        attrs["column_formatters_export"] = {name: _plain(fn) for name, fn in formatters.items()}
    attrs.update(
        menu_rule=meta.get("menu", True),
        column_type_formatters=LIST_FORMATTERS,
        column_type_formatters_detail=DETAIL_FORMATTERS,
    )
    bases = (MenuMixin, SecuredModelView) if attrs["read_only"] else (MenuMixin, ImportMixin, SecuredModelView)
    return type(f"{model.__name__}Admin", bases, attrs)


def _ajax_placeholder(target) -> LazyString:
    """The prompt of an ajax look-up: what to type ("输入姓名、拼音或首字母查找"), never "请选择模型"."""
    if all(hasattr(target, f) for f in PINYIN_FIELDS):
        return _l("输入姓名、拼音或首字母查找")
    return _l("输入名称查找")


PINYIN_COLUMNS = ("name_pinyin", "name_initials")


class MenuMixin:
    """Menu metadata of a generated screen (``__admin__["menu"]``) and the texts it shows around its rows.

    ``"menu": True`` (default) lists the screen in its category; ``False`` keeps it out of the menu (a
    hand-made screen over the same table links to it); ``"edit"`` / ``"create"`` lists it only for users
    with that right (the city's templates are in the city admin's menu, not in a clerk's).
    """

    menu_rule: bool | str = True

    def is_visible(self) -> bool:
        if self.menu_rule is False:
            return False
        if isinstance(self.menu_rule, str):
            return self._right(self.menu_rule)
        return True

    def scaffold_inline_form_models(self, form_class):
        """Inline blocks titled with the schema's label: Flask-Admin's one-to-one inline ignores
        ``form_label`` and would title the block from the attribute ("Veteran Profile")."""
        form_class = super().scaffold_inline_form_models(form_class)
        for inline in self.inline_models or ():
            label = getattr(inline, "form_label", None)
            for rel in inspect(self.model).relationships:
                unbound = getattr(form_class, rel.key, None)
                if label and rel.mapper.class_ is inline.model and hasattr(unbound, "kwargs"):
                    unbound.kwargs["label"] = label
        return form_class

    def search_placeholder(self) -> str | None:
        """What the search box finds, in labels ("姓名、拼音或首字母"), each named once."""
        parts: list[str] = []
        for name in self.column_searchable_list or ():
            key = str(name).rsplit(".", 1)[-1]
            text = gettext("拼音或首字母") if key in PINYIN_COLUMNS else str(self.column_labels.get(name, name))
            if text not in parts:
                parts.append(text)
        return gettext("查找:%(fields)s", fields="、".join(parts)) if parts else None


def _bool_cell(view, value, name) -> str:
    return gettext("是") if value else gettext("否")


def _datetime_cell(view, value, name) -> str:
    """Minutes in the configured time zone (stored naive UTC); no microseconds."""
    from flask_babel import format_datetime

    return format_datetime(value, "yyyy-MM-dd HH:mm")


def _date_cell(view, value, name) -> str:
    return value.isoformat()


def _formatters(base: dict) -> dict:
    import datetime

    out = dict(base)
    out.update({bool: _bool_cell, datetime.datetime: _datetime_cell, datetime.date: _date_cell,
                type(None): lambda view, value, name: ""})
    return out


from flask_admin.model import typefmt  # noqa: E402

LIST_FORMATTERS = _formatters(typefmt.BASE_FORMATTERS)
DETAIL_FORMATTERS = _formatters(typefmt.DETAIL_FORMATTERS)


def build_views(db) -> list[SecuredModelView]:
    """One generated view per model that declares ``__admin__``, in menu order."""
    models = [m for m in scoped_models() if hasattr(m, "__admin__")]
    models.sort(key=lambda m: (MENU_ORDER.index(m.__admin__["category"]), m.__admin__.get("order", 50)))
    views = []
    for model in models:
        meta = model.__admin__
        cls = build_view_class(model)
        views.append(cls(model, db, name=_l(meta["name"]), category=_l(meta["category"]),
                         endpoint=model.__tablename__))
    return views
