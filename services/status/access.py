"""Who may see what on the dashboard: hashed API tokens, each with a role and a scope (P3).

* ``specialist``: the cases currently referred to their ``specialist_id``;
* ``supervisor``: every case of their agencies (``*``: all agencies); a ``specialist_id``, when
  set, is the supervisor's roster id, under which their actions are published;
* ``analyst``: aggregates of their agencies only, never a single case (P2: identifying
  data is never sent for reporting);
* ``auditor``: the audit trail (who read or did what to which case), and nothing else:
  no board, no case, no aggregate.

Only SHA-256 hashes of the tokens are configured; a presented token is hashed and
compared with every entry in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, TypeAdapter, model_validator

from shared import environment
from shared.devsecrets import generated, generated_once, rewritten
from shared.settings import Settings

ALL_AGENCIES = "*"


class Role(StrEnum):
    SUPERVISOR = "supervisor"
    SPECIALIST = "specialist"
    ANALYST = "analyst"
    AUDITOR = "auditor"


class Principal(BaseModel):
    """A configured token holder (the token itself is never stored)."""

    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9._@-]+$")
    role: Role
    agencies: list[str] = Field(default_factory=list)
    specialist_id: str | None = None

    @model_validator(mode="after")
    def _specialist_has_an_id(self) -> Principal:
        if self.role == Role.SPECIALIST and not self.specialist_id:
            raise ValueError(f"token {self.name}: a specialist token needs a specialist_id")
        return self

    @property
    def all_agencies(self) -> bool:
        return ALL_AGENCIES in self.agencies

    @property
    def sees_cases(self) -> bool:
        return self.role in (Role.SUPERVISOR, Role.SPECIALIST)

    @property
    def reads_aggregates(self) -> bool:
        return self.role in (Role.SUPERVISOR, Role.ANALYST)

    @property
    def audits(self) -> bool:
        return self.role == Role.AUDITOR

    @property
    def actor_id(self) -> str:
        """Who this is on the audit trail: a specialist by roster id, anyone else by token name."""
        return self.specialist_id or self.name

    @property
    def entry(self) -> str:
        """Names this configured entry (not the token) for a session: a session outlives neither
        its token's removal nor its replacement under the same name."""
        return hashlib.sha256(f"casework-session:{self.sha256}".encode()).hexdigest()[:32]

    def may_see(self, agency_id: str, specialist_id: str | None) -> bool:
        """One case: the specialist's own, or a supervisor's agencies'."""
        if self.role == Role.SPECIALIST:
            return specialist_id is not None and specialist_id == self.specialist_id
        if self.role == Role.SUPERVISOR:
            return self.all_agencies or agency_id in self.agencies
        return False

    def may_count(self, agency_id: str) -> bool:
        """Aggregates: a supervisor's or an analyst's agencies."""
        return self.reads_aggregates and (self.all_agencies or agency_id in self.agencies)

    def public(self) -> dict[str, Any]:
        return {"name": self.name, "role": self.role, "agencies": self.agencies,
                "specialist_id": self.specialist_id}


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Tokens:
    def __init__(self, principals: list[Principal]) -> None:
        self.principals = principals

    def authenticate(self, token: str | None) -> Principal | None:
        if not token or len(token) > 512:
            return None
        presented = digest(token)
        found = None
        for principal in self.principals:  # no early exit: the same time whichever matches
            if hmac.compare_digest(presented, principal.sha256):
                found = principal
        return found

    def signed_in(self, name: str, entry: str) -> Principal | None:
        """The principal a session was opened for, if its entry is still configured."""
        found = None
        for principal in self.principals:
            if principal.name == name and hmac.compare_digest(principal.entry, entry):
                found = principal
        return found

    @classmethod
    def from_json(cls, text: str) -> Tokens:
        return cls(TypeAdapter(list[Principal]).validate_json(text))

    @classmethod
    def from_settings(cls, settings: Settings) -> Tokens:
        """The configured tokens; else (never in production) the development ones, generated
        once. Production refuses to start without tokens, or with a development one."""
        configured = (settings.status.dashboard_tokens or "").strip()
        if not environment.production(settings):
            return cls.from_json(configured or json.dumps(dev_tokens(settings)["principals"]))
        if not configured:
            raise ValueError(environment.required("CASEWORK_DASHBOARD_TOKENS"))
        tokens = cls.from_json(configured)
        if tokens.development(settings.status.dev_dashboard_tokens_path):
            raise ValueError(environment.copied("CASEWORK_DASHBOARD_TOKENS", settings.status.dev_dashboard_tokens_path))
        return tokens

    def development(self, path: Path) -> bool:
        """Whether any of these tokens is a development one generated at ``path``."""
        try:
            generated_hashes = {p["sha256"] for p in json.loads(generated(path) or "{}").get("principals", [])}
        except (ValueError, TypeError, KeyError, AttributeError):
            return False  # not a file dev_tokens wrote: none of its tokens can be configured
        return any(principal.sha256 in generated_hashes for principal in self.principals)


def new_token(name: str, role: Role, agencies: list[str], specialist_id: str | None = None) -> tuple[str, Principal]:
    token = "cw_" + secrets.token_urlsafe(32)
    return token, Principal(sha256=digest(token), name=name, role=role, agencies=agencies,
                            specialist_id=specialist_id)


# The demo roster's people (examples/roster.yaml): the dev tokens act as them.
DEV_SPECIALIST = "vs-tx-garcia"
DEV_SECOND_SPECIALIST = "vs-tx-nguyen"
DEV_SUPERVISOR = "sup-tx-reyes"
DEV_PRINCIPALS: list[tuple[str, Role, list[str], str | None]] = [
    ("dev-supervisor", Role.SUPERVISOR, [ALL_AGENCIES], DEV_SUPERVISOR),
    ("dev-specialist", Role.SPECIALIST, [], DEV_SPECIALIST),
    ("dev-specialist-2", Role.SPECIALIST, [], DEV_SECOND_SPECIALIST),
    ("dev-analyst", Role.ANALYST, [ALL_AGENCIES], None),
    ("dev-auditor", Role.AUDITOR, [], None),
]


def _with_dev_tokens(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` with a token for every development principal it lacks."""
    tokens, principals = dict(data.get("tokens", {})), list(data.get("principals", []))
    for name, role, agencies, specialist_id in DEV_PRINCIPALS:
        if name not in tokens:
            token, principal = new_token(name, role, agencies, specialist_id)
            tokens[name] = token
            principals.append(principal.model_dump(mode="json"))
    return {"tokens": tokens, "principals": principals}


def _make_dev_tokens() -> str:
    return json.dumps(_with_dev_tokens({}), indent=2)


def dev_tokens(settings: Settings) -> dict[str, Any]:
    """Development tokens, generated once (mode 0600): ``tokens`` by name and their ``principals``.
    A file from before a role existed gets that role's token added (the others are kept)."""
    path = settings.status.dev_dashboard_tokens_path
    data = json.loads(generated_once(path, _make_dev_tokens))
    complete = _with_dev_tokens(data)
    if complete != data:
        rewritten(path, json.dumps(complete, indent=2))
    return complete
