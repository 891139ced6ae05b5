"""The local broker's TLS certificate and SCRAM principals (development; ``make infra-up``).

The local Kafka is secured the way production is (docs/design.md, "Least privilege"): one
``SASL_SSL`` listener (SCRAM-SHA-512 over TLS) and the ``StandardAuthorizer`` with the ACLs
of :mod:`shared.acls`. What that needs is generated once, under ``<state>/kafka`` (``.local/kafka``
unless ``CASEWORK_STATE_DIR`` moves it), and kept:

* ``tls/ca.pem`` — a certificate authority of this checkout alone (its key is not kept), and ``tls/broker.pem``
  (the broker's key and certificate, for ``127.0.0.1`` and ``localhost``, signed by it);
* ``principals/<user>.json`` — one per principal: ``casework-admin`` (the broker itself and
  the operator tools that create ACLs and delete test topics), one per service and one per
  kind of outside client, each with a password of its own;
* ``for/<name>/`` (with ``HOST`` given: containers) — the CA and the one principal's file, what
  the container of the admin or of one service mounts, and nothing of any other's;
* ``clients/<kind>.json`` — the same for each outside client kind (``agency``,
  ``specialist_app``, ``provider_system``, ``dashboard_reader``, ``operator``), the file an
  integrator's code loads.

Each connection file holds ``bootstrap_servers``, ``security_protocol``, ``sasl_mechanism``,
``sasl_username``, ``sasl_password`` and ``ssl_cafile`` (aiokafka's names). Every file is
readable by its owner only. A development process finds them by itself
(:data:`shared.settings.Settings.kafka_credentials_dir`); nothing here is used in production.

    python -m casework.localkafka prepare KAFKA_STATE_DIR PORT [HOST…]  # the users new since the last call
    python -m casework.localkafka credentials KAFKA_STATE_DIR   # every user=password (to format)
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import os
import secrets
import sys
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from shared.acls import PRINCIPAL_PREFIX, principals
from shared.topics import CLIENTS, SERVICES

ADMIN = "admin"
MECHANISM = "SCRAM-SHA-512"
PROTOCOL = "SASL_SSL"
VALID = datetime.timedelta(days=3650)


def users() -> list[str]:
    """Every SASL user of the local broker: the admin, each service and each client kind."""
    return [f"{PRINCIPAL_PREFIX}{p}" for p in (ADMIN, *principals())]


def _private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "casework (local)"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _pem(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def certificates(tls: Path, hosts: tuple[str, ...] = ()) -> bool:
    """A CA and the broker's certificate signed by it (for 127.0.0.1, localhost and ``hosts``),
    unless they exist; True when made."""
    if (tls / "ca.pem").exists() and (tls / "broker.pem").exists():
        return False
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(_name("casework local CA")).issuer_name(_name("casework local CA"))
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + VALID)
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                       data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                       crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    broker = (x509.CertificateBuilder().subject_name(_name("localhost")).issuer_name(ca.subject)
              .public_key(key.public_key()).serial_number(x509.random_serial_number())
              .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + VALID)
              .add_extension(x509.SubjectAlternativeName([
                  x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                  *(x509.DNSName(h) for h in hosts)]), critical=False)
              .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
              .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
              .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
              .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM  # the CA's key is not kept: nothing is signed with it again
    # Kafka's PEM key store: the private key (PKCS#8), then the certificate chain.
    _private(tls / "broker.pem", _pem(key) + broker.public_bytes(pem).decode() + ca.public_bytes(pem).decode())
    _private(tls / "ca.pem", ca.public_bytes(pem).decode())
    return True


def connection(kafka: Path, port: int, user: str, password: str, host: str = "127.0.0.1") -> dict[str, str]:
    return {"bootstrap_servers": f"{host}:{port}", "security_protocol": PROTOCOL, "sasl_mechanism": MECHANISM,
            "sasl_username": user, "sasl_password": password, "ssl_cafile": str((kafka / "tls" / "ca.pem").resolve())}


def prepare(kafka: Path, port: int, hosts: tuple[str, ...] = ()) -> list[str]:
    """Certificates, a password per user and the connection files (for the broker at the first
    of ``hosts``, else 127.0.0.1); the users without a password before this call (to be
    created on the broker), as ``user=password``."""
    certificates(kafka / "tls", hosts)
    fresh = []
    for user in users():
        path = kafka / "principals" / f"{user}.json"
        known = json.loads(path.read_text()) if path.exists() else {}
        password = known.get("sasl_password") or secrets.token_hex(24)
        if not known:
            fresh.append(f"{user}={password}")
        _private(path, json.dumps(connection(kafka, port, user, password, *hosts[:1]), indent=2) + "\n")
    for kind in CLIENTS:
        source = kafka / "principals" / f"{PRINCIPAL_PREFIX}{kind}.json"
        _private(kafka / "clients" / f"{kind}.json", source.read_text())
    if hosts:  # containers (docker-compose.yml): each mounts its own directory and no other's
        for name in (ADMIN, *SERVICES):
            own = kafka / "for" / name
            _private(own / "tls" / "ca.pem", (kafka / "tls" / "ca.pem").read_text())
            user = f"{PRINCIPAL_PREFIX}{name}.json"
            _private(own / "principals" / user, (kafka / "principals" / user).read_text())
    return fresh


def credentials(kafka: Path) -> list[str]:
    """Every user and its password, as ``user=password`` (the broker's format step takes them)."""
    return [f"{u}={json.loads((kafka / 'principals' / f'{u}.json').read_text())['sasl_password']}" for u in users()]


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[1] not in ("prepare", "credentials") or (argv[1] == "prepare") != (len(argv) >= 4):
        print("usage: python -m casework.localkafka prepare KAFKA_STATE_DIR PORT [HOST…] | credentials KAFKA_STATE_DIR",
              file=sys.stderr)
        return 2
    kafka = Path(argv[2])
    lines = prepare(kafka, int(argv[3]), tuple(argv[4:])) if argv[1] == "prepare" else credentials(kafka)
    for line in lines:
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
