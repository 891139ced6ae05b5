"""A composed message on the wire: an e-mail (text and HTML alternatives) or a webhook body.

Both carry an id derived from the notification id and the delivery, the same on every
attempt, so a receiver can drop the rare duplicate a crash leaves (``Message-ID``,
``Idempotency-Key``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from email.header import Header
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import formatdate
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from .content import Message, told
from .state import Delivery, Notification, recipient_hash

TEMPLATES = Path(__file__).parent / "templates"
_ENV = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]),
                   undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def message_id(n: Notification, d: Delivery) -> str:
    return f"<{n.id}.{recipient_hash(d.key)}@casework>"


def idempotency_key(n: Notification, d: Delivery) -> str:
    return f"{n.id}:{recipient_hash(d.key)}"


@dataclass(frozen=True)
class Mail:
    """One e-mail as it goes on the wire (RFC 5322 bytes), and its envelope."""

    sender: str
    to: str
    message_id: str
    content: bytes


def email(m: Message, n: Notification, d: Delivery, *, sender: str, to: str) -> Mail:
    """Text and HTML alternatives, UTF-8. Built with the classic ``email.mime`` classes: the
    header registry of ``EmailMessage`` costs several times as much per mail, for nothing
    these fixed, generated headers need."""
    context = {"m": m, "reference": n.reference}
    mail = MIMEMultipart("alternative")
    mail["From"] = sender
    mail["To"] = to
    mail["Subject"] = m.subject if m.subject.isascii() else Header(m.subject, "utf-8").encode()
    mail["Date"] = formatdate(usegmt=True)
    mail["Message-ID"] = message_id(n, d)
    mail["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies to this
    mail.attach(MIMEText(_ENV.get_template("mail.txt").render(context), "plain", "utf-8"))
    mail.attach(MIMEText(_ENV.get_template("mail.html").render(context), "html", "utf-8"))
    return Mail(sender, to, mail["Message-ID"], mail.as_bytes())


def webhook_body(m: Message, n: Notification, d: Delivery) -> bytes:
    """Compact, key-sorted JSON, the same bytes on every attempt (only the signature's time moves)."""
    body = {
        "id": n.id, "delivery": recipient_hash(d.key), "kind": d.kind.value, "case_id": n.case_id,
        "reference": n.reference, "title": m.title, "summary": m.summary, "actions": m.actions,
        "deadline": n.deadline.isoformat() if n.deadline else None, "link": m.link,
        "disclosure_link": m.disclosure_link,
        "facts": told(n),
        "created_at": n.created_at.isoformat(),
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
