"""The mentor's pages on learning progress: the groups assigned to the mentor, a group view (pupils
against the group's spread per measure, Vega-Lite charts plus the same data as a table, flagged
pupils with their explanation) and a pupil view across subjects with a timeline. A mentor sees only
groups assigned to them; every page that shows pupils is audited."""

from __future__ import annotations

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response

from eduketen.core import audit
from eduketen.core.db import unit_of_work
from eduketen.core.platform import Platform
from eduketen.insight import security
from eduketen.insight.api import ROLE_LABELS, _message, _staff_or_login
from eduketen.insight.pages import render
from eduketen.leervoortgang import repository as repo
from eduketen.leervoortgang import service as svc

router = APIRouter(prefix="/insight", include_in_schema=False)
MEASURE_ORDER = list(svc.MEASURES)


def _refuse(staff: security.Staff, title: str, message: str, status: int) -> Response:
    return _message(title, message, status, staff=staff, csrf=staff.csrf, role_label=ROLE_LABELS[staff.role])


def _may_see_group(session, staff: security.Staff, group) -> bool:
    if group is None:
        return False
    if staff.role == "mentor":
        return repo.is_mentor_of(session, staff.account_id, group.id)
    if staff.role == "school-administrator":
        return group.school_id == staff.school_id
    return False


def _chart_spec(ctx: svc.GroupContext, highlight: int | None = None) -> dict:
    """One row per measure: the group's spread (25th-75th percentile band, median rule) and every
    pupil as a dot; pupils with a signal in a strong colour. No names in the chart (the table has them)."""
    rows = []
    for m in MEASURE_ORDER:
        label, unit = svc.MEASURES[m]
        band = ctx.spread[m]
        layers_data = [
            {"pupil": i + 1, "value": p.values[m], "state": "dit is de leerling" if p.pupil_id == highlight else
             ("signaal" if p.signals else "geen signaal")}  # fmt: skip
            for i, p in enumerate(ctx.pupils)
            if p.values[m] is not None
        ]
        layers = []
        if band is not None:
            layers.append({"data": {"values": [{"lo": band[0], "hi": band[1]}]}, "mark": {"type": "rect", "color": "#d8dee6", "height": 26},
                           "encoding": {"x": {"field": "lo", "type": "quantitative"}, "x2": {"field": "hi"}}})  # fmt: skip
            layers.append({"data": {"values": [{"median": ctx.median[m]}]}, "mark": {"type": "rule", "color": "#5b6776", "strokeWidth": 2},
                           "encoding": {"x": {"field": "median", "type": "quantitative"}}})  # fmt: skip
        layers.append({
            "data": {"values": layers_data},
            "mark": {"type": "point", "filled": True, "size": 70, "opacity": 0.85},
            "encoding": {
                "x": {"field": "value", "type": "quantitative", "title": f"{label} ({unit})"},
                "color": {"field": "state", "type": "nominal", "title": None,
                          "scale": {"domain": ["geen signaal", "signaal", "dit is de leerling"], "range": ["#7d8da1", "#c0392b", "#154273"]}},
                "shape": {"field": "state", "type": "nominal", "title": None,
                          "scale": {"domain": ["geen signaal", "signaal", "dit is de leerling"], "range": ["circle", "diamond", "square"]}},
            },
        })  # fmt: skip
        rows.append({"height": 34, "width": 560, "layer": layers})
    return {"$schema": "https://vega.github.io/schema/vega-lite/v6.json", "vconcat": rows, "resolve": {"scale": {"x": "independent"}},
            "config": {"view": {"stroke": None}, "axis": {"labelFontSize": 12, "titleFontSize": 12}}}  # fmt: skip


def _json_for_page(data) -> str:
    # Inside <script type="application/json">: "<" escaped so "</script>" can never close it.
    return orjson.dumps(data).decode().replace("<", "\\u003c")


