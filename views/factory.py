"""One view factory: every admin screen is generated from the model's metadata.

A model describes its screen in ``__admin__`` (name, menu group, list/search/filter/form columns,
inline children, ajax lookups) and each column in ``info`` (label, description, choices, levels).
Adding a model or a column is an edit to ``models/`` only.
"""

from __future__ import annotations

from flask_admin.contrib.sqla.filters import FilterEqual
from flask_admin.model.form import InlineFormAdmin
from flask_babel import LazyString, gettext
from flask_babel import lazy_gettext as _l
from sqlalchemy import inspect
from sqlalchemy.orm import RelationshipProperty

from models import Region, scoped_models

from .base import ScopedAjaxLoader, ScopedRegionFilter, SecuredModelView, scoped_choices
from .importer import ImportMixin

MENU_ORDER = ["组织机构", "人员", "职责与计划", "退役军人服务", "民兵", "系统管理"]
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
    """Two schema labels as one, translated ("人员" + "姓名" → "人员姓名", "Person Name")."""
    a, b = gettext(first), gettext(second)
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
                            else f"{first}{second}")
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
    out: list = []
    for name in names:
        label = labels.get(name, name)
        if name in enums:
            out.append(FilterEqual(getattr(model, name), label, options=_choices(enums[name])))
        elif name in mapper.relationships and mapper.relationships[name].mapper.class_ is Region:
            (local,) = mapper.relationships[name].local_columns
            out.append(ScopedRegionFilter(getattr(model, local.key), label, levels=region_levels(model, name)))
        elif name in mapper.relationships:
            continue  # relationship filters would list foreign rows; search covers them
        else:
            out.append(name)
    return out


def _form_args(model) -> dict[str, dict]:
    """Scoped query factories for every drop-down relationship field (ajax fields use their loader)."""
    args: dict[str, dict] = {}
    ajax = set(getattr(model, "__admin__", {}).get("ajax", []))
    for rel in inspect(model).relationships:
        if rel.direction.name != "MANYTOONE" or rel.key in ajax:
            continue
        args[rel.key] = {"query_factory": scoped_choices(model.__name__, rel.mapper.class_,
                                                         region_levels(model, rel.key))}
    return args


def _inline(model, name: str):
    rel: RelationshipProperty = inspect(model).relationships[name]
    child = rel.mapper.class_
    meta = getattr(child, "__admin__", {})
    back = rel.back_populates
    columns = [c for c in meta.get("form", []) if c != back] or None
    inline = InlineFormAdmin(
        child,
        form_columns=["id", *columns] if columns else None,
        form_args={k: v for k, v in _form_args(child).items() if k != back},
        column_labels=labels_for(child, translate=True),
        form_choices={k: _choices(e) for k, e in _enum_columns(child).items()},
    )
    if not rel.uselist:  # one-to-one (Person → VeteranProfile): the list converter would crash
        from flask_admin.contrib.sqla.form import InlineOneToOneModelConverter

        inline.inline_converter = InlineOneToOneModelConverter
    return inline


def _default_sort(spec: str):
    """``"code"`` sorts ascending, ``"-served_on"`` descending (newest first)."""
    return (spec[1:], True) if spec.startswith("-") else spec


def build_view_class(model) -> type[SecuredModelView]:
    """The ModelView subclass for ``model``, generated from its metadata."""
    meta = getattr(model, "__admin__", {})
    enums = _enum_columns(model)
    labels = labels_for(model, translate=True)
    ajax = {name: ScopedAjaxLoader(name, None, inspect(model).relationships[name].mapper.class_,
                                   fields=[f for f in PINYIN_FIELDS
                                           if hasattr(inspect(model).relationships[name].mapper.class_, f)]
                                   or ["id"])
            for name in meta.get("ajax", [])}
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
        "form_args": _form_args(model),
        "form_ajax_refs": ajax or None,
        "inline_models": [_inline(model, n) for n in meta.get("inline", [])] or None,
        "column_default_sort": _default_sort(meta.get("sort", "-id")),
        "column_details_exclude_list": ["password_hash", "name_pinyin", "name_initials", "path", "version"],
        "search_exact": tuple(meta.get("search_exact", ())),
        "sensitive_columns": tuple(getattr(model, "__sensitive__", ())),
        "read_only": bool(meta.get("read_only")),
        "details_extra_template": meta.get("details_extra"),
    }
    bases = (SecuredModelView,) if attrs["read_only"] else (ImportMixin, SecuredModelView)
    return type(f"{model.__name__}Admin", bases, attrs)


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
