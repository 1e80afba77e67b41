"""返乡报到 (return-home intake) at one screen, 户籍迁入 (transfers), and the station's open items.

The clerk types an ID number:

* a person in the clerk's scope opens with the intake form (window, handler, date);
* an unknown number opens a short create form (person + veteran profile), birth date and sex taken from
  the number (``models.idnumber.parse_id_number``);
* a person registered in another township offers a transfer request (户籍迁入); until the sending side hands
  over, the receiving clerk sees that a request is pending and nothing of the person.

Saving writes the person (if new), the profile's 返乡报到日期 and the 返乡报到 service record in one commit,
through the write gate. The hand-over (``hand_over``) moves the person, the veteran profile (it follows the
person) and the person's service records to the receiving township; militia memberships of the current
year in the sending township end (are removed from its roster, the audit keeps them), earlier years stay in
that township's history; a person still holding a post there cannot be handed over until the post is ended.
Audit rows stay filed where each change happened (the audit is never rewritten).

Screens need the right to create people and to see ID numbers (the lookup is by the full number: without
查看敏感信息 it would be a search oracle, see ``admin_app.privacy``).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from flask import abort, flash, redirect, request, url_for
from flask_admin import expose
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import and_, func, select

from admin_app import privacy
from admin_app.extensions import db
from admin_app.gate import WriteRefused
from admin_app.scope import CREATE, DELETE, EDIT, VIEW, current_scope, get_or_404, regions_in_scope
from models import MilitiaMembership, Person, Region, ServiceRecord, ServiceWindow, Transfer, VeteranProfile
from models.base import utcnow
from models.enums import DischargeType, Gender, Service, ServiceKind, ServiceStatus, TransferStatus
from models.idnumber import IdNumberError, mask_id_number, parse_id_number
from models.org import Appointment, Post
from models.services import open_items, overdue_items, staff_of

from .people_file import person_label
from .screens import ScopedScreen

# 两征两退: discharged soldiers come home around March and September. A veteran is expected in a peak when
# discharged in its window; reported when the 返乡报到日期 is recorded.
PEAKS = ((3, (2, 15), (3, 31)), (9, (8, 15), (9, 30)))


# -- figures for the dashboard (views/templates/dashboard/_veterans_window.html) ---------------------
@dataclass
class Peak:
    year: int
    month: int
    expected: int
    reported: int

    @property
    def missing(self) -> int:
        return self.expected - self.reported


def return_peaks(session, scope, year: int) -> list[Peak]:
    """Reported vs expected in the March and September peaks of ``year``, inside ``scope``."""
    out = []
    for month, (m1, d1), (m2, d2) in PEAKS:
        start, end = datetime.date(year, m1, d1), datetime.date(year, m2, d2)
        stmt = select(func.count(VeteranProfile.id), func.count(VeteranProfile.reported_home_on)).where(
            VeteranProfile.discharged_on >= start, VeteranProfile.discharged_on <= end)
        expected, reported = session.execute(scope.filter(stmt, VeteranProfile, VIEW)).one()
        out.append(Peak(year, month, expected or 0, reported or 0))
    return out


def veterans_window_figures() -> dict:
    """The dashboard's 返乡报到 peaks and overdue service records, for the logged-in user (template global)."""
    scope = current_scope()
    today = datetime.date.today()
    figures = {"peaks": [], "overdue": [], "may_services": scope.can(ServiceRecord, VIEW)}
    if scope.can(VeteranProfile, VIEW):
        figures["peaks"] = return_peaks(db.session, scope, today.year)
    if figures["may_services"]:
        figures["overdue"] = overdue_items(db.session, scope, today, limit=10)
        figures["overdue_total"] = db.session.scalar(scope.filter(
            select(func.count(ServiceRecord.id)).where(ServiceRecord.status.in_(("open", "in_progress")),
                                                       ServiceRecord.due_on < today), ServiceRecord, VIEW)) or 0
    return figures


def format_transfer_person(view, context, transfer: Transfer, name: str):
    """The 人员 of a transfer in the generated screen: only once the user may see the person."""
    person = transfer.person
    if person is not None and current_scope().allows(person, VIEW):
        return person_label(person)
    return _("(移交后可见)")


# -- helpers ---------------------------------------------------------------------------------------
def _date(value, default: datetime.date | None = None) -> datetime.date | None:
    value = (value or "").strip()
    if not value:
        return default
    try:
        return datetime.date.fromisoformat(value)
    except ValueError:
        return None


def _text(name: str, limit: int) -> str | None:
    value = (request.form.get(name) or "").strip()
    return value[:limit] or None


def _choice(name: str, enum_cls) -> str | None:
    value = request.form.get(name) or None
    return value if value in enum_cls.labels() else None


