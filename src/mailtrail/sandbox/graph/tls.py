"""A self-signed certificate for 127.0.0.1, because msal only accepts an ``https://`` authority.

msal's ``authority.canonicalize`` rejects any URL whose scheme is not https (``instance_discovery=False``
and ``validate_authority=False`` do not change that), so the identity endpoints must be served over TLS.
The caller gives msal an ``http_client`` that trusts the certificate (``trusting_session``): msal's own
``verify=`` argument is not enough, because requests lets ``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE`` from the
environment override a session's ``verify`` (so msal would fail with CERTIFICATE_VERIFY_FAILED on hosts
that set them, as many CI images do).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@dataclass(frozen=True)
class LoopbackCertificate:
    """PEM files of a certificate valid for 127.0.0.1 and localhost, and its key."""

    cert_file: Path
    key_file: Path


def make_loopback_certificate(directory: Path, days: int = 7) -> LoopbackCertificate:
    """Write a fresh self-signed certificate (its own CA) for 127.0.0.1/localhost into ``directory``."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mailtrail sandbox")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=days))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    cert_file, key_file = directory / "sandbox-cert.pem", directory / "sandbox-key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    key_file.chmod(0o600)
    return LoopbackCertificate(cert_file, key_file)


def trusting_session(cert_file: Path) -> requests.Session:
    """A requests session (msal's ``http_client``) that trusts ``cert_file`` whatever the environment says."""
    session = requests.Session()
    session.trust_env = False  # otherwise REQUESTS_CA_BUNDLE replaces ``verify`` on every request
    session.verify = str(cert_file)
    return session
