"""Hand-made duty screens: the city template editor and each township's duty division (职责分工).

Views only orchestrate: the merge, counts and impact live in ``models.duty_logic``; every read and
write goes through ``admin_app.scope``.
"""

from __future__ import annotations

import datetime

from flask import abort, flash, redirect, request, url_for
from flask_admin import expose
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from admin_app.extensions import db
from admin_app.scope import CREATE, DELETE, EDIT, VIEW, current_scope, get_or_404
from models import Duty, DutyAdjustment, DutyTemplateEntry, Post, Region
from models.duty_logic import (
    ADDED,
    REMOVED,
    STATUS_LABELS,
    current_holders,
    effective_duties,
    find_line,
    lines_by_post,
    person_loads,
    summarise,
    template_impact,
)
from models.enums import AdjustmentAction, DutyCategory

from .base import STALE_MESSAGE
from .screens import ScopedScreen

# -- the city template ---------------------------------------------------------------------------------

class DutyTemplateView(ScopedScreen):
    """职责模板维护: the city template grouped by post title; edit, add, reorder, delete lines."""

    access_model = "DutyTemplateEntry"

    def _may(self, action: str) -> bool:
        return current_scope().allows(DutyTemplateEntry(), action)

    def is_visible(self) -> bool:
        # In the menu of those who maintain the city template; a clerk reads it through 职责分工.
        return self._may(EDIT) or self._may(CREATE)

    def _page(self, errors: dict | None = None, form: dict | None = None, status: int = 200):
        entries = db.session.scalars(select(DutyTemplateEntry).order_by(
            DutyTemplateEntry.sort_order, DutyTemplateEntry.id)).all()
        groups: dict[str, list[DutyTemplateEntry]] = {}
        for entry in entries:
            groups.setdefault(entry.post_title, []).append(entry)
        impact = template_impact(db.session, current_scope().region_ids(VIEW, "DutyAdjustment"))
        affected = sorted({t.name for per in impact.values() for t, changed in per if changed})
        body = self.render("duties/template.html", groups=groups, impact=impact, affected=affected,
                           catalogue=_catalogue_titles(),
                           categories=DutyCategory.choices(), category_label=DutyCategory.label_of,
                           may_edit=self._may(EDIT), may_create=self._may(CREATE),
                           may_delete=self._may(DELETE), errors=errors or {}, form=form or {})
        return body, status

    @expose("/")
    def index(self):
        return self._page()

    @expose("/line", methods=["POST"])
    def save_line(self):
        """Create a line (no id) or reword / re-post one."""
        ident = request.form.get("id")
        post_title = (request.form.get("post_title") or "").strip()
        wording = (request.form.get("wording") or "").strip() or None
        errors: dict[str, str] = {}
        if ident:
            entry = get_or_404(DutyTemplateEntry, ident, EDIT)
            expected = request.form.get("row_version")
            if expected and expected != str(entry.version):
                return self._page({"post_title": _(STALE_MESSAGE)}, request.form, 409)
        else:
            if not self._may(CREATE):
                abort(404)
            name = (request.form.get("duty_name") or "").strip()
            category = request.form.get("category")
            if not name:
                errors["duty_name"] = _("请填写职责名称")
            elif len(name) > 80:
                errors["duty_name"] = _("职责名称不能超过 80 个字")
            if category not in DutyCategory.labels():
                errors["category"] = _("请选择职责类别")
            entry = DutyTemplateEntry()
        if not post_title:
            errors["post_title"] = _("请填写岗位名称")
        elif len(post_title) > 60:
            errors["post_title"] = _("岗位名称不能超过 60 个字")
        elif (not ident or post_title != entry.post_title) and post_title not in _catalogue_titles() \
                and request.form.get("new_post_title") != post_title:
            # A typo ("武装部部张") would silently start a new post group: a title outside the city post
            # catalogue is taken only when the user confirms it (the page offers the checkbox).
            errors["post_title"] = _("“%(title)s”不是岗位目录中的岗位名称。请从列表中选择;确需新的岗位分组,"
                                     "请勾选“确认新增岗位分组”后再保存", title=post_title)
            errors["confirm_post_title"] = post_title
        if errors:
            return self._page(errors, request.form, 400)
        changed_text = ident and (entry.post_title, entry.text) != (post_title, wording or entry.duty.name)
        entry.post_title, entry.wording = post_title, wording
        if not ident:
            duty = db.session.scalar(select(Duty).where(Duty.name == name, Duty.region_id.is_(None)))
            if duty is None:
                duty = Duty(name=name, category=category)
            entry.duty = duty
            last = db.session.scalar(select(func.max(DutyTemplateEntry.sort_order)))
            entry.sort_order = (last or 0) + 10
            db.session.add(entry)
        db.session.flush()
        db.session.commit()
        if changed_text:
            names = sorted(t.name for t, _changed in template_impact(db.session).get(entry.id, []))
            if names:
                flash(_("已保存。以下乡镇(街道)调整过此条,保留其调整并标注“模板已更新”:%(names)s",
                        names="、".join(names)), "warning")
                return redirect(url_for(".index"))
        flash(_("已保存"), "success")
        return redirect(url_for(".index"))

    @expose("/move", methods=["POST"])
    def move(self):
        """Swap a line with its neighbour under the same post title."""
        entry = get_or_404(DutyTemplateEntry, request.form.get("id"), EDIT)
        up = request.form.get("direction") == "up"
        group = db.session.scalars(select(DutyTemplateEntry).where(
            DutyTemplateEntry.post_title == entry.post_title).order_by(
            DutyTemplateEntry.sort_order, DutyTemplateEntry.id)).all()
        i = group.index(entry)
        j = i - 1 if up else i + 1
        if 0 <= j < len(group):
            other = group[j]
            if entry.sort_order == other.sort_order:
                other.sort_order += 1 if up else -1
            entry.sort_order, other.sort_order = other.sort_order, entry.sort_order
            db.session.commit()
        return redirect(url_for(".index"))

    @expose("/delete", methods=["POST"])
    def delete(self):
        entry = get_or_404(DutyTemplateEntry, request.form.get("id"), DELETE)
        # Adjustments on the line keep the township's version (see effective_duties); unlink them
        # explicitly so it works without database-enforced foreign keys too.
        for adj in db.session.scalars(select(DutyAdjustment).where(DutyAdjustment.template_entry_id == entry.id)):
            adj.template_entry_id = None
        db.session.delete(entry)
        db.session.commit()
        flash(_("已删除模板条目"), "success")
        return redirect(url_for(".index"))