def intake_regions() -> list[Region]:
    """Townships and villages where the clerk may register people."""
    return regions_in_scope(CREATE, ("township", "village"), model_name="Person")


def township_of(region: Region) -> Region | None:
    return region.township() if region is not None else None


def windows_of(township: Region) -> list[ServiceWindow]:
    stmt = current_scope().filter(select(ServiceWindow).join(Region, ServiceWindow.region_id == Region.id)
                                  .where(Region.path.like(township.path + "%")), ServiceWindow, VIEW)
    return db.session.scalars(stmt.order_by(ServiceWindow.id)).all()


def pending_transfer(person_id: int) -> Transfer | None:
    return db.session.scalar(select(Transfer).where(Transfer.person_id == person_id,
                                                    Transfer.status == TransferStatus.PENDING.value))


def incoming_transfers() -> list[Transfer]:
    """Requests of the user's townships (the receiving side), newest first."""
    stmt = current_scope().filter(select(Transfer), Transfer, VIEW)
    return db.session.scalars(stmt.order_by(Transfer.requested_at.desc()).limit(200)).all()


def outgoing_transfers() -> list[Transfer]:
    """Pending requests for people the user may hand over (the sending side: DELETE on the person)."""
    people = current_scope().filter(select(Person.id), Person, DELETE)
    stmt = select(Transfer).where(Transfer.person_id.in_(people), Transfer.status == TransferStatus.PENDING.value)
    return db.session.scalars(stmt.order_by(Transfer.requested_at)).all()


def outgoing_or_404(transfer_id: int) -> Transfer:
    transfer = db.session.get(Transfer, transfer_id) if -2**63 <= transfer_id < 2**63 else None
    if transfer is None or not transfer.is_pending:
        abort(404)
    get_or_404(Person, transfer.person_id, DELETE)  # the sending side only
    return transfer


def hand_over(transfer: Transfer, actor_user_id: int | None, today: datetime.date | None = None) -> Person:
    """Move the person of ``transfer`` (with profile and service records) to the receiving township.

    Not committed. The write gate checks it: the actor must be able to remove the person from the sending
    township; the transfer authorises the receiving one (``admin_app.gate``, the 户籍迁入 exception).
    """
    today = today or datetime.date.today()
    person = transfer.person
    source, target = transfer.from_township, transfer.to_township
    records = db.session.scalars(select(ServiceRecord).where(ServiceRecord.person_id == person.id,
                                                             ServiceRecord.township_id == source.id)).all()
    memberships = db.session.scalars(select(MilitiaMembership).where(
        MilitiaMembership.person_id == person.id, MilitiaMembership.township_id == source.id,
        MilitiaMembership.year == today.year)).all()
    with db.session.no_autoflush:  # one flush: the gate sees the transfer and every move together
        for record in records:
            if record.handler is not None and not record.handler_note:
                record.handler_note = record.handler.name[:40]
            record.window, record.handler = None, None  # the sending station's window and staff
            record.township = target
        for membership in memberships:
            db.session.delete(membership)
        transfer.status = TransferStatus.DONE.value
        transfer.decided_by_id = actor_user_id
        transfer.decided_at = utcnow()
        person.region = target
    return person


def holds_post_in(person: Person, township: Region, day: datetime.date) -> bool:
    stmt = (select(Appointment.id).join(Post, Appointment.post_id == Post.id)
            .join(Region, Post.region_id == Region.id)
            .where(Appointment.person_id == person.id, Region.path.like(township.path + "%"),
                   and_(Appointment.start_on <= day),
                   (Appointment.end_on.is_(None)) | (Appointment.end_on >= day)))
    return db.session.execute(stmt.limit(1)).first() is not None


