"""The shape of the system: ack policies, who reads what, and the committed AsyncAPI."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from faststream import AckPolicy, FastStream

from shared.settings import IntakeSettings, NotifySettings, Settings, StatusSettings
from shared.topics import CATALOGUE, RESTRICTED_TOPICS, dlq

ROOT = Path(__file__).resolve().parents[2]
SERVICES = sorted(p.parent.name for p in (ROOT / "services").glob("*/app.py"))
# Who may read a restricted topic (docs/design.md, Services: Kafka ACLs in production).
RESTRICTED_READERS = {"certification", "notify", "status"}
# The audit trail: written by the services that serve people, read by the auditors' page only.
AUDIT_READERS = {"status"}
# Rule 1: referral and stabilization are never conditioned on certification or prosecution.
UNCONDITIONAL = {"referral", "stabilization"}
FORBIDDEN_WORDS = ("certif", "prosecut", "cooperat", "court", "charge")


def process_app(service: str) -> FastStream:
    """The app ``faststream run --factory`` would run, its development secrets kept aside."""
    module = importlib.import_module(f"services.{service}.app")
    spare = Path(tempfile.mkdtemp(prefix="casework-topology-"))
    return module.create_app(Settings(intake=IntakeSettings(dev_keyring_path=spare / "keyring.json",
                                                                    dev_vault_reader_token_path=spare / "reader"),
                                      notify=NotifySettings(dev_webhook_key_path=spare / "key"),
                                      status=StatusSettings(dev_dashboard_tokens_path=spare / "tokens.json")))


def subscribed_topics(service: str) -> set[str]:
    return {t for sub in process_app(service).broker.subscribers for t in sub.specification.topics}


@pytest.mark.parametrize("service", SERVICES)
def test_every_subscriber_commits_only_after_processing(service: str) -> None:
    subscribers = process_app(service).broker.subscribers
    assert subscribers, f"{service} subscribes to nothing"
    for sub in subscribers:
        assert sub.ack_policy is AckPolicy.NACK_ON_ERROR, f"{service}: {sub.specification.topics} uses {sub.ack_policy}"


@pytest.mark.parametrize("service", SERVICES)
def test_topics_are_catalogued_and_restricted_ones_are_read_only_by_allowed_services(service: str) -> None:
    topics = subscribed_topics(service)
    assert topics <= set(CATALOGUE), f"{service} reads topics outside the catalogue: {topics - set(CATALOGUE)}"
    if service not in RESTRICTED_READERS:
        assert not topics & RESTRICTED_TOPICS


@pytest.mark.parametrize("service", SERVICES)
def test_only_the_auditors_page_reads_the_audit_trail(service: str) -> None:
    assert "audit.events" in RESTRICTED_TOPICS
    assert ("audit.events" in subscribed_topics(service)) is (service in AUDIT_READERS)


@pytest.mark.parametrize("service", sorted(UNCONDITIONAL & set(SERVICES)))
def test_assistance_never_reads_certification_or_prosecution(service: str) -> None:
    topics = subscribed_topics(service)
    assert not [t for t in topics if t.startswith(("certifications.", "prosecution"))], topics
    assert not [t for t in topics if any(word in t for word in FORBIDDEN_WORDS)], topics


# What a share list names (a scope a consent may cover) is not a consent: a request may carry it.
SHARE_SCOPE = "ConsentScope"
# Notify's provider notice (``service_requested``): its plan, its words and its disclosure link.
PROVIDER_NOTICE = {"kinds.py": ("service_requested",), "content.py": ("_service_requested", "compose", "_disclosure")}
# The notify modules that wire or word the consent notices themselves (``consents.events``).
CONSENT_NOTICES = {"app.py", "kinds.py", "content.py"}


def consent_imports(tree: ast.AST) -> list[str]:
    """Every import in ``tree`` of a consent: ``shared.consent``, ``shared.contracts.consents``,
    a module of that name, or a name ``Consent…`` (the share scope aside), however written."""
    def about_consent(name: str) -> bool:
        return "consent" in name.lower() and name.rpartition(".")[2] != SHARE_SCOPE

    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [f"import {a.name}" for a in node.names if about_consent(a.name)]
        elif isinstance(node, ast.ImportFrom):
            module = "." * node.level + (node.module or "")
            found += [f"from {module} import {a.name}" for a in node.names
                      if about_consent(module) or about_consent(a.name)]
    return found


def consent_references(function: ast.AST) -> list[str]:
    """The names and attributes a function's body uses that are about a consent."""
    used = [n.id for n in ast.walk(function) if isinstance(n, ast.Name)]
    used += [n.attr for n in ast.walk(function) if isinstance(n, ast.Attribute)]
    return sorted({name for name in used if "consent" in name.lower() and name != SHARE_SCOPE})


