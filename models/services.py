"""Service records (服务事项/办件) of the veterans service station: each one a piece of work at a window.

A record is taken at a service window (服务窗口) of the township by a handler (a staff person of the
township, picked, not typed), moves 受理中 → 办理中 → 已办结, or is referred to the county (已转办), has a
due date, and may follow another record of the same person (政策咨询 → 创业扶持 …).
"""

from __future__ import annotations

import datetime

from sqlalchemy import Date, ForeignKey, String, Text, select
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import Mapped, mapped_column, object_session, relationship

from .base import Base, TimestampMixin, enum_check, enum_column
from .enums import ServiceKind, ServiceStatus
from .org import Appointment, Post, ServiceWindow
from .people import Person
from .region import Region

#: Days from 受理 to the due date when none is given (a 返乡报到 is done within the week).
DUE_DAYS = {ServiceKind.REPORT_HOME.value: 7}
DEFAULT_DUE_DAYS = 15
OPEN_STATUSES = (ServiceStatus.OPEN.value, ServiceStatus.IN_PROGRESS.value)
CLOSED_STATUSES = (ServiceStatus.DONE.value, ServiceStatus.REFERRED.value)


class ServiceRecord(TimestampMixin, Base):
    __tablename__ = "service_record"
    __table_args__ = (enum_check("kind", ServiceKind), enum_check("status", ServiceStatus))
    __scope__ = "township_id"
    __admin__ = {
        "name": "服务事项", "category": "退役军人服务", "order": 30,
        "list": ["served_on", "person", "township", "kind", "window", "handler", "status", "due_on"],
        "search": ["person.name", "person.name_pinyin", "person.name_initials", "handler_note", "notes"],
        "filters": ["township", "kind", "status", "served_on", "due_on"],
        "form": ["person", "township", "kind", "served_on", "window", "handler", "status", "due_on", "parent",
                 "notes"],
        "ajax": ["person", "handler"],
        "sort": "-served_on",
    }

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"), nullable=False,
                                           index=True, info={"label": "服务对象"})
    township_id: Mapped[int] = mapped_column(ForeignKey("region.id"), nullable=False, index=True,
                                             info={"label": "乡镇/街道"})
    kind: Mapped[str] = enum_column(ServiceKind, "事项类别")
    served_on: Mapped[datetime.date] = mapped_column(Date, nullable=False, default=datetime.date.today,
                                                     info={"label": "受理日期"})
    window_id: Mapped[int | None] = mapped_column(ForeignKey("service_window.id", ondelete="SET NULL"),
                                                  index=True, info={"label": "服务窗口"})
    handler_id: Mapped[int | None] = mapped_column(ForeignKey("person.id", ondelete="SET NULL"), index=True,
                                                   info={"label": "经办人"})
    handler_note: Mapped[str | None] = mapped_column(
        String(40), info={"label": "经办人(原登记)",
                          "description": "改为选择经办人之前登记的经办人姓名,仅供查阅"})
    status: Mapped[str] = enum_column(ServiceStatus, "办理状态", default=ServiceStatus.OPEN)
    due_on: Mapped[datetime.date | None] = mapped_column(
        Date, index=True, info={"label": "办理时限", "description": "留空则按受理日期自动计算"})
    closed_on: Mapped[datetime.date | None] = mapped_column(Date, info={"label": "办结日期"})
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("service_record.id", ondelete="SET NULL"),
                                                  index=True, info={"label": "前序事项"})
    notes: Mapped[str | None] = mapped_column(Text, info={"label": "办理情况"})

    person: Mapped[Person] = relationship(foreign_keys=[person_id], info={"label": "服务对象"})
    township: Mapped[Region] = relationship(info={"label": "乡镇/街道"})
    window: Mapped[ServiceWindow | None] = relationship(info={"label": "服务窗口"})
    handler: Mapped[Person | None] = relationship(foreign_keys=[handler_id], info={"label": "经办人"})
    parent: Mapped[ServiceRecord | None] = relationship(remote_side=[id], back_populates="follow_ups",
                                                        info={"label": "前序事项"})
    follow_ups: Mapped[list[ServiceRecord]] = relationship(back_populates="parent")

    def __str__(self) -> str:
        return f"{ServiceKind.label_of(self.kind)} {self.person.name if self.person else ''} {self.served_on or ''}"

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    def overdue_on(self, day: datetime.date) -> bool:
        return self.is_open and self.due_on is not None and self.due_on < day

    def check(self) -> dict[str, str]:
        """Due date, closing date, follow-up chain and handler; field → Chinese message."""
        errors: dict[str, str] = {}
        served = self.served_on or datetime.date.today()
        if self.due_on is None and self.kind:
            self.due_on = served + datetime.timedelta(days=DUE_DAYS.get(self.kind, DEFAULT_DUE_DAYS))
        if self.due_on is not None and self.due_on < served:
            errors["due_on"] = "办理时限不能早于受理日期"
        if self.status not in CLOSED_STATUSES:
            self.closed_on = None
        elif self.closed_on is None and self._changed("status"):
            # closed now: today (never before 受理); records closed before revision 0007 keep no date
            self.closed_on = max(served, datetime.date.today())
        if self.closed_on is not None and self.closed_on < served:
            errors["closed_on"] = "办结日期不能早于受理日期"
        errors.update(self._parent_errors())
        if self._handler_changed() and self.handler_id_value() is not None:
            errors.update(self._handler_errors(served))
        return errors

    def _parent_errors(self) -> dict[str, str]:
        parent = self.parent
        if parent is None:
            return {}
        seen = {id(self)}
        node = parent
        while node is not None:
            if id(node) in seen:
                return {"parent": "前序事项不能形成循环"}
            seen.add(id(node))
            node = node.parent
        person_id = self.person.id if self.person is not None else self.person_id
        if parent.person_id != person_id and parent.person is not self.person:
            return {"parent": "前序事项应是同一服务对象的事项"}
        return {}

    def handler_id_value(self) -> int | None:
        if "handler" in self.__dict__:  # the link was set (maybe emptied): its id follows only at the flush
            return self.handler.id if self.handler is not None else None
        return self.handler_id

    def _changed(self, *keys: str) -> bool:
        state = sa_inspect(self)
        return state.identity is None or any(state.attrs[k].history.has_changes() for k in keys)

    def _handler_changed(self) -> bool:
        return self._changed("handler", "handler_id")

    def _handler_errors(self, day: datetime.date) -> dict[str, str]:
        """The handler holds a post of this township (or one of its villages) on the day of 受理 or today
        (records entered afterwards name today's staff)."""
        session = object_session(self) or (object_session(self.township) if self.township else None)
        township = self.township
        if township is None and self.township_id is not None and session is not None:
            township = session.get(Region, self.township_id)
        if session is None or township is None:
            return {}
        who_id = self.handler_id_value()
        if not (is_staff(session, who_id, township, day) or is_staff(session, who_id, township,
                                                                      datetime.date.today())):
            who = self.handler.name if self.handler is not None else ""
            return {"handler": f"{who} 不是{township.name}在岗工作人员,请选择本乡镇(街道)的工作人员"}
        return {}


