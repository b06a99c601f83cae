"""Reports of a suite run: a terminal summary, a self-contained HTML page a manager can read,
JUnit XML for CI, and a JSON summary (kept as evidence in the keurmerk register). Every failed
check carries the ``curl`` line that repeats it; bodies too large to go inline are written next to
the report."""

from __future__ import annotations

import html
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

from rich.console import Console
from rich.table import Table

from eduketen import __version__
from eduketen.conformance.exchange import Exchange
from eduketen.conformance.runner import Outcome, SuiteResult

STATUS_WORDS = {"passed": "passed", "failed": "FAILED", "skipped": "skipped", "error": "ERROR"}
STATUS_STYLE = {"passed": "green", "failed": "bold red", "skipped": "yellow", "error": "bold magenta"}


class BodyFiles:
    """Where bodies of failing exchanges go, so their curl lines can refer to them."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._done: dict[int, Path] = {}

    def curl(self, exchange: Exchange, name: str) -> str:
        if exchange.shown_body is None or exchange.inline_body():
            return exchange.curl()
        key = id(exchange)
        if key not in self._done:
            self.directory.mkdir(parents=True, exist_ok=True)
            path = self.directory / f"{re.sub(r'[^A-Za-z0-9._-]+', '-', name)}-{len(self._done) + 1}.json"
            path.write_bytes(exchange.shown_body)
            self._done[key] = path.resolve()
        return exchange.curl(self._done[key])


def title(result: SuiteResult) -> str:
    t = result.target
    return f"{t.service} {t.version}, role {t.role}"


def failure_lines(outcome: Outcome, bodies: BodyFiles) -> list[dict]:
    lines = []
    for check in outcome.failures:
        lines.append(
            {
                "check": check.what,
                "detail": check.detail,
                "answer": check.exchange.summary() if check.exchange else None,
                "curl": bodies.curl(check.exchange, outcome.scenario.name) if check.exchange else None,
            }
        )
    return lines


# -- terminal -----------------------------------------------------------------------------------------


def print_summary(result: SuiteResult, console: Console, bodies: BodyFiles) -> None:
    table = Table(title=f"Conformance: {title(result)} at {result.target.url}", show_lines=False)
    table.add_column("scenario")
    table.add_column("result")
    table.add_column("checks", justify="right")
    table.add_column("what it checks / why not")
    for o in result.outcomes:
        passed = sum(1 for c in o.checks if c.ok)
        note = o.reason or o.scenario.description
        if o.notes:
            note += "".join(f"\n[yellow]not observed:[/] {n}" for n in o.notes)
        table.add_row(o.scenario.name, f"[{STATUS_STYLE[o.status]}]{STATUS_WORDS[o.status]}[/]", f"{passed}/{len(o.checks)}", note)
    console.print(table)
    for o in result.outcomes:
        if o.status != "failed":
            continue
        console.print(f"\n[bold red]{o.scenario.name}[/] failed:")
        for line in failure_lines(o, bodies):
            console.print(f"  - {line['check']}: {line['detail']}", highlight=False)
            if line["curl"]:
                console.print(f"    repeat: {line['curl']}", highlight=False, soft_wrap=True)
    console.print(
        f"\n{result.count('passed')} passed, {result.count('failed')} failed, {result.count('error')} errors, "
        f"{result.count('skipped')} skipped in {result.seconds:.1f}s"
    )


# -- JSON ----------------------------------------------------------------------------------------------------


def summary(result: SuiteResult, bodies: BodyFiles) -> dict:
    t = result.target
    return {
        "suite": "eduketen conformance",
        "suite_version": __version__,
        "service": t.service,
        "version": t.version,
        "role": t.role,
        "url": t.url,
        "started": result.started.isoformat(),
        "seconds": round(result.seconds, 2),
        "ok": result.ok,
        "counts": {s: result.count(s) for s in ("passed", "failed", "error", "skipped")},
        "scenarios": [
            {
                "name": o.scenario.name,
                "description": o.scenario.description,
                "status": o.status,
                "reason": o.reason or None,
                "notes": o.notes,
                "checks": [{"check": c.what, "ok": c.ok, "detail": c.detail} for c in o.checks],
                "failures": failure_lines(o, bodies),
            }
            for o in result.outcomes
        ],
    }


def write_json(result: SuiteResult, path: Path, bodies: BodyFiles) -> None:
    path.write_text(json.dumps(summary(result, bodies), indent=2, ensure_ascii=False), encoding="utf-8")


# -- JUnit XML ----------------------------------------------------------------------------------------------


def junit(result: SuiteResult, bodies: BodyFiles) -> str:
    t = result.target
    suites = ET.Element("testsuites", name="eduketen conformance")
    suite = ET.SubElement(
        suites,
        "testsuite",
        name=f"{t.service}-{t.version}-{t.role}",
        tests=str(len(result.outcomes)),
        failures=str(result.count("failed")),
        errors=str(result.count("error")),
        skipped=str(result.count("skipped")),
        time=f"{result.seconds:.3f}",
        timestamp=result.started.isoformat(),
    )
    props = ET.SubElement(suite, "properties")
    for name, value in (("url", t.url), ("service", t.service), ("version", t.version), ("role", t.role)):
        ET.SubElement(props, "property", name=name, value=value)
    for o in result.outcomes:
        case = ET.SubElement(suite, "testcase", classname=f"conformance.{t.service}.{t.role}", name=o.scenario.name, time=f"{o.seconds:.3f}")
        if o.status == "skipped":
            ET.SubElement(case, "skipped", message=o.reason)
        elif o.status == "error":
            ET.SubElement(case, "error", message=o.reason).text = o.reason
        elif o.status == "failed":
            lines = failure_lines(o, bodies)
            element = ET.SubElement(case, "failure", message="; ".join(f"{x['check']}: {x['detail']}" for x in lines)[:1000])
            element.text = "\n\n".join(
                f"{x['check']}: {x['detail']}\nanswer: {x['answer']}\nrepeat: {x['curl']}" for x in lines
            )
        ET.SubElement(case, "system-out").text = o.scenario.description + "\n" + "\n".join(
            [f"[{'ok' if c.ok else 'FAIL'}] {c.what}: {c.detail}" for c in o.checks] + [f"[not observed] {n}" for n in o.notes]
        )
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode")


def write_junit(result: SuiteResult, path: Path, bodies: BodyFiles) -> None:
    path.write_text(junit(result, bodies), encoding="utf-8")


# -- HTML --------------------------------------------------------------------------------------------------------

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem auto;max-width:70rem;color:#1a1a1a;line-height:1.45;padding:0 1rem}
h1{font-size:1.5rem;margin-bottom:.2rem} .sub{color:#555;margin-top:0}
.verdict{font-size:1.2rem;padding:.8rem 1rem;border-radius:.4rem;margin:1rem 0}
.ok{background:#e6f4ea;border-left:.4rem solid #1e8e3e} .notok{background:#fce8e6;border-left:.4rem solid #d93025}
.tiles{display:flex;gap:1rem;margin:1rem 0} .tile{flex:1;border:1px solid #ddd;border-radius:.4rem;padding:.6rem;text-align:center}
.tile b{display:block;font-size:1.6rem}
table{border-collapse:collapse;width:100%} th,td{text-align:left;padding:.45rem .5rem;border-bottom:1px solid #e3e3e3;vertical-align:top}
.note{color:#a36a00;margin:.3rem 0} .passed{color:#1e8e3e;font-weight:600} .failed,.error{color:#d93025;font-weight:600} .skipped{color:#a36a00}
td code{white-space:nowrap} details{margin:.3rem 0} pre{background:#f6f6f6;padding:.6rem;overflow-x:auto;white-space:pre-wrap;word-break:break-all;font-size:.85rem}
"""


