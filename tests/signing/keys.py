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
def key_and_cert(kind: str = "rsa", name: str = "pymod test signing key", *,
                 country: str | None = None, skid: bool = False) -> tuple[Any, Any]:
    """A key and its self-signed certificate; ``country`` adds a C= (a
    PrintableString) to the Name, ``skid`` a subjectKeyIdentifier."""
    key: Any = (rsa.generate_private_key(public_exponent=65537, key_size=2048)
                if kind == "rsa" else
                ec.generate_private_key(ec.SECP384R1() if kind == "ec384" else ec.SECP256R1()))
    subject = x509.Name(([x509.NameAttribute(NameOID.COUNTRY_NAME, country)] if country else [])
                        + [x509.NameAttribute(NameOID.ORGANIZATION_NAME, "pymod"),
                           x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=3650))
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True))
    if skid:
        builder = builder.add_extension(
            x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    return key, builder.sign(key, hashes.SHA256())