# -- the screens -----------------------------------------------------------------------------------
class IntakeView(ScopedScreen):
    """/admin/intake: 返乡报到 at one screen."""

    access_model = "Person"
    access_action = CREATE

    def allowed(self) -> bool:
        scope = current_scope()
        return (scope.can(Person, CREATE) and scope.can(VeteranProfile, CREATE)
                and scope.can(ServiceRecord, CREATE) and privacy.may_see(Person))

    def _page(self, status: int = 200, **ctx):
        ctx.setdefault("number", "")
        ctx.setdefault("errors", {})
        ctx.setdefault("form", {})
        regions = intake_regions()
        return self.render("intake/intake.html", regions=regions, genders=Gender.choices(),
                           services=Service.choices(), discharge_types=DischargeType.choices(),
                           statuses=ServiceStatus.choices(), today=datetime.date.today(),
                           incoming=incoming_transfers()[:20], **ctx), status

    @expose("/")
    def index(self):
        number = (request.args.get("id_number") or "").strip()
        if not number:
            return self._page()
        region = next((r for r in intake_regions() if str(r.id) == request.args.get("region")), None)
        return self._lookup(number, region=region)

    def _lookup(self, raw: str, status: int = 200, **ctx):
        try:
            parsed = parse_id_number(raw)
        except IdNumberError as exc:
            return self._page(400, number=raw[:30], errors={"id_number": _(str(exc))})
        found = db.session.execute(select(Person.id, Person.region_id)
                                   .where(Person.id_number == parsed.number)).first()
        if found is None:
            form = {"gender": parsed.gender, "birth_date": parsed.birth_date.isoformat(),
                    "reported_home_on": datetime.date.today().isoformat(), **ctx.pop("form", {})}
            return self._page(status, number=parsed.number, parsed=parsed, mode="new", form=form,
                              **self._work_choices(ctx.pop("region", None)), **ctx)
        person = db.session.scalar(current_scope().filter(select(Person).where(Person.id == found.id),
                                                          Person, VIEW))
        if person is not None:
            return self._page(status, number=parsed.number, mode="known", person=person, label=person_label(person),
                              profile=person.veteran_profile,
                              form={"reported_home_on": datetime.date.today().isoformat(), **ctx.pop("form", {})},
                              **self._work_choices(person.region), **ctx)
        # Registered in another township: only the request, never the person's data.
        source = township_of(db.session.get(Region, found.region_id))
        transfer = pending_transfer(found.id)
        mine = transfer is not None and current_scope().allows(transfer, VIEW)
        return self._page(status, number=parsed.number, mode="elsewhere", source=source,
                          pending=transfer is not None, pending_mine=mine,
                          townships=[r for r in intake_regions() if r.level == "township"], **ctx)

    def _work_choices(self, region: Region | None) -> dict:
        township = township_of(region) if region is not None else None
        if township is None:
            townships = [r for r in intake_regions() if r.level == "township"]
            township = townships[0] if len(townships) == 1 else None
        if township is None:
            return {"windows": [], "handlers": [], "work_township": None}
        return {"windows": windows_of(township), "handlers": staff_of(db.session, township),
                "work_township": township}

    @expose("/save", methods=["POST"])
    def save(self):
        raw = request.form.get("id_number", "")
        try:
            parsed = parse_id_number(raw)
        except IdNumberError as exc:
            return self._page(400, number=raw[:30], errors={"id_number": _(str(exc))})
        scope = current_scope()
        found = db.session.scalar(select(Person).where(Person.id_number == parsed.number))
        errors: dict[str, str] = {}
        day = _date(request.form.get("reported_home_on"), datetime.date.today())
        if day is None:
            errors["reported_home_on"] = _("日期格式应为 年-月-日")
        if found is not None:
            person = get_or_404(Person, found.id, EDIT)  # another township's person: 404, nothing written
            profile = person.veteran_profile
            if profile is None:
                profile = VeteranProfile(person=person)
                db.session.add(profile)
            region = person.region
        else:
            region = next((r for r in intake_regions() if str(r.id) == request.form.get("region")), None)
            if region is None:
                errors["region"] = _("请选择所属乡镇/村")
            name = _text("name", 40)
            if not name:
                errors["name"] = _("请填写姓名")
            person = Person(name=name or "", id_number=parsed.number, gender=parsed.gender,
                            birth_date=parsed.birth_date, phone=_text("phone", 20), address=_text("address", 200),
                            region=region)
            profile = VeteranProfile(person=person, service=_choice("service", Service),
                                     enlisted_on=_date(request.form.get("enlisted_on")),
                                     discharged_on=_date(request.form.get("discharged_on")),
                                     discharge_type=_choice("discharge_type", DischargeType),
                                     specialty=_text("specialty", 200))
        township = township_of(region) if region is not None else None
        window = handler = None
        if township is not None:
            window_id = request.form.get("window") or ""
            window = next((w for w in windows_of(township) if str(w.id) == window_id), None)
            if window_id and window is None:
                errors["window"] = _("所选内容不在您的授权范围内")
            handler_id = request.form.get("handler") or ""
            handler = next((p for p in staff_of(db.session, township) if str(p.id) == handler_id), None)
            if handler is None:
                errors["handler"] = _("请选择经办人(本乡镇在岗工作人员)")
        if errors:
            db.session.rollback()
            return self._redo(parsed.number, errors, region)
        if found is None:
            db.session.add(person)
            db.session.add(profile)
        profile.reported_home_on = day
        record = ServiceRecord(person=person, township=township, kind=ServiceKind.REPORT_HOME.value,
                               served_on=day, window=window, handler=handler, status=ServiceStatus.DONE.value,
                               notes=_text("notes", 2000) or _("返乡报到登记"))
        db.session.add(record)
        try:
            db.session.commit()
        except WriteRefused as exc:
            db.session.rollback()
            return self._redo(parsed.number, {p.field: _(p.message) for p in exc.problems} or
                              {"_": exc.message}, None, message=exc.message)
        if not scope.allows(person, VIEW):  # pragma: no cover - the gate refused that already
            abort(404)
        flash(_("已办理返乡报到:%(who)s", who=person.name), "success")
        return redirect(url_for(".done", record_id=record.id))

    def _redo(self, number: str, errors: dict, region, message: str | None = None):
        form = {k: v for k, v in request.form.items() if k != "csrf_token"}
        if message:
            errors.setdefault("_", message)
        return self._lookup(number, 400, errors=errors, form=form, region=region)

    @expose("/done/<int:record_id>")
    def done(self, record_id: int):
        record = get_or_404(ServiceRecord, record_id, VIEW)
        return self.render("intake/done.html", record=record, label=person_label(record.person))

    @expose("/transfer", methods=["POST"])
    def request_transfer(self):
        """The receiving clerk asks for a person registered in another township."""
        try:
            parsed = parse_id_number(request.form.get("id_number", ""))
        except IdNumberError:
            abort(404)
        target = next((r for r in intake_regions() if r.level == "township"
                       and r.code == request.form.get("township")), None)
        found = db.session.scalar(select(Person).where(Person.id_number == parsed.number))
        if target is None or found is None or current_scope().allows(found, VIEW):
            abort(404)
        source = township_of(found.region)
        if source is None or source.id == target.id:
            abort(404)
        transfer = Transfer(person=found, from_township=source, to_township=target,
                            requested_by_id=current_user.id, note=_text("note", 200))
        db.session.add(transfer)
        try:
            db.session.commit()
        except WriteRefused as exc:
            db.session.rollback()
            flash(_("未提交:%(why)s", why=exc.message), "error")
            return redirect(url_for(".index", id_number=parsed.number))
        flash(_("已向%(name)s提交户籍迁入申请,待对方移交", name=source.name), "success")
        return redirect(url_for(".transfers"))

    @expose("/transfers")
    def transfers(self):
        return self.render("intake/transfers.html", incoming=incoming_transfers(), outgoing=outgoing_transfers(),
                           status_label=TransferStatus.label_of, person_label=person_label,
                           visible=lambda p: current_scope().allows(p, VIEW))

    @expose("/transfers/<int:transfer_id>/hand-over", methods=["POST"])
    def hand_over_view(self, transfer_id: int):
        transfer = outgoing_or_404(transfer_id)
        person = transfer.person
        if holds_post_in(person, transfer.from_township, datetime.date.today()):
            flash(_("%(who)s 在%(where)s仍有现任职务,请先填写离任日期再移交", who=person.name,
                    where=transfer.from_township.name), "error")
            return redirect(url_for(".transfers"))
        name, target = person.name, transfer.to_township.name
        hand_over(transfer, current_user.id)
        try:
            db.session.commit()
        except WriteRefused as exc:
            db.session.rollback()
            flash(_("未移交:%(why)s", why=exc.message), "error")
            return redirect(url_for(".transfers"))
        flash(_("已将 %(who)s 移交%(where)s", who=name, where=target), "success")
        return redirect(url_for(".transfers"))

    @expose("/transfers/<int:transfer_id>/refuse", methods=["POST"])
    def refuse_view(self, transfer_id: int):
        transfer = outgoing_or_404(transfer_id)
        transfer.status = TransferStatus.REFUSED.value
        transfer.decided_by_id = current_user.id
        transfer.decided_at = utcnow()
        transfer.note = _text("note", 200) or transfer.note
        try:
            db.session.commit()
        except WriteRefused as exc:
            db.session.rollback()
            flash(_("未保存:%(why)s", why=exc.message), "error")
            return redirect(url_for(".transfers"))
        flash(_("已拒绝迁入申请"), "success")
        return redirect(url_for(".transfers"))


class OpenItemsView(ScopedScreen):
    """/admin/service-desk: the station's open items per window (受理中 / 办理中), overdue marked."""

    access_model = "ServiceRecord"

    @expose("/")
    def index(self):
        today = datetime.date.today()
        items = open_items(db.session, current_scope())
        groups: dict[object, list[ServiceRecord]] = {}
        for item in items:
            groups.setdefault((item.township, item.window), []).append(item)
        ordered = sorted(groups.items(), key=lambda kv: (kv[0][0].code, kv[0][1].id if kv[0][1] else 0))
        return self.render("intake/open_items.html", groups=ordered, today=today,
                           kind_label=ServiceKind.label_of, status_label=ServiceStatus.label_of,
                           may_edit=lambda r: current_scope().allows(r, EDIT))


__all__ = ["IntakeView", "OpenItemsView", "format_transfer_person", "hand_over", "mask_id_number",
           "return_peaks", "veterans_window_figures"]
