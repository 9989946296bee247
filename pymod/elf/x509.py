"""What the kernel's X.509 parser gives a trusted certificate for the key
search (``x509_cert_parse``): its two key ids."""

from __future__ import annotations

from pymod.elf.der import Tlv, oid_str

__all__ = ["certificate_key_ids"]

_INTEGER, _OCTET_STRING, _OID, _SEQUENCE = 0x02, 0x04, 0x06, 0x30
_CTX0_CONS, _CTX3_CONS = 0xA0, 0xA3
OID_SUBJECT_KEY_ID = "2.5.29.14"


def certificate_key_ids(der: bytes) -> tuple[bytes, bytes | None]:
    """The ids ``x509_cert_parse`` gives a DER certificate, by which a
    signature finds its key: the serial number's and the issuer Name's raw
    contents concatenated, and the subjectKeyIdentifier (None without one);
    :class:`~pymod.elf.der.DerError` when it does not parse."""
    der = bytes(der)
    cert = Tlv(der, 0, len(der)).expect(_SEQUENCE, "Certificate").fields()
    tbs = cert.next("tbsCertificate").expect(_SEQUENCE, "TBSCertificate").fields()
    tbs.optional(_CTX0_CONS)                     # [0] EXPLICIT version
    serial = tbs.next("serialNumber").expect(_INTEGER, "serialNumber").value
    tbs.next("signature")
    issuer = tbs.next("issuer").expect(_SEQUENCE, "issuer").value
    skid = None
    for f in tbs:
        if f.tag != _CTX3_CONS:
            continue
        for ext in f.fields().next("extensions").expect(_SEQUENCE, "extensions").fields():
            parts = ext.expect(_SEQUENCE, "Extension").fields()
            oid = parts.next("extnID")
            last = None
            for element in parts:                # critical BOOLEAN, then extnValue
                last = element
            if last is None or oid.tag != _OID or skid is not None or \
                    oid_str(oid.value) != OID_SUBJECT_KEY_ID:
                continue
            v = last.expect(_OCTET_STRING, "extnValue").value
            # x509_process_extension: an OCTET STRING with a one-byte length
            if len(v) >= 3 and v[0] == _OCTET_STRING and v[1] == len(v) - 2:
                skid = v[2:]
    return serial + issuer, skid
