"""The one schema of the merged office. Import models from here."""

from .accounts import MIN_PASSWORD_LENGTH, AuditLog, Grant, User
from .base import Base, LabeledEnum, TimestampMixin
from .duties import Duty, DutyAdjustment, DutyTemplateEntry
from .enums import *  # noqa: F403
from .jobs import Job, JobKind, JobStatus
from .militia import MilitiaSettings, MilitiaUnit
from .org import Appointment, Post, PostType, Room, ServiceWindow
from .people import MilitiaMembership, Person, Qualification, VeteranProfile, name_pinyin
from .plans import AnnualPlan, PlanItem, PlanTemplateItem
from .print_settings import PrintSettings  # noqa: F401
from .region import Region
from .rights import LoginAttempt, RolePermission  # noqa: F401
from .services import ServiceRecord
from .transfers import Transfer

__all__ = [
    "MIN_PASSWORD_LENGTH", "Appointment", "AnnualPlan", "AuditLog", "Base", "Duty", "DutyAdjustment",
    "DutyTemplateEntry", "Grant", "LabeledEnum", "MilitiaMembership", "Person", "PlanItem", "Post", "PostType",
    "PlanTemplateItem",
    "Job", "JobKind", "JobStatus", "MilitiaSettings", "MilitiaUnit",
    "Qualification", "Region", "Room", "ServiceRecord", "ServiceWindow", "TimestampMixin", "Transfer", "User",
    "VeteranProfile", "name_pinyin",
]


def scoped_models() -> list[type[Base]]:
    """Every mapped class, in a stable order (used by the view factory and the access tests)."""
    return sorted((m.class_ for m in Base.registry.mappers), key=lambda c: c.__tablename__)
