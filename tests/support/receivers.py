"""Real receivers for notification tests: the SMTP sink and a small HTTP webhook receiver."""

from __future__ import annotations

import asyncio
import email
import email.policy
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path

from services.notify.sink import Sink
from tests.support.procs import free_port


class MailSink:
    """The project's aiosmtpd sink on a free port, and what it filed."""

    def __init__(self, directory: Path, *, credentials: tuple[str, str] | None = None,
                 on_message: Callable[[str, bytes], None] | None = None) -> None:
        self.directory = directory
        self.port = free_port()
        self.sink = Sink(directory, credentials=credentials, on_message=on_message)

    async def start(self) -> None:
        await self.sink.start("127.0.0.1", self.port)

    async def stop(self) -> None:
        await self.sink.stop()

    def files(self) -> list[Path]:
        return sorted(self.directory.glob("*.eml"))

    def messages(self) -> list[EmailMessage]:
        return [email.message_from_bytes(p.read_bytes(), policy=email.policy.default)  # type: ignore[misc]
                for p in self.files()]

    def per_message_id(self) -> Counter[str]:
        return Counter(str(m["Message-ID"]) for m in self.messages())

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages() if str(m["To"]) == address]


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class HttpReceiver:
    """An HTTP/1.1 server on a free port that records each request and answers with the next
    status of ``statuses`` (200 once they run out)."""

    statuses: list[int] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)
    hold: dict[str, asyncio.Event] = field(default_factory=dict)  # path -> answer once it is set
    port: int = field(default_factory=free_port)
    _server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def to(self, path: str) -> list[Request]:
        return [r for r in self.requests if r.path == path]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while request := await self._read(reader):
                self.requests.append(request)
                if request.path in self.hold:
                    await self.hold[request.path].wait()
                status = self.statuses.pop(0) if self.statuses else 200
                writer.write(f"HTTP/1.1 {status} X\r\nContent-Length: 0\r\n\r\n".encode())
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    @staticmethod
    async def _read(reader: asyncio.StreamReader) -> Request | None:
        line = await reader.readline()
        if not line.strip():
            return None
        method, path, _ = line.decode().split(" ", 2)
        headers: dict[str, str] = {}
        while (header := await reader.readline()).strip():
            name, _, value = header.decode().partition(":")
            headers[name.strip().lower()] = value.strip()
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        return Request(method, path, headers, body)
