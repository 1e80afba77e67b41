"""The one scope helper: which rows a user may see or change, and which actions a role has.

Every data path (lists, counts, get-by-id, forms, drop-downs, ajax lookups, filters, exports,
actions, prints, dashboard, CLI) asks this module; nothing else decides access.

A model declares how its rows reach a region with ``__scope__``:

* ``"region_id"`` – a column on the row;
* ``"person.region_id"`` – through a many-to-one relationship (any depth);
* ``"grants.region_id"`` – through a one-to-many relationship (any row matches);
* ``"self"`` – the row is a region;
* ``None`` – a city-wide table: everyone in the city reads it, only a global grant may change it;
* ``"owner:owner_id"`` – a user's own rows (background jobs): only the user whose id the column holds
  reaches them, whatever their role (no city admin either); roles and rights do not apply.

``__scope_null_is_global__ = True`` makes rows with an empty region city-wide in the same way.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

from flask import abort, g, has_app_context
from flask_login import current_user
from sqlalchemy import Integer, any_, bindparam, event, false, or_, select, true
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import RelationshipProperty, Session
from sqlalchemy.sql.elements import ColumnElement

from models import Region, User
from models.enums import ROLE_RANK, Role

VIEW, CREATE, EDIT, DELETE, EXPORT, PRINT, SENSITIVE = (
    "view", "create", "edit", "delete", "export", "print", "sensitive")
ACTIONS = (VIEW, CREATE, EDIT, DELETE, EXPORT, PRINT, SENSITIVE)
ACTION_LABELS = {VIEW: "查看", CREATE: "新建", EDIT: "编辑", DELETE: "删除", EXPORT: "导出",
                 PRINT: "打印", SENSITIVE: "查看敏感信息"}
WRITE_ACTIONS = frozenset({CREATE, EDIT, DELETE})

_ALL = frozenset(ACTIONS)
_READ = frozenset({VIEW, PRINT})
ADMIN_CATEGORY = "系统管理"


@functools.cache
def _model_groups() -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """The rights groups, derived from each model's metadata (no name lists to keep in step):

    * administration: screens in the 系统管理 menu (accounts, grants, audit);
    * city data: city-wide tables (``__scope__`` None) and the region tree (``"self"``);
    * township data: every other screen (rows reach a township through ``__scope__``);
    * internal: tables without a screen (the rights overrides, login bookkeeping): city admins only.
    """
    from models import scoped_models

    township, city, admin, internal = [], [], [], []
    for model in scoped_models():
        meta = getattr(model, "__admin__", None)
        spec = getattr(model, "__scope__", None)
        if meta is None:
            internal.append(model.__name__)
        elif meta.get("category") == ADMIN_CATEGORY:
            admin.append(model.__name__)
        elif spec in (None, "self"):
            city.append(model.__name__)
        else:
            township.append(model.__name__)
    return tuple(township), tuple(city), tuple(admin), tuple(internal)


def default_rights() -> dict[str, dict[str, frozenset[str]]]:
    """Role → model name → actions, before any change made in the rights screen."""
    township, city, admin, _internal = _model_groups()
    rights: dict[str, dict[str, frozenset[str]]] = {r.value: {} for r in Role}
    for name in (*township, *city, *admin):
        rights[Role.CITY_ADMIN.value][name] = _ALL
        rights[Role.VIEWER.value][name] = _READ if name not in admin else frozenset()
    for name in township:
        rights[Role.COUNTY_ADMIN.value][name] = _ALL
        rights[Role.CLERK.value][name] = _ALL
    for name in city:
        rights[Role.COUNTY_ADMIN.value][name] = _READ | {EXPORT}
        rights[Role.CLERK.value][name] = _READ
    rights[Role.COUNTY_ADMIN.value]["User"] = _ALL
    rights[Role.COUNTY_ADMIN.value]["Grant"] = _ALL
    rights[Role.COUNTY_ADMIN.value]["AuditLog"] = _READ
    rights[Role.CLERK.value]["AuditLog"] = _READ
    return rights


def rights_models() -> list[str]:
    """Model names that appear in the rights matrix (every screen's model)."""
    township, city, admin, _internal = _model_groups()
    return [*township, *city, *admin]


def rights_table() -> dict[str, dict[str, frozenset[str]]]:
    """The rights in force: defaults merged with the rights screen's overrides, once per request."""
    if has_app_context():
        cached = g.get("_rights")
        if cached is not None:
            return cached
    table = load_rights_from_db()
    if has_app_context():
        g._rights = table
    return table


def load_rights_from_db() -> dict[str, dict[str, frozenset[str]]]:
    """Default rights with the ``RolePermission`` overrides applied."""
    from admin_app.extensions import db
    from models.rights import RolePermission

    rights = {role: {name: set(actions) for name, actions in models.items()}
              for role, models in default_rights().items()}
    if has_app_context():
        for cell in db.session.scalars(select(RolePermission)):
            actions = rights.setdefault(cell.role, {}).setdefault(cell.model_name, set())
            if cell.allowed:
                actions.add(cell.action)
            else:
                actions.discard(cell.action)
    # Tables without a screen (the rights overrides themselves, login bookkeeping) are not in the grid:
    # city admins hold every right on them.
    for name in _model_groups()[3]:
        rights[Role.CITY_ADMIN.value][name] = set(ACTIONS)
    return {role: {name: frozenset(actions) for name, actions in models.items()}
            for role, models in rights.items()}


def forget_rights() -> None:
    """Drop this request's cached rights (after the rights screen saved a change)."""
    if has_app_context():
        g.pop("_rights", None)
        g.pop("_scope", None)


@dataclass(frozen=True)
class GrantView:
    role: str
    path: str
    region_id: int
    is_root: bool


@dataclass
class Scope:
    """The regions and roles of one user."""

    grants: list[GrantView] = field(default_factory=list)
    user_id: int | None = None
    # granted paths → (regions' generation, region ids): the ids ``condition`` binds on PostgreSQL, shared
    # by every model and action the same grants allow
    _bound_ids: dict = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def for_user(cls, user: User | None) -> Scope:
        if user is None or not getattr(user, "is_authenticated", False) or not user.active:
            return cls()
        grants = [GrantView(gr.role, gr.region.path, gr.region_id, gr.region.parent_id is None)
                  for gr in user.grants if gr.region is not None]
        return cls(grants=grants, user_id=user.id)

    # -- rights -------------------------------------------------------------------------------------
    def _grants_allowing(self, model_name: str, action: str) -> list[GrantView]:
        table = rights_table()
        return [gr for gr in self.grants if action in table.get(gr.role, {}).get(model_name, ())]

    def can(self, model: type | str, action: str) -> bool:
        """May the user do ``action`` on ``model`` somewhere in their scope?"""
        if owner_column(model) is not None:
            return self.user_id is not None
        name = model if isinstance(model, str) else model.__name__
        return bool(self._grants_allowing(name, action))

    @property
    def is_global(self) -> bool:
        """Holds a city-level role: city-wide tables, the rights screen, the city dashboard.

        It comes from the role, not from the region tree: a province imported above 娄底 changes nothing
        for the city admin of 娄底."""
        return any(ROLE_RANK[Role(gr.role)] >= ROLE_RANK[Role.CITY_ADMIN] for gr in self.grants)

    def city_level(self, model_name: str, action: str) -> bool:
        """May the user ``action`` city-wide rows of ``model_name`` (a city-level role allowing it)?"""
        return any(ROLE_RANK[Role(gr.role)] >= ROLE_RANK[Role.CITY_ADMIN]
                   for gr in self._grants_allowing(model_name, action))

    def may_grant(self, role: str, region) -> bool:
        """May the user hand out ``role`` over ``region``? Never above a role held over that region."""
        try:
            wanted = ROLE_RANK[Role(role)]
        except ValueError:
            return False
        if region is None or not region.path:
            return False
        for gr in self._grants_allowing("Grant", CREATE):
            if region.path.startswith(gr.path) and ROLE_RANK[Role(gr.role)] >= wanted:
                return True
        return False

    # -- regions ------------------------------------------------------------------------------------
    def _paths(self, model_name: str, action: str) -> tuple[bool, list[str]]:
        grants = self._grants_allowing(model_name, action)
        if any(gr.is_root for gr in grants):
            return True, []
        return False, sorted({gr.path for gr in grants})

    def region_ids(self, action: str = VIEW, model_name: str = "Region"):
        """A SELECT of region ids inside the scope for ``action``; None means every region."""
        everything, paths = self._paths(model_name, action)
        if everything:
            return None
        if not paths:
            return select(Region.id).where(false())
        return select(Region.id).where(or_(*[Region.path.like(p + "%") for p in paths]))

    def regions(self, model_name: str, action: str = VIEW, levels: tuple[str, ...] | None = ("township",)):
        """Regions (by default townships) where the user may ``action`` ``model_name`` rows, by code."""
        from admin_app.extensions import db

        stmt = select(Region).order_by(Region.code)
        if levels:
            stmt = stmt.where(Region.level.in_(levels))
        ids = self.region_ids(action, model_name)
        if ids is not None:
            stmt = stmt.where(Region.id.in_(ids))
        return db.session.scalars(stmt).all()

    def region_or_404(self, code, model_name: str, action: str = VIEW,
                      levels: tuple[str, ...] = ("township",)) -> Region:
        """The region with ``code`` if the user may ``action`` ``model_name`` rows there; else 404 (never
        403: existence is not revealed). Hand-made screens and print routes take their region here."""
        from admin_app.extensions import db

        if not self.can(model_name, action):
            abort(404)
        region = db.session.scalars(select(Region).where(Region.code == str(code)[:12])).first()
        if region is None or region.level not in levels or not self.covers_path(region.path, action, model_name):
            abort(404)
        return region

    def narrowed_to(self, unit: Region) -> Scope:
        """This scope intersected with ``unit`` and everything under it (figures split by unit): grants
        above the unit shrink to it, grants inside it stay, others drop out."""
        grants = []
        for gr in self.grants:
            if unit.path.startswith(gr.path):
                grants.append(GrantView(gr.role, unit.path, unit.id, False))
            elif gr.path.startswith(unit.path):
                grants.append(gr)
        return Scope(grants=grants, user_id=self.user_id)

    def covers_path(self, path: str | None, action: str = VIEW, model_name: str = "Region") -> bool:
        everything, paths = self._paths(model_name, action)
        if everything:
            return True
        return path is not None and any(path.startswith(p) for p in paths)

    # -- rows ---------------------------------------------------------------------------------------
    def condition(self, model: type, action: str = VIEW) -> ColumnElement[bool]:
        """A WHERE clause limiting ``model`` to rows the user may ``action``."""
        name = model.__name__
        if not self.can(name, action):
            return false()
        if (owner := owner_column(model)) is not None:
            return getattr(model, owner) == self.user_id
        spec = getattr(model, "__scope__", None)
        if spec is None:
            if action in (VIEW, PRINT, EXPORT) or self.city_level(name, action):
                return true()
            return false()
        if spec == "self":
            everything, paths = self._paths(name, action)
            if everything:
                return true()
            return or_(*[model.path.like(p + "%") for p in paths])
        ids = self.region_ids(action, name)
        if ids is None:
            return true()
        null_global = (getattr(model, "__scope_null_is_global__", False) and action in (VIEW, PRINT, EXPORT)
                       or getattr(model, "__scope_null_for_city__", False) and self.city_level(name, action))
        return _path_condition(model, spec.split("."), self._planned_ids(action, name, ids), null_global)

    def _planned_ids(self, action: str, name: str, ids):
        """The region ids of the scope as the database plans them best.

        On PostgreSQL the ids are read first (one indexed prefix scan of ``region.path``, a fraction of a
        millisecond, once per scope and set of granted paths until a region changes) and bound as one
        array, so the planner sees the values: ``region_id IN (SELECT …)`` was planned as a join that re-ran the other
        conditions' index scans once per region (a city admin's search for ``王`` at 2 M people: 0.4 s),
        and ``= ANY(ARRAY(SELECT …))`` hides the values (a clerk's list read 100,000 rows of the primary
        key to find 50 of one township). SQLite keeps the subquery.
        """
        from admin_app.extensions import db

        if not has_app_context() or db.session.get_bind().dialect.name != "postgresql":
            return ids
        key = tuple(self._paths(name, action)[1])
        known = self._bound_ids.get(key)
        if known is None or known[0] != _regions_generation[0]:
            known = (_regions_generation[0], list(db.session.scalars(ids)))
            self._bound_ids[key] = known
        return known[1]

    def filter(self, query, model: type, action: str = VIEW):
        """Apply the scope to a Query or Select."""
        cond = self.condition(model, action)
        if cond is true():
            return query
        return query.where(cond) if hasattr(query, "where") else query.filter(cond)

    def allows(self, obj, action: str) -> bool:
        """May the user ``action`` this (possibly unsaved) object? Checks its values, not the database."""
        model = type(obj)
        name = model.__name__
        if not self.can(name, action):
            return False
        if (owner := owner_column(model)) is not None:
            return getattr(obj, owner) == self.user_id
        spec = getattr(model, "__scope__", None)
        if spec is None:
            return action in (VIEW, PRINT, EXPORT) or self.city_level(name, action)
        everything, paths = self._paths(name, action)
        if everything:
            return True
        if spec == "self":
            path = obj.path or (obj.compute_path() if obj.code else None)
            return path is not None and any(path.startswith(p) for p in paths)
        regions = _regions_of(obj, spec.split("."))
        if not regions:
            return False
        for region in regions:
            if region is None:
                if getattr(model, "__scope_null_is_global__", False) and action in (VIEW, PRINT, EXPORT):
                    continue
                return False
            if not any(region.path.startswith(p) for p in paths):
                return False
        return True


class SystemScope(Scope):
    """The scope of a named system actor (seed, migrations, the first account): every right, every
    region. Domain rules still apply: the write gate checks them for every actor."""

    def can(self, model, action: str) -> bool:
        return True

    @property
    def is_global(self) -> bool:
        return True

    def city_level(self, model_name: str, action: str) -> bool:
        return True

    def may_grant(self, role: str, region) -> bool:
        return region is not None

    def region_ids(self, action: str = VIEW, model_name: str = "Region"):
        return None

    def covers_path(self, path, action: str = VIEW, model_name: str = "Region") -> bool:
        return True

    def condition(self, model: type, action: str = VIEW):
        return true()

    def allows(self, obj, action: str) -> bool:
        return True


def owner_column(model: type | str) -> str | None:
    """The user-id column of a model scoped ``"owner:<column>"`` (a user's own rows), else None."""
    if isinstance(model, str):
        model = _models_by_name().get(model)
    spec = getattr(model, "__scope__", None)
    return spec.removeprefix("owner:") if isinstance(spec, str) and spec.startswith("owner:") else None


@functools.cache
def _models_by_name() -> dict[str, type]:
    from models import scoped_models

    return {m.__name__: m for m in scoped_models()}


_regions_generation = [0]  # bumped by every flush that adds, changes or removes a region


@event.listens_for(Session, "after_flush")
def _regions_changed(session, _flush_context) -> None:
    """A flush wrote regions: region ids bound by ``Scope.condition`` are read again."""
    if any(isinstance(obj, Region) for obj in (*session.new, *session.dirty, *session.deleted)):
        _regions_generation[0] += 1


def _path_condition(model, parts: list[str], ids, null_global: bool) -> ColumnElement[bool]:
    """Rows of ``model`` whose scope path (``parts``) reaches a region in ``ids``: a SELECT of region ids,
    or (PostgreSQL) their list, bound as one array parameter whatever its length."""
    attr = getattr(model, parts[0])
    if len(parts) == 1:
        if isinstance(ids, list):
            cond = attr == any_(bindparam(None, ids, type_=postgresql.ARRAY(Integer)))
        else:
            cond = attr.in_(ids)
        return or_(attr.is_(None), cond) if null_global else cond
    prop = attr.property
    if not isinstance(prop, RelationshipProperty):
        raise TypeError(f"__scope__ of {model.__name__}: {parts[0]} is not a relationship")
    target = prop.mapper.class_
    inner = _path_condition(target, parts[1:], ids, null_global)
    if prop.uselist:
        return attr.any(inner)
    (local_col,) = prop.local_columns
    (remote_col,) = [r for (loc, r) in prop.local_remote_pairs]
    return local_col.in_(select(remote_col).where(inner))


def _regions_of(obj, parts: list[str]) -> list:
    """The Region objects an instance reaches through a scope path (unsaved objects included)."""
    from admin_app.extensions import db  # local: avoid an import cycle at start-up

    if obj is None:
        return [None]
    head = parts[0]
    if len(parts) == 1:
        rel_name = head[:-3] if head.endswith("_id") else head
        region = getattr(obj, rel_name, None) if hasattr(type(obj), rel_name) else None
        if region is None and rel_name in vars(obj) and rel_name != head:
            return [None]  # the relationship was set (a form emptied it): its stale id does not count
        if not isinstance(region, Region):
            value = getattr(obj, head, None)
            region = db.session.get(Region, value) if value is not None else None
        return [region]
    value = getattr(obj, head)
    if isinstance(value, list | tuple | set) or hasattr(value, "__iter__") and not hasattr(value, "__table__"):
        out = []
        for item in value:
            out.extend(_regions_of(item, parts[1:]))
        return out
    if value is None:
        prop = getattr(type(obj), head).property
        (local_col,) = prop.local_columns
        fk_value = getattr(obj, local_col.key, None)
        value = db.session.get(prop.mapper.class_, fk_value) if fk_value is not None else None
        if value is None:
            return [None]
    return _regions_of(value, parts[1:])


def current_scope() -> Scope:
    """The scope of the logged-in user, computed once per request."""
    scope = g.get("_scope")
    if scope is None:
        scope = Scope.for_user(current_user._get_current_object() if current_user else None)
        g._scope = scope
    return scope


def get_or_404(model, ident, action: str = VIEW):
    """Load a row the user may ``action`` or answer 404 (never 403: existence is not revealed)."""
    from admin_app.extensions import db

    try:
        ident = int(ident)
    except (TypeError, ValueError):
        abort(404)
    stmt = current_scope().filter(select(model).where(model.id == ident), model, action)
    obj = db.session.scalars(stmt).first()
    if obj is None:
        abort(404)
    return obj


def regions_in_scope(action: str = VIEW, levels: tuple[str, ...] | None = None, model_name: str = "Region"):
    """Regions the user may use for ``action`` (for drop-downs), ordered by code."""
    from admin_app.extensions import db

    stmt = select(Region).order_by(Region.code)
    ids = current_scope().region_ids(action, model_name)
    if ids is not None:
        stmt = stmt.where(Region.id.in_(ids))
    if levels:
        stmt = stmt.where(Region.level.in_(levels))
    return db.session.scalars(stmt).all()
