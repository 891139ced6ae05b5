"""The certification service: ``certifications.requested`` and ``.recorded`` in; the restricted
``certifications.events`` and ``certifications.status`` out.

Run it with
``faststream run --factory services.certification.app:create_app``.

Logging policy (P1, 8 U.S.C. 1367): this service logs nothing about a certification of its
own; what the kit logs names event types, topics and offsets (and a case id only when an
event cannot be decided), never a certification's kind. A T or U visa case therefore cannot
be told from a log line.
"""

from __future__ import annotations

from functools import partial

from faststream import FastStream

from shared.contracts.certifications import CERTIFICATION_EVENTS, CaseCertifications
from shared.contracts.inbound import CertificationRecorded, CertificationRequested
from shared.kit import Clock
from shared.kit.decision import Pure
from shared.kit.ports import Backend, Publisher
from shared.kit.service import Service, process_app
from shared.settings import Settings

from . import domain
from .state import CaseCertificationFile, Policy


def bootstrap(settings: Settings, *, clock: Clock | None = None, ops_port: int | None = None,
              backend: Backend | None = None, publisher: Publisher | None = None) -> Service:
    service = Service("certification", settings, clock=clock, ops_port=ops_port, backend=backend, publisher=publisher,
                      description="Continued Presence, T and U visa certifications and their "
                                  "deadlines; publishes only on restricted topics (P1).")
    policy = Policy.from_settings(settings.certification)
    # One aggregate per case (the default aggregate id is the payload's subject, the case id).
    files = service.workflow("certifications", CaseCertificationFile,
                             Pure(partial(domain.decide, policy=policy)))
    service.consume(CertificationRequested, handler=files)
    service.consume(CertificationRecorded, handler=files)
    service.produces(*CERTIFICATION_EVENTS, CaseCertifications)
    return service


def create_app(settings: Settings | None = None) -> FastStream:
    """The process entry point (``faststream run --factory``)."""
    settings = settings or Settings()
    return process_app(bootstrap, settings, ops_port=settings.certification.ops_port)
