"""Declarative base, naming convention, timestamps, optimistic locking and labelled enums."""

from __future__ import annotations

import enum
from datetime import UTC, datetime

from sqlalchemy import CheckConstraint, DateTime, Integer, MetaData, String, func
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class TimestampMixin:
    """created/updated timestamps plus a version counter used for optimistic locking."""

    created_at: Mapped[datetime] = mapped_column(
        DateTime, default=utcnow, server_default=func.current_timestamp(), nullable=False,
        info={"label": "创建时间"},
    )
    updated_at: Mapped[datetime] = mapped_column(
        DateTime, default=utcnow, onupdate=utcnow, server_default=func.current_timestamp(),
        nullable=False, info={"label": "更新时间"},
    )
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1, server_default="1",
                                         info={"label": "版本"})

    @declared_attr.directive
    def __mapper_args__(cls) -> dict:  # noqa: N805
        return {"version_id_col": cls.version}

    @property
    def row_version(self) -> int | None:
        """The version a form shows; a form posts it back and the write gate refuses a stale one."""
        return self.version

    @row_version.setter
    def row_version(self, posted) -> None:
        self.__dict__["_posted_version"] = posted


class LabeledEnum(enum.StrEnum):
    """A str enum whose members carry their Chinese UI label: ``MEMBER = ("value", "标签")``."""

    label: str

    def __new__(cls, value: str, label: str):
        obj = str.__new__(cls, value)
        obj._value_ = value
        obj.label = label
        return obj

    @classmethod
    def choices(cls) -> list[tuple[str, str]]:
        return [(m.value, m.label) for m in cls]

    @classmethod
    def labels(cls) -> dict[str, str]:
        return {m.value: m.label for m in cls}

    @classmethod
    def label_of(cls, value: str | None) -> str:
        if value is None:
            return ""
        return cls.labels().get(value, value)


def enum_column(enum_cls: type[LabeledEnum], label: str, *, nullable: bool = False,
                default: LabeledEnum | None = None, **info):
    """A plain String column holding an enum value; choices and label live in ``info``."""
    length = max(len(m.value) for m in enum_cls)
    return mapped_column(
        String(max(length, 8)), nullable=nullable,
        default=default.value if default is not None else None,
        info={"label": label, "choices": enum_cls, **info},
    )


def enum_check(column: str, enum_cls: type[LabeledEnum], *, nullable: bool = False) -> CheckConstraint:
    values = ", ".join(f"'{m.value}'" for m in enum_cls)
    cond = f"{column} IN ({values})"
    if nullable:
        cond = f"{column} IS NULL OR {cond}"
    return CheckConstraint(cond, name=f"{column}_valid")
