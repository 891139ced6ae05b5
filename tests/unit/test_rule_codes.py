"""Every rule the code cites is defined in docs/domain.md, and no file points outside the repository.

Citations are read the way the code writes them, in comments, docstrings and strings of
Python files and anywhere in Markdown, HTML, shell and YAML files:

* after the word rule: ``rule 4``, ``rules 3-5``, ``rule I3``, ``rules U3, C3``, ``Rule 1 and 2``;
* as elements of a parenthesised list: ``(rule 1, D2)``, ``(rules 3-5; D3-D5, I3, M1)``,
  ``(through HSI, C1)``;
* as the label a comment or docstring line starts with: ``# U3: ...``, ``# C1-C3: ...``,
  ``# U3/C3: ...``, or a bare code ending a comment.

A code is a letter of a rule family followed by a number from 1; ranges such as ``U1-U4``
stand for every code between. The definitions are the headings of docs/domain.md.
"""

from __future__ import annotations

import io
import re
import tokenize
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOMAIN = ROOT / "docs" / "domain.md"
SCANNED = ("shared", "services", "casework", "tests", "bench", "scripts", "infra", "examples", "docs", "README.md")
SUFFIXES = {".py", ".md", ".html", ".sh", ".yaml", ".yml"}
SKIPPED = {".venv", ".local", "__pycache__", "node_modules"}

DASH = "[-\u2013]"  # a hyphen or an en dash
CODE = r"[DIMCTUP][1-9][0-9]*\b"
ITEM = rf"{CODE}(?:[ \t]*(?:{DASH}|/)[ \t]*{CODE})*"  # D2, D3-D5, U3/C3
NUMBER = rf"[1-9][0-9]*\b(?:[ \t]*{DASH}[ \t]*[1-9][0-9]*\b)?"  # 4, 3-5
ELEMENT = rf"(?:{ITEM}|{NUMBER})"
ENDS_ELEMENT = r"(?=[ \t]*(?:[,;:.)]|and\b|$))"
RULE_LIST = re.compile(
    rf"\b[Rr]ules?[ \t]+({ELEMENT}(?:[ \t]*(?:,|;|and)[ \t]*{ELEMENT}{ENDS_ELEMENT})*)", re.M)
LIST_ELEMENT = re.compile(  # (D2, ...) · (..., D2) · (see D2) · (D2 for ...) · # D2: ... · a last "# D2"
    rf"(?:(?:^[ \t]*(?:#+|//|[-*])?|(?<=[(,;]))[ \t]*({ITEM})[ \t]*(?=[]),;:(]|$)"
    rf"|(?<=\()[ \t]*({ITEM})|(?<=[ \t])({ITEM})(?=[ \t]*\)))", re.M)
DEFINITION = re.compile(r"^#{2,6}[ \t]+(Rule[ \t]+[1-9][0-9]*|[DIMCTUP][1-9][0-9]*)[ \t]*$", re.M)
# What a reference to a document outside the repository looks like.
OUTSIDE = re.compile(r"DESIGN[ \t]*(?:§|\\u00a7)|DESIGN\.md|\.\./shared|guides[/]")  # JSON escapes the §


def scanned_files() -> Iterator[Path]:
    for name in SCANNED:
        path = ROOT / name
        candidates = [path] if path.is_file() else sorted(path.rglob("*"))
        for file in candidates:
            if file.is_file() and file.suffix in SUFFIXES and not SKIPPED & set(file.relative_to(ROOT).parts):
                yield file


def python_prose(source: str) -> Iterator[str]:
    """Comments and string literals: where a Python file cites rules (never its code)."""
    prose = {tokenize.COMMENT, tokenize.STRING, getattr(tokenize, "FSTRING_MIDDLE", tokenize.STRING)}
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type in prose:
            yield re.sub(r"^[rRbBuUfF]*(\"\"\"|'''|\"|')|(\"\"\"|'''|\"|')$", "", token.string)


