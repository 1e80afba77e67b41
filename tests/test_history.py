"""Audit history: every save is recorded, and a row can be put back as it was."""

from models import AuditLog, Person


def _person(db, world, name="赵卫国"):
    person = Person(name=name, region=world.shanshan, phone="13800000000")
    db.session.add(person)
    db.session.commit()
    return person


def test_edit_is_recorded_and_restored(client, world, login, db):
    person = _person(db, world)
    login("shanshan")
    rv = client.post(f"/admin/person/edit/?id={person.id}",
                     data={"name": "赵卫东", "region": world.shanshan.id, "row_version": 1})
    assert rv.status_code == 302
    entry = db.session.query(AuditLog).filter_by(table_name="person", action="update").one()
    assert entry.before["name"] == "赵卫国" and entry.after["name"] == "赵卫东"
    assert entry.region_id == world.shanshan.id

    page = client.get(f"/admin/audit_log/details/?id={entry.id}").get_data(as_text=True)
    assert "恢复到修改前" in page
    rv = client.post(f"/admin/history/{entry.id}/restore")
    assert rv.status_code == 302
    db.session.expire_all()
    assert db.session.get(Person, person.id).name == "赵卫国"
    assert db.session.query(AuditLog).filter_by(action="restore", row_id=person.id).count() == 1


def test_deleted_row_comes_back_with_its_id(client, world, login, db):
    person = _person(db, world)
    pid = person.id
    login("shanshan")
    assert client.post("/admin/person/delete/", data={"id": pid}).status_code == 302
    assert db.session.query(Person).filter_by(id=pid).count() == 0
    entry = db.session.query(AuditLog).filter_by(action="delete", row_id=pid).one()
    assert "恢复已删除的记录" in client.get(f"/admin/audit_log/details/?id={entry.id}").get_data(as_text=True)
    assert client.post(f"/admin/history/{entry.id}/restore").status_code == 302
    db.session.expire_all()
    restored = db.session.get(Person, pid)
    assert restored is not None and restored.name == "赵卫国" and restored.phone == "13800000000"
    # The row is back: the button no longer offers a restore that could only be refused.
    assert "恢复已删除的记录" not in client.get(f"/admin/audit_log/details/?id={entry.id}").get_data(as_text=True)


def test_other_township_cannot_restore(client, world, login, db):
    person = _person(db, world)
    login("shanshan")
    client.post(f"/admin/person/edit/?id={person.id}",
                data={"name": "赵卫东", "region": world.shanshan.id, "row_version": 1})
    entry = db.session.query(AuditLog).filter_by(action="update").one()
    login("dake")
    assert client.get(f"/admin/audit_log/details/?id={entry.id}").status_code == 404
    assert client.post(f"/admin/history/{entry.id}/restore").status_code == 404
    login("viewer")  # sees the city, may not change anything
    assert client.post(f"/admin/history/{entry.id}/restore").status_code == 404
    db.session.expire_all()
    assert db.session.get(Person, person.id).name == "赵卫东"
    assert db.session.query(AuditLog).filter_by(action="restore").count() == 0


def test_restore_needs_csrf_token(app, client, world, login, db):
    person = _person(db, world)
    login("shanshan")
    client.post(f"/admin/person/edit/?id={person.id}",
                data={"name": "赵卫东", "region": world.shanshan.id, "row_version": 1})
    entry = db.session.query(AuditLog).filter_by(action="update").one()
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        assert client.post(f"/admin/history/{entry.id}/restore").status_code == 400
    finally:
        app.config["WTF_CSRF_ENABLED"] = False
    db.session.expire_all()
    assert db.session.get(Person, person.id).name == "赵卫东"


def test_stale_edit_is_refused_without_losing_the_other_save(client, world, login, db):
    """Optimistic locking: a form opened before someone else saved is refused, nothing overwritten."""
    person = _person(db, world)
    login("shanshan")
    assert client.post(f"/admin/person/edit/?id={person.id}",
                       data={"name": "赵卫东", "region": world.shanshan.id, "row_version": 1}).status_code == 302
    rv = client.post(f"/admin/person/edit/?id={person.id}",
                     data={"name": "赵卫南", "region": world.shanshan.id, "row_version": 1})
    assert rv.status_code == 200
    assert "此记录已被他人修改" in rv.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Person, person.id).name == "赵卫东"
