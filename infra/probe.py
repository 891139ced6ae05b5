#!/usr/bin/env python3
"""Readiness probes for the local servers, standard library only.

    python3 infra/probe.py kafka 127.0.0.1 9092 [CONNECTION_FILE]
    python3 infra/probe.py mongo 127.0.0.1 27017

kafka: sends ApiVersions, then a Metadata request (all topics) at a version the
broker supports, and succeeds when the broker lists itself with a controller. The local
broker is secured (SASL_SSL, SCRAM-SHA-512): the probe speaks TLS with the CA and
authenticates as the user of CONNECTION_FILE (a casework/localkafka.py connection file;
by default the admin's, under $CASEWORK_STATE_DIR or .local), PLAINTEXT when there is none.
mongo: sends OP_MSG {hello: 1, $db: "admin"} and succeeds when ok == 1.

Exit 0 and one summary line on stdout when the server answers; exit 1 and the
reason on stderr otherwise. Works before the project's virtualenv exists.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import socket
import ssl
import struct
import sys
from pathlib import Path

TIMEOUT = 3.0


def recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("connection closed by server")
        buf += chunk
    return bytes(buf)


# ---------------------------------------------------------------- Kafka


class Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def take(self, fmt: str):
        (value,) = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += struct.calcsize(fmt)
        return value

    def uvarint(self) -> int:
        shift = result = 0
        while True:
            b = self.data[self.pos]
            self.pos += 1
            result |= (b & 0x7F) << shift
            if not b & 0x80:
                return result
            shift += 7

    def string(self, flexible: bool) -> str | None:
        n = self.uvarint() - 1 if flexible else self.take(">h")
        if n < 0:
            return None
        s = self.data[self.pos : self.pos + n].decode()
        self.pos += n
        return s

    def skip_tags(self) -> None:
        for _ in range(self.uvarint()):
            self.uvarint()
            self.pos += self.uvarint()


def kafka_call(sock, api_key, version, corr, body, flexible_req, flexible_resp):
    client_id = b"casework-probe"
    header = struct.pack(">hhih", api_key, version, corr, len(client_id)) + client_id
    if flexible_req:
        header += b"\x00"  # no tagged fields
    msg = header + body
    sock.sendall(struct.pack(">i", len(msg)) + msg)
    (size,) = struct.unpack(">i", recv_exact(sock, 4))
    r = Reader(recv_exact(sock, size))
    if r.take(">i") != corr:
        raise ValueError("correlation id mismatch")
    if flexible_resp:
        r.skip_tags()
    return r


def _bytes(data: bytes) -> bytes:
    return struct.pack(">i", len(data)) + data


def _string(text: str) -> bytes:
    return struct.pack(">h", len(text.encode())) + text.encode()


def scram_sha512(sock, user: str, password: str) -> None:
    """SaslHandshake v1 then SCRAM-SHA-512 (RFC 5802) in two SaslAuthenticate v0 exchanges."""
    r = kafka_call(sock, 17, 1, 10, _string("SCRAM-SHA-512"), False, False)
    if (error := r.take(">h")) != 0:
        raise ValueError(f"SaslHandshake error code {error}")

    def authenticate(corr: int, payload: bytes) -> bytes:
        r = kafka_call(sock, 36, 0, corr, _bytes(payload), False, False)
        error, message = r.take(">h"), r.string(False)
        if error:
            raise ValueError(f"authentication failed (error code {error}: {message})")
        n = r.take(">i")
        return r.data[r.pos : r.pos + n]

    nonce = secrets.token_urlsafe(18)
    first_bare = f"n={user},r={nonce}"
    server_first = authenticate(11, f"n,,{first_bare}".encode()).decode()
    fields = dict(item.split("=", 1) for item in server_first.split(","))
    if not fields["r"].startswith(nonce):
        raise ValueError("SCRAM: the server's nonce does not extend ours")
    salted = hashlib.pbkdf2_hmac("sha512", password.encode(), base64.b64decode(fields["s"]), int(fields["i"]))
    client_key = hmac.digest(salted, b"Client Key", "sha512")
    without_proof = f"c=biws,r={fields['r']}"
    message = f"{first_bare},{server_first},{without_proof}".encode()
    signature = hmac.digest(hashlib.sha512(client_key).digest(), message, "sha512")
    proof = base64.b64encode(bytes(a ^ b for a, b in zip(client_key, signature, strict=True))).decode()
    server_final = authenticate(12, f"{without_proof},p={proof}".encode()).decode()
    server_key = hmac.digest(salted, b"Server Key", "sha512")
    expected = base64.b64encode(hmac.digest(server_key, message, "sha512")).decode()
    if server_final != f"v={expected}":
        raise ValueError("SCRAM: the server's signature does not verify")


def default_connection() -> Path:
    state = Path(os.environ.get("CASEWORK_STATE_DIR") or Path(__file__).resolve().parents[1] / ".local")
    return state / "kafka" / "principals" / "casework-admin.json"


def probe_kafka(host: str, port: int, connection: Path | None = None) -> str:
    path = connection or default_connection()
    settings = json.loads(path.read_text()) if path.exists() else {"security_protocol": "PLAINTEXT"}
    with socket.create_connection((host, port), timeout=TIMEOUT) as raw:
        raw.settimeout(TIMEOUT)
        sock = raw
        if settings["security_protocol"] == "SASL_SSL":
            tls = ssl.create_default_context(cafile=settings["ssl_cafile"])
            sock = tls.wrap_socket(raw, server_hostname=host)
            scram_sha512(sock, settings["sasl_username"], settings["sasl_password"])
        # ApiVersions v0 (key 18): every broker answers it.
        r = kafka_call(sock, 18, 0, 1, b"", False, False)
        error = r.take(">h")
        if error:
            raise ValueError(f"ApiVersions error code {error}")
        versions = {}
        for _ in range(r.take(">i")):
            key, lo, hi = r.take(">h"), r.take(">h"), r.take(">h")
            versions[key] = (lo, hi)
        if 3 not in versions:
            raise ValueError("broker does not offer Metadata")
        lo, hi = versions[3]
        if lo <= 8:  # classic encoding (v4..v8 carry everything we read)
            v = max(lo, min(hi, 8))
            body = struct.pack(">i?", -1, False)  # all topics, no auto-create
            if v >= 8:
                body += struct.pack(">??", False, False)
            flexible = False
        else:  # flexible encoding (v9+)
            v = min(hi, 12)
            body = b"\x00" + struct.pack(">?", False)  # null topics, no auto-create
            if v <= 10:
                body += struct.pack(">?", False)  # cluster authorized ops
            body += struct.pack(">?", False) + b"\x00"  # topic authorized ops, tags
            flexible = True
        r = kafka_call(sock, 3, v, 2, body, flexible, flexible)
        r.take(">i")  # throttle_time_ms
        n = r.uvarint() - 1 if flexible else r.take(">i")
        brokers = []
        for _ in range(max(n, 0)):
            node = r.take(">i")
            bhost = r.string(flexible)
            bport = r.take(">i")
            r.string(flexible)  # rack
            if flexible:
                r.skip_tags()
            brokers.append(f"{node}@{bhost}:{bport}")
        cluster_id = r.string(flexible)
        controller = r.take(">i")
        if not brokers:
            raise ValueError("metadata lists no broker yet")
        if controller < 0:
            raise ValueError("metadata names no controller yet")
        return (
            f"kafka {host}:{port}: brokers {','.join(brokers)}, controller {controller}, "
            f"cluster {cluster_id} (Metadata v{v})"
        )


# ---------------------------------------------------------------- MongoDB


def bson_cstring(s: str) -> bytes:
    return s.encode() + b"\x00"


def bson_hello() -> bytes:
    elems = b"\x10" + bson_cstring("hello") + struct.pack("<i", 1)
    db = bson_cstring("admin")
    elems += b"\x02" + bson_cstring("$db") + struct.pack("<i", len(db)) + db
    return struct.pack("<i", len(elems) + 5) + elems + b"\x00"


def bson_top_level(doc: bytes) -> dict:
    """Decode the scalar top-level fields of a BSON document; skip the rest."""
    out: dict = {}
    pos, end = 4, struct.unpack_from("<i", doc)[0] - 1
    fixed = {1: 8, 7: 12, 8: 1, 9: 8, 10: 0, 16: 4, 17: 8, 18: 8, 19: 16, 127: 0, 255: 0}
    while pos < end:
        t = doc[pos]
        nul = doc.index(b"\x00", pos + 1)
        name = doc[pos + 1 : nul].decode()
        pos = nul + 1
        if t == 1:
            out[name] = struct.unpack_from("<d", doc, pos)[0]
        elif t == 8:
            out[name] = bool(doc[pos])
        elif t == 16:
            out[name] = struct.unpack_from("<i", doc, pos)[0]
        elif t == 18:
            out[name] = struct.unpack_from("<q", doc, pos)[0]
        elif t == 2:
            n = struct.unpack_from("<i", doc, pos)[0]
            out[name] = doc[pos + 4 : pos + 3 + n].decode()
        if t in fixed:
            pos += fixed[t]
        elif t in (2, 13, 14):  # string, code, symbol
            pos += 4 + struct.unpack_from("<i", doc, pos)[0]
        elif t in (3, 4, 15):  # document, array, code with scope
            pos += struct.unpack_from("<i", doc, pos)[0]
        elif t == 5:  # binary
            pos += 5 + struct.unpack_from("<i", doc, pos)[0]
        elif t == 11:  # regex: two cstrings
            pos = doc.index(b"\x00", doc.index(b"\x00", pos) + 1) + 1
        else:
            raise ValueError(f"unexpected BSON type {t}")
    return out


def probe_mongo(host: str, port: int) -> str:
    body = struct.pack("<I", 0) + b"\x00" + bson_hello()  # flags, section kind 0
    msg = struct.pack("<iiii", 16 + len(body), 1, 0, 2013) + body  # OP_MSG
    with socket.create_connection((host, port), timeout=TIMEOUT) as sock:
        sock.settimeout(TIMEOUT)
        sock.sendall(msg)
        length, _req, response_to, opcode = struct.unpack("<iiii", recv_exact(sock, 16))
        payload = recv_exact(sock, length - 16)
    if opcode != 2013 or response_to != 1:
        raise ValueError(f"unexpected reply opcode {opcode}")
    if payload[4] != 0:
        raise ValueError("unexpected OP_MSG section kind")
    doc = bson_top_level(payload[5:])
    if doc.get("ok") != 1:
        raise ValueError(f"hello failed: {doc}")
    return (
        f"mongo {host}:{port}: hello ok, maxWireVersion {doc.get('maxWireVersion')}, "
        f"isWritablePrimary {doc.get('isWritablePrimary')}"
    )


def main() -> int:
    if len(sys.argv) not in (4, 5) or sys.argv[1] not in ("kafka", "mongo"):
        print(__doc__, file=sys.stderr)
        return 2
    kind, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    connection = Path(sys.argv[4]) if len(sys.argv) == 5 else None
    try:
        print(probe_kafka(host, port, connection) if kind == "kafka" else probe_mongo(host, port))
        return 0
    except (OSError, ValueError, KeyError, struct.error, IndexError, UnicodeDecodeError) as exc:
        print(f"{kind} {host}:{port}: not ready: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
