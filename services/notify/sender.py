"""One attempt of one delivery: find the address, compose the message, send it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from shared import logging as caselog
from shared.contracts.notifications import Channel
from shared.errors import describe

from . import render
from .audience import Contact
from .channels import Mailer, Outcome, WebhookPoster
from .content import Links, compose
from .state import Notification

log = caselog.get_logger("casework.notify")

NO_ADDRESS = Outcome(False, "no address on file for the recipient yet")


class Sender:
    def __init__(self, mailer: Mailer, poster: WebhookPoster,
                 lookup: Callable[[str, str], Awaitable[Contact | None]], *, sender: str, links: Links) -> None:
        self.mailer = mailer
        self.poster = poster
        self.lookup = lookup
        self.sender = sender
        self.links = links

    async def __call__(self, n: Notification, index: int) -> Outcome:
        delivery = n.deliveries[index]
        address = delivery.address
        if address is None:  # named before the roster (or the provider directory) said how to reach them
            contact = await self.lookup(delivery.recipient_id, delivery.role)
            address = contact.address(delivery.channel) if contact else None
        if address is None:
            return NO_ADDRESS
        try:
            message = compose(n, delivery, self.links)
            if delivery.channel is Channel.EMAIL:
                return await self.mailer.send(render.email(message, n, delivery, sender=self.sender, to=address))
            return await self.poster.post(address, render.webhook_body(message, n, delivery),
                                          recipient_id=delivery.recipient_id,
                                          idempotency_key=render.idempotency_key(n, delivery))
        except Exception as exc:  # a message that cannot be built: retried, then alerted on
            log.error("message could not be built", notification_id=n.id, delivery=index, exc_info=exc)
            return Outcome(False, describe(exc))

    async def close(self) -> None:
        await self.mailer.close()
        await self.poster.close()
