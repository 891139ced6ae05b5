"""The image: a builder that installs by hash, a runtime stage with the venv alone, a non-root user.

Read from the Dockerfile itself (no docker daemon is needed): the stages, what each copies and
runs, and that every command docker-compose.yml runs is in what the runtime stage holds.
"""

from __future__ import annotations

import fnmatch
import re
import shlex
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
DEV_LOCK = re.compile(r"(?<![\w-])requirements\.lock\b")  # the lock with the test and lint tools
WRITABLE = "/app/.local"


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]


def instructions() -> list[tuple[str, str]]:
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    found = []
    for line in joined.splitlines():
        if line.strip():
            keyword, _, args = line.strip().partition(" ")
            found.append((keyword.upper(), " ".join(args.split())))
    return found


def stages() -> list[Stage]:
    args: dict[str, str] = {}
    found: list[Stage] = []
    for keyword, value in instructions():
        if keyword == "ARG" and not found:
            name, _, default = value.partition("=")
            args[name] = default
        elif keyword == "FROM":
            words = value.split()
            base = re.sub(r"\$\{?(\w+)\}?", lambda m: args.get(m.group(1), m.group(0)), words[0])
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            found.append(Stage(base, name))
        else:
            assert found, f"{keyword} before the first FROM"
            found[-1].instructions.append((keyword, value))
    return found


def runtime() -> Stage:
    return stages()[-1]


def builder() -> Stage:
    return stages()[0]


def test_the_image_is_built_in_two_stages_from_python_3_11_slim() -> None:
    found = stages()
    assert len(found) >= 2, "the Dockerfile is not multi-stage"
    assert builder().name, "the builder stage has no name for the runtime stage to copy from"
    assert {stage.base for stage in found} == {"python:3.11-slim"}, [stage.base for stage in found]


def commands(stage: Stage) -> list[str]:
    """The stage's shell commands, one per ``RUN`` part between ``&&``, ``;`` or ``||``."""
    return [part.strip() for run in stage.all("RUN") for part in re.split(r"&&|\|\||;", run)]


def test_the_builder_installs_the_runtime_lock_by_hash_and_never_the_dev_lock() -> None:
    def by_hash(needle: str, *extra: str) -> None:
        found = [command for command in commands(builder()) if needle in command]
        assert found, f"the builder runs nothing with {needle}"
        for command in found:
            assert all(flag in command for flag in ("--require-hashes", *extra)), command

    by_hash("requirements-runtime.lock", "--no-build")
    by_hash("requirements-bootstrap.lock")
    by_hash("uv build", "--build-constraints requirements-build.lock")
    for stage in stages():
        for keyword, args in stage.instructions:
            assert not DEV_LOCK.search(args), f"{keyword} {args}: requirements.lock holds the test tools"
            assert not re.search(r"\[dev\]|--extra[ =]dev|--all-extras", args), f"{keyword} {args}"


def test_the_runtime_stage_holds_the_builders_venv_and_installs_nothing() -> None:
    stage = runtime()
    copies = stage.all("COPY") + stage.all("ADD")
    assert copies, "the runtime stage copies nothing"
    for args in copies:
        words = args.split()
        assert words[0] == f"--from={builder().name}", f"COPY {args}: the runtime stage copies from the builder only"
        assert not any(word.startswith("--chown") or word.startswith("--chmod") for word in words), (
            f"COPY {args}: the app's files stay owned by root, read-only for the app")
        assert not DEV_LOCK.search(args)
    for args in stage.all("RUN"):
        assert not re.search(r"\b(pip|uv)\b[^&;|]*\b(install|sync)\b", args), f"RUN {args}: the runtime stage installs"


def test_the_app_runs_as_a_fixed_non_root_uid_that_owns_only_app_local() -> None:
    stage = runtime()
    users = stage.all("USER")
    assert users, "the runtime stage runs as root"
    uid, _, gid = users[-1].partition(":")
    assert uid.isdigit() and int(uid) >= 1000, f"USER {users[-1]}: not a fixed numeric non-root uid"
    assert not gid or (gid.isdigit() and int(gid) != 0)
    assert [kw for kw, _ in stage.instructions if kw in ("USER", "RUN")][-1] == "USER", "RUN after USER"
    setup = " && ".join(stage.all("RUN"))
    assert re.search(rf"useradd\b[^&]*--uid {uid}\b", setup), f"no user with uid {uid}"
    owned = [shlex.split(part) for part in setup.split("&&") if f"-o {uid}" in part or "chown" in part]
    assert owned, f"nothing is owned by {uid}"
    for command in owned:
        paths = [word for word in command if word.startswith("/")]
        assert paths and all(p == WRITABLE or p.startswith(WRITABLE + "/") for p in paths), command
    assert stage.all("WORKDIR")[-1] == "/app"


def test_every_command_compose_runs_is_in_the_runtime_image() -> None:
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))["services"]
    built = {name: service for name, service in services.items() if service.get("build") == "."}
    assert built and all(service["image"] == "casework:local" for service in built.values())
    runtime_lock = (ROOT / "requirements-runtime.lock").read_text(encoding="utf-8")
    for name, service in built.items():
        command = service["command"]
        if command[0] == "faststream":  # the faststream[cli] console script, from the runtime lock
            assert re.search(r"^faststream==", runtime_lock, re.M) and re.search(r"^typer==", runtime_lock, re.M)
            module = command[command.index("--factory") + 1].split(":")[0]
        else:
            assert command[:2] == ["python", "-m"], f"{name}: {command}"
            module = command[2]
        assert module.split(".")[0] in packaged(), f"{name}: {module} is not in the casework wheel"
        path = ROOT / module.replace(".", "/")
        assert path.with_suffix(".py").is_file() or (path / "__main__.py").is_file(), f"{name}: no {module}"


def packaged() -> list[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    return [pattern.rstrip("*") for pattern in config["packages"]["find"]["include"]]


def test_the_wheel_carries_every_template_and_static_file() -> None:
    """The image runs the installed wheel, not a source tree: package data must be declared."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    declared = config.get("package-data", {})
    for package in packaged():
        for path in sorted((ROOT / package).rglob("*")):
            if not path.is_file() or path.suffix in (".py", ".pyc") or "__pycache__" in path.parts:
                continue
            owner = path.parent
            while not (owner / "__init__.py").is_file():
                owner = owner.parent
            dotted = ".".join(owner.relative_to(ROOT).parts)
            relative = path.relative_to(owner).as_posix()
            assert any(fnmatch.fnmatch(relative, pattern) for pattern in declared.get(dotted, [])), (
                f"{path.relative_to(ROOT)} is left out of the wheel: add it to [tool.setuptools.package-data]")


def test_the_build_context_leaves_out_secrets_the_venv_and_the_dev_lock() -> None:
    patterns = [line.strip() for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
                if line.strip() and not line.lstrip().startswith("#")]
    assert patterns[0] == "*", "the build context is an allow-list"
    allowed = {p[1:].strip("/") for p in patterns if p.startswith("!")}
    assert not allowed & {".local", ".venv", ".git", "requirements.lock", "tests"}, allowed
    copied = {word.rstrip("/") for args in builder().all("COPY") for word in args.split()[:-1]
              if not word.startswith("--")}
    assert copied <= allowed, f"the Dockerfile copies {copied - allowed}, which .dockerignore leaves out"
