"""Background jobs (我的任务): long work (batch prints, large imports and exports) run by a worker.

A job belongs to the user who started it and to nobody else: ``__scope__ = "owner:owner_id"`` makes the
scope helper show it, and let it be changed, only by that user (not by a city admin either). The worker
acts as the owner, so its writes pass the write gate like any other.

``version`` (optimistic locking, from ``TimestampMixin``) is how a worker claims a job: the claim is an
UPDATE of the version it read, so of two workers that got the same job only one wins, and a worker that
lost its claim (the job was handed to another after it went silent) fails its next progress commit
instead of writing a second result. ``updated_at`` doubles as the heartbeat.
"""

from __future__ import annotations

import datetime

from sqlalchemy import JSON, CheckConstraint, DateTime, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, LabeledEnum, TimestampMixin, enum_check, enum_column


class JobStatus(LabeledEnum):
    QUEUED = ("queued", "排队中")
    RUNNING = ("running", "运行中")
    DONE = ("done", "已完成")
    FAILED = ("failed", "失败")


FINISHED = (JobStatus.DONE.value, JobStatus.FAILED.value)


class JobKind(LabeledEnum):
    ORG_CHARTS = ("org_charts", "批量打印架构图")
    IMPORT = ("import", "导入数据")
    EXPORT = ("export", "导出数据")
    STATISTICS = ("statistics", "年度统计报表")


class Job(TimestampMixin, Base):
    __tablename__ = "job"
    __table_args__ = (
        enum_check("status", JobStatus),
        CheckConstraint("done >= 0 AND total >= 0 AND done <= total", name="progress_valid"),
    )
    __scope__ = "owner:owner_id"

    id: Mapped[int] = mapped_column(primary_key=True)
    # No relationship to User on purpose: the owner is not a link the user edits, and a clerk may not
    # read user rows; the worker loads the owner by id.
    owner_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), nullable=False,
                                          index=True, info={"label": "发起人"})
    # No CHECK on kind: a new kind of job is code, not a schema change.
    kind: Mapped[str] = mapped_column(String(40), nullable=False, info={"label": "任务类型", "choices": JobKind})
    params: Mapped[dict] = mapped_column(JSON, nullable=False, default=dict, info={"label": "参数"})
    title: Mapped[str] = mapped_column(String(200), nullable=False, default="", info={"label": "任务"})
    status: Mapped[str] = enum_column(JobStatus, "状态", default=JobStatus.QUEUED)
    done: Mapped[int] = mapped_column(Integer, nullable=False, default=0, info={"label": "已完成", "bookkeeping": True})
    total: Mapped[int] = mapped_column(Integer, nullable=False, default=0, info={"label": "总数", "bookkeeping": True})
    message: Mapped[str] = mapped_column(String(500), nullable=False, default="", info={"label": "说明"})
    result_path: Mapped[str | None] = mapped_column(String(255), info={"label": "结果文件"})
    result_name: Mapped[str | None] = mapped_column(String(200), info={"label": "文件名"})
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0, info={"label": "执行次数"})
    worker: Mapped[str | None] = mapped_column(String(120), info={"label": "执行进程"})
    started_at: Mapped[datetime.datetime | None] = mapped_column(DateTime, info={"label": "开始时间"})
    finished_at: Mapped[datetime.datetime | None] = mapped_column(DateTime, info={"label": "完成时间"})

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    @property
    def percent(self) -> int:
        if self.status == JobStatus.DONE.value:
            return 100
        return int(self.done * 100 / self.total) if self.total else 0

    def __str__(self) -> str:
        return f"{self.title or JobKind.label_of(self.kind)} #{self.id}"
