"""The locks pin every package with its hashes, and the runtime lock is the dev lock's runtime part.

``requirements.lock`` (runtime and dev tools) is what ``make setup`` installs,
``requirements-runtime.lock`` what the image installs, ``requirements-bootstrap.lock`` the uv
that ``make setup`` installs with pip, and ``requirements-build.lock`` the setuptools that
builds casework. ``make lock`` writes all four.
"""

from __future__ import annotations

import ast
import re
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
LOCKS = ("requirements.lock", "requirements-runtime.lock", "requirements-bootstrap.lock", "requirements-build.lock")
TEST_TOOLS = {"pytest", "playwright", "hypothesis", "ruff", "mypy"}
HASH = re.compile(r"--hash=sha256:[0-9a-f]{64}")


def entries(name: str) -> dict[str, tuple[Version, list[str]]]:
    """Each requirement of a lock: its canonical name, pinned version and hashes."""
    text = (ROOT / name).read_text(encoding="utf-8")
    lines = re.sub(r"\\\n", " ", text).splitlines()  # join the continued lines
    found: dict[str, tuple[Version, list[str]]] = {}
    for line in lines:
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        assert not line.startswith("-"), f"{name}: an option line: {line}"
        spec = line.partition(" --hash=")[0]
        requirement = Requirement(spec)
        pins = [s for s in requirement.specifier if s.operator == "=="]
        assert len(pins) == 1 and len(requirement.specifier) == 1, f"{name}: {spec} is not pinned with =="
        hashes = HASH.findall(line)
        key = canonicalize_name(requirement.name)
        assert key not in found, f"{name}: {key} twice"
        found[key] = (Version(pins[0].version), hashes)
    assert found, f"{name} pins nothing"
    return found


def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def versions(name: str) -> dict[str, Version]:
    return {key: version for key, (version, _) in entries(name).items()}


def test_every_requirement_of_every_lock_has_a_hash() -> None:
    for name in LOCKS:
        missing = [key for key, (_, hashes) in entries(name).items() if not hashes]
        assert not missing, f"{name}: no --hash=sha256: for {missing}"


def test_the_runtime_lock_is_the_dev_lock_without_the_dev_tools() -> None:
    dev, runtime = versions("requirements.lock"), versions("requirements-runtime.lock")
    differ = {key: (version, dev.get(key)) for key, version in runtime.items() if dev.get(key) != version}
    assert not differ, f"requirements-runtime.lock pins these otherwise than requirements.lock: {differ}"
    assert TEST_TOOLS <= set(dev)
    assert not TEST_TOOLS & set(runtime), TEST_TOOLS & set(runtime)


def check_covered(requirements: list[str], lock: str) -> None:
    """Each requirement (and, for the runtime, each of its extras') is pinned in the lock within its range."""
    pinned = versions(lock)
    for line in requirements:
        requirement = Requirement(line)
        if requirement.marker and not requirement.marker.evaluate():
            continue  # not for this platform (uvloop on Windows)
        key = canonicalize_name(requirement.name)
        assert key in pinned, f"{lock} lacks {line}"
        within = requirement.specifier.contains(pinned[key], prereleases=True)
        assert within, f"{lock}: {key}=={pinned[key]}, not {line}"
        for extra in requirement.extras:  # faststream[kafka,cli]: compose runs the `faststream` command
            for dependency in map(Requirement, metadata.requires(requirement.name) or []):
                if dependency.marker and dependency.marker.evaluate({"extra": extra}):
                    assert canonicalize_name(dependency.name) in pinned, f"{lock} lacks {dependency} ({line})"


def test_the_runtime_lock_holds_every_runtime_dependency() -> None:
    check_covered(pyproject()["project"]["dependencies"], "requirements-runtime.lock")


def test_the_dev_lock_holds_every_dependency_and_dev_tool() -> None:
    project = pyproject()["project"]
    check_covered(project["dependencies"], "requirements.lock")
    check_covered(project["optional-dependencies"]["dev"], "requirements.lock")


def test_the_bootstrap_lock_pins_the_makefiles_uv_and_the_build_lock_the_build_backend() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    match = re.search(r"^UV_VERSION\s*:?=\s*(\S+)$", makefile, re.M)
    assert match, "the Makefile sets no UV_VERSION"
    assert versions("requirements-bootstrap.lock") == {"uv": Version(match.group(1))}
    check_covered(pyproject()["build-system"]["requires"], "requirements-build.lock")
    assert set(versions("requirements-build.lock")) == {"setuptools"}


def test_make_setup_requires_the_hashes() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    recipe = re.sub(r"\\\n\s*", " ", makefile.split("$(STAMP): ", 1)[1].split("\n\n", 1)[0])
    installs = [line for line in recipe.splitlines() if re.search(r"pip (install|sync)", line)]
    assert len(installs) == 3, installs
    bootstrap, sync, editable = installs
    assert "--require-hashes" in bootstrap and "-r requirements-bootstrap.lock" in bootstrap
    assert "--require-hashes" in sync and sync.rstrip().endswith("requirements.lock")
    assert "--build-constraints requirements-build.lock" in editable and "--require-build-hashes" in editable
    assert "--no-deps" in editable


def test_the_apps_import_no_test_tool() -> None:
    """The image has no test tools, so no module it runs may import one."""
    offending = []
    for package in ("shared", "services", "casework"):
        for path in sorted((ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                top = {name.split(".")[0] for name in names}
                if top & (TEST_TOOLS | {"_pytest", "xdist", "pytest_asyncio", "pytest_timeout"}):
                    offending.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not offending, offending
