"""The one write gate: every flush of every SQLAlchemy session passes here, whatever wrote the rows.

Generated screens, hand-made screens, import, restore, CLI commands, the demo seed and jobs all end in
a flush; ``before_flush`` checks each new, changed and deleted object, and ``after_flush`` writes the
audit rows. For every object:

1. an actor is known (``admin_app.actor``): a flush with no actor is refused;
2. the actor's right on the model and the action, and the scope before *and* after the change: moving a
   row out of one's scope is a delete there, moving it in a create (``Scope`` decides, as everywhere);
3. every row it links to is one the actor may see and lies in the row's own township, unless the
   relationship is declared cross-township (``info={"cross_township": True}``);
4. the domain rules: the model's ``check()``, column limits (length, NUL bytes, the database's number
   ranges), unique values, ``__delete_protect__`` (children that forbid a delete) and the version the
   user saw (``row_version``: a stale form is refused);
5. then the audit rows (``after_flush``), secrets masked (``admin_app.audit``).

A refusal raises ``WriteRefused`` before anything reaches the database; every path turns it into a
Chinese message (a form field, an import row, a flash, a CLI error) and rolls back.

Bulk DML through the session (``session.execute(update(...))``) bypasses the unit of work, so it is
refused on gated tables except for system actors (whose bulk changes are audited per statement) and
for derived data the gate itself writes while checking (a region's descendants' paths).
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime
import math
from dataclasses import dataclass

from sqlalchemy import Date, DateTime, Integer, Numeric, Text, UniqueConstraint, event, func, select
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import Session

from models import AuditLog, Base, Grant, Region

from . import audit
from .actor import current_actor
from .scope import CREATE, DELETE, EDIT, VIEW, _regions_of

SCOPE_MESSAGE = "所选内容不在您的授权范围内"
NO_RIGHT_MESSAGE = "您没有权限进行此操作"
NO_ACTOR_MESSAGE = "没有操作人:每次写入都必须以某个账号(或系统)的身份进行"
STALE_MESSAGE = "此记录已被他人修改(您打开后有新的保存)。请刷新页面,核对后重新填写。"
OTHER_TOWNSHIP_MESSAGE = "“%(what)s”属于其他乡镇/街道,不能关联"
GRANT_MESSAGE = "不能授予高于本人角色或超出本人管辖范围的权限"
AUDIT_MESSAGE = "变更记录只能由系统自动写入"
BULK_MESSAGE = "不允许绕过逐条检查的批量修改"
TRANSFER_MESSAGE = "户籍迁入只能由迁出乡镇(街道)或其区县办理移交"
TRANSFER_DECISION_COLUMNS = frozenset({"status", "decided_by_id", "decided_at", "note", "version", "updated_at"})

INT32 = 2**31 - 1
TEXT_MAX_LENGTH = 2000  # a Text column without its own info["max_length"]
EARLIEST_DATE = datetime.date(1900, 1, 1)

_INTERNAL: contextvars.ContextVar[bool] = contextvars.ContextVar("yby_gate_internal", default=False)


@dataclass(frozen=True)
class Problem:
    obj: object | None
    field: str
    message: str


class WriteRefused(Exception):
    """A flush the gate refused; nothing was written. ``problems`` say why, per object and field."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__(self.message)

    @property
    def message(self) -> str:
        return "；".join(dict.fromkeys(p.message for p in self.problems))

    @property
    def errors(self) -> dict[str, str]:
        """Field → message (first problem per field), over every object."""
        out: dict[str, str] = {}
        for p in self.problems:
            out.setdefault(p.field, p.message)
        return out

    def errors_for(self, obj) -> dict[str, str]:
        out: dict[str, str] = {}
        for p in self.problems:
            if p.obj is obj:
                out.setdefault(p.field, p.message)
        return out


@contextlib.contextmanager
def _internal():
    token = _INTERNAL.set(True)
    try:
        yield
    finally:
        _INTERNAL.reset(token)


def _gated(model) -> bool:
    return getattr(model, "__gate__", None) != "exempt"