def test_the_consent_guard_catches_every_way_to_import_a_consent() -> None:
    caught = ["from shared import consent", "import shared.consent", "import shared.consent as c",
              "from shared.consent import covering", "from shared.contracts.consents import ConsentLapsed",
              "from shared.contracts import consents", "from shared.contracts.inbound import ConsentRecorded",
              "from . import consents", "from .consents import covering"]
    allowed = ["from shared.contracts.inbound import ConsentScope", "from shared import disclosure",
               "import shared.contracts.support"]
    assert [line for line in caught if not consent_imports(ast.parse(line))] == []
    assert [line for line in allowed if consent_imports(ast.parse(line))] == []


@pytest.mark.parametrize("service", sorted(UNCONDITIONAL & set(SERVICES)))
def test_no_decision_to_assist_reads_a_consent(service: str) -> None:
    """P2: consent is never a condition of service; it gates only what a recipient may see."""
    assert {"consents.recorded", "consents.revoked"} <= set(CATALOGUE)
    assert not [t for t in subscribed_topics(service) if t.startswith("consents.")]
    modules = sorted((ROOT / "services" / service).glob("*.py"))
    assert modules
    found = {path.name: imports for path in modules if (imports := consent_imports(ast.parse(path.read_text())))}
    assert found == {}


def test_notifys_provider_notice_does_not_depend_on_a_consent() -> None:
    """The provider is asked whatever the person consented to: the notice's plan, words and
    disclosure link use no consent (what the link shows is intake's decision, under consent),
    and nothing but the consent notices' own modules imports one."""
    notify = ROOT / "services" / "notify"
    for module, names in PROVIDER_NOTICE.items():
        functions = {node.name: node for node in ast.walk(ast.parse((notify / module).read_text()))
                     if isinstance(node, ast.FunctionDef)}
        assert set(names) <= set(functions), module
        assert {name: used for name in names if (used := consent_references(functions[name]))} == {}, module
    found = {path.name: imports for path in sorted(notify.glob("*.py"))
             if path.name not in CONSENT_NOTICES and (imports := consent_imports(ast.parse(path.read_text())))}
    assert found == {}


@pytest.mark.parametrize("service", sorted(UNCONDITIONAL & set(SERVICES)))
def test_assistance_imports_no_certification_contract(service: str) -> None:
    modules = sorted((ROOT / "services" / service).glob("*.py"))
    assert modules
    for path in modules:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""] + [a.name for a in node.names]
                assert not [n for n in names if any(w in n.lower() for w in FORBIDDEN_WORDS)], path.name


def test_dead_letter_topics_follow_the_source() -> None:
    assert dlq("encounters.reported") == "encounters.reported.dlq"


def test_committed_asyncapi_matches_the_code() -> None:
    done = subprocess.run([sys.executable, "scripts/asyncapi.py"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


# Read by a service outside its subscribers (a scan to the end, not a consumer group).
DIRECT_READS = {("status", "cases.status")}


def published_topics(service: str) -> set[str]:
    return {pub.topic for pub in process_app(service).broker.publishers}


@pytest.mark.parametrize("service", SERVICES)
def test_the_catalogue_names_exactly_the_topics_each_service_reads_and_writes(service: str) -> None:
    """The ACLs are derived from the catalogue: it must say what the code does, no more, no less."""
    reads = {name for name, entry in CATALOGUE.items() if service in entry.readers}
    writes = {name for name, entry in CATALOGUE.items() if service in entry.writers}
    assert subscribed_topics(service) == reads - {t for s, t in DIRECT_READS if s == service}
    assert published_topics(service) == writes
