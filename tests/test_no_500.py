"""No 500: every input the attacker's run turned into a 500 now answers 4xx (or the form again, with a
field error) in Chinese, and the database is unchanged."""

from __future__ import annotations

import datetime
import io

import pytest
from sqlalchemy import event, text
from sqlalchemy.orm import Session
from test_access_matrix import build_rows, parse_form, snapshot

from admin_app.extensions import db as _db
from models import AnnualPlan, DutyAdjustment, PlanItem

HUGE = str(2**70)  # past 64 bits: SQLite's driver raised OverflowError
CJK_ERROR = ("超出", "之间", "有效", "控制字符", "空字符", "无效", "不存在", "过大", "不能", "不是")


def chinese_refusal(rv) -> bool:
    body = rv.get_data(as_text=True)
    return any(word in body for word in CJK_ERROR)


@pytest.fixture()
def rows(world, db):
    built = build_rows(db, world.shanshan)
    db.session.commit()
    return built


# -- numbers past 64 bits and negative pages in the URL -------------------------------------------------

@pytest.mark.parametrize("url", [
    f"/admin/person/details/?id={HUGE}",
    f"/admin/person/edit/?id={HUGE}",
    f"/admin/person/details/?id=-{HUGE}",
    f"/admin/annual_plan/details/?id={HUGE}",
    f"/admin/person/ajax/lookup/?name=person&query=a&id={HUGE}",
])
def test_huge_id_is_404_not_500(client, login, rows, db, url):
    login("city")
    before = snapshot(db)
    rv = client.get(url)
    assert 400 <= rv.status_code < 500, (url, rv.status_code)
    assert snapshot(db) == before


LIST_QUERIES = [f"page={HUGE}", "page=-1", f"page_size={HUGE}", "page_size=-5", f"sort={HUGE}", "sort=-1",
                f"desc={HUGE}", f"search={HUGE}"]


def test_huge_or_negative_list_arguments(client, login, rows, db, app, endpoint):
    """Every generated list (``endpoint`` runs over them all), every filter it has, with 2^70 and -1."""
    from conftest import generated_views

    view = next(v for v in generated_views(app) if v.endpoint == endpoint)
    queries = list(LIST_QUERIES)
    for i in range(len(view._filters or [])):
        queries += [f"flt0_{i}={HUGE}", f"flt0_{i}=-{HUGE}", f"flt0_{i}=-1", f"flt0_{i}={HUGE}+to+{HUGE}"]
    login("city")
    for query in queries:
        rv = client.get(f"/admin/{endpoint}/?{query}")
        assert rv.status_code in (200, 400), (endpoint, query, rv.status_code)


def test_huge_ids_in_hand_made_posts(client, login, rows, db):
    login("city")
    before = snapshot(db)
    for url, data in [(f"/admin/plans/item/{HUGE}/status", {"status": "done"}),
                      ("/admin/duty-template/move", {"id": HUGE, "direction": "up"}),
                      ("/admin/duty-template/delete", {"id": HUGE}),
                      ("/admin/duty-template/line", {"id": HUGE, "post_title": "岗位"}),
                      ("/admin/person/action/", {"action": "delete", "rowid": [HUGE]}),
                      (f"/admin/duties/{rows['Room'].region.code}/adjust",
                       {"action": "move", "line": "e1", "target_post": HUGE, "reason": "x"})]:
        rv = client.post(url, data=data)
        assert 400 <= rv.status_code < 500, (url, rv.status_code)
    assert snapshot(db) == before


# -- NUL bytes --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("url", ["/admin/person/?search=%00", "/admin/person/?search=a%00b",
                                 "/admin/person/?flt0_0=%00", "/admin/duties/4313%00/",
                                 "/admin/person/details/?id=1%00", "/print/4313%00/org-chart.pdf",
                                 "/admin/plans/?year=20%0026"])
def test_nul_in_url_is_400_in_chinese(client, login, rows, db, url):
    login("city")
    rv = client.get(url)
    assert rv.status_code == 400, (url, rv.status_code)
    assert "无效字符" in rv.get_data(as_text=True)


def test_nul_in_a_text_field_is_a_field_error(client, login, rows, db):
    login("city")
    room = rows["Room"]
    url = f"/admin/room/edit/?id={room.id}"
    form = parse_form(client.get(url).get_data(as_text=True))
    before = snapshot(db)
    form.values["name"] = "办公\x00室"
    rv = client.post(url, data=form.values)
    assert rv.status_code < 500
    assert rv.status_code != 302, "saved a NUL byte"
    assert "控制字符" in rv.get_data(as_text=True) or chinese_refusal(rv)
    assert snapshot(db) == before