@router.get("/groups")
def groups_page(request: Request) -> Response:
    staff, redirect = _staff_or_login(request)
    if redirect:
        return redirect
    platform: Platform = request.app.state.platform
    with platform.read_sessions() as session:
        if staff.role == "mentor":
            groups = repo.groups_of_mentor(session, staff.account_id)
        elif staff.role == "school-administrator":
            groups = repo.groups_of_school(session, staff.school_id)
        else:
            return _refuse(staff, "Geen groepen", "Groepen zijn er voor mentoren en de schoolbeheerder.", 403)
        school = repo.school(session, staff.school_id)
        return render("groups.html", staff=staff, csrf=staff.csrf, role_label=ROLE_LABELS[staff.role], school=school, groups=groups)


def _period(platform: Platform, request: Request):
    from datetime import datetime

    raw = request.query_params.get("tot", "")
    if raw:
        try:
            until = datetime.fromisoformat(raw[:32])
            if until.tzinfo is not None:
                return until
        except ValueError:
            pass
    return None


@router.get("/groups/{group_id}")
def group_page(group_id: int, request: Request, vak: str | None = None) -> Response:
    staff, redirect = _staff_or_login(request)
    if redirect:
        return redirect
    platform: Platform = request.app.state.platform
    t = svc.Thresholds.from_settings(platform.settings)
    if not 1 <= group_id < 2**31:
        return _refuse(staff, "Niet gevonden", "Deze groep bestaat niet.", 404)
    with unit_of_work(platform.sessions) as session:
        group = repo.group(session, group_id)
        if not _may_see_group(session, staff, group):
            return _refuse(staff, "Geen toegang", "Deze groep is niet aan u toegewezen.", 403)
        ctx = svc.group_context(session, group.id, t=t, until=_period(platform, request), subject=vak or None)
        if vak and vak not in ctx.subjects:
            return _refuse(staff, "Niet gevonden", "Voor dit vak is er in deze periode geen voortgang.", 404)
        names = repo.names(session, [p.pupil_id for p in ctx.pupils])
        audit.record(session, actor=staff.actor, action="read", subject_type="progress",
                     subject_ids=[p.eck_id or f"pupil:{p.pupil_id}" for p in ctx.pupils], purpose="mentor: group view")  # fmt: skip
        pupils = sorted(ctx.pupils, key=lambda p: (not p.signals, names.get(p.pupil_id, "")))
        school = repo.school(session, group.school_id)
        return render("group.html", staff=staff, csrf=staff.csrf, role_label=ROLE_LABELS[staff.role], school=school, group=group,
                      ctx=ctx, pupils=pupils, names=names, measures=svc.MEASURES, vak=vak, thresholds=t,
                      chart=_json_for_page(_chart_spec(ctx)), flagged=sum(1 for p in ctx.pupils if p.signals))  # fmt: skip


