"""A school's application landscape: its systems, the flows of data between them, and for each
flow the consent (or mandate) state, the last successful exchange and the errors still open.

Flows come from the register (mandates per service, the administration's LAS, consent relations,
delivery addresses); what happened on them from each domain's own service (the Doorstroomtoets
chain, the results and progress exchanges) and from the refusals counted per flow. The diagram
is a server-rendered SVG (no script), the table holds the same data."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from xml.sax.saxutils import escape

from sqlalchemy.orm import Session

from eduketen.core.activity import Activity, OpenError
from eduketen.core.platform import NL
from eduketen.doorstroomtoets import service as dt_service
from eduketen.leervoortgang import service as progress_service
from eduketen.register import consent as consent_svc
from eduketen.register import repository as register_repo
from eduketen.register import service as register
from eduketen.register.models import School, Supplier, System
from eduketen.toetsresultaten import service as results_service

KIND_LABELS = {
    "las": "leerlingadministratie (LAS)",
    "toetssysteem": "toetssysteem",
    "leermiddel": "leermiddel",
    "dashboard": "dashboard",
    "administratie": "resultatenadministratie",
}
COLUMN = {"las": 0, "toetssysteem": 1, "leermiddel": 1, "administratie": 2, "dashboard": 2}
STATE_LABELS = {
    "aan": "Aan",
    "uit": "Uit (door de school uitgezet)",
    "aangevraagd": "Aangevraagd, nog niet aangezet",
    "wacht": "Aan, wacht op bevestiging ontvanger",
    "geen-mandaat": "Geen geldig mandaat vandaag",
    "geen-toestemming": "Geen toestemming",
}
CONSENT_STATES = {"active": "aan", "revoked": "uit", "requested": "aangevraagd", "awaiting-confirmation": "wacht"}
HEALTH_LABELS = {"fout": "open fouten", "ok": "in orde", "stil": "geen uitwisseling gezien", "uit": "uit"}


@dataclass
class Node:
    id: int
    name: str
    supplier: str
    supplier_oin: str
    kind: str
    own: bool  # run by this installation
    base_url: str | None = None
    x: int = 0
    y: int = 0

    @property
    def kind_label(self) -> str:
        return KIND_LABELS.get(self.kind, self.kind)


@dataclass
class Flow:
    number: int
    source: int
    receiver: int
    api: str
    label: str
    basis: str  # "mandaat" | "toestemming"
    state: str  # a key of STATE_LABELS
    activity: Activity | None  # None: this installation does not see the exchange
    notes: list[str] = field(default_factory=list)

    @property
    def state_label(self) -> str:
        return STATE_LABELS[self.state]

    @property
    def errors(self) -> list[OpenError]:
        return self.activity.errors if self.activity else []

    @property
    def open_errors(self) -> int:
        return self.activity.open_errors if self.activity else 0

    @property
    def last_ok(self) -> datetime | None:
        return self.activity.last_ok if self.activity else None

    @property
    def health(self) -> str:
        if self.open_errors:
            return "fout"
        if self.state in ("uit", "geen-mandaat", "geen-toestemming", "aangevraagd"):
            return "uit"
        return "ok" if self.last_ok else "stil"


@dataclass
class Landscape:
    school: School
    nodes: dict[int, Node]
    flows: list[Flow]
    day: date

    @property
    def open_errors(self) -> int:
        return sum(f.open_errors for f in self.flows)


def _node(system: System, supplier: Supplier, own_oin: str | None) -> Node:
    return Node(system.id, system.name, supplier.name, supplier.oin, system.kind, own=bool(own_oin) and supplier.oin == own_oin,
                base_url=system.base_url)


def build(session: Session, school: School, *, own_oin: str | None, day: date) -> Landscape:
    nodes: dict[int, Node] = {}
    flows: list[Flow] = []

    def add_flow(**kw) -> Flow:
        flow = Flow(number=len(flows) + 1, **kw)
        flows.append(flow)
        return flow

    # 1. mandates per service: the state of each system's mandates for it today
    per_service: dict[str, dict[int, list[str]]] = defaultdict(lambda: defaultdict(list))
    endpoints_per_system: dict[int, int] = defaultdict(int)
    endpoint_count = defaultdict(int)
    for e in register_repo.endpoints_of_school(session, school.id):
        endpoint_count[e.mandate_id] += 1
    for m, _school, system, supplier, _sv, svc in register_repo.mandates(session, school_id=school.id):
        status = register.mandate_status(m, day)
        if status == "ingetrokken":
            continue
        nodes.setdefault(system.id, _node(system, supplier, own_oin))
        per_service[svc.name][system.id].append(status)
        endpoints_per_system[system.id] += endpoint_count[m.id]
    # the LAS that keeps the school's administration (routeringskenmerk) belongs in the picture
    admin_systems = {a.system_id for a in register_repo.administraties(session, school.id) if a.system_id}
    for system_id, (system, supplier) in register_repo.systems_by_ids(session, admin_systems - set(nodes)).items():
        nodes[system_id] = _node(system, supplier, own_oin)

    def mandate_state(statuses: list[str]) -> str:
        return "actief" if "actief" in statuses else ("toekomstig" if "toekomstig" in statuses else "verlopen")

    switched_off = consent_svc.switched_off(session, "doorstroomtoets")
    for service_name, systems in sorted(per_service.items()):
        las_ids = sorted({s for s in systems if nodes[s].kind == "las"} | (admin_systems if service_name == "doorstroomtoets" else set()))
        others = sorted(s for s in systems if nodes[s].kind != "las")
        for las_id in las_ids:
            for other_id in others:
                las, other = nodes[las_id], nodes[other_id]
                las_state = mandate_state(systems.get(las_id, [])) if systems.get(las_id) else "geen"
                other_state = mandate_state(systems[other_id])
                valid = las_state == "actief" and other_state == "actief"
                note = [] if valid else [f"mandaat {las.supplier}: {las_state}", f"mandaat {other.supplier}: {other_state}"]
                if service_name == "doorstroomtoets" and other.kind == "toetssysteem":
                    seen = dt_service.exchange_activity(session, school_id=school.id, school_oin=school.oin, las_oin=las.supplier_oin,
                                                        toets_oin=other.supplier_oin, toets_base_url=other.base_url,
                                                        own_oin=own_oin)  # fmt: skip
                    for src, rcv, key, label in ((las, other, "las->toets", "Doorstroomtoets: leerlingen en schooladviezen"),
                                                 (other, las, "toets->las", "Doorstroomtoets: resultaten en rapporten")):  # fmt: skip
                        state = "geen-mandaat" if not valid else (
                            "uit" if (school.oin, src.supplier_oin, rcv.supplier_oin) in switched_off else "aan")  # fmt: skip
                        notes = list(note)
                        if key == "toets->las" and valid and not endpoints_per_system.get(las.id):
                            notes.append("geen afleveradres van het LAS geregistreerd (OSR)")
                        add_flow(source=src.id, receiver=rcv.id, api="doorstroomtoets", label=label, basis="mandaat", state=state,
                                 activity=seen[key], notes=notes)  # fmt: skip
                else:
                    add_flow(source=las.id, receiver=other.id, api=service_name, label=service_name, basis="mandaat",
                             state="aan" if valid else "geen-mandaat", activity=None, notes=note)  # fmt: skip

    # 2. consent relations (regie op gegevens), with what this installation received on them
    results_seen = results_service.exchange_activity(session, school.id)
    progress_seen = progress_service.exchange_activity(session, school.id)
    seen_by_api = {"results-api": results_seen, "progress-api": progress_seen}
    consent_flows: dict[tuple[str, int, int], Flow] = {}
    for rel in consent_svc.relations(session, school_id=school.id):
        c = rel.consent
        if c.api == "doorstroomtoets":  # decides the mandated flow above (switched off or not)
            continue
        nodes.setdefault(rel.source.id, _node(rel.source, rel.source_supplier, own_oin))
        nodes.setdefault(rel.receiver.id, _node(rel.receiver, rel.receiver_supplier, own_oin))
        activity = None
        if nodes[rel.receiver.id].own and c.api in seen_by_api:
            activity = seen_by_api[c.api].get(rel.source.id, Activity())
            activity = Activity(activity.last_ok, list(activity.errors), activity.exchanges)
        flow = add_flow(source=rel.source.id, receiver=rel.receiver.id, api=c.api, label=consent_svc.LABELS.get(c.api, c.api),
                        basis="toestemming", state=CONSENT_STATES[consent_svc.state(c)], activity=activity)  # fmt: skip
        consent_flows[(c.api, rel.source.id, rel.receiver.id)] = flow

    # 3. exchanges refused for want of consent: open until a later exchange on the flow succeeded
    refused = consent_svc.refusals(session, school.id)
    missing = {r.source_system_id for r in refused} | {r.receiving_system_id for r in refused}
    for system_id, (system, supplier) in register_repo.systems_by_ids(session, missing - set(nodes)).items():
        nodes[system_id] = _node(system, supplier, own_oin)
    for r in refused:
        flow = consent_flows.get((r.api, r.source_system_id, r.receiving_system_id))
        if flow is None:
            flow = add_flow(source=r.source_system_id, receiver=r.receiving_system_id, api=r.api,
                            label=consent_svc.LABELS.get(r.api, r.api), basis="toestemming", state="geen-toestemming",
                            activity=Activity())  # fmt: skip
            consent_flows[(r.api, r.source_system_id, r.receiving_system_id)] = flow
        if flow.activity is None:
            flow.activity = Activity()
        if flow.activity.last_ok is None or r.last_at > flow.activity.last_ok:
            flow.activity.errors.append(OpenError("refused", r.last_at, r.last_reason, count=r.times))
    _layout(nodes)
    return Landscape(school, nodes, flows, day)


# -- the diagram ---------------------------------------------------------------------------------------

BOX_W, BOX_H, COL_X, ROW_H, TOP = 230, 64, (30, 400, 770), 110, 50
WIDTH = COL_X[-1] + BOX_W + 30


def _layout(nodes: dict[int, Node]) -> None:
    rows: dict[int, int] = defaultdict(int)
    for node in sorted(nodes.values(), key=lambda n: (COLUMN.get(n.kind, 1), n.kind, n.supplier, n.name)):
        col = COLUMN.get(node.kind, 1)
        node.x, node.y = COL_X[col], TOP + rows[col] * ROW_H
        rows[col] += 1


def _anchor(node: Node, toward: Node) -> tuple[float, float]:
    cy = node.y + BOX_H / 2
    if toward.x > node.x:
        return node.x + BOX_W, cy
    if toward.x < node.x:
        return node.x, cy
    return node.x + BOX_W, cy  # same column: leave and enter on the right, bending outwards


def _fmt(value: datetime | None) -> str:
    return value.astimezone(NL).strftime("%Y-%m-%d %H:%M") if value else "nog nooit"


def svg(landscape: Landscape) -> str:
    """The landscape as an accessible SVG: systems as boxes in columns (LAS | test and learning
    systems | administrations and dashboards), flows as arrows coloured by health, each with its
    number from the table."""
    nodes = landscape.nodes
    rows = max([1] + [sum(1 for n in nodes.values() if COLUMN.get(n.kind, 1) == c) for c in range(3)])
    height = TOP + rows * ROW_H + 20
    out = [
        (f'<svg xmlns="http://www.w3.org/2000/svg" id="landscape" class="landscape" viewBox="0 0 {WIDTH} {height}" '
         f'width="{WIDTH}" height="{height}" role="img" aria-labelledby="landscape-title landscape-desc">'),
        f'<title id="landscape-title">Applicatielandschap van {escape(landscape.school.name)}</title>',
        (f'<desc id="landscape-desc">{len(nodes)} systemen en {len(landscape.flows)} gegevensstromen; '
         f"{sum(1 for f in landscape.flows if f.open_errors)} stromen met open fouten. De tabel onder het diagram bevat dezelfde gegevens.</desc>"),
        "<defs>",
    ]
    for health in HEALTH_LABELS:
        out.append(f'<marker id="arrow-{health}" class="arrow arrow-{health}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="8" '
                   'markerHeight="8" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z"/></marker>')  # fmt: skip
    out.append("</defs>")
    for col, title in enumerate(("Administratie", "Toetsen en leermiddelen", "Resultaten en dashboards")):
        out.append(f'<text class="column-title" x="{COL_X[col]}" y="24">{title}</text>')
    pair_count: dict[tuple[int, int], int] = defaultdict(int)
    for flow in landscape.flows:
        src, rcv = nodes.get(flow.source), nodes.get(flow.receiver)
        if src is None or rcv is None:
            continue
        key = (min(src.id, rcv.id), max(src.id, rcv.id))
        k = pair_count[key]
        pair_count[key] += 1
        x1, y1 = _anchor(src, rcv)
        x2, y2 = _anchor(rcv, src)
        # flows between the same two systems bend apart: alternate sides, growing outwards
        sign = 1 if (src.id < rcv.id) else -1
        bend = sign * (28 + 26 * (k // 2)) * (1 if k % 2 == 0 else -1)
        if src.x == rcv.x:
            bend = 90 + 30 * k
            cx, cy = x1 + bend, (y1 + y2) / 2
        else:
            mx, my = (x1 + x2) / 2, (y1 + y2) / 2
            dx, dy = x2 - x1, y2 - y1
            length = max(1.0, (dx * dx + dy * dy) ** 0.5)
            cx, cy = mx - dy / length * bend, my + dx / length * bend
        lx, ly = 0.25 * x1 + 0.5 * cx + 0.25 * x2, 0.25 * y1 + 0.5 * cy + 0.25 * y2
        summary = (f"{flow.number}. {flow.label}: {src.name} ({src.supplier}) naar {rcv.name} ({rcv.supplier}); {flow.state_label}; "
                   f"laatste geslaagde uitwisseling {_fmt(flow.last_ok)}; open fouten {flow.open_errors}")  # fmt: skip
        out.append(
            f'<g class="flow flow-{flow.health}" data-flow="{flow.number}" data-state="{flow.state}" data-errors="{flow.open_errors}">'
            f"<title>{escape(summary)}</title>"
            f'<path class="flow-line" d="M{x1:.0f},{y1:.0f} Q{cx:.0f},{cy:.0f} {x2:.0f},{y2:.0f}" fill="none" '
            f'marker-end="url(#arrow-{flow.health})"/>'
            f'<circle class="flow-badge" cx="{lx:.0f}" cy="{ly:.0f}" r="11"/>'
            f'<text class="flow-number" x="{lx:.0f}" y="{ly + 4:.0f}" text-anchor="middle">{flow.number}</text></g>'
        )
    for node in nodes.values():
        name = node.name if len(node.name) <= 28 else node.name[:27] + "…"
        supplier = node.supplier if len(node.supplier) <= 30 else node.supplier[:29] + "…"
        out.append(
            f'<g class="system system-{escape(node.kind)}{" system-own" if node.own else ""}" data-system="{node.id}">'
            f"<title>{escape(f'{node.name} van {node.supplier} ({node.kind_label})')}</title>"
            f'<rect x="{node.x}" y="{node.y}" width="{BOX_W}" height="{BOX_H}" rx="8"/>'
            f'<text class="system-name" x="{node.x + 12}" y="{node.y + 24}">{escape(name)}</text>'
            f'<text class="system-meta" x="{node.x + 12}" y="{node.y + 44}">{escape(supplier)}</text>'
            f'<text class="system-kind" x="{node.x + 12}" y="{node.y + 58}">{escape(node.kind_label)}</text></g>'
        )
    out.append("</svg>")
    return "".join(out)


def table_rows(landscape: Landscape) -> list[dict]:
    rows = []
    for f in landscape.flows:
        src, rcv = landscape.nodes.get(f.source), landscape.nodes.get(f.receiver)
        rows.append({
            "number": f.number, "label": f.label, "api": f.api, "basis": f.basis, "state": f.state, "state_label": f.state_label,
            "source": src, "receiver": rcv, "last_ok": _fmt(f.last_ok) if f.activity is not None else "niet zichtbaar voor dit platform",
            "seen": f.activity is not None, "exchanges": f.activity.exchanges if f.activity else 0,
            "errors": [{"label": e.label, "at": _fmt(e.at), "reason": e.reason, "count": e.count} for e in f.errors],
            "open_errors": f.open_errors, "health": f.health, "health_label": HEALTH_LABELS[f.health], "notes": f.notes,
        })  # fmt: skip
    return rows