def test_nul_in_an_imported_cell_writes_nothing(client, login, world, db):
    login("shanshan")
    before = snapshot(db)
    payload = "名称,类别,所属乡镇/村\n办公\x00室,办公室,杉山镇\n".encode()
    rv = client.post("/admin/room/import/", data={"file": (io.BytesIO(payload), "rooms.csv")},
                     content_type="multipart/form-data")
    assert 400 <= rv.status_code < 500
    assert chinese_refusal(rv) or "无法读取" in rv.get_data(as_text=True)
    assert snapshot(db) == before


# -- numbers a column cannot hold ---------------------------------------------------------------------

def _post_edit(client, endpoint: str, obj, **changes):
    url = f"/admin/{endpoint}/edit/?id={obj.id}"
    page = client.get(url)
    assert page.status_code == 200, (endpoint, page.status_code)
    form = parse_form(page.get_data(as_text=True))
    for key, value in changes.items():
        assert key in form.values, (endpoint, key, sorted(form.values))
        form.values[key] = value
    return client.post(url, data=form.values)


@pytest.mark.parametrize("value", [str(2**31), str(-(2**31) - 1), HUGE, "1e309", "9" * 400])
@pytest.mark.parametrize(("screen", "model", "field"), [
    ("plan_template_item", "PlanTemplateItem", "sort_order"),
    ("duty_template_entry", "DutyTemplateEntry", "sort_order"),
    ("post", "Post", "sort_order"),
    ("militia_membership", "MilitiaMembership", "year"),
    ("annual_plan", "AnnualPlan", "year"),
    ("plan_item", "PlanItem", "month"),
])
def test_integers_out_of_range_are_field_errors(client, login, rows, db, screen, model, field, value):
    login("city")
    before = snapshot(db)
    rv = _post_edit(client, screen, rows[model], **{field: value})
    assert rv.status_code < 500 and rv.status_code != 302, (screen, field, value, rv.status_code)
    assert chinese_refusal(rv) or "integer" in rv.get_data(as_text=True), (screen, field, value)
    assert snapshot(db) == before


def test_oversized_headcount_is_a_field_error(client, login, rows, db, app):
    """编制数 lives on the post (or, with the post catalogue, on its type)."""
    login("city")
    for endpoint, model in (("post", "Post"), ("post_type", "PostType")):
        obj = rows.get(model)
        if obj is None or "headcount" not in parse_form(
                client.get(f"/admin/{endpoint}/edit/?id={obj.id}").get_data(as_text=True)).values:
            continue
        before = snapshot(db)
        for value in (HUGE, str(2**31), "100000"):
            rv = _post_edit(client, endpoint, obj, headcount=value)
            assert rv.status_code < 500 and rv.status_code != 302, (endpoint, value)
        assert snapshot(db) == before
        return
    pytest.fail("no form edits 编制数")


@pytest.mark.parametrize("value", ["1e309", "-1e309", "Infinity", "-Infinity", "NaN", "sNaN", "100000000",
                                   "1e7"])
def test_area_must_be_a_finite_number_that_fits(client, login, rows, db, value):
    login("city")
    before = snapshot(db)
    rv = _post_edit(client, "room", rows["Room"], area=value)
    assert rv.status_code < 500 and rv.status_code != 302, (value, rv.status_code)
    assert snapshot(db) == before


def test_area_that_fits_is_saved(client, login, rows, db):
    login("city")
    rv = _post_edit(client, "room", rows["Room"], area="120.5")
    assert rv.status_code == 302
    db.session.expire_all()
    assert float(db.session.get(type(rows["Room"]), rows["Room"].id).area) == 120.5


# -- searches ---------------------------------------------------------------------------------------------

def test_search_of_thousands_of_words(client, login, rows, db):
    login("city")
    words = " ".join(f"词{i}" for i in range(1500))
    rv = client.get("/admin/person/", query_string={"search": words})
    assert rv.status_code == 200
    rv = client.get("/admin/veteran_profile/", query_string={"search": words})
    assert rv.status_code == 200  # a joined search (人员姓名) too


def test_search_still_finds_with_the_first_terms(client, login, rows, db):
    login("city")
    name = rows["Person"].name
    page = client.get("/admin/person/", query_string={"search": name}).get_data(as_text=True)
    assert name in page


# -- request size -------------------------------------------------------------------------------------

def test_body_past_max_content_length_is_413_in_chinese(client, login, world, app):
    login("shanshan")
    big = b"x" * (app.config["MAX_CONTENT_LENGTH"] + 1)
    rv = client.post("/admin/room/import/", data={"file": (io.BytesIO(big), "big.csv")},
                     content_type="multipart/form-data")
    assert rv.status_code == 413
    assert "过大" in rv.get_data(as_text=True)