# -- the checks ------------------------------------------------------------------------------------
class _Checker:
    def __init__(self, session: Session, actor):
        self.session = session
        self.actor = actor
        self.scope = actor.scope
        self.problems: list[Problem] = []
        self._claims: dict[tuple, list] = {}

    def refuse(self, obj, field: str, message: str) -> None:
        self.problems.append(Problem(obj, field, message))

    # 1. rights and scope, before and after
    def rights(self, obj, action: str, moved: bool) -> None:
        model = type(obj)
        if not self.scope.can(model, action if action != "update" else EDIT):
            self.refuse(obj, _scope_field(obj), NO_RIGHT_MESSAGE)
            return
        if action == "create":
            if not self.scope.allows(obj, CREATE):
                self.refuse(obj, _scope_field(obj), SCOPE_MESSAGE)
            return
        if action == "update" and isinstance(obj, _transfer_model()):
            # 户籍迁入 (declared exception, 1 of 3): a transfer row changes only when the sending side
            # decides it (hand over / refuse): the actor must be able to remove the person from the
            # sending township (DELETE on the person as stored). The receiving side, whose scope holds the
            # row, cannot mark its own request handed over.
            if not self._may_decide_transfer(obj):
                self.refuse(obj, "status", TRANSFER_MESSAGE)
            return
        before_action = DELETE if action == "delete" or moved else EDIT
        if not self._in_scope_in_db(obj, before_action):
            self.refuse(obj, _scope_field(obj), SCOPE_MESSAGE)
            return
        if action == "update" and not self.scope.allows(obj, CREATE if moved else EDIT):
            # 户籍迁入 (declared exception, 2 of 3): moving a row out of one's scope is a delete there
            # (checked just above: the sending side's right on the row as stored); the receiving
            # township, outside the actor's scope, is authorised only by a transfer of this person from
            # that township to this one being handed over in this very flush (its own check is 1 of 3).
            # Any other move out of the scope is refused as before.
            if not (moved and self._moved_by_transfer(obj)):
                self.refuse(obj, _scope_field(obj), SCOPE_MESSAGE)

    # -- 户籍迁入: the one declared exception to "before and after inside the actor's scope" ----------
    def _stored_region(self, model, obj_id: int, head: str) -> Region | None:
        region_id = self.session.execute(select(getattr(model, head)).where(model.id == obj_id)).scalar()
        return self.session.get(Region, region_id) if region_id is not None else None

    def _may_decide_transfer(self, transfer) -> bool:
        """The sending side decides a pending transfer; only its decision columns change."""
        from models import Person
        from models.enums import TransferStatus

        state = sa_inspect(transfer)
        if audit.changed_columns(transfer) - TRANSFER_DECISION_COLUMNS or any(
                state.attrs[key].history.has_changes() for key in ("person", "from_township", "to_township")):
            return False
        model = type(transfer)
        stored = self.session.execute(select(model.status, model.person_id, model.from_township_id)
                                      .where(model.id == state.identity[0])).first()
        if stored is None or stored.status != TransferStatus.PENDING.value:
            return False
        person = self.session.get(Person, stored.person_id)
        source = self.session.get(Region, stored.from_township_id)
        where = self._stored_region(Person, stored.person_id, "region_id") if person is not None else None
        return (person is not None and source is not None and where is not None
                and where.path.startswith(source.path) and self._in_scope_in_db(person, DELETE))

    def _moved_by_transfer(self, obj) -> bool:
        """A row of ``TRANSFER_FOLLOWS`` moved from the sending to the receiving township of a transfer of
        its person that this flush hands over (pending in the database, 已移交 now)."""
        from models import Person
        from models.enums import TransferStatus
        from models.transfers import TRANSFER_FOLLOWS

        model = type(obj)
        if model.__name__ not in TRANSFER_FOLLOWS:
            return False
        head = (getattr(model, "__scope__", None) or "").split(".")[0]
        if not head.endswith("_id") or obj.id is None:
            return False
        person_id = obj.id if isinstance(obj, Person) else getattr(obj, "person_id", None)
        before = self._stored_region(model, obj.id, head)
        after = (_regions_of(obj, [head]) or [None])[0]
        if person_id is None or before is None or after is None:
            return False
        transfer_model = _transfer_model()
        for transfer in self.session.dirty:
            if not isinstance(transfer, transfer_model) or transfer.person_id != person_id \
                    or transfer.status != TransferStatus.DONE.value:
                continue
            stored = self.session.execute(select(transfer_model.status).where(
                transfer_model.id == transfer.id)).scalar()
            if stored == TransferStatus.PENDING.value \
                    and before.path.startswith(transfer.from_township.path) \
                    and after.path.startswith(transfer.to_township.path):
                return True
        return False

    def _transfer_link(self, obj, rel, target, action: str, scope_head: str) -> bool:
        """户籍迁入 (declared exception, 3 of 3): links to rows the actor cannot see, allowed only as
        (a) the region a row moves to on a hand-over (``_moved_by_transfer``), or
        (b) the receiving side's new request: the person and the township where that person is registered,
        together, as a pending request whose sending township is the one the database holds."""
        from models import Person
        from models.enums import TransferStatus

        if action == "update" and isinstance(target, Region) and \
                scope_head in (rel.key, *[c.key for c in rel.local_columns]):
            return self._moved_by_transfer(obj)
        if not (isinstance(obj, _transfer_model()) and action == "create" and rel.key in ("person", "from_township")
                and obj.status in (None, TransferStatus.PENDING.value)):
            return False
        person, source = obj.person, obj.from_township
        if not isinstance(person, Person) or person.id is None or source is None or source.level != "township":
            return False
        where = self._stored_region(Person, person.id, "region_id")
        return where is not None and where.path.startswith(source.path)

    def _in_scope_in_db(self, obj, action: str) -> bool:
        """Is the row, as the database holds it now (before this flush), inside the scope?"""
        model = type(obj)
        ident = sa_inspect(obj).identity
        if ident is None:
            return self.scope.allows(obj, action)
        stmt = self.scope.filter(select(model.id).where(model.id == ident[0]), model, action)
        return self.session.execute(stmt).first() is not None

    # 2. links: visible, and in the row's own township
    def links(self, obj, action: str) -> None:
        model = type(obj)
        state = sa_inspect(obj)
        spec = getattr(model, "__scope__", None) or ""
        scope_head = spec.split(".")[0]
        for rel in state.mapper.relationships:
            if rel.direction.name != "MANYTOONE":
                continue
            fk_keys = [c.key for c in rel.local_columns]
            changed = action == "create" or any(state.attrs[k].history.has_changes() for k in fk_keys
                                                if k in state.attrs) or state.attrs[rel.key].history.has_changes()
            if not changed:
                continue
            target = getattr(obj, rel.key)
            if target is None or (self.actor.user is not None and target is self.actor.user):
                continue  # nothing linked, or the actor themself (an author)
            if not self.scope.allows(target, VIEW) and not self._transfer_link(obj, rel, target, action, scope_head):
                self.refuse(obj, rel.key, SCOPE_MESSAGE)
                continue
            if rel.info.get("cross_township") or isinstance(target, Region):
                continue
            if scope_head in (rel.key, *fk_keys):
                continue  # the link that places the row: checked as the row's own scope
            if not _same_township(obj, target):
                self.refuse(obj, rel.key, OTHER_TOWNSHIP_MESSAGE % {"what": target})

    # 3. domain rules
    def rules(self, obj, action: str) -> None:
        if action == "delete":
            self._delete_protect(obj)
            return
        self._stale(obj)
        self._columns(obj, action)
        if isinstance(obj, Grant):
            self._grant(obj)
        check = getattr(obj, "check", None)
        if callable(check):
            with _internal():
                for field, message in (check() or {}).items():
                    self.refuse(obj, field, message)
        self._unique(obj)

    def _stale(self, obj) -> None:
        posted = obj.__dict__.get("_posted_version")
        state = sa_inspect(obj)
        if posted in (None, "") or state.identity is None:
            return
        if str(posted) != str(state.committed_state.get("version", obj.version)):
            self.refuse(obj, "_", STALE_MESSAGE)

    def _columns(self, obj, action: str) -> None:
        state = sa_inspect(obj)
        for attr in state.mapper.column_attrs:
            column = attr.columns[0]
            if action != "create" and not state.attrs[attr.key].history.has_changes():
                continue
            value = getattr(obj, attr.key, None)
            if value is None:
                continue
            message = _column_problem(column, value)
            if message:
                self.refuse(obj, _field_for(obj, attr.key), message)

    def _grant(self, grant: Grant) -> None:
        region = grant.region or (self.session.get(Region, grant.region_id) if grant.region_id else None)
        if grant.role is None or region is None:
            return
        if not self.scope.may_grant(grant.role, region):
            self.refuse(grant, "role", GRANT_MESSAGE)
            return
        state = sa_inspect(grant)
        if state.identity is not None:  # nor take away or change a grant above what one could give
            old_role = state.attrs.role.history.deleted
            old_region_id = state.attrs.region_id.history.deleted
            old_region = self.session.get(Region, old_region_id[0]) if old_region_id else region
            if not self.scope.may_grant(old_role[0] if old_role else grant.role, old_region):
                self.refuse(grant, "role", GRANT_MESSAGE)

    def _unique(self, obj) -> None:
        """Collect the unique values this row claims; ``check_unique`` asks the database once per group
        (an import of 10,000 rows makes a few queries, not 10,000)."""
        model = type(obj)
        table = model.__table__
        groups = [(c,) for c in table.columns if c.unique]
        groups += [tuple(con.columns) for con in table.constraints if isinstance(con, UniqueConstraint)]
        for cols in dict.fromkeys(groups):
            values = tuple(_column_value(obj, c) for c in cols)
            if any(v is None for v in values):
                continue
            self._claims.setdefault((model, cols), []).append((obj, values))

    def check_unique(self) -> None:
        from sqlalchemy import tuple_

        for (model, cols), claims in self._claims.items():
            columns = [getattr(model, c.key) for c in cols]
            taken: dict[tuple, set] = {}
            wanted = list(dict.fromkeys(values for _obj, values in claims))
            for start in range(0, len(wanted), 500):
                chunk = wanted[start:start + 500]
                where = columns[0].in_([v[0] for v in chunk]) if len(columns) == 1 else \
                    tuple_(*columns).in_(chunk)
                for row in self.session.execute(select(model.id, *columns).where(where)):
                    taken.setdefault(tuple(row[1:]), set()).add(row[0])
            labels = "、".join(c.info.get("label", c.key) for c in cols)
            claimed: set = set()
            for obj, values in claims:  # taken in the database, or twice within this very flush
                if taken.get(values, set()) - {obj.id} or values in claimed:
                    self.refuse(obj, _field_for(obj, cols[0].key), f"已存在相同{labels}的记录")
                claimed.add(values)

    def _delete_protect(self, obj) -> None:
        """``__delete_protect__``: True (every referencing table) or the names of referencing models."""
        model = type(obj)
        protect = getattr(model, "__delete_protect__", ())
        if not protect or obj.id is None:
            return
        found = []
        for mapper in Base.registry.mappers:
            child = mapper.class_
            if protect is not True and child.__name__ not in protect:
                continue
            for rel in mapper.relationships:
                if rel.direction.name != "MANYTOONE" or rel.mapper.class_ is not model or child is model:
                    continue
                (fk,) = list(rel.local_columns)[:1]
                n = self.session.execute(select(func.count()).select_from(child).where(fk == obj.id)).scalar_one()
                if n:
                    name = getattr(child, "__admin__", {}).get("name", child.__tablename__)
                    found.append(f"{name} {n} 条")
        if found:
            self.refuse(obj, "_", f"“{obj}”还有关联记录:{'、'.join(found)}。请先处理这些记录再删除")


