"""What a region pattern covers: the one meaning the product gives it.

Roster entries and rules name regions as patterns: ``*`` covers any region, a region
covers itself, and a country covers its subdivisions (``US`` covers ``US-TX``). A
subdivision covers neither its country nor its siblings.
"""

from __future__ import annotations

from collections.abc import Iterable

ANY_REGION = "*"


def covers(patterns: Iterable[str], region: str) -> bool:
    """Whether any of the patterns covers the region."""
    return any(p == ANY_REGION or p == region or region.startswith(f"{p}-") for p in patterns)