def test_max_content_length_is_set(app):
    assert 0 < app.config["MAX_CONTENT_LENGTH"] <= 16 * 1024 * 1024


# -- races: the second of two requests that read the same rows ------------------------------------------

@pytest.fixture()
def race(app):
    """``race(sql)`` runs ``sql`` in the request's transaction just before its first flush, as if a
    parallel request had committed it between our read and our write."""
    installed = []

    def arm(sql: str, **params):
        fired = []

        def before_flush(session, flush_context, instances):
            if not fired and session.new | session.dirty | session.deleted:
                fired.append(True)
                session.connection().execute(text(sql), params)

        event.listen(Session, "before_flush", before_flush)
        installed.append(before_flush)

    yield arm
    for fn in installed:
        event.remove(Session, "before_flush", fn)


def _adjustments(db, world):
    from models import Duty, DutyTemplateEntry

    duty = Duty(name="民兵整组", category="armed_forces")
    entry = DutyTemplateEntry(post_title="武装部部长", duty=duty, sort_order=10)
    db.session.add_all([duty, entry])
    db.session.flush()
    for action in ("remove", "reword"):
        db.session.add(DutyAdjustment(township=world.shanshan, action=action, duty=duty, template_entry=entry,
                                      new_wording="本镇表述" if action == "reword" else None, reason="实际需要",
                                      made_at=datetime.datetime(2026, 1, 1, 8, 0)))
        db.session.commit()


def test_revert_all_twice_at_once_is_409_not_500(client, login, world, db, race):
    _adjustments(db, world)
    login("shanshan")
    before = snapshot(db)
    # the other click deleted the adjustments first: ours match no row any more
    race("DELETE FROM duty_adjustment WHERE township_id = :t", t=world.shanshan.id)
    rv = client.post(f"/admin/duties/{world.shanshan.code}/revert", data={"all": "1"})
    assert rv.status_code == 409
    assert "同时" in rv.get_data(as_text=True)
    assert snapshot(db) == before  # our transaction (and the simulated one inside it) rolled back


def test_revert_all_three_times_in_a_row_is_never_500(client, login, world, db):
    _adjustments(db, world)
    login("shanshan")
    codes = [client.post(f"/admin/duties/{world.shanshan.code}/revert", data={"all": "1"}).status_code
             for _ in range(3)]
    assert all(c < 500 for c in codes), codes
    assert db.session.query(DutyAdjustment).count() == 0


def _plan_item(db, world):
    plan = AnnualPlan(township=world.shanshan, year=2026, title="2026 年度计划")
    item = PlanItem(plan=plan, month=3, title="民兵整组", status="planned")
    db.session.add_all([plan, item])
    db.session.commit()
    return item


def test_parallel_plan_item_status_change_is_409(client, login, world, db, race):
    item = _plan_item(db, world)
    login("shanshan")
    before = snapshot(db)
    race("UPDATE plan_item SET version = version + 1 WHERE id = :i", i=item.id)
    rv = client.post(f"/admin/plans/item/{item.id}/status", data={"status": "done"})
    assert rv.status_code == 409
    assert "他人修改" in rv.get_data(as_text=True)
    assert snapshot(db) == before


def test_plan_item_status_change_without_race_is_saved(client, login, world, db):
    item = _plan_item(db, world)
    login("shanshan")
    rv = client.post(f"/admin/plans/item/{item.id}/status", data={"status": "done"})
    assert rv.status_code == 302
    db.session.expire_all()
    assert db.session.get(PlanItem, item.id).status == "done"


def test_parallel_requests_on_postgresql(app, world, db):
    """Real parallel requests (PostgreSQL only: SQLite in memory is one connection): three revert-alls
    and three status changes at once, never a 500."""
    if _db.engine.dialect.name != "postgresql":
        pytest.skip("needs a database with real concurrent connections")
    import threading

    _adjustments(db, world)
    item = _plan_item(db, world)
    results: list[int] = []
    barrier = threading.Barrier(6)

    def run(url, data):
        client = app.test_client()
        client.post("/login", data={"username": "shanshan", "password": "yibuyizhan-demo"})
        barrier.wait()
        results.append(client.post(url, data=data).status_code)

    threads = [threading.Thread(target=run, args=(f"/admin/duties/{world.shanshan.code}/revert", {"all": "1"}))
               for _ in range(3)]
    threads += [threading.Thread(target=run, args=(f"/admin/plans/item/{item.id}/status",
                                                   {"status": s, "note": s}))
                for s in ("done", "in_progress", "dropped")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(results) == 6 and all(c < 500 for c in results), results
