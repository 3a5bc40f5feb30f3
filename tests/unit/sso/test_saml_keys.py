"""SP signing keys and certificate facts (checked against the openssl command where it helps)."""

from __future__ import annotations

import base64
import subprocess
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from sso.errors import SsoRejected
from sso.saml import (
    certificate_info,
    common_name_for,
    generate_signing_pair,
    normalise_certificate,
)
from tests.conftest import require_program
from tests.sso_support.saml_idp import key_pair

NOW = datetime(2030, 5, 17, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize("key_size", [2048, 3072])
def test_a_generated_pair_is_a_matching_self_signed_sha256_certificate(key_size: int) -> None:
    pair = generate_signing_pair("sp.acme.example.test", key_size=key_size, now=NOW)

    cert = x509.load_pem_x509_certificate(pair.cert_pem.encode())
    key = serialization.load_pem_private_key(pair.key_pem.encode(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    assert key.key_size == key_size
    public = cert.public_key()
    assert isinstance(public, rsa.RSAPublicKey)
    assert public.public_numbers() == key.public_key().public_numbers()
    assert cert.subject == cert.issuer
    assert cert.subject.rfc4514_string() == "CN=sp.acme.example.test"
    assert isinstance(cert.signature_hash_algorithm, hashes.SHA256)
    public.verify(cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(), hashes.SHA256())
    assert cert.not_valid_after_utc == NOW + timedelta(days=3650)
    assert cert.not_valid_before_utc <= NOW
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False


def test_the_private_key_never_shows_in_a_repr() -> None:
    pair = key_pair("sp-repr")

    assert "PRIVATE" not in repr(pair)
    assert pair.key_pem.startswith("-----BEGIN PRIVATE KEY-----")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"common_name": "x", "key_size": 1024}, "key_size"),
        ({"common_name": "", "key_size": 2048}, "common_name"),
        ({"common_name": "x" * 65, "key_size": 2048}, "common_name"),
        ({"common_name": "x", "key_size": 2048, "validity": timedelta(0)}, "validity"),
    ],
)
def test_bad_parameters_are_programming_errors(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        generate_signing_pair(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("entity_id", "expected"),
    [
        ("https://acme.example.test/sso/saml/1/metadata", "acme.example.test"),
        ("https://ACME.example.test:8443/x", "acme.example.test"),
        ("urn:acme:sp", "urn:acme:sp"),
        ("x" * 100, "x" * 64),
    ],
)
def test_the_common_name_of_an_entity_id(entity_id: str, expected: str) -> None:
    assert common_name_for(entity_id) == expected


def test_certificate_facts_match_openssl() -> None:
    openssl = require_program("openssl", "the certificate fingerprints are compared with it")
    pair = key_pair("sp-openssl")

    info = certificate_info(pair.cert_pem)
    printed = subprocess.run(
        [openssl, "x509", "-noout", "-fingerprint", "-sha256", "-enddate"],
        input=pair.cert_pem,
        capture_output=True,
        text=True,
        check=True,
    ).stdout

    assert f"sha256 Fingerprint={info.fingerprint_sha256}" in printed
    assert info.not_after.strftime("%b %e %H:%M:%S %Y GMT") in printed
    assert info.subject == "CN=sp-openssl"


@pytest.mark.parametrize(
    "transform",
    [
        pytest.param(lambda pem: pem, id="PEM"),
        pytest.param(lambda pem: "".join(pem.strip().splitlines()[1:-1]), id="bare base64"),
        pytest.param(lambda pem: "\n  ".join(pem.strip().splitlines()[1:-1]), id="indented"),
        pytest.param(lambda pem: "Subject: test\n" + pem + "\n", id="PEM with text around"),
    ],
)
def test_a_certificate_reads_in_every_usual_form(transform: object) -> None:
    pem = key_pair("sp-forms").cert_pem

    text = transform(pem)  # type: ignore[operator]

    assert normalise_certificate(text) == pem
    assert certificate_info(text).pem == pem


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("", id="empty"),
        pytest.param("not a certificate", id="text"),
        pytest.param(
            base64.b64encode(b"\x30\x03\x02\x01\x01").decode(), id="DER of something else"
        ),
        pytest.param(key_pair("sp-bad").key_pem, id="a private key"),
        pytest.param(key_pair("sp-bad").cert_pem * 2, id="a chain of two"),
    ],
)
def test_unreadable_certificates_are_refused(text: str) -> None:
    with pytest.raises(SsoRejected) as caught:
        certificate_info(text)

    assert caught.value.code == "certificate_invalid"
    assert "PRIVATE" not in caught.value.message