@router.get("/pupils/{pupil_id}")
def pupil_page(pupil_id: int, request: Request) -> Response:
    staff, redirect = _staff_or_login(request)
    if redirect:
        return redirect
    platform: Platform = request.app.state.platform
    t = svc.Thresholds.from_settings(platform.settings)
    if not 1 <= pupil_id < 2**31:
        return _refuse(staff, "Niet gevonden", "Deze leerling bestaat niet.", 404)
    with unit_of_work(platform.sessions) as session:
        pupil = repo.pupil(session, pupil_id)
        group = None
        for gid in repo.group_of_pupil(session, pupil_id) if pupil else []:
            candidate = repo.group(session, gid)
            if _may_see_group(session, staff, candidate):
                group = candidate
                break
        if group is None:
            return _refuse(staff, "Geen toegang", "Deze leerling zit niet in een groep die aan u is toegewezen.", 403)
        until = _period(platform, request)
        overall = svc.group_context(session, group.id, t=t, until=until)
        per_subject = []
        for subject in overall.subjects:
            ctx = svc.group_context(session, group.id, t=t, until=until, subject=subject)
            me = next(p for p in ctx.pupils if p.pupil_id == pupil_id)
            per_subject.append({"subject": subject, "me": me, "median": ctx.median})
        me = next(p for p in overall.pupils if p.pupil_id == pupil_id)
        timeline = repo.records_of(session, group.school_id, [pupil.eck_id] if pupil.eck_id else [], overall.since, overall.until)
        name = repo.names(session, [pupil_id]).get(pupil_id, f"Leerling {pupil_id}")
        audit.record(session, actor=staff.actor, action="read", subject_type="progress", subject_ids=[pupil.eck_id or f"pupil:{pupil_id}"],
                     purpose="mentor: pupil view")  # fmt: skip
        points = [{"datum": r[3].isoformat(), "vak": r[1], "score": r[4]} for r in timeline if r[4] is not None]
        spec = {
            "$schema": "https://vega.github.io/schema/vega-lite/v6.json", "width": 640, "height": 220,
            "data": {"values": points}, "mark": {"type": "line", "point": True, "interpolate": "monotone"},
            "encoding": {"x": {"field": "datum", "type": "temporal", "title": "datum"},
                         "y": {"field": "score", "type": "quantitative", "title": "score (%)", "scale": {"domain": [0, 100]}},
                         "color": {"field": "vak", "type": "nominal", "title": "vak"}},
        }  # fmt: skip
        school = repo.school(session, group.school_id)
        return render("pupil.html", staff=staff, csrf=staff.csrf, role_label=ROLE_LABELS[staff.role], school=school, group=group,
                      name=name, me=me, overall=overall, per_subject=per_subject, measures=svc.MEASURES, timeline=timeline[-200:][::-1],
                      chart=_json_for_page(spec), group_chart=_json_for_page(_chart_spec(overall, highlight=pupil_id)))  # fmt: skip


@router.get("/school")
def school_page(request: Request) -> Response:
    """The school overview for the school's administrator: per group, no pupil names."""
    staff, redirect = _staff_or_login(request)
    if redirect:
        return redirect
    if staff.role != "school-administrator":
        return _refuse(staff, "Geen toegang", "Het schooloverzicht is voor de schoolbeheerder.", 403)
    platform: Platform = request.app.state.platform
    t = svc.Thresholds.from_settings(platform.settings)
    with platform.read_sessions() as session:
        rows = svc.school_overview(session, staff.school_id, t=t, until=_period(platform, request))
        school = repo.school(session, staff.school_id)
        return render("school.html", staff=staff, csrf=staff.csrf, role_label=ROLE_LABELS[staff.role], school=school, rows=rows,
                      labels=svc.SIGNAL_LABELS, measures=svc.MEASURES, thresholds=t)  # fmt: skip


@router.get("/usage")
def usage_page(request: Request) -> Response:
    """For quality staff: activation and use of learning materials per material and supplier per
    week, over every school, in counts only."""
    from eduketen.core.db import utcnow

    staff, redirect = _staff_or_login(request)
    if redirect:
        return redirect
    if staff.role not in ("quality", "platform-admin"):
        return _refuse(staff, "Geen toegang", "Activatie en gebruik zijn er voor kwaliteitsmedewerkers.", 403)
    platform: Platform = request.app.state.platform
    weeks = 8
    until = _period(platform, request) or utcnow()
    with platform.read_sessions() as session:
        rows = svc.usage_per_week(session, until=until, weeks=weeks)
    return render("usage.html", staff=staff, csrf=staff.csrf, role_label=ROLE_LABELS[staff.role], rows=rows, weeks=weeks,
                  chart=_json_for_page(_usage_spec(rows)))  # fmt: skip


def _usage_spec(rows: list[dict]) -> dict:
    return {
        "$schema": "https://vega.github.io/schema/vega-lite/v6.json", "width": 640, "height": 240,
        "data": {"values": [{"week": r["week"], "materiaal": f"{r['course']} ({r['supplier']})", "gebruikt": r["used"]} for r in rows]},
        "mark": {"type": "line", "point": True},
        "encoding": {"x": {"field": "week", "type": "ordinal", "title": "week"},
                     "y": {"field": "gebruikt", "type": "quantitative", "title": "leerlingen die het gebruikten"},
                     "color": {"field": "materiaal", "type": "nominal", "title": "materiaal"}},
    }  # fmt: skip
