"""Throwaway signing keys and self-signed certificates, made per test run
(no private key is committed)."""

from __future__ import annotations

import datetime
from functools import cache
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID


@cache
def key_and_cert(kind: str = "rsa", name: str = "pymod test signing key") -> tuple[Any, Any]:
    key: Any = (rsa.generate_private_key(public_exponent=65537, key_size=2048)
                if kind == "rsa" else
                ec.generate_private_key(ec.SECP384R1() if kind == "ec384" else ec.SECP256R1()))
    subject = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "pymod"),
                         x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    return key, cert
