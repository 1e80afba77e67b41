"""户籍迁入: a person registered in another township moves to the township where they reported home.

The receiving township's clerk asks (``pending``); the sending township's clerk or its county admin hands
over (``done``: the person, the veteran profile and the service records move to the receiving township)
or refuses. Until the hand-over the receiving side sees only the request, never the person's data.

The write gate (``admin_app.gate``) lets the hand-over move the person's rows out of the sending side's
scope into the receiving township only with a transfer being handed over in the same flush: the one
declared exception to "the scope after the change must be the actor's" (see ``_Checker.rights``).
"""

from __future__ import annotations

import datetime

from sqlalchemy import DateTime, ForeignKey, String, select
from sqlalchemy.orm import Mapped, mapped_column, object_session, relationship

from .base import Base, TimestampMixin, enum_check, enum_column, utcnow
from .enums import TransferStatus
from .people import Person
from .region import Region

#: Models whose rows follow the person on a hand-over (their scope column is set to the receiving
#: township). VeteranProfile and Qualification reach their region through the person and follow by
#: themselves; militia memberships and appointments stay with the sending township (see views/intake.py).
TRANSFER_FOLLOWS = ("Person", "ServiceRecord")


class Transfer(TimestampMixin, Base):
    __tablename__ = "transfer"
    __table_args__ = (enum_check("status", TransferStatus),)
    __scope__ = "to_township_id"  # the receiving side's request; the sending side reaches it through the person
    __admin__ = {
        "name": "户籍迁入", "category": "退役军人服务", "order": 40,
        "list": ["requested_at", "from_township", "to_township", "status", "decided_at", "note"],
        "search": ["note"],
        "filters": ["status", "requested_at"],
        "form": [],
        "sort": "-requested_at",
        "read_only": True,
        "formatters": {"person": "views.intake:format_transfer_person"},
    }

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"), nullable=False,
                                           index=True, info={"label": "人员"})
    from_township_id: Mapped[int] = mapped_column(ForeignKey("region.id"), nullable=False, index=True,
                                                  info={"label": "迁出乡镇/街道"})
    to_township_id: Mapped[int] = mapped_column(ForeignKey("region.id"), nullable=False, index=True,
                                                info={"label": "迁入乡镇/街道"})
    status: Mapped[str] = enum_column(TransferStatus, "移交状态", default=TransferStatus.PENDING)
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"),
                                                        info={"label": "申请人"})
    requested_at: Mapped[datetime.datetime] = mapped_column(DateTime, nullable=False, default=utcnow,
                                                            info={"label": "申请时间"})
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"),
                                                      info={"label": "办理人"})
    decided_at: Mapped[datetime.datetime | None] = mapped_column(DateTime, info={"label": "办理时间"})
    note: Mapped[str | None] = mapped_column(String(200), info={"label": "备注"})

    # The person lies in the sending township until the hand-over: a link across townships on purpose.
    person: Mapped[Person] = relationship(info={"label": "人员", "cross_township": True})
    from_township: Mapped[Region] = relationship(foreign_keys=[from_township_id],
                                                 info={"label": "迁出乡镇/街道", "cross_township": True})
    to_township: Mapped[Region] = relationship(foreign_keys=[to_township_id], info={"label": "迁入乡镇/街道"})

    def __str__(self) -> str:
        src = self.from_township.name if self.from_township else ""
        dst = self.to_township.name if self.to_township else ""
        return f"户籍迁入 {src}→{dst}({TransferStatus.label_of(self.status)})"

    @property
    def is_pending(self) -> bool:
        return self.status == TransferStatus.PENDING.value

    def check(self) -> dict[str, str]:
        errors: dict[str, str] = {}
        if self.status is None:
            self.status = TransferStatus.PENDING.value  # the column default applies only at the INSERT
        src = self.from_township_id or (self.from_township.id if self.from_township else None)
        dst = self.to_township_id or (self.to_township.id if self.to_township else None)
        if src is not None and src == dst:
            errors["to_township"] = "迁入与迁出乡镇(街道)不能相同"
        session = object_session(self)
        person_id = self.person.id if self.person is not None else self.person_id
        if self.is_pending and session is not None and person_id is not None:
            stmt = select(Transfer.id).where(Transfer.person_id == person_id,
                                             Transfer.status == TransferStatus.PENDING.value)
            if self.id is not None:
                stmt = stmt.where(Transfer.id != self.id)
            if session.execute(stmt.limit(1)).first() is not None:
                errors["person"] = "此人已有待移交的迁入申请"
        return errors