def _transfer_model():
    from models.transfers import Transfer

    return Transfer


def _column_value(obj, column):
    """A column's value, or for a foreign key set through its relationship (``township=…``), the linked
    row's key: the column itself is filled only during the flush."""
    value = getattr(obj, column.key, None)
    if value is not None or not column.foreign_keys:
        return value
    for rel in sa_inspect(type(obj)).relationships:
        if rel.direction.name == "MANYTOONE" and column in rel.local_columns:
            target = getattr(obj, rel.key)
            if target is not None:
                (remote,) = [r for (loc, r) in rel.local_remote_pairs if loc is column]
                return getattr(target, remote.key)
    return None


def _scope_field(obj) -> str:
    spec = getattr(type(obj), "__scope__", None) or ""
    head = spec.split(".")[0]
    return _field_for(obj, head) if head and head != "self" else "_"


def _field_for(obj, key: str) -> str:
    """The form field of a column: ``region_id`` is edited as ``region``."""
    if key.endswith("_id") and key[:-3] in sa_inspect(type(obj)).relationships:
        return key[:-3]
    return key


def _column_problem(column, value) -> str | None:
    label = column.info.get("label", column.key)
    kind = column.type
    if isinstance(value, str):
        if "\x00" in value:
            return f"“{label}”不能包含空字符"
        limit = column.info.get("max_length") or getattr(kind, "length", None)
        if limit is None and isinstance(kind, Text):
            limit = TEXT_MAX_LENGTH
        if limit is not None and len(value) > limit:
            return f"“{label}”不能超过 {limit} 个字符(现有 {len(value)} 个)"
        return None
    if isinstance(value, bool):
        return None
    if isinstance(kind, Integer) and isinstance(value, int):
        low = column.info.get("min", -INT32 - 1)
        high = column.info.get("max", INT32)
        if not low <= value <= high:
            return f"“{label}”应在 {low} 到 {high} 之间"
        return None
    if isinstance(kind, Numeric) and isinstance(value, float | int) or type(value).__name__ == "Decimal":
        try:
            number = float(value)
        except (TypeError, ValueError):
            return f"“{label}”不是有效的数字"
        if not math.isfinite(number):
            return f"“{label}”不是有效的数字"
        precision, scale = getattr(kind, "precision", None), getattr(kind, "scale", None) or 0
        low = column.info.get("min", None)
        if low is not None and number < low:
            return f"“{label}”不能小于 {low}"
        if precision is not None and abs(number) >= 10 ** (precision - scale):
            return f"“{label}”超出允许范围(最多 {precision - scale} 位整数)"
        return None
    if isinstance(kind, Date) and isinstance(value, datetime.date) and not isinstance(kind, DateTime):
        if value < EARLIEST_DATE or value.year > 2100:
            return f"“{label}”不是合理的日期"
    return None


