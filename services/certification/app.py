"""The certification service: ``certifications.requested`` and ``.recorded`` in; the restricted
``certifications.events`` and ``certifications.status`` out.

Run it with ``faststream run services.certification.app:app``.

Logging policy (P1, 8 U.S.C. 1367): this service logs nothing about a certification of its
own; what the kit logs names event types, topics and offsets (and a case id only when an
event cannot be decided), never a certification's kind. A T or U visa case therefore cannot
be told from a log line.
"""

from __future__ import annotations

from datetime import timedelta
from functools import partial

from shared import logging as caselog
from shared.contracts.certifications import CERTIFICATION_EVENTS, CaseCertifications
from shared.contracts.inbound import CertificationRecorded, CertificationRequested
from shared.kit import Clock
from shared.kit.service import Service
from shared.settings import Settings

from . import domain
from .state import CaseCertificationFile

OPS_PORT = 8084


def bootstrap(settings: Settings | None = None, *, clock: Clock | None = None,
              ops_port: int | None = None) -> Service:
    settings = settings or Settings()
    service = Service("certification", settings, clock=clock, ops_port=ops_port,
                      description="Continued Presence, T and U visa certifications and their "
                                  "deadlines; publishes only on restricted topics (P1).")
    policy = domain.Policy(cp_duration=timedelta(days=settings.cp_duration_days),
                           cp_renewal_lead=timedelta(days=settings.cp_renewal_lead_days))
    # One aggregate per case (the default aggregate id is the payload's subject, the case id).
    files = service.workflow("certifications", CaseCertificationFile,
                             partial(domain.decide, policy=policy))
    service.consume(CertificationRequested, handler=files)
    service.consume(CertificationRecorded, handler=files)
    service.produces(*CERTIFICATION_EVENTS, CaseCertifications)
    return service


caselog.configure(Settings().log_level)
app = bootstrap(ops_port=Settings().ops_port or OPS_PORT).app
