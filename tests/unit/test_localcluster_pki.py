"""Certificates for the local control plane chain to its CA with the right identities."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from e2e.localcluster import pki


def _cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_every_certificate_is_signed_by_the_ca(tmp_path: Path) -> None:
    pki.generate(tmp_path)
    ca = _cert(tmp_path / "ca.crt")
    for stem in ["apiserver", *(i.file_stem for i in pki.IDENTITIES)]:
        cert = _cert(tmp_path / f"{stem}.crt")
        cert.verify_directly_issued_by(ca)
        assert cert.not_valid_before_utc < cert.not_valid_after_utc


def test_apiserver_certificate_serves_loopback(tmp_path: Path) -> None:
    pki.generate(tmp_path)
    cert = _cert(tmp_path / "apiserver.crt")
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert ipaddress.ip_address("127.0.0.1") in sans.get_values_for_type(x509.IPAddress)
    assert "localhost" in sans.get_values_for_type(x509.DNSName)
    usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.SERVER_AUTH in usage


def test_client_certificates_carry_user_and_groups(tmp_path: Path) -> None:
    pki.generate(tmp_path)
    admin = _cert(tmp_path / "admin.crt")
    assert admin.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == pki.ADMIN.user
    groups = [a.value for a in admin.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
    assert groups == ["system:masters"]
    scheduler = _cert(tmp_path / "scheduler.crt")
    assert scheduler.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME) == []
    assert (
        scheduler.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
        == "system:kube-scheduler"
    )


def test_private_keys_are_not_world_readable(tmp_path: Path) -> None:
    pki.generate(tmp_path)
    for key in tmp_path.glob("*.key"):
        assert key.stat().st_mode & 0o077 == 0, key
