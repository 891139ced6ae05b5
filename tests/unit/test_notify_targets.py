"""Safe webhook targets (services/notify/targets.py): which URLs each mode posts to, and how
an attempt connects to the address it checked."""

from __future__ import annotations

import json

import httpx
import pytest

from services.notify.channels import WebhookPoster
from services.notify.targets import TargetRefused, TargetRules, resolve, target
from shared.webhooks import SIGNATURE_HEADER, parse

DEVELOPMENT = TargetRules.for_environment("development")
PRODUCTION = TargetRules.for_environment("production")
PUBLIC_V4, PUBLIC_V6 = "93.184.216.34", "2606:4700::1111"
# What the fake resolver answers for each name (a name it does not know does not resolve).
DNS = {
    "hooks.example.org": [PUBLIC_V4],
    "v6.example.org": [PUBLIC_V6, PUBLIC_V4],
    "internal.example.org": ["10.0.0.7"],
    "localhost": ["127.0.0.1", "::1"],
    "half.example.org": [PUBLIC_V4, "192.168.1.20"],  # one bad address is enough
    "metadata.example.org": ["169.254.169.254"],
    "cgnat.example.org": ["100.64.3.4"],
    "mapped.example.org": ["::ffff:127.0.0.1"],
    "nat64.example.org": ["64:ff9b::a00:1"],  # 10.0.0.1 behind NAT64
    "sixtofour.example.org": ["2002:a00:1::1"],  # 10.0.0.1 in 6to4
}

OK, REFUSED = "allowed", "refused"
# url -> (in development, in production); a refusal's error must contain the text after "refused:".
TABLE: dict[str, tuple[str, str]] = {
    "https://hooks.example.org/casework?token=s3cret": (OK, OK),
    "https://hooks.example.org:8443/hook": (OK, OK),
    "https://v6.example.org/hook": (OK, OK),
    f"https://{PUBLIC_V4}/hook": (OK, OK),
    f"https://[{PUBLIC_V6}]/hook": (OK, OK),
    "http://hooks.example.org/hook": (OK, "refused:https only"),
    "http://127.0.0.1:8099/hook": (OK, "refused:https only"),
    "https://127.0.0.1/hook": (OK, "refused:loopback"),
    "https://[::1]/hook": (OK, "refused:loopback"),
    "https://localhost/hook": (OK, "refused:loopback"),
    "https://0.0.0.0/hook": (OK, "refused:unspecified"),
    "https://10.1.2.3/hook": (OK, "refused:private"),
    "https://172.16.0.1/hook": (OK, "refused:private"),
    "https://192.168.0.10/hook": (OK, "refused:private"),
    "https://[fc00::5]/hook": (OK, "refused:private"),
    "https://internal.example.org/hook": (OK, "refused:10.0.0.7, a private address"),
    "https://half.example.org/hook": (OK, "refused:192.168.1.20, a private address"),
    "https://169.254.169.254/latest/meta-data": (OK, "refused:link-local"),
    "https://metadata.example.org/latest": (OK, "refused:link-local"),
    "https://[fe80::1]/hook": (OK, "refused:link-local"),
    "https://224.0.0.251/hook": (OK, "refused:multicast"),
    "https://[ff02::1]/hook": (OK, "refused:multicast"),
    "https://240.0.0.1/hook": (OK, "refused:reserved"),
    "https://cgnat.example.org/hook": (OK, "refused:special-purpose"),
    "https://mapped.example.org/hook": (OK, "refused:(IPv4 127.0.0.1), a loopback address"),
    "https://[::ffff:10.0.0.1]/hook": (OK, "refused:(IPv4 10.0.0.1), a private address"),
    "https://nat64.example.org/hook": (OK, "refused:(IPv4 10.0.0.1), a private address"),
    "https://sixtofour.example.org/hook": (OK, "refused:(IPv4 10.0.0.1), a private address"),
    "ftp://hooks.example.org/hook": ("refused:http or https", "refused:https only"),
    "file:///etc/passwd": ("refused:http or https", "refused:https only"),
    "hooks.example.org/hook": ("refused:http or https", "refused:https only"),
    "https:///hook": ("refused:no host", "refused:no host"),
    "https://[::1/hook": ("refused:not a valid URL", "refused:not a valid URL"),
}


async def fake_resolve(host: str, port: int) -> list[str]:
    if host not in DNS:
        raise OSError(f"{host} does not resolve")
    return DNS[host]


@pytest.mark.parametrize("mode", ["development", "production"])
@pytest.mark.parametrize("url", list(TABLE))
async def test_each_url_is_allowed_or_refused_by_its_rule(url: str, mode: str) -> None:
    expected = TABLE[url][mode == "production"]
    rules = TargetRules.for_environment(mode)
    if expected == OK:
        await target(url, rules, fake_resolve)
        return
    rule = expected.removeprefix("refused:")
    with pytest.raises(TargetRefused) as refused:
        await target(url, rules, fake_resolve)
    message = str(refused.value)
    assert message.startswith("webhook target refused: ") and rule in message, message
    assert "s3cret" not in message and "/hook" not in message and "meta-data" not in message


def test_the_modes() -> None:
    assert (DEVELOPMENT.https_only, DEVELOPMENT.public_only) == (False, False)
    assert (PRODUCTION.https_only, PRODUCTION.public_only) == (True, True)