def prose_of(file: Path) -> Iterator[str]:
    text = file.read_text(encoding="utf-8")
    if file.suffix == ".py":
        yield from python_prose(text)
    else:
        yield text


def expand(item: str) -> set[str]:
    """``D3-D5`` -> D3, D4, D5; ``U3/C3`` -> U3, C3; ``3-5`` -> rule 3, 4, 5; ``M1`` -> M1."""
    codes: set[str] = set()
    for part in re.split(r"[ \t]*/[ \t]*", item.strip()):
        first, *rest = re.split(rf"[ \t]*{DASH}[ \t]*", part)
        letter = first.rstrip("0123456789")
        low, high = int(first.removeprefix(letter)), int((rest or [first])[-1].removeprefix(letter))
        codes |= {f"{letter}{n}" if letter else f"rule {n}" for n in range(low, max(low, high) + 1)}
    return codes


def citations(text: str) -> set[str]:
    cited: set[str] = set()
    for match in RULE_LIST.finditer(text):
        for element in re.split(r"[ \t]*(?:,|;|\band\b)[ \t]*", match.group(1)):
            cited |= expand(element)
    for match in LIST_ELEMENT.finditer(text):
        cited |= expand(next(g for g in match.groups() if g))
    return cited


def definitions() -> set[str]:
    return {re.sub(r"^Rule[ \t]+", "rule ", d) for d in DEFINITION.findall(DOMAIN.read_text(encoding="utf-8"))}


def cited_by_file() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for file in scanned_files():
        cited = set().union(*(citations(text) for text in prose_of(file)))
        if cited:
            found[str(file.relative_to(ROOT))] = cited
    return found


def test_domain_document_defines_rule_codes() -> None:
    defined = definitions()
    assert any(d.startswith("rule ") for d in defined), "docs/domain.md defines no numbered design rule"
    assert {d[0] for d in defined if not d.startswith("rule ")} == set("DIMCTUP"), sorted(defined)


def test_every_cited_rule_is_defined_in_the_domain_document() -> None:
    defined, found = definitions(), cited_by_file()
    assert sum(len(c) for c in found.values()) > 100, "the scan found almost no citations: is it reading the code?"
    undefined = {path: sorted(cited - defined) for path, cited in found.items() if cited - defined}
    assert not undefined, f"cited but not defined in docs/domain.md: {undefined}"


SAMPLE = """
from shared.kit import FakeClock, T1


def opened(n):
    \"\"\"Open a case (rule 1, D{n}).

    Deferred with every reason (rules 3-{m}; M1,
    C{n}-C{m}), and routed (through HSI, P{n}).
    \"\"\"
    clock = FakeClock(n.T1) + T1 + 0xC1  # U{n}: a label
    colour = "#C1C1C1 TU3 rule for it"  # I{n}
    return f"Rule {n} and 2: {{clock}}{{colour}}"
"""


def test_citations_are_read_as_the_code_writes_them() -> None:
    n = 1 + max(int(re.sub(r"\D", "", d)) for d in definitions())  # a number no rule has yet
    m = n + 2
    cited = set().union(*(citations(text) for text in python_prose(SAMPLE.format(n=n, m=m))))
    assert cited == {"rule 1", "rule 2", "M1", f"D{n}", f"U{n}", f"I{n}", f"P{n}",
                     *(f"C{k}" for k in range(n, m + 1)), *(f"rule {k}" for k in range(3, m + 1))}


def test_no_file_refers_to_documents_outside_the_repository() -> None:
    extra = [ROOT / name for name in ("Makefile", "Dockerfile", "docker-compose.yml", "pyproject.toml")]
    extra += sorted((ROOT / "docs").rglob("*.json"))  # the generated AsyncAPI documents
    offending = [f"{file.relative_to(ROOT)}:{line_no}: {line.strip()}"
                 for file in [*scanned_files(), *extra] if file.exists()
                 for line_no, line in enumerate(file.read_text(encoding="utf-8").splitlines(), 1)
                 if OUTSIDE.search(line)]
    assert not offending, "\n".join(offending)
