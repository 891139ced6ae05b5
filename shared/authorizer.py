"""The broker's side of :mod:`shared.acls`: create the ACLs, and delete them again.

``casework kafka acls --apply`` (and ``make infra-up``, for the local broker) sends every ACL
of the catalogue in one ``CreateAcls`` request: creating an ACL that exists already is a
no-op on the broker, so applying is idempotent. ``DeleteAcls`` removes the ACLs of a topic
prefix (a test's, a side-by-side deployment's) when it is done with. aiokafka has the wire
formats of both requests and no admin method for them; these two requests carry a batch.
The principal that sends them needs ``Alter`` on the cluster (a super user locally).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import for_code
from aiokafka.protocol.admin import CreateAclsRequest_v1, DeleteAclsRequest_v1, DescribeAclsRequest_v1
from aiokafka.protocol.api import Request

from shared.acls import Acl

RESOURCE = {"topic": 2, "group": 3, "cluster": 4}
PATTERN = {False: 3, True: 4}  # literal, prefixed
OPERATION = {"Read": 3, "Write": 4, "Create": 5, "Delete": 6, "Alter": 7, "Describe": 8,
             "DescribeConfigs": 10, "AlterConfigs": 11, "IdempotentWrite": 12}
ALLOW, ANY_HOST = 3, "*"
AT_ONCE = 500  # ACLs per request


class AclError(RuntimeError):
    """The broker refused to create or delete an ACL."""


def binding(acl: Acl) -> tuple[Any, ...]:
    """An ACL as ``CreateAcls`` v1 carries it (``DeleteAcls`` v1 takes the same as an exact filter)."""
    return (RESOURCE[acl.resource], acl.name, PATTERN[acl.prefixed], f"User:{acl.user}", ANY_HOST,
            OPERATION[acl.operation], ALLOW)


class _Create(Request[CreateAclsRequest_v1]):  # type: ignore[misc]  # aiokafka is untyped here
    API_KEY = 30

    def __init__(self, rules: Sequence[Acl]) -> None:
        self.rules = rules

    def build(self, request_struct_class: type[CreateAclsRequest_v1]) -> CreateAclsRequest_v1:
        return request_struct_class([binding(a) for a in self.rules])


class _Delete(Request[DeleteAclsRequest_v1]):  # type: ignore[misc]
    API_KEY = 31

    def __init__(self, rules: Sequence[Acl | tuple[Any, ...]]) -> None:
        self.rules = rules

    def build(self, request_struct_class: type[DeleteAclsRequest_v1]) -> DeleteAclsRequest_v1:
        return request_struct_class([a if isinstance(a, tuple) else binding(a) for a in self.rules])


class _Describe(Request[DescribeAclsRequest_v1]):  # type: ignore[misc]
    API_KEY = 29

    def build(self, request_struct_class: type[DescribeAclsRequest_v1]) -> DescribeAclsRequest_v1:
        return request_struct_class(1, None, 1, None, None, 1, 1)  # every ACL


async def stale(admin: AIOKafkaAdminClient, rules: Sequence[Acl], prefix: str) -> list[tuple[Any, ...]]:
    """The ACLs of casework's principals on the broker, on the topics and groups ``rules`` names,
    that ``rules`` no longer has: what a catalogue change took away."""
    response = await admin._send_request(_Describe())
    _raise([(response.error_code, response.error_message)], "describe")
    wanted = {binding(a) for a in rules}
    ours = {f"User:{a.user}" for a in rules}
    names = {a.name for a in rules}  # another prefix's (a test's, a second deployment's) are not ours
    found = [(kind, name, pattern, principal, host, operation, permission)
             for kind, name, pattern, entries in response.resources
             for principal, host, operation, permission in entries]
    return [b for b in found if b[3] in ours and b[1] in names and b[1].startswith(prefix) and b not in wanted]


async def converge(admin: AIOKafkaAdminClient, rules: Sequence[Acl], prefix: str) -> tuple[int, int]:
    """Create every ACL of ``rules`` and delete casework's principals' ACLs it does not have."""
    created = await create(admin, rules)
    gone = await stale(admin, rules, prefix)
    for start in range(0, len(gone), AT_ONCE):
        response = await admin._send_request(_Delete(gone[start:start + AT_ONCE]))
        _raise([(r[0], r[1]) for r in response.filter_responses], "delete")
    return created, len(gone)


def _raise(errors: list[tuple[int, str | None]], what: str) -> None:
    failed = [(code, message) for code, message in errors if code]
    if failed:
        code, message = failed[0]
        raise AclError(f"the broker refused to {what} {len(failed)} ACL(s): {for_code(code).__name__}"
                       f"{f' ({message})' if message else ''}")


async def create(admin: AIOKafkaAdminClient, rules: Sequence[Acl]) -> int:
    """Create every ACL of ``rules`` (those that exist are left as they are); return how many were sent."""
    for start in range(0, len(rules), AT_ONCE):
        response = await admin._send_request(_Create(rules[start:start + AT_ONCE]))
        _raise([(r[0], r[1]) for r in response.creation_responses], "create")
    return len(rules)


async def delete(admin: AIOKafkaAdminClient, rules: Sequence[Acl]) -> int:
    """Delete these ACLs; return how many the broker had."""
    deleted = 0
    for start in range(0, len(rules), AT_ONCE):
        response = await admin._send_request(_Delete(rules[start:start + AT_ONCE]))
        _raise([(r[0], r[1]) for r in response.filter_responses], "delete")
        deleted += sum(len(r[2]) for r in response.filter_responses)
    return deleted
