"""``flask militia …``: the annual reorganisation (民兵整组) from the command line.

``militia rollover --region CODE --from YEAR --to YEAR --as USERNAME`` copies a township's roster of one
year into another as 待确认, as the 整组 screen's "按上年名册生成" does; a county or city code does it for
every township in it the user may write. Each township is its own write through the gate.
"""

from __future__ import annotations

import click
from flask.cli import AppGroup, with_appcontext
from flask_babel import gettext as _

from .cli import as_option

militia_cli = AppGroup("militia", help="民兵整组 (militia reorganisation).")


@militia_cli.command("rollover")
@click.option("--region", "code", required=True, help="乡镇/街道(或区县、市)的 12 位区划代码")
@click.option("--from", "from_year", type=click.IntRange(2000, 2100), required=True, help="上年度")
@click.option("--to", "to_year", type=click.IntRange(2000, 2100), required=True, help="新年度")
@with_appcontext
@as_option()
def rollover_command(code: str, from_year: int, to_year: int) -> None:
    """按上年名册生成新年度名册(待确认),列出未转入的人员。"""
    from sqlalchemy import select

    from models import Region
    from models.enums import RegionLevel
    from models.militia import rollover

    from .actor import current_actor
    from .extensions import db
    from .scope import CREATE

    if to_year <= from_year:
        raise click.ClickException(_("新年度必须晚于上年度"))
    scope = current_actor().scope
    region = db.session.scalars(select(Region).where(Region.code == code.strip())).first()
    if region is None:
        raise click.ClickException(_("区划不存在:%(code)s", code=code))
    townships = [region] if region.level == RegionLevel.TOWNSHIP.value else list(db.session.scalars(
        select(Region).where(Region.path.like(region.path + "%"), Region.level == RegionLevel.TOWNSHIP.value)
        .order_by(Region.code)))
    townships = [t for t in townships if scope.can("MilitiaMembership", CREATE)
                 and scope.covers_path(t.path, CREATE, "MilitiaMembership")]
    if not townships:
        raise click.ClickException(_("%(code)s 不在该账号的民兵整组授权范围内", code=code))
    for township in townships:
        result = rollover(db.session, township, from_year, to_year)
        db.session.commit()  # a refusal raises WriteRefused: as_option rolls back and exits 1
        click.echo(_("%(name)s:转入 %(n)s 人(待确认),新建单位 %(u)s 个,已在名册 %(a)s 人,未转入 %(left)s 人",
                     name=township.name, n=len(result.created), u=len(result.units_created), a=result.already,
                     left=len(result.left_out)))
        for leave in result.left_out:
            click.echo(f"  - {leave.membership.person.name}:{leave.reason}")
        for m in result.created:
            if m.review_note:
                click.echo(f"  ! {m.person.name}:{m.review_note}")
