"""Rights overrides edited in the rights screen (权限配置) and login attempts (for throttling).

``RolePermission`` stores only the cells a city admin changed; the defaults live in
``admin_app.scope.default_rights``. ``LoginAttempt`` is shared by every worker process.
"""

from __future__ import annotations

import datetime

from sqlalchemy import Boolean, DateTime, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, enum_check, enum_column, utcnow
from .enums import Role


class RolePermission(Base):
    """One cell of the role × model × action matrix that differs from the default."""

    __tablename__ = "role_permission"
    __table_args__ = (
        UniqueConstraint("role", "model_name", "action", name="uq_role_permission_cell"),
        enum_check("role", Role),
    )
    __scope__ = None

    id: Mapped[int] = mapped_column(primary_key=True)
    role: Mapped[str] = enum_column(Role, "角色")
    model_name: Mapped[str] = mapped_column(String(60), nullable=False, info={"label": "数据"})
    action: Mapped[str] = mapped_column(String(20), nullable=False, info={"label": "操作"})
    allowed: Mapped[bool] = mapped_column(Boolean, nullable=False, info={"label": "允许"})
    changed_at: Mapped[datetime.datetime] = mapped_column(DateTime, nullable=False, default=utcnow,
                                                          onupdate=utcnow, info={"label": "修改时间"})

    def __str__(self) -> str:
        return f"{Role.label_of(self.role)} {self.model_name} {self.action}={'是' if self.allowed else '否'}"


class LoginAttempt(Base):
    """A login attempt under way or failed, kept for the throttling window (admin_app.security).

    The row is written (and committed) before the password is checked, so parallel attempts see each
    other; a refused attempt's row and a successful login's rows are deleted again.
    """

    __tablename__ = "login_attempt"
    __table_args__ = (
        Index("ix_login_attempt_username_at", "username", "at"),
        Index("ix_login_attempt_address_at", "address", "at"),
    )
    __scope__ = None
    __gate__ = "exempt"  # security bookkeeping: written before anyone is logged in, never audited

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(40), nullable=False, info={"label": "用户名"})
    address: Mapped[str] = mapped_column(String(64), nullable=False, default="", info={"label": "地址"})
    at: Mapped[datetime.datetime] = mapped_column(DateTime, nullable=False, default=utcnow,
                                                  info={"label": "时间"})

    def __str__(self) -> str:
        return f"{self.username}@{self.address} {self.at:%Y-%m-%d %H:%M:%S}"
