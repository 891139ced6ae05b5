"""The two ways out: SMTP (aiosmtplib) and signed webhooks (httpx). Each attempt has a
timeout and ends in an :class:`Outcome`; none raises, so one bad recipient stays its own
problem.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import aiosmtplib
import httpx

from shared.errors import describe
from shared.settings import SmtpSettings
from shared.webhooks import IDEMPOTENCY_HEADER, SIGNATURE_HEADER, sign_each

from . import targets
from .render import Mail
from .targets import TargetRefused, TargetRules


@dataclass(frozen=True)
class Outcome:
    ok: bool
    error: str | None = None
    permanent: bool = False  # retrying cannot help: the recipient refused it for good


SENT = Outcome(True)
STALE = Outcome(False, "the pooled SMTP connection was closed")


def _smtp_outcome(exc: BaseException) -> Outcome:
    """A 5xx about the recipient or the message is final; everything else may pass later."""
    codes: list[int] = []
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        codes = [r.code for r in exc.recipients]
    elif isinstance(exc, aiosmtplib.SMTPRecipientRefused | aiosmtplib.SMTPDataError):
        codes = [exc.code]
    return Outcome(False, describe(exc), permanent=bool(codes) and min(codes) >= 500)


class Mailer:
    """SMTP through a few reused connections, with STARTTLS and login as configured."""

    def __init__(self, smtp: SmtpSettings, timeout: float, pool_size: int = 8) -> None:
        self.smtp = smtp
        self.pool_size = pool_size
        self.timeout = timeout
        self._idle: list[aiosmtplib.SMTP] = []

    async def send(self, mail: Mail) -> Outcome:
        if self._idle:
            outcome = await self._attempt(self._idle.pop(), mail)
            if outcome is not STALE:
                return outcome
        return await self._attempt(None, mail)

    async def _attempt(self, client: aiosmtplib.SMTP | None, mail: Mail) -> Outcome:
        pooled = client is not None
        try:
            async with asyncio.timeout(self.timeout):
                client = client or await self._connect()
                await client.sendmail(mail.sender, [mail.to], mail.content)
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            if client is not None:
                client.close()
            if pooled and isinstance(exc, aiosmtplib.SMTPServerDisconnected):
                return STALE  # the server had closed this idle connection: once more, fresh
            return _smtp_outcome(exc)
        self._release(client)
        return SENT

    async def _connect(self) -> aiosmtplib.SMTP:
        s = self.smtp
        client = aiosmtplib.SMTP(hostname=s.host, port=s.port, timeout=self.timeout,
                                 start_tls=s.starttls, username=s.username, password=s.password)
        await client.connect()
        return client

    def _release(self, client: aiosmtplib.SMTP) -> None:
        if len(self._idle) < self.pool_size:
            self._idle.append(client)
        else:
            client.close()

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for client in idle:
            try:
                async with asyncio.timeout(2):
                    await client.quit()
            except (aiosmtplib.SMTPException, OSError, TimeoutError):
                client.close()


class WebhookPoster:
    """POSTs JSON with an ``Idempotency-Key`` and a per-recipient ``X-Casework-Signature``
    (one ``v1`` per secret the recipient may hold: two while the signing key rotates), only
    to a target the rules allow (:mod:`.targets`: checked at every attempt, redirects never
    followed).

    Where targets must be public, each attempt opens its own connection to the address it
    checked: a pooled one is keyed by address, and would carry a request for another host
    name at the same address without checking that name's certificate.
    """

    def __init__(self, timeout: float, secrets_for: Callable[[str], Sequence[str]], rules: TargetRules,
                 wall_clock: Callable[[], float] = time.time, *, resolve: targets.Resolve = targets.resolve,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.timeout = httpx.Timeout(timeout, connect=min(5.0, timeout))
        self.secrets_for = secrets_for
        self.wall_clock = wall_clock  # receivers compare the stamp with their own clock
        self.rules = rules
        self.resolve = resolve
        self.transport = transport
        self._client: httpx.AsyncClient | None = None

    async def post(self, url: str, body: bytes, *, recipient_id: str, idempotency_key: str) -> Outcome:
        try:
            async with asyncio.timeout(self.timeout.connect):
                where = await targets.target(url, self.rules, self.resolve)
        except TargetRefused as exc:
            return Outcome(False, str(exc), permanent=True)
        except (OSError, TimeoutError) as exc:  # the name does not resolve now: it may later
            return Outcome(False, f"webhook host not resolved: {describe(exc) or type(exc).__name__}")
        headers = {"Content-Type": "application/json", "User-Agent": "casework-notify/1",
                   IDEMPOTENCY_HEADER: idempotency_key,
                   SIGNATURE_HEADER: sign_each(self.secrets_for(recipient_id), body, int(self.wall_clock())),
                   **where.headers()}
        try:
            response = await self._http().post(where.url, content=body, headers=headers,
                                               extensions=where.extensions())
        except httpx.HTTPError as exc:
            return Outcome(False, describe(exc) or type(exc).__name__)
        if response.is_success:
            return SENT
        retry = response.status_code in (408, 429) or response.status_code >= 500
        return Outcome(False, f"HTTP {response.status_code}", permanent=not retry)  # 3xx too: not followed

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            limits = httpx.Limits(max_keepalive_connections=0) if self.rules.public_only else httpx.Limits()
            self._client = httpx.AsyncClient(timeout=self.timeout, follow_redirects=False, limits=limits,
                                             transport=self.transport)
        return self._client

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
