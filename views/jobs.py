"""我的任务: the logged-in user's background jobs, their live progress and their result files.

Every path loads jobs through the scope helper (``Job.__scope__ = "owner:owner_id"``): another user's
job id answers 404, whoever asks. The page polls ``/admin/jobs/<id>.json`` every second
(``views/static/jobs.js``); leaving and coming back shows the same jobs, as they are stored.
"""

from __future__ import annotations

from flask import abort, current_app, jsonify, send_file, url_for
from flask_admin import expose
from flask_babel import gettext as _
from sqlalchemy import select

from admin_app.jobs import result_file
from admin_app.scope import VIEW, current_scope, get_or_404
from models import Job, JobKind, JobStatus
from views.screens import ScopedScreen

LIST_LIMIT = 100


def job_json(job: Job) -> dict:
    done = job.status == JobStatus.DONE.value
    has_file = done and result_file(current_app, job) is not None
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
        resp = send_file(path, mimetype="application/pdf" if path.suffix == ".pdf" else None,
                         as_attachment=True, download_name=job.result_name or path.name, max_age=0)
        resp.headers["Cache-Control"] = "no-store"
        return resp
