"""Choosing the victim specialist for a case (rule 1, rule 3, D2, D4): pure, deterministic.

Eligible: on duty, a region covering the case's region (``*`` covers any, a country
covers its subdivisions), and free capacity (assigned and accepted referrals count
against ``max_active_cases``). Among the eligible: a language match first, then the
lowest load ratio, then the least recently assigned, then the id.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from fractions import Fraction

from shared.languages import primary_language
from shared.regions import covers

NEVER = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Specialist:
    """A victim specialist as matching sees one: roster entry plus current load."""

    specialist_id: str
    languages: frozenset[str]  # primary subtags
    regions: tuple[str, ...]
    on_duty: bool
    max_active_cases: int
    load: int = 0
    last_assigned_at: datetime | None = None
    agency_id: str = ""  # the specialist's own organisation (whose supervisors may act on their cases)

    def covers(self, region: str) -> bool:
        return covers(self.regions, region)

    def speaks(self, languages: Iterable[str]) -> bool:
        return not self.languages.isdisjoint(primary_language(t) for t in languages)

    @property
    def has_capacity(self) -> bool:
        return self.load < self.max_active_cases

    def rank(self, languages: Iterable[str]) -> tuple[bool, Fraction, datetime, str]:
        """Smaller is better: language match, load ratio, least recently assigned, id."""
        return (not self.speaks(languages), Fraction(self.load, self.max_active_cases),
                self.last_assigned_at or NEVER, self.specialist_id)


@dataclass(frozen=True)
class Supervisor:
    """A supervisor on the roster as the case-life rules see one: may act, in the regions they
    cover (on duty or not), on the cases of their agency — the agency that reported the
    encounter, or the organisation of the specialist who has the case."""

    specialist_id: str
    agency_id: str
    regions: tuple[str, ...]

    def covers(self, agencies: Iterable[str], region: str) -> bool:
        return self.agency_id in set(agencies) and covers(self.regions, region)


@dataclass(frozen=True)
class Roster:
    """The victim specialists (on duty or not) with their loads, and the supervisors, as read
    for one batch.

    ``held`` maps the capacity holds already taken to their specialist: a hold for an
    assignment not yet recorded (a crash came between the two) makes that specialist
    the choice when the decision is made again.
    """

    specialists: Mapping[str, Specialist] = field(default_factory=dict)
    held: Mapping[str, str] = field(default_factory=dict)
    supervisors: Mapping[str, Supervisor] = field(default_factory=dict)

    @classmethod
    def of(cls, specialists: Iterable[Specialist], held: Mapping[str, str] | None = None,
           supervisors: Iterable[Supervisor] = ()) -> Roster:
        return cls({s.specialist_id: s for s in specialists}, held or {},
                   {s.specialist_id: s for s in supervisors})

    def assigned(self, specialist_id: str, at: datetime) -> Roster:
        """The roster after one more case went to this specialist (within a batch)."""
        current = self.specialists.get(specialist_id)
        if current is None:
            return self
        updated = replace(current, load=current.load + 1, last_assigned_at=at)
        return replace(self, specialists={**self.specialists, specialist_id: updated})

    def available(self, specialist_id: str) -> bool:
        """On the roster, on duty, with a free slot: what a named or returning specialist needs."""
        found = self.specialists.get(specialist_id)
        return found is not None and found.on_duty and found.has_capacity

    def present(self, specialist_id: str) -> bool:
        """Still on the roster and on duty (a tombstone or ``on_duty: false`` is a departure)."""
        found = self.specialists.get(specialist_id)
        return found is not None and found.on_duty


def choose(roster: Roster, region: str, languages: list[str], *, declined: frozenset[str] = frozenset(),
           timed_out: Sequence[str] = (), hold: str | None = None) -> Specialist | None:
    """The best eligible specialist, or ``None`` when nobody can take the case now.

    Who declined this case is never chosen again. Who let it time out (``timed_out``,
    oldest first) is chosen only as a last resort, when nobody else can take it — the
    one whose timeout is oldest first: a person is waiting (D2), and the escalation has
    already alerted the supervisors. A specialist already holding the slot for this very
    assignment (``hold``) is chosen again while still on duty for the region.
    """
    holder = roster.specialists.get(roster.held.get(hold or "", ""))
    if holder and holder.on_duty and holder.covers(region) and holder.specialist_id not in declined:
        return holder
    eligible = [s for s in roster.specialists.values()
                if s.on_duty and s.has_capacity and s.covers(region) and s.specialist_id not in declined]
    last_timeout = {specialist_id: i for i, specialist_id in enumerate(timed_out)}
    fresh = [s for s in eligible if s.specialist_id not in last_timeout]
    if fresh:
        return min(fresh, key=lambda s: s.rank(languages))
    return min(eligible, key=lambda s: (last_timeout[s.specialist_id], s.rank(languages)), default=None)
