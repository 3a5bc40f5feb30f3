"""SP signing keys and the X.509 certificates SAML metadata carries.

A connection signs its AuthnRequests and logout messages with its own RSA key; identity providers
trust the self-signed certificate published in the SP metadata (SAML trusts the key in the
metadata, not a CA chain, so self-signed is the norm). Identity-provider certificates arrive as
bare base64 in metadata or as PEM pasted by an administrator; :func:`certificate_info` reads
either.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from sso.saml.errors import reject

__all__ = [
    "DEFAULT_KEY_SIZE",
    "DEFAULT_VALIDITY",
    "CertificateInfo",
    "SigningKeyPair",
    "certificate_info",
    "common_name_for",
    "generate_signing_pair",
    "normalise_certificate",
]

DEFAULT_KEY_SIZE = 3072
"""RSA modulus of new SP keys (NIST SP 800-57: 128-bit security, good beyond 2030)."""
DEFAULT_VALIDITY = timedelta(days=3650)
"""Validity of new SP certificates. Identity providers rarely check it; rollover is by metadata."""
_KEY_SIZES = (2048, 3072, 4096)
_PEM_BODY = re.compile(
    r"-----BEGIN CERTIFICATE-----(.*?)-----END CERTIFICATE-----", re.DOTALL | re.ASCII
)


@dataclass(frozen=True)
class SigningKeyPair:
    """A new SP signing key and its self-signed certificate, both PEM."""

    cert_pem: str
    key_pem: str = field(repr=False)
    """PKCS#8 PEM, unencrypted: seal it (``sso.secrets``) before it is stored."""


@dataclass(frozen=True)
class CertificateInfo:
    """What an administrator needs to know about a certificate."""

    pem: str
    subject: str
    not_before: datetime
    not_after: datetime
    fingerprint_sha256: str
    """Upper-case hex pairs joined by colons, as most identity providers display it."""


def common_name_for(entity_id: str) -> str:
    """The certificate CN for an SP entity ID: its host when it is a URL, else the ID itself.

    Args:
        entity_id: The SP entity ID (usually the metadata URL).

    Returns:
        At most 64 characters (the X.520 upper bound of a common name).
    """
    host = urlsplit(entity_id).hostname
    return (host or entity_id)[:64] or "saml-sp"


def generate_signing_pair(
    common_name: str,
    *,
    key_size: int = DEFAULT_KEY_SIZE,
    validity: timedelta = DEFAULT_VALIDITY,
    now: datetime | None = None,
) -> SigningKeyPair:
    """Generate an RSA key and a self-signed SHA-256 certificate for it.

    Args:
        common_name: The certificate's subject and issuer CN (see :func:`common_name_for`).
        key_size: 2048, 3072 or 4096 bits.
        validity: How long the certificate is valid from ``now``.
        now: The start of validity (defaults to the current time, UTC).

    Returns:
        The certificate and key as PEM strings.

    Raises:
        ValueError: ``key_size`` is not one of the sizes above, ``common_name`` is empty or
            longer than 64 characters, or ``validity`` is not positive.
    """
    if key_size not in _KEY_SIZES:
        raise ValueError(f"key_size must be one of {_KEY_SIZES}")
    if not common_name or len(common_name) > 64:
        raise ValueError("common_name must have 1 to 64 characters")
    if validity <= timedelta(0):
        raise ValueError("validity must be positive")
    start = (now or datetime.now(UTC)).replace(microsecond=0)
    key = rsa.generate_private_key(public_exponent=65537, key_size=key_size)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start - timedelta(minutes=5))
        .not_valid_after(start + validity)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")
    return SigningKeyPair(
        cert_pem=cert.public_bytes(serialization.Encoding.PEM).decode("ascii"), key_pem=key_pem
    )


def normalise_certificate(text: str) -> str:
    """A certificate as PEM, from PEM or from the bare base64 DER that metadata carries.

    Args:
        text: One certificate: PEM (surrounding text is ignored) or base64 with any whitespace.

    Returns:
        The certificate re-encoded as canonical PEM.

    Raises:
        SsoRejected: ``certificate_invalid`` when it is not exactly one readable X.509
            certificate.
    """
    return _load(text).public_bytes(serialization.Encoding.PEM).decode("ascii")


def certificate_info(text: str) -> CertificateInfo:
    """Subject, validity and SHA-256 fingerprint of a certificate (PEM or bare base64).

    Args:
        text: One certificate, as :func:`normalise_certificate` accepts it.

    Returns:
        The certificate's facts, with its canonical PEM.

    Raises:
        SsoRejected: ``certificate_invalid`` when it cannot be read.
    """
    cert = _load(text)
    digest = cert.fingerprint(hashes.SHA256()).hex().upper()
    return CertificateInfo(
        pem=cert.public_bytes(serialization.Encoding.PEM).decode("ascii"),
        subject=cert.subject.rfc4514_string()[:200],
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        fingerprint_sha256=":".join(digest[i : i + 2] for i in range(0, len(digest), 2)),
    )


def _load(text: str) -> x509.Certificate:
    bodies = _PEM_BODY.findall(text)
    if len(bodies) > 1:
        raise reject("certificate_invalid", "Give one certificate at a time, not a chain.")
    body = bodies[0] if bodies else text
    try:
        der = base64.b64decode("".join(body.split()), validate=True)
        return x509.load_der_x509_certificate(der)
    except (binascii.Error, ValueError):
        raise reject("certificate_invalid") from None
