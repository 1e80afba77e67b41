"""Service records (服务事项/办件) of the veterans service station."""

from __future__ import annotations

import datetime

from sqlalchemy import Date, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, TimestampMixin, enum_check, enum_column
from .enums import ServiceKind, ServiceStatus
from .people import Person
from .region import Region


class ServiceRecord(TimestampMixin, Base):
    __tablename__ = "service_record"
    __table_args__ = (enum_check("kind", ServiceKind), enum_check("status", ServiceStatus))
    __scope__ = "township_id"
    __admin__ = {
        "name": "服务事项", "category": "退役军人服务", "order": 30,
        "list": ["served_on", "person", "township", "kind", "handler", "status"],
        "search": ["person.name", "person.name_pinyin", "person.name_initials", "handler", "notes"],
        "filters": ["township", "kind", "status", "served_on"],
        "form": ["person", "township", "kind", "served_on", "handler", "status", "notes"],
        "ajax": ["person"],
        "sort": "-served_on",
    }

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"), nullable=False,
                                           index=True, info={"label": "服务对象"})
    township_id: Mapped[int] = mapped_column(ForeignKey("region.id"), nullable=False, index=True,
                                             info={"label": "乡镇/街道"})
    kind: Mapped[str] = enum_column(ServiceKind, "事项类别")
    served_on: Mapped[datetime.date] = mapped_column(Date, nullable=False, default=datetime.date.today,
                                                     info={"label": "办理日期"})
    handler: Mapped[str | None] = mapped_column(String(40), info={"label": "经办人"})
    status: Mapped[str] = enum_column(ServiceStatus, "办理状态", default=ServiceStatus.OPEN)
    notes: Mapped[str | None] = mapped_column(Text, info={"label": "办理情况"})

    person: Mapped[Person] = relationship(info={"label": "服务对象"})
    township: Mapped[Region] = relationship(info={"label": "乡镇/街道"})

    def __str__(self) -> str:
        return f"{ServiceKind.label_of(self.kind)} {self.person.name if self.person else ''}"
