"""一人一档: one page per person, every part of their record through the scope, with links to edit each.

Identity is masked per ``admin_app.privacy``; appointments, qualifications, the veteran profile, service
records, militia memberships and transfers are each read through ``Scope.filter``, and the change
history is the audit rows (in scope) of the person and of the rows shown.
"""

from __future__ import annotations

from flask import request, url_for
from flask_admin import expose
from markupsafe import Markup
from sqlalchemy import or_, select

from admin_app import privacy
from admin_app.extensions import db
from admin_app.scope import CREATE, EDIT, VIEW, current_scope, get_or_404
from models import (
    Appointment,
    AuditLog,
    MilitiaMembership,
    Person,
    Qualification,
    ServiceRecord,
    Transfer,
    VeteranProfile,
)
from models.enums import (
    DischargeType,
    Education,
    EmploymentStatus,
    Gender,
    MilitiaCategory,
    MilitiaRole,
    MilitiaUnitType,
    PoliticalStatus,
    QualificationKind,
    Service,
    ServiceKind,
    ServiceStatus,
    TransferStatus,
)

from .screens import ScopedScreen

HISTORY_LIMIT = 100
IDENTITY = ("name", "gender", "ethnicity", "id_number", "birth_date", "phone", "political_status", "education",
            "region", "address", "notes")


def id_tail(number: str | None) -> str:
    """The last 4 characters of an ID number (digits 15–18, which the privacy policy shows to everyone)."""
    return ("…" + number[-4:]) if number and len(number) >= 4 else ""


def person_label(person: Person) -> str:
    """What tells namesakes apart in lists and pickers: 姓名 · 村(乡镇) · …0018."""
    parts = [person.name or ""]
    if person.region is not None:
        parts.append(person.region.name)
    tail = id_tail(person.id_number)
    if tail:
        parts.append(tail)
    return " · ".join(parts)


def picker_label(obj) -> str:
    """The label of a row in an ajax picker (``views.base.ScopedAjaxLoader``)."""
    return person_label(obj) if isinstance(obj, Person) else str(obj)


def format_person_name(view, context, person: Person, name: str):
    """The person list's name column: a link to the person's file, with village and ID tail beside it."""
    if context is None:  # an export (views.factory._plain): the name alone, as before
        return person.name
    tail = id_tail(person.id_number)
    return Markup('<a href="{url}">{name}</a> <small class="text-muted">{tail}</small>').format(
        url=url_for("person_file.person", person_id=person.id), name=person.name, tail=tail)


def _scoped(model, *where):
    return db.session.scalars(current_scope().filter(select(model).where(*where), model, VIEW)).all()


def person_history(person: Person, linked: dict[str, list[int]], limit: int = HISTORY_LIMIT) -> list[AuditLog]:
    """Audit rows the user may see of the person and of ``linked`` rows (table name → ids), newest first."""
    conditions = [(AuditLog.table_name == "person") & (AuditLog.row_id == person.id)]
    for table, ids in linked.items():
        if ids:
            conditions.append((AuditLog.table_name == table) & AuditLog.row_id.in_(ids))
    stmt = current_scope().filter(select(AuditLog).where(or_(*conditions)), AuditLog, VIEW)
    return db.session.scalars(stmt.order_by(AuditLog.at.desc(), AuditLog.id.desc()).limit(limit)).all()


class PersonFileView(ScopedScreen):
    """/admin/people/<id>: the person's file (一人一档)."""

    access_model = "Person"

    def is_visible(self) -> bool:
        return False  # reached from the person list, pickers and the intake, not from the menu

    @expose("/")
    def index(self):
        from flask import redirect

        return redirect(url_for("person.index_view"))

    @expose("/<int:person_id>")
    def person(self, person_id: int):
        scope = current_scope()
        person = get_or_404(Person, person_id, VIEW)
        may = privacy.may_see(Person)
        identity = []
        for name in IDENTITY:
            value = privacy.shown(Person, person, name, may) if name != "region" else person.region
            identity.append((Person.__table__.columns[name].info.get("label") if name != "region"
                             else "所属乡镇/村", _enum_label(name, value)))
        appointments = _scoped(Appointment, Appointment.person_id == person.id)
        appointments.sort(key=lambda a: (a.end_on is not None, a.start_on), reverse=False)
        qualifications = _scoped(Qualification, Qualification.person_id == person.id)
        profile = next(iter(_scoped(VeteranProfile, VeteranProfile.person_id == person.id)), None)
        records = _scoped(ServiceRecord, ServiceRecord.person_id == person.id)
        records.sort(key=lambda r: (r.served_on, r.id), reverse=True)
        memberships = _scoped(MilitiaMembership, MilitiaMembership.person_id == person.id)
        memberships.sort(key=lambda m: m.year, reverse=True)
        transfers = db.session.scalars(select(Transfer).where(Transfer.person_id == person.id)
                                       .order_by(Transfer.requested_at.desc())).all()
        linked = {"veteran_profile": [profile.id] if profile else [],
                  "appointment": [a.id for a in appointments], "qualification": [q.id for q in qualifications],
                  "service_record": [r.id for r in records], "militia_membership": [m.id for m in memberships],
                  "transfer": [t.id for t in transfers]}
        history = person_history(person, linked) if scope.can(AuditLog, VIEW) else []
        back = request.full_path
        return self.render(
            "people/file.html", person=person, identity=identity, profile=profile, appointments=appointments,
            qualifications=qualifications, records=records, memberships=memberships, transfers=transfers,
            history=history, back=back, label=person_label(person),
            may_edit=lambda obj: scope.allows(obj, EDIT),
            may_create=lambda model: scope.can(model, CREATE) and scope.allows(person, EDIT),
            labels={"kind": ServiceKind.label_of, "status": ServiceStatus.label_of,
                    "qual": QualificationKind.label_of, "category": MilitiaCategory.label_of,
                    "unit_type": MilitiaUnitType.label_of, "role": MilitiaRole.label_of,
                    "service": Service.label_of, "discharge": DischargeType.label_of,
                    "employment": EmploymentStatus.label_of, "transfer": TransferStatus.label_of},
            profile_fields=_profile_fields(profile))


def _enum_label(name: str, value):
    enums = {"gender": Gender, "political_status": PoliticalStatus, "education": Education}
    if name in enums and isinstance(value, str):
        return enums[name].label_of(value)
    return value


def _profile_fields(profile: VeteranProfile | None) -> list[tuple[str, object]]:
    if profile is None:
        return []
    out = []
    for name in ("service", "enlisted_on", "discharged_on", "discharge_type", "rank_at_discharge", "specialty",
                 "military_quality", "reported_home_on", "employment_status", "hardship", "honor_plaque"):
        column = VeteranProfile.__table__.columns.get(name)
        if column is None:
            continue
        value = getattr(profile, name)
        choices = column.info.get("choices")
        if choices is not None and value is not None:
            value = choices.label_of(value)
        if isinstance(value, bool):
            value = "是" if value else "否"
        out.append((column.info.get("label", name), value))
    return out