def html_report(result: SuiteResult, bodies: BodyFiles) -> str:
    e = html.escape
    t = result.target
    verdict = (
        "All scenarios that could run passed."
        if result.ok
        else f"{result.count('failed') + result.count('error')} scenario(s) did not pass: the implementation does not yet conform."
    )
    rows = []
    for o in result.outcomes:
        passed = sum(1 for c in o.checks if c.ok)
        details = ""
        if o.status == "failed":
            items = []
            for x in failure_lines(o, bodies):
                items.append(
                    f"<li><b>{e(x['check'])}</b>: {e(x['detail'])}"
                    + (f"<pre>{e(x['answer'] or '')}</pre>" if x["answer"] else "")
                    + (f"<div>To repeat it:</div><pre>{e(x['curl'])}</pre>" if x["curl"] else "")
                    + "</li>"
                )
            details = f"<details open><summary>What went wrong</summary><ul>{''.join(items)}</ul></details>"
        elif o.reason:
            details = f"<div>{e(o.reason)}</div>"
        if o.notes:
            details += "".join(f"<div class='note'>Not observed: {e(n)}</div>" for n in o.notes)
        if o.checks:
            checks = "".join(f"<li>{'✔' if c.ok else '✘'} {e(c.what)}: {e(c.detail)}</li>" for c in o.checks)
            details += f"<details><summary>{passed} of {len(o.checks)} checks passed</summary><ul>{checks}</ul></details>"
        rows.append(
            f"<tr><td><code>{e(o.scenario.name)}</code></td><td class='{o.status}'>{e(STATUS_WORDS[o.status])}</td>"
            f"<td>{e(o.scenario.description)}{details}</td></tr>"
        )
    tiles = "".join(f"<div class='tile'><b>{result.count(s)}</b>{s}</div>" for s in ("passed", "failed", "error", "skipped"))
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Conformance report: {e(title(result))}</title><style>{_CSS}</style></head>
<body>
<h1>Conformance report: {e(title(result))}</h1>
<p class="sub">Implementation at <code>{e(t.url)}</code>, tested {e(result.started.strftime('%Y-%m-%d %H:%M UTC'))}
in {result.seconds:.0f} seconds by the eduketen conformance suite {e(__version__)}.</p>
<div class="verdict {'ok' if result.ok else 'notok'}">{e(verdict)}</div>
<div class="tiles">{tiles}</div>
<p>Each scenario plays the other party of the exchange against the implementation and checks the answer it must give under the
official specification (the status, and the <code>melding</code> text or a JSON problem that says what is wrong). Skipped scenarios need
something this run was not given; the reason is shown. "Not observed" names an effect that could not be seen from outside in this run.</p>
<table><thead><tr><th>Scenario</th><th>Result</th><th>What it checks</th></tr></thead><tbody>
{''.join(rows)}
</tbody></table>
</body></html>
"""


def write_html(result: SuiteResult, path: Path, bodies: BodyFiles) -> None:
    path.write_text(html_report(result, bodies), encoding="utf-8")