async def test_numeric_host_spellings_are_caught_by_what_they_resolve_to() -> None:
    """``2130706433`` and ``0x7f.1`` are 127.0.0.1 to the system's resolver (no DNS asked)."""
    for url in ("https://2130706433/hook", "https://0x7f.1/hook", "https://127.1/hook"):
        with pytest.raises(TargetRefused, match="loopback"):
            await target(url, PRODUCTION, resolve)


async def test_a_checked_name_is_connected_to_at_its_checked_address() -> None:
    checked = await target("https://hooks.example.org:8443/casework?token=s3cret", PRODUCTION, fake_resolve)
    assert str(checked.url) == f"https://{PUBLIC_V4}:8443/casework?token=s3cret"
    assert checked.headers() == {"Host": "hooks.example.org:8443"}
    assert checked.extensions() == {"sni_hostname": "hooks.example.org"}  # TLS checks the name's certificate
    v6 = await target("https://v6.example.org/x", PRODUCTION, fake_resolve)
    assert v6.url.host == PUBLIC_V6 and v6.headers() == {"Host": "v6.example.org"}
    as_given = await target("http://127.0.0.1:8099/hook", DEVELOPMENT, fake_resolve)
    assert str(as_given.url) == "http://127.0.0.1:8099/hook" and as_given.headers() == as_given.extensions() == {}


class Receiver:
    """A mock transport that records each request and answers with the next response."""

    def __init__(self, *responses: httpx.Response) -> None:
        self.responses = list(responses)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.responses.pop(0) if self.responses else httpx.Response(200)


def poster(receiver: Receiver, rules: TargetRules, resolve=fake_resolve) -> WebhookPoster:
    return WebhookPoster(5.0, lambda recipient: [f"new-{recipient}", f"old-{recipient}"], rules,
                         lambda: 1_767_600_000.0, resolve=resolve, transport=httpx.MockTransport(receiver))


async def test_a_post_goes_to_the_checked_address_with_the_name_and_both_signatures() -> None:
    receiver = Receiver()
    hooks = poster(receiver, PRODUCTION)
    outcome = await hooks.post("https://hooks.example.org/casework?token=s3cret", b"{}", recipient_id="spec-a",
                               idempotency_key="n-1:r")
    await hooks.close()
    assert outcome.ok
    [request] = receiver.requests
    assert (request.url.host, request.url.path, request.url.query) == (PUBLIC_V4, "/casework", b"token=s3cret")
    assert request.headers["host"] == "hooks.example.org"
    assert request.extensions["sni_hostname"] == "hooks.example.org"
    assert len(parse(request.headers[SIGNATURE_HEADER])[1]) == 2


async def test_a_refused_target_is_a_permanent_failure_and_nothing_is_sent() -> None:
    receiver = Receiver()
    hooks = poster(receiver, PRODUCTION)
    for url, rule in (("https://internal.example.org/h?token=s3cret", "private"),
                      ("http://hooks.example.org/h?token=s3cret", "https only")):
        outcome = await hooks.post(url, b"{}", recipient_id="spec-a", idempotency_key="n-1:r")
        assert not outcome.ok and outcome.permanent and rule in (outcome.error or "")
        assert "s3cret" not in (outcome.error or "")
    assert receiver.requests == []


async def test_the_name_is_resolved_and_checked_again_at_every_attempt() -> None:
    """DNS rebinding: public when first asked, loopback the next time."""
    answers = [[PUBLIC_V4], ["127.0.0.1"]]

    async def rebinding(host: str, port: int) -> list[str]:
        return answers.pop(0)

    receiver = Receiver(httpx.Response(503))
    hooks = poster(receiver, PRODUCTION, rebinding)
    first = await hooks.post("https://rebind.example.org/h", b"{}", recipient_id="spec-a", idempotency_key="k")
    second = await hooks.post("https://rebind.example.org/h", b"{}", recipient_id="spec-a", idempotency_key="k")
    assert not first.permanent and first.error == "HTTP 503"
    assert second.permanent and "127.0.0.1, a loopback address" in (second.error or "")
    assert [r.url.host for r in receiver.requests] == [PUBLIC_V4]


async def test_a_name_that_does_not_resolve_now_is_tried_again_later() -> None:
    outcome = await poster(Receiver(), PRODUCTION).post("https://gone.example.org/h", b"{}", recipient_id="spec-a",
                                                         idempotency_key="k")
    assert not outcome.ok and not outcome.permanent and "not resolved" in (outcome.error or "")


async def test_a_redirect_is_not_followed() -> None:
    receiver = Receiver(httpx.Response(302, headers={"Location": "http://169.254.169.254/latest/meta-data"}))
    hooks = poster(receiver, PRODUCTION)
    outcome = await hooks.post("https://hooks.example.org/h", b"{}", recipient_id="spec-a", idempotency_key="k")
    assert (outcome.ok, outcome.permanent, outcome.error) == (False, True, "HTTP 302")
    assert len(receiver.requests) == 1


async def test_development_posts_to_local_receivers_as_given() -> None:
    receiver = Receiver()
    hooks = poster(receiver, DEVELOPMENT)
    outcome = await hooks.post("http://127.0.0.1:8099/hooks/a", json.dumps({}).encode(), recipient_id="spec-a",
                               idempotency_key="k")
    assert outcome.ok and str(receiver.requests[0].url) == "http://127.0.0.1:8099/hooks/a"
    assert receiver.requests[0].headers["host"] == "127.0.0.1:8099"