def _townships(regions) -> list:
    return [r for r in regions if r is not None]


def _township_key(region: Region) -> tuple[str, bool]:
    """The path of the township a region is or lies in; (its own path, False) above township level."""
    node = region
    while node is not None and node.level != "township":
        if node.level in ("county", "city", "province"):
            return region.path, False
        node = node.parent
    return (node.path if node is not None else region.path), node is not None


def _same_township(obj, target) -> bool:
    """Does ``target`` lie in the township of ``obj``? City-wide rows link anywhere."""
    obj_spec = getattr(type(obj), "__scope__", None)
    target_spec = getattr(type(target), "__scope__", None)
    if not obj_spec or not target_spec or obj_spec == "self" or target_spec == "self":
        return True
    mine = _townships(_regions_of(obj, obj_spec.split(".")))
    theirs = _townships(_regions_of(target, target_spec.split(".")))
    if not mine or not theirs:
        return True  # a city-wide row (null region) on either side
    for a in mine:
        key_a, in_township_a = _township_key(a)
        for b in theirs:
            key_b, in_township_b = _township_key(b)
            if in_township_a and in_township_b:
                if key_a != key_b:
                    return False
            elif in_township_a:  # a township row may link a row of a region above it (its county)
                if not a.path.startswith(b.path):
                    return False
            elif not b.path.startswith(a.path):  # a county row links rows inside the county
                return False
    return True