def staff_condition(township: Region, day: datetime.date):
    """Person ids holding, on ``day``, a post of ``township`` or of one of its villages."""
    return (select(Appointment.person_id).join(Post, Appointment.post_id == Post.id)
            .join(Region, Post.region_id == Region.id)
            .where(Region.path.like(township.path + "%"), Appointment.start_on <= day,
                   (Appointment.end_on.is_(None)) | (Appointment.end_on >= day)))


def is_staff(session, person_id: int | None, township: Region, day: datetime.date) -> bool:
    if person_id is None:
        return False
    return session.execute(staff_condition(township, day).where(Appointment.person_id == person_id)
                           .limit(1)).first() is not None


def staff_of(session, township: Region, day: datetime.date | None = None) -> list[Person]:
    """The township's staff on ``day`` (today): the handlers a clerk picks from."""
    day = day or datetime.date.today()
    return session.scalars(select(Person).where(Person.id.in_(staff_condition(township, day)))
                           .order_by(Person.name_pinyin, Person.id)).all()


def open_items(session, scope, township: Region | None = None) -> list[ServiceRecord]:
    """Open records (受理中, 办理中) inside ``scope`` (and ``township``), by window then due date."""
    stmt = select(ServiceRecord).where(ServiceRecord.status.in_(OPEN_STATUSES))
    if township is not None:
        stmt = stmt.where(ServiceRecord.township_id == township.id)
    stmt = scope.filter(stmt, ServiceRecord, "view")
    return session.scalars(stmt.order_by(ServiceRecord.window_id, ServiceRecord.due_on,
                                         ServiceRecord.id)).all()


def overdue_items(session, scope, today: datetime.date, limit: int | None = None) -> list[ServiceRecord]:
    """Open records past their due date inside ``scope``, the oldest due first (for the dashboard)."""
    stmt = scope.filter(select(ServiceRecord).where(ServiceRecord.status.in_(OPEN_STATUSES),
                                                    ServiceRecord.due_on < today), ServiceRecord, "view")
    stmt = stmt.order_by(ServiceRecord.due_on, ServiceRecord.id)
    if limit is not None:
        stmt = stmt.limit(limit)
    return session.scalars(stmt).all()
