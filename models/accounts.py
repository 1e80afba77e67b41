"""User accounts (账号), their grants (role × region) and the audit log."""

from __future__ import annotations

import datetime
import functools
from pathlib import Path

from flask_login import UserMixin
from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from .base import Base, TimestampMixin, enum_check, enum_column, utcnow
from .enums import Role
from .region import Region

MIN_PASSWORD_LENGTH = 10
COMMON_PASSWORDS_FILE = Path(__file__).with_name("common_passwords.txt")
UNUSABLE_PASSWORD = "!"  # noqa: S105 - a hash no password matches (account cannot log in)


@functools.cache
def common_passwords() -> frozenset[str]:
    """The shipped list of common passwords (lower case), one per line; ``#`` starts a comment."""
    lines = COMMON_PASSWORDS_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(s.strip().lower() for s in lines if s.strip() and not s.startswith("#"))


def password_problem(password: str, username: str = "") -> str | None:
    """Why a password is refused (a Chinese sentence), or None when the policy accepts it."""
    password = password or ""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"密码至少 {MIN_PASSWORD_LENGTH} 位"
    if len(set(password)) == 1:
        return "密码不能由同一个字符重复组成"
    if password.lower() in common_passwords():
        return "密码过于常见,容易被猜中,请换一个"
    if username and password.lower() == username.strip().lower():
        return "密码不能与用户名相同"
    return None


def password_hash_method() -> str:
    """scrypt in production; the test configuration names a cheap method (``PASSWORD_HASH_METHOD``) so
    the suite does not spend most of its time hashing fixture passwords. Checking works for both."""
    from flask import current_app, has_app_context

    if has_app_context():
        return current_app.config.get("PASSWORD_HASH_METHOD", "scrypt")
    return "scrypt"


class User(UserMixin, TimestampMixin, Base):
    __tablename__ = "user_account"
    __scope__ = "grants.region_id"
    __admin__ = {
        "name": "账号", "category": "系统管理", "order": 10,
        "list": ["username", "display_name", "active", "last_login_at"],
        "search": ["username", "display_name"],
        "filters": ["active"],
        "form": ["username", "display_name", "active"],
        "inline": ["grants"],
        "sort": "username",
    }

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(40), unique=True, nullable=False, info={"label": "用户名"})
    password_hash: Mapped[str] = mapped_column(String(255), nullable=False, default=UNUSABLE_PASSWORD,
                                               info={"label": "密码", "secret": True})
    display_name: Mapped[str] = mapped_column(String(40), nullable=False, default="",
                                              info={"label": "姓名"})
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True, info={"label": "启用"})
    last_login_at: Mapped[datetime.datetime | None] = mapped_column(DateTime, info={"label": "最近登录",
                                                                                    "bookkeeping": True})
    # Part of every session: a logout, a password change or a deactivation bumps it, and a session
    # that carries an older value is refused (admin_app.auth).
    session_version: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0",
                                                 info={"bookkeeping": True, "label": "会话版本"})

    grants: Mapped[list[Grant]] = relationship(back_populates="user", cascade="all, delete-orphan",
                                               lazy="selectin")

    def __str__(self) -> str:
        return f"{self.display_name}({self.username})" if self.display_name else self.username

    @property
    def is_active(self) -> bool:  # Flask-Login
        return self.active

    def get_id(self) -> str:  # Flask-Login keeps this in the session; the user loader checks both parts
        return f"{self.id}:{self.session_version or 0}"

    def set_password(self, password: str) -> None:
        """Hash a new password; raises ValueError with a Chinese message when the policy refuses it."""
        problem = password_problem(password, self.username or "")
        if problem is not None:
            raise ValueError(problem)
        self.password_hash = generate_password_hash(password, method=password_hash_method())

    def check_password(self, password: str) -> bool:
        if not self.password_hash or self.password_hash == UNUSABLE_PASSWORD:
            return False
        return check_password_hash(self.password_hash, password)


class Grant(TimestampMixin, Base):
    """A role a user holds over a region and everything under it (授权范围)."""

    __tablename__ = "grant"
    __table_args__ = (enum_check("role", Role),)
    __scope__ = "region_id"
    __admin__ = {
        "name": "授权", "category": "系统管理", "order": 20,
        "list": ["user", "role", "region"],
        "search": ["user.username", "user.display_name"],
        "filters": ["role", "region"],
        "form": ["user", "role", "region"],
        "sort": "-id",
    }

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), nullable=False,
                                         index=True, info={"label": "账号"})
    role: Mapped[str] = enum_column(Role, "角色")
    region_id: Mapped[int] = mapped_column(ForeignKey("region.id"), nullable=False, index=True,
                                           info={"label": "授权范围"})

    user: Mapped[User] = relationship(back_populates="grants", info={"label": "账号", "cross_township": True})
    region: Mapped[Region] = relationship(lazy="joined", info={"label": "授权范围"})

    def __str__(self) -> str:
        return f"{Role.label_of(self.role)} @ {self.region.name if self.region else ''}"


class AuditLog(Base):
    """Who changed what and when, with the row before and after (变更记录)."""

    __tablename__ = "audit_log"
    __scope__ = "region_id"
    __scope_null_is_global__ = False
    __scope_null_for_city__ = True  # city-wide tables and system work: city-level roles read them
    __admin__ = {
        "name": "变更记录", "category": "系统管理", "order": 90,
        "list": ["at", "user", "actor", "action", "table_name", "row_id", "summary"],
        "search": ["summary", "actor", "table_name"],  # summary: the record's name when it was changed
        "filters": ["table_name", "action", "actor", "at"],
        "filter_options": {"table_name": "views.history:table_options", "action": "views.history:action_options"},
        "form": [],
        "sort": "-at",
        "read_only": True,
        "details_extra": "admin/history_restore.html",
        "formatters": {"before": "views.history:format_snapshot", "after": "views.history:format_snapshot",
                       "action": "views.history:format_action", "table_name": "views.history:format_table"},
    }

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime.datetime] = mapped_column(DateTime, nullable=False, default=utcnow, index=True,
                                                  info={"label": "时间"})
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"),
                                                info={"label": "操作人"})
    actor: Mapped[str | None] = mapped_column(String(60), info={"label": "操作人账号"})
    action: Mapped[str] = mapped_column(String(20), nullable=False, info={"label": "操作"})
    table_name: Mapped[str] = mapped_column(String(40), nullable=False, index=True, info={"label": "数据表"})
    row_id: Mapped[int | None] = mapped_column(Integer, info={"label": "记录编号"})
    region_id: Mapped[int | None] = mapped_column(ForeignKey("region.id", ondelete="SET NULL"), index=True,
                                                  info={"label": "所属区划"})
    summary: Mapped[str] = mapped_column(String(200), nullable=False, default="", info={"label": "摘要"})
    before: Mapped[dict | None] = mapped_column(JSON, info={"label": "修改前"})
    after: Mapped[dict | None] = mapped_column(JSON, info={"label": "修改后"})

    user: Mapped[User | None] = relationship(info={"label": "操作人"})

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.action} {self.table_name}#{self.row_id}"