# -- the events ------------------------------------------------------------------------------------
def _moved(obj) -> bool:
    spec = getattr(type(obj), "__scope__", None) or ""
    head = spec.split(".")[0]
    if not head or head == "self":
        return False
    state = sa_inspect(obj)
    mapper = state.mapper
    keys = [head]
    if head in mapper.relationships:
        keys += [c.key for c in mapper.relationships[head].local_columns]
    elif head.endswith("_id") and head[:-3] in mapper.relationships:
        keys.append(head[:-3])
    return any(k in state.attrs and state.attrs[k].history.has_changes() for k in keys)


def _orphans(session: Session) -> list:
    """Children removed from a delete-orphan collection: the flush will delete them."""
    out = []
    for parent in list(session.dirty):
        state = sa_inspect(parent)
        for rel in state.mapper.relationships:
            if "delete-orphan" not in rel.cascade or rel.direction.name != "ONETOMANY":
                continue
            for child in state.attrs[rel.key].history.deleted or ():
                if child is not None and child not in session.deleted and sa_inspect(child).identity:
                    out.append(child)
    return out


def _before_flush(session: Session, flush_context, instances) -> None:
    items: list[tuple[object, str]] = []
    for obj in session.new:
        items.append((obj, "create"))
    for obj in session.dirty:
        if session.is_modified(obj, include_collections=False) and _changed(obj):
            items.append((obj, "update"))
    for obj in session.deleted:
        items.append((obj, "delete"))
    for obj in _orphans(session):
        items.append((obj, "delete"))
    items = [(o, a) for (o, a) in items if _gated(type(o))]
    session.info.setdefault("_gate_seen", set()).update(
        id(o) for o in (*session.new, *session.dirty, *session.deleted, *(o for o, _a in items)))
    if not items:
        return
    actor = current_actor()
    if actor is None:
        raise WriteRefused([Problem(o, "_", NO_ACTOR_MESSAGE) for o, _a in items])
    audit_rows = [(o, a) for (o, a) in items if isinstance(o, AuditLog)]
    if audit_rows and not actor.is_system:  # operator code (fixtures, data repair) may; users never
        raise WriteRefused([Problem(o, "_", AUDIT_MESSAGE) for o, _a in audit_rows])
    items = [(o, a) for (o, a) in items if not isinstance(o, AuditLog)]
    checker = _Checker(session, actor)
    records = []
    with session.no_autoflush:
        for obj, action in items:
            if action == "update" and _bookkeeping_only(obj, actor):
                continue
            moved = action == "update" and _moved(obj)
            if not actor.is_system:
                checker.rights(obj, action, moved)
            checker.links(obj, action)  # a system actor too keeps rows within their township
            checker.rules(obj, action)
            before = audit.row_snapshot(obj, committed=True) if action != "create" else None
            region_before = audit.audit_region_id(obj) if action == "delete" else None
            records.append((obj, action, before, region_before))
        checker.check_unique()
    if checker.problems:
        raise WriteRefused(checker.problems)
    session.info.setdefault("_gate_records", []).extend(records)
    session.info["_gate_actor"] = actor


