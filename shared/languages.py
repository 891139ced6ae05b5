"""What a language tag matches: the one meaning the product gives it."""

from __future__ import annotations


def primary_language(tag: str) -> str:
    """``es-MX`` and ``ES`` both speak ``es``: BCP 47 tags match on their primary subtag."""
    return tag.split("-", 1)[0].lower()