# -- township duty division ----------------------------------------------------------------------------

class DutyDivisionView(ScopedScreen):
    """职责分工: per township, the effective table, its differences from the template, revert."""

    access_model = "DutyAdjustment"

    @expose("/")
    def index(self):
        townships = current_scope().regions("DutyAdjustment")
        if len(townships) == 1:
            return redirect(url_for(".township", code=townships[0].code))
        rows = []
        for township in townships:
            summary = summarise(effective_duties(township, include_removed=True, session=db.session))
            rows.append((township, summary))
        by_adjustments = sorted(rows, key=lambda r: (-r[1].differences, r[0].code))
        by_non_core = sorted(rows, key=lambda r: (-r[1].non_core, r[0].code))
        return self.render("duties/overview.html", rows=rows, by_adjustments=by_adjustments,
                           by_non_core=by_non_core)

    def _page(self, township: Region, errors: dict | None = None, form: dict | None = None,
              status: int = 200):
        scope = current_scope()
        lines = effective_duties(township, include_removed=True, session=db.session)
        summary = summarise(lines)
        today = datetime.date.today()
        loads = person_loads(lines, current_holders(db.session, township, today))
        posts = db.session.scalars(scope.filter(select(Post).where(Post.region_id == township.id), Post, VIEW)
                                   .order_by(Post.sort_order, Post.id)).all()
        history = db.session.scalars(select(DutyAdjustment).where(DutyAdjustment.township_id == township.id)
                                     .order_by(DutyAdjustment.made_at.desc(), DutyAdjustment.id.desc())).all()
        may_adjust = scope.allows(DutyAdjustment(township=township), CREATE)
        may_revert = scope.allows(DutyAdjustment(township=township), DELETE)
        live = [ln for ln in lines if ln.status != REMOVED]
        body = self.render("duties/township.html", township=township, lines=lines,
                           groups=lines_by_post(live), summary=summary, loads=loads, posts=posts,
                           history=history, may_adjust=may_adjust, may_revert=may_revert,
                           actions=AdjustmentAction.choices(), categories=DutyCategory.choices(),
                           action_label=AdjustmentAction.label_of, status_labels=STATUS_LABELS,
                           errors=errors or {}, form=form or {}, REMOVED=REMOVED, ADDED=ADDED)
        return body, status

    @expose("/<code>/")
    def township(self, code):
        return self._page(current_scope().region_or_404(code, "DutyAdjustment", VIEW))

    @expose("/<code>/adjust", methods=["POST"])
    def adjust(self, code):
        township = current_scope().region_or_404(code, "DutyAdjustment", CREATE)
        form = request.form
        action = form.get("action")
        errors: dict[str, str] = {}
        adj = DutyAdjustment(township=township, action=action, reason=(form.get("reason") or "").strip(),
                             new_wording=(form.get("new_wording") or "").strip() or None,
                             author_id=current_user.id)
        if action not in AdjustmentAction.labels():
            return self._page(township, {"action": _("请选择调整方式")}, form, 400)
        if form.get("target_post"):
            post = db.session.scalar(current_scope().filter(
                select(Post).where(Post.id == _int(form.get("target_post"))), Post, VIEW))
            if post is None:
                errors["target_post"] = _("目标岗位必须是本乡镇(街道)的岗位")
            adj.target_post = post
        if action == AdjustmentAction.ADD.value:
            name = (form.get("duty_name") or "").strip()
            category = form.get("category")
            if not name or len(name) > 80:
                errors["duty_name"] = _("请填写职责名称(不超过 80 个字)")
            if category not in DutyCategory.labels():
                errors["category"] = _("请选择职责类别")
            adj.duty = Duty(name=name, category=category, region=township)
        else:
            lines = effective_duties(township, include_removed=True, session=db.session)
            line = find_line(lines, form.get("line") or "")
            if line is None or line.template_entry_id is None:
                errors["line"] = _("全市职责模板中没有这项职责,只能以“新增”方式添加")
            elif line.status == REMOVED:
                errors["line"] = _("这项职责已移除,请先恢复为模板再调整")
            else:
                adj.duty_id, adj.template_entry_id = line.duty_id, line.template_entry_id
        with db.session.no_autoflush:
            if adj.duty is not None:
                db.session.add(adj.duty)
            db.session.add(adj)
            for name, message in adj.check().items():
                if name == "duty" and "line" in errors:
                    continue
                errors.setdefault(name, _(message))
        if errors:
            db.session.rollback()
            return self._page(current_scope().region_or_404(code, "DutyAdjustment", CREATE), errors, form, 400)
        db.session.flush()
        db.session.commit()
        flash(_("已保存职责调整"), "success")
        # "#top": the form posted to …#adjust (a refusal lands at the form); the saved page starts at the top
        return redirect(url_for(".township", code=township.code, _anchor="top"))

    @expose("/<code>/revert", methods=["POST"])
    def revert(self, code):
        """Back to the template for one line or the whole township: delete the adjustments, audited."""
        township = current_scope().region_or_404(code, "DutyAdjustment", DELETE)
        if request.form.get("all"):
            ids = None
        else:
            lines = effective_duties(township, include_removed=True, session=db.session)
            line = find_line(lines, request.form.get("line") or "")
            if line is None or not line.adjustment_ids:
                flash(_("这一行没有可恢复的调整"), "error")
                return self._page(township, status=400)
            ids = line.adjustment_ids
        stmt = current_scope().filter(select(DutyAdjustment).where(DutyAdjustment.township_id == township.id),
                                      DutyAdjustment, DELETE)
        if ids is not None:
            stmt = stmt.where(DutyAdjustment.id.in_(ids))
        adjustments = db.session.scalars(stmt).all()
        local_duties = set()
        for adj in adjustments:
            if adj.action == AdjustmentAction.ADD.value and adj.duty.region_id == township.id:
                local_duties.add(adj.duty)
            db.session.delete(adj)
        try:
            db.session.flush()
        except (StaleDataError, IntegrityError):
            db.session.rollback()
            flash(_("这些调整已被他人同时恢复或修改,未重复操作。请核对当前职责分工"), "error")
            return self._page(current_scope().region_or_404(code, "DutyAdjustment", VIEW), status=409)
        for duty in local_duties:  # a local duty nothing refers to any more goes with its addition
            used = db.session.scalar(select(func.count()).select_from(DutyAdjustment)
                                     .where(DutyAdjustment.duty_id == duty.id))
            if not used and db.session.scalar(select(func.count()).select_from(DutyTemplateEntry)
                                              .where(DutyTemplateEntry.duty_id == duty.id)) == 0:
                db.session.delete(duty)
        try:
            db.session.commit()
        except (StaleDataError, IntegrityError):
            # Another request (a second click, a colleague) reverted the same lines first: its DELETE
            # matched the rows ours expected. Nothing of ours is written; the page shows the result.
            db.session.rollback()
            flash(_("这些调整已被他人同时恢复或修改,未重复操作。请核对当前职责分工"), "error")
            return self._page(current_scope().region_or_404(code, "DutyAdjustment", VIEW), status=409)
        flash(_("已恢复为全市模板(撤销 %(n)s 项调整)", n=len(adjustments)), "success")
        return redirect(url_for(".township", code=township.code))


def _catalogue_titles() -> list[str]:
    """The post titles of the city post catalogue (岗位目录), in its order."""
    from models import PostType

    return list(db.session.scalars(select(PostType.title).order_by(PostType.sort_order, PostType.id)))


def _int(value) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return -1
