"""Production or development: which secrets a process may use, decided once, here.

Production is the default. Development — secrets generated once under ``.local/`` so that
``make run`` needs no setup — is a process's mode only when it is asked for
(``CASEWORK_ENVIRONMENT=development``) *and* everything the process listens on is this
machine (``CASEWORK_HTTP_HOST`` is ``127.0.0.1``, ``::1`` or ``localhost``): a development
dashboard token or vault credential is then reachable from nowhere else. Development asked
for on a network listener refuses to start, unless ``CASEWORK_DEVELOPMENT_ON_NETWORK=true``
says it is a throw-away trial on a private network (``docker compose up``), which every
service then warns about as it starts.

Every place that would fall back to a development secret asks :func:`production` first, and
in production names the variable that must be set (:func:`required`).
"""

from __future__ import annotations

import ipaddress
from typing import Literal

from shared.settings import Settings

Mode = Literal["development", "production"]
LOOPBACK_NAMES = frozenset({"localhost"})


class UnsafeEnvironment(RuntimeError):
    """Development was asked for where its generated secrets would be reachable from the network."""


def is_loopback(host: str) -> bool:
    """Whether a listener on ``host`` is reachable from this machine only."""
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def mode(settings: Settings) -> Mode:
    """The process's mode: production unless development is asked for, and then only on loopback
    (or on a network its operator has said is a trial's); :class:`UnsafeEnvironment` otherwise."""
    if settings.environment != "development":
        return "production"
    if is_loopback(settings.http_host) or settings.development_on_network:
        return "development"
    raise UnsafeEnvironment(
        f"CASEWORK_ENVIRONMENT=development uses generated development secrets, so it is allowed only "
        f"on loopback, and CASEWORK_HTTP_HOST is {settings.http_host!r}: listen on 127.0.0.1, ::1 or "
        f"localhost; or run in production (CASEWORK_ENVIRONMENT unset or production, with real secrets); "
        f"or, for a throw-away trial on a private network, set CASEWORK_DEVELOPMENT_ON_NETWORK=true")


def production(settings: Settings) -> bool:
    """Whether real secrets are required (:func:`mode` is production)."""
    return mode(settings) == "production"


def network_warning(settings: Settings) -> str | None:
    """What a service says as it starts when development secrets sit on a network listener."""
    if mode(settings) == "production" or is_loopback(settings.http_host):
        return None
    return (f"DEVELOPMENT SECRETS ON A NETWORK LISTENER: CASEWORK_ENVIRONMENT=development with "
            f"CASEWORK_HTTP_HOST={settings.http_host} (CASEWORK_DEVELOPMENT_ON_NETWORK=true); anyone who "
            f"reaches this network reaches generated development credentials. A trial only, never real "
            f"cases: for those, set CASEWORK_ENVIRONMENT=production and the secrets (README, Configuration)")


def required(variable: str) -> str:
    """The start-up error of a secret that production needs and was not given."""
    return (f"{variable} must be set in production (production is the default; only "
            f"CASEWORK_ENVIRONMENT=development on loopback generates development secrets instead)")


def copied(variable: str, path: object) -> str:
    """The start-up error of a production secret that is the development one generated at ``path``."""
    return f"{variable} is the development secret generated in {path}: production needs a secret of its own"
