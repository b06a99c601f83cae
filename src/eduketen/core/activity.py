"""What happened on a data flow, for people: the last successful exchange and the errors still open.

Each domain reads its own tables (and the inbox and outbox) and answers in these terms; the
school's landscape page puts them together per flow. No pupil data: times, counts and our own
reasons only."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

# kinds of open error, in the words school staff read
ERROR_LABELS = {
    "dead": "niet afgeleverd (opgegeven)",
    "retrying": "aflevering mislukt, wordt opnieuw geprobeerd",
    "failed": "ontvangen maar niet verwerkt",
    "refused": "geweigerd",
}


@dataclass
class OpenError:
    kind: str  # dead | retrying | failed | refused
    at: datetime
    reason: str
    count: int = 1

    @property
    def label(self) -> str:
        return ERROR_LABELS.get(self.kind, self.kind)


@dataclass
class Activity:
    last_ok: datetime | None = None
    errors: list[OpenError] = field(default_factory=list)
    exchanges: int = 0  # successful exchanges counted

    def merge(self, other: Activity) -> Activity:
        times = [t for t in (self.last_ok, other.last_ok) if t is not None]
        return Activity(max(times) if times else None, [*self.errors, *other.errors], self.exchanges + other.exchanges)

    @property
    def open_errors(self) -> int:
        return sum(e.count for e in self.errors)
