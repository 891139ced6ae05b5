"""The dashboard's side of the identity path: asking intake for a person's identity on behalf
of the signed-in actor (docs/design.md, Identity reads).

Intake decides and audits; this only asks. The answer is handed back to the caller and
never kept, logged or written anywhere by the status service.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx

from shared.credentials import vault_reader_credential
from shared.settings import Settings

PATH = "/internal/v1/cases/{case_id}/person"
DISCLOSURE_PATH = "/internal/v1/disclosures/{service_request_id}"
DISCLOSURE_ANSWERS = frozenset({200, 403, 404, 410})  # intake's decisions, passed on as they are


class IdentityUnavailable(RuntimeError):
    """Intake could not answer (unreachable, a 5xx, or it refused the service credential):
    the dashboard answers 503. The text names the status only, never a body."""


class IdentityReader:
    """Reads a case's identity from intake for one actor (``read``: ``None`` when refused)."""

    def __init__(self, base_url: str, credential: str, client: httpx.AsyncClient) -> None:
        self.base_url = base_url.rstrip("/")
        self._credential = credential
        self.client = client

    @classmethod
    def from_settings(cls, settings: Settings, client: httpx.AsyncClient) -> IdentityReader:
        """Intake at ``CASEWORK_INTAKE_URL``, with the vault reader's credential (the development
        one generated once; in production ``CASEWORK_VAULT_READER_TOKEN`` must be set)."""
        return cls(settings.status.intake_url, vault_reader_credential(settings), client)

    async def read(self, case_id: str, actor_id: str, role: str, via: str | None = None) -> dict[str, Any] | None:
        """``{"case_id", "person", "audit_id"}`` when this actor may read it; ``None`` when refused
        (the same whether the case exists or not). Raises :class:`IdentityUnavailable` otherwise."""
        headers = {"Authorization": f"Bearer {self._credential}", "X-Casework-Actor-Id": actor_id,
                   "X-Casework-Actor-Role": role}
        if via:
            headers["X-Casework-Via"] = via
        url = self.base_url + PATH.format(case_id=quote(case_id, safe=""))
        try:
            response = await self.client.get(url, headers=headers)
        except httpx.HTTPError as exc:
            raise IdentityUnavailable(f"intake did not answer ({type(exc).__name__})") from None
        if response.status_code == 403:
            return None
        if response.status_code != 200:
            raise IdentityUnavailable(f"intake answered {response.status_code}")
        try:
            body: dict[str, Any] = response.json()
        except ValueError:
            raise IdentityUnavailable("intake's answer was not JSON") from None
        return body

    async def disclose(self, service_request_id: str, capability: str) -> tuple[int, dict[str, Any]]:
        """Intake's answer to a provider's disclosure link: its status (200, 403, 404 or 410)
        and body, passed on untouched. Raises :class:`IdentityUnavailable` otherwise."""
        headers = {"Authorization": f"Bearer {self._credential}", "X-Casework-Capability": capability}
        url = self.base_url + DISCLOSURE_PATH.format(service_request_id=quote(service_request_id, safe=""))
        try:
            response = await self.client.get(url, headers=headers)
        except httpx.HTTPError as exc:
            raise IdentityUnavailable(f"intake did not answer ({type(exc).__name__})") from None
        if response.status_code not in DISCLOSURE_ANSWERS:
            raise IdentityUnavailable(f"intake answered {response.status_code}")
        try:
            body: dict[str, Any] = response.json()
        except ValueError:
            raise IdentityUnavailable("intake's answer was not JSON") from None
        return response.status_code, body
