"""Certificates and keys of the local control plane: a CA, serving and client certificates, SA keys."""

from __future__ import annotations

import datetime
import ipaddress
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

# Clients identified by certificate: (file stem, common name, organization).
CLIENTS = (
    ("admin", "vwclass-testenv-admin", "system:masters"),
    ("controller-manager", "system:kube-controller-manager", None),
    ("scheduler", "system:kube-scheduler", None),
)
SERVING_NAMES = (
    "localhost",
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
)
SERVING_IPS = ("127.0.0.1", "10.96.0.1")  # the first address of the service range


def real_node_clients(node_name: str) -> tuple[tuple[str, str, str | None], ...]:
    """The real node's clients: the kubelet (Node authorizer), kube-proxy (bootstrapped role), and the
    API server calling kubelets. kube-router has no bootstrapped role, so in this throwaway test
    cluster it acts as a cluster admin rather than carrying a hand-written one."""
    return (
        ("kubelet", f"system:node:{node_name}", "system:nodes"),
        ("kube-proxy", "system:kube-proxy", None),
        ("apiserver-kubelet-client", "kube-apiserver-kubelet-client", "system:masters"),
        ("kube-router", "vwclass-testenv-kube-router", "system:masters"),
    )


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)


def _write_cert(path: Path, cert: x509.Certificate) -> None:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _name(common_name: str, organization: str | None = None) -> x509.Name:
    parts = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization:
        parts.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    return x509.Name(parts)


def _builder(subject: x509.Name, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=30))
    )


def generate(directory: Path, node_ip: str | None = None, node_name: str = "") -> None:
    """Writes ca.{crt,key}, apiserver.{crt,key}, <client>.{crt,key} and sa.{key,pub} into directory;
    with node_ip, also the real node's certificates (kubelet-serving for node_ip) and that SAN on the
    API server's certificate."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("vwclass-testenv-ca")
    ca_cert = (
        _builder(ca_name, ca_name, ca_key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    _write_key(directory / "ca.key", ca_key)
    _write_cert(directory / "ca.crt", ca_cert)

    def issue(stem: str, subject: x509.Name, usage: x509.ObjectIdentifier, sans: list[x509.GeneralName]) -> None:
        key = ec.generate_private_key(ec.SECP256R1())
        builder = _builder(subject, ca_name, key.public_key()).add_extension(
            x509.ExtendedKeyUsage([usage]), critical=False
        )
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        _write_key(directory / f"{stem}.key", key)
        _write_cert(directory / f"{stem}.crt", builder.sign(ca_key, hashes.SHA256()))

    issue(
        "apiserver",
        _name("kube-apiserver"),
        ExtendedKeyUsageOID.SERVER_AUTH,
        [x509.DNSName(n) for n in SERVING_NAMES]
        + [x509.IPAddress(ipaddress.ip_address(i)) for i in SERVING_IPS + ((node_ip,) if node_ip else ())],
    )
    clients = CLIENTS + (real_node_clients(node_name) if node_ip else ())
    for stem, common_name, organization in clients:
        issue(stem, _name(common_name, organization), ExtendedKeyUsageOID.CLIENT_AUTH, [])
    if node_ip:
        issue(
            "kubelet-serving",
            _name(f"system:node:{node_name}", "system:nodes"),
            ExtendedKeyUsageOID.SERVER_AUTH,
            [x509.DNSName(node_name), x509.IPAddress(ipaddress.ip_address(node_ip))],
        )

    # Service-account tokens are signed with RSA: every client library verifies RS256.
    sa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    _write_key(directory / "sa.key", sa_key)
    (directory / "sa.pub").write_bytes(
        sa_key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
