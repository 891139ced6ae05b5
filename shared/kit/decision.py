"""How a workflow decides: per batch, a pure ``decide`` bound to what it must know first.

``decide(state, event, now) -> (state, events)`` is pure. Some decisions need something
read or made before they run — a roster and its loads, a sealed copy of a person's
identity (encryption draws a random nonce, so it cannot happen inside ``decide``). A
:class:`Decision` gives the workflow, for each batch, the ``decide`` to use; a decision
that needs nothing first is :class:`Pure`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, Protocol, TypeVar

from pydantic import BaseModel

from shared.contracts.common import Payload
from shared.kit.inbound import Inbound

S = TypeVar("S", bound=BaseModel)
Decide = Callable[[S | None, Inbound, datetime], tuple[S | None, Sequence[Payload]]]


class Decision(Protocol[S]):
    async def for_batch(self, events: Sequence[Inbound]) -> Decide[S]:
        """The ``decide`` for this batch (called again for each conflict round)."""


@dataclass(frozen=True)
class Pure(Generic[S]):
    """A decision that reads nothing first."""

    decide: Decide[S]

    async def for_batch(self, events: Sequence[Inbound]) -> Decide[S]:
        return self.decide
