"""HTTPS receivers reached at a pinned (checked) address: the TLS server name (SNI) and the
certificate check are still the URL's name. A CA and a certificate made here, a real TLS receiver on
loopback, the resolver replaced so that the names point at it."""

from __future__ import annotations

import datetime as dt
import ssl

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from plugins.webhooks import delivery as http
from tests.plugins.webhooks.common import FAST, account_headers, subscribe
from tests.plugins.webhooks.receiver import Receiver, documented_verifier


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def make_ca_and_server_cert(tmp_path, server_name: str):
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("webhooks test CA"))
        .issuer_name(_name("webhooks test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(server_name))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(server_name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    ca_file = tmp_path / "ca.pem"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    chain = tmp_path / "server.pem"
    chain.write_bytes(
        cert.public_bytes(serialization.Encoding.PEM)
        + key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return ca_file, chain


@pytest.fixture
def tls_receiver(tmp_path):
    ca_file, chain = make_ca_and_server_cert(tmp_path, "hooks.test")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(chain)
    names = []
    context.sni_callback = lambda sock, name, ctx: names.append(name)
    server = Receiver(tls=context).start()
    server.sni_names = names
    server.ca_file = str(ca_file)
    yield server
    server.stop()


def test_https_delivery_to_a_pinned_address_keeps_sni_host_and_certificate_check(
    make_app, tls_receiver, monkeypatch
):
    app = make_app({"plugins": {"webhooks": {**FAST, "ca_file": tls_receiver.ca_file}}})
    client = app.test_client()
    headers, _ = account_headers(app)
    monkeypatch.setattr(http, "resolve", lambda host, port: ["127.0.0.1"])
    port = tls_receiver.port

    good = subscribe(client, headers, f"https://hooks.test:{port}/tls")
    answer = client.post(f"/v1/webhooks/{good['id']}/test", headers=headers).get_json()
    assert answer["delivered"] is True and answer["statusCode"] == 200, answer
    assert tls_receiver.sni_names == ["hooks.test"]
    request = tls_receiver.requests[0]
    assert request["headers"]["Host"] == f"hooks.test:{port}"
    assert documented_verifier()(good["secret"], request["headers"], request["body"])

    # the same address under another name: the certificate is not that name's
    wrong = subscribe(client, headers, f"https://other.test:{port}/tls")
    answer = client.post(f"/v1/webhooks/{wrong['id']}/test", headers=headers).get_json()
    assert answer["delivered"] is False and answer["statusCode"] is None
    assert answer["error"].startswith("TLS"), answer
    assert len(tls_receiver.requests) == 1


def test_https_receivers_are_checked_against_the_system_cas_by_default(make_app, tls_receiver, monkeypatch):
    app = make_app({"plugins": {"webhooks": FAST}})
    client = app.test_client()
    headers, _ = account_headers(app)
    monkeypatch.setattr(http, "resolve", lambda host, port: ["127.0.0.1"])
    hook = subscribe(client, headers, f"https://hooks.test:{tls_receiver.port}/tls")
    answer = client.post(f"/v1/webhooks/{hook['id']}/test", headers=headers).get_json()
    assert answer["delivered"] is False and "certificate" in answer["error"].lower(), answer
    assert tls_receiver.requests == []
