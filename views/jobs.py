"""我的任务: the logged-in user's background jobs, their live progress and their result files.

Every path loads jobs through the scope helper (``Job.__scope__ = "owner:owner_id"``): another user's
job id answers 404, whoever asks. The page polls ``/admin/jobs/<id>.json`` every second
(``views/static/jobs.js``); leaving and coming back shows the same jobs, as they are stored.
"""

from __future__ import annotations

from urllib.parse import quote, urlencode

from flask import abort, current_app, flash, jsonify, redirect, request, send_file, url_for
from flask_admin import expose
from flask_babel import gettext as _
from sqlalchemy import select

from admin_app.jobs import enqueue, result_file
from admin_app.scope import VIEW, current_scope, get_or_404
from admin_app.spreadsheet import content_disposition
from models import Job, JobKind, JobStatus
from views.screens import ScopedScreen, find_view

LIST_LIMIT = 100
RESULT_MIMETYPES = {
    ".pdf": "application/pdf",
    ".csv": "text/csv; charset=utf-8",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def job_json(job: Job) -> dict:
    has_file = result_file(current_app, job) is not None
    return {
        "id": job.id,
        "title": job.title or _(JobKind.label_of(job.kind)),
        "status": job.status,
        "status_label": _(JobStatus.label_of(job.status)),
        "done": job.done,
        "total": job.total,
        "percent": job.percent,
        "message": job.message,
        "finished": job.finished,
        "download_url": url_for("jobs.download", job_id=job.id) if has_file else None,
        "finished_at": job.finished_at.strftime("%Y-%m-%d %H:%M:%S") if job.finished_at else "",
    }


class JobsView(ScopedScreen):
    """Any logged-in user has this screen; it shows only their own jobs (owner-scoped rows)."""

    access_model = None

    @expose("/")
    def index(self):
        stmt = current_scope().filter(select(Job), Job, VIEW).order_by(Job.id.desc()).limit(LIST_LIMIT)
        from admin_app.extensions import db

        jobs = db.session.scalars(stmt).all()
        return self.render("jobs/list.html", jobs=[job_json(j) | {"created_at": j.created_at} for j in jobs],
                           highlight=None)

    @expose("/<int:job_id>")
    def job(self, job_id: int):
        job = get_or_404(Job, job_id)
        return self.render("jobs/list.html", jobs=[job_json(job) | {"created_at": job.created_at}],
                           highlight=job.id)

    @expose("/<int:job_id>.json")
    def status(self, job_id: int):
        resp = jsonify(job_json(get_or_404(Job, job_id)))
        resp.headers["Cache-Control"] = "no-store"
        return resp

    @expose("/<int:job_id>/download")
    def download(self, job_id: int):
        job = get_or_404(Job, job_id)
        path = result_file(current_app, job)
        if path is None:
            abort(404)
        name = job.result_name or path.name
        resp = send_file(path, mimetype=RESULT_MIMETYPES.get(path.suffix), as_attachment=True, download_name=name,
                         max_age=0)
        resp.headers["Content-Disposition"] = content_disposition(name)  # as the synchronous downloads
        resp.headers["Cache-Control"] = "no-store"
        return resp


# -- starting a job from a request ---------------------------------------------------------------------
def start_job(kind: str | JobKind, params: dict, *, title: str, size: str, back_url: str,
              view: str = "jobs"):
    """The one way a request starts a background job (batch print, big export, county statistics).

    A GET never writes: it answers a confirmation page (what will be made, its estimated ``size``) whose
    form POSTs to the same URL with the CSRF token, which Flask-WTF's ``CSRFProtect`` checks before any
    view runs (400 without it). The POST queues the job, or finds the same one still unfinished
    (``enqueue``), and answers 303 to it in 我的任务. ``view`` is the endpoint of the admin screen the page
    is shown in (its menu entry stays active)."""
    if request.method != "POST":
        query = urlencode(list(request.args.items(multi=True)))
        action = quote(request.script_root + request.path) + (f"?{query}" if query else "")
        screen = find_view(current_app, view)
        if screen is None:
            raise LookupError(view)
        return screen.render("jobs/confirm.html", title=title, size=size, back_url=back_url,
                                        action=action)
    from admin_app.extensions import db
    from admin_app.gate import WriteRefused

    try:
        job = enqueue(kind, params, title=title)
    except WriteRefused as exc:
        db.session.rollback()
        flash(exc.message, "error")
        return redirect(back_url)
    return redirect(url_for("jobs.job", job_id=job.id), code=303)


