"""A local SMTP sink: every message it accepts is filed as one RFC 5322 ``.eml`` file.

``python -m services.notify.sink`` listens on ``CASEWORK_SMTP_HOST``:``CASEWORK_SMTP_PORT``
and writes into ``CASEWORK_OUTBOX_DIR``, so under ``make run`` anyone can read what was
sent. Files are named ``<UTC time>-<message id>-<n>.eml``.

Notify delivers at least once: a crash between the server accepting a mail and notify
recording it leaves a repeat with the same ``Message-ID``, which receivers drop. The
sink run as a program does that too, the way a mailbox collapses repeats: a message whose
``Message-ID`` was filed before goes to ``duplicates/`` instead, so the outbox holds each
mail once and the repeats stay visible. Tests that count repeats file everything.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import re
import signal
from collections.abc import Callable
from datetime import UTC, datetime
from email.parser import BytesHeaderParser
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

from shared.settings import Settings

logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs every SMTP command at INFO

_UNSAFE = re.compile(r"[^A-Za-z0-9._@-]+")

OnMessage = Callable[[str, bytes], None]  # (Message-ID, the message as received)


class Outbox:
    """The aiosmtpd handler: file the message, then accept it."""

    def __init__(self, directory: Path, on_message: OnMessage | None = None, *,
                 set_aside_repeats: bool = False) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.on_message = on_message
        self._numbers = itertools.count(1)
        self.set_aside_repeats = set_aside_repeats
        self._filed = {self._name_of(p) for p in self.directory.glob("*.eml")} if set_aside_repeats else set()

    async def handle_DATA(self, server: SMTP, session: Any, envelope: Any) -> str:
        content: bytes = envelope.original_content or envelope.content
        message_id = BytesHeaderParser().parsebytes(content).get("Message-ID", "") or "no-message-id"
        self.file(message_id, content)
        if self.on_message:
            self.on_message(message_id, content)
        return "250 2.0.0 Message accepted for delivery"

    @staticmethod
    def _name_of(path: Path) -> str:
        return path.stem.split("-", 1)[1].rsplit("-", 1)[0]  # <stamp>-<name>-<n>

    def file(self, message_id: str, content: bytes) -> Path:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
        name = _UNSAFE.sub("_", message_id.strip().strip("<>"))[:150]
        directory = self.directory
        if self.set_aside_repeats:
            if name in self._filed:
                directory = self.directory / "duplicates"
                directory.mkdir(exist_ok=True)
                print(f"duplicate of {message_id} set aside in {directory}", flush=True)
            self._filed.add(name)
        path = directory / f"{stamp}-{name}-{next(self._numbers)}.eml"
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_bytes(content)
        os.replace(tmp, path)  # readers never see half a message
        return path


def _authenticator(credentials: tuple[str, str]) -> Callable[..., AuthResult]:
    def check(server: SMTP, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        ok = isinstance(auth_data, LoginPassword) and (
            auth_data.login.decode(), auth_data.password.decode()) == credentials
        return AuthResult(success=ok)
    return check


class Sink:
    """The SMTP server: ``start`` listens in the running loop, ``stop`` also drops open sessions
    (a stopped sink refuses mail at once, like a mail server that went down)."""

    def __init__(self, directory: Path, *, on_message: OnMessage | None = None,
                 credentials: tuple[str, str] | None = None, set_aside_repeats: bool = False) -> None:
        self.outbox = Outbox(directory, on_message, set_aside_repeats=set_aside_repeats)
        self.options: dict[str, Any] = {"hostname": "casework-sink", "enable_SMTPUTF8": True}
        if credentials:  # plain login without TLS: for the local sink and tests only
            self.options |= {"auth_required": True, "auth_require_tls": False,
                             "authenticator": _authenticator(credentials)}
        self._server: asyncio.Server | None = None
        self._sessions: list[SMTP] = []

    def _session(self) -> SMTP:
        self._sessions = [s for s in self._sessions if s.transport is None or not s.transport.is_closing()]
        session = SMTP(self.outbox, **self.options)
        self._sessions.append(session)
        return session

    async def start(self, host: str, port: int) -> None:
        self._server = await asyncio.get_running_loop().create_server(self._session, host, port)

    @property
    def port(self) -> int:
        """The port listened on (the one chosen when started on port 0)."""
        assert self._server is not None, "the sink is not started"
        return int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for session in self._sessions:
                if session.transport is not None:
                    session.transport.close()
            await self._server.wait_closed()
            self._server = None


async def main(settings: Settings) -> None:
    notify = settings.notify
    sink = Sink(notify.outbox_dir, set_aside_repeats=True)
    await sink.start(notify.smtp.host, notify.smtp.port)
    print(f"SMTP sink on {notify.smtp.host}:{notify.smtp.port}, "
          f"filing each message under {notify.outbox_dir.resolve()}", flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    await stop.wait()
    await sink.stop()


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main(Settings()))