def _changed(obj) -> bool:
    """Columns changed, or a many-to-one link (its foreign key is set only during the flush)."""
    state = sa_inspect(obj)
    return bool(audit.changed_columns(obj)) or any(
        state.attrs[rel.key].history.has_changes() for rel in state.mapper.relationships
        if rel.direction.name == "MANYTOONE")


def _bookkeeping_only(obj, actor) -> bool:
    """Only bookkeeping columns changed (last login, a job's progress) on the actor's own account or own
    row, or by the system: allowed without the table's edit right, and not audited."""
    from .scope import owner_column

    changed = audit.changed_columns(obj) - {"version", "updated_at"}
    columns = sa_inspect(type(obj)).columns
    if not changed or not all(audit.is_bookkeeping(columns[k]) for k in changed):
        return False
    owner = owner_column(type(obj))
    return actor.is_system or (actor.user is not None and (
        obj is actor.user or (owner is not None and getattr(obj, owner) == actor.user_id)))


def _after_flush(session: Session, flush_context) -> None:
    records = session.info.pop("_gate_records", None)
    actor = session.info.pop("_gate_actor", None)
    session.info.pop("_gate_seen", None)
    if not records:
        return
    rows = []
    for obj, action, before, region_before in records:
        if action == "delete":
            after, region_id = None, region_before
        else:
            after = audit.mark_changed_secrets(obj, audit.row_snapshot(obj))
            region_id = audit.audit_region_id(obj)
        name = audit.current_audit_action(action)
        rows.append(audit.audit_row(actor, name, obj, before, after, region_id))
    session.connection().execute(audit.audit_table().insert(), rows)


