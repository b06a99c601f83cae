"""Run the suite with progress on the terminal and write the reports asked for."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)

from eduketen.conformance import reports
from eduketen.conformance.runner import Scenario, SuiteResult, run_suite, select
from eduketen.conformance.target import (
    DEFAULT_VERSION,
    SERVICE_ROLES,
    SERVICES,
    Target,
    canonical_service,
)


def scenario_list(role: str | None = None, service: str | None = None) -> list[Scenario]:
    """The scenarios of a service (every service when None), of a role (every role when None)."""
    services = [canonical_service(service)] if service else list(SERVICES)
    chosen = []
    for name in services:
        roles = [role] if role else list(SERVICE_ROLES.get(name, ()))
        chosen += [s for r in roles for s in select(r, DEFAULT_VERSION.get(name, ""), service=name)]
    return chosen


def run(
    target: Target,
    *,
    console: Console,
    only: list[str] | None = None,
    html: Path | None = None,
    junit: Path | None = None,
    json_path: Path | None = None,
    bodies_dir: Path | None = None,
) -> SuiteResult:
    chosen = select(target.role, target.version, only, service=target.service)
    with Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console, transient=False
    ) as progress:
        task = progress.add_task("conformance", total=len(chosen))

        def started(sc: Scenario) -> None:
            progress.update(task, description=f"{sc.name}")

        def finished(outcome) -> None:
            style = reports.STATUS_STYLE[outcome.status]
            progress.console.print(f"  [{style}]{reports.STATUS_WORDS[outcome.status]:>7}[/] {outcome.scenario.name}", highlight=False)
            progress.advance(task)

        result = run_suite(target, only=only, progress=finished, on_start=started)
        progress.update(task, description="done")
    anchor = html or junit or json_path
    directory = bodies_dir or (anchor.with_name(anchor.stem + "-bodies") if anchor else Path("conformance-bodies"))
    bodies = reports.BodyFiles(directory)
    reports.print_summary(result, console, bodies)
    if html:
        reports.write_html(result, html, bodies)
    if junit:
        reports.write_junit(result, junit, bodies)
    if json_path:
        reports.write_json(result, json_path, bodies)
    return result