def _on_orm_execute(state) -> None:
    if not (state.is_insert or state.is_update or state.is_delete) or _INTERNAL.get():
        return
    tables = _dml_tables(state.statement)
    gated = [t for t in tables if _gated(_model_of_table(t)) if _model_of_table(t) is not None]
    if not gated:
        return
    actor = current_actor()
    if actor is None or not actor.is_system:
        raise WriteRefused([Problem(None, "_", NO_ACTOR_MESSAGE if actor is None else BULK_MESSAGE)])
    action = "create" if state.is_insert else "update" if state.is_update else "delete"
    rows = [{"at": audit.utcnow(), "user_id": None, "actor": str(actor)[:60], "action": "bulk-" + action,
             "table_name": t, "row_id": None, "region_id": None, "summary": "批量操作",
             "before": None, "after": None} for t in gated]
    state.session.connection().execute(audit.audit_table().insert(), rows)


def _dml_tables(statement) -> list:
    table = getattr(statement, "table", None)
    if table is None:
        return []
    table = getattr(table, "__table__", table)
    return [getattr(table, "name", None)]


def _model_of_table(name):
    for mapper in Base.registry.mappers:
        if mapper.local_table.name == name:
            return mapper.class_
    return None


def _unchecked_write(mapper, connection, target) -> None:
    """Fail closed: a row the gate did not see (a cascade it missed, an object added while flushing)
    never reaches the database."""
    if not _gated(type(target)):
        return
    session = sa_inspect(target).session
    if session is None or id(target) in session.info.get("_gate_seen", ()):
        return
    if isinstance(target, AuditLog):
        raise WriteRefused([Problem(target, "_", AUDIT_MESSAGE)])
    raise WriteRefused([Problem(target, "_", NO_ACTOR_MESSAGE if current_actor() is None else BULK_MESSAGE)])


_installed = False


def install() -> None:
    """Listen on every Session and on every mapped class (idempotent)."""
    global _installed
    if _installed:
        return
    event.listen(Session, "before_flush", _before_flush)
    event.listen(Session, "after_flush", _after_flush)
    event.listen(Session, "do_orm_execute", _on_orm_execute)
    event.listen(Session, "after_rollback", _forget)
    for name in ("before_insert", "before_update", "before_delete"):
        event.listen(Base, name, _unchecked_write, propagate=True)
    _installed = True


def _forget(session, *args) -> None:
    for key in ("_gate_records", "_gate_actor", "_gate_seen"):
        session.info.pop(key, None)


def init_app(app) -> None:
    """Install the gate and turn a refusal that reached Flask into a Chinese 409 page, never a 500."""
    install()

    @app.errorhandler(WriteRefused)
    def _refused(exc: WriteRefused):
        from flask import render_template_string

        from .extensions import db

        db.session.rollback()
        body = render_template_string(
            "<!doctype html><html lang=\"zh-CN\"><meta charset=\"utf-8\"><title>{{ t }}</title>"
            "<p>{{ t }}:{{ m }}</p><p>请返回上一页修改后重试。</p></html>",
            t="未保存", m=exc.message)
        return body, 409
