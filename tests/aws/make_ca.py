"""Makes the certificates of the TLS tests: a test CA, a server certificate it signs for
127.0.0.1 and localhost, and a second, unrelated CA (the "wrong CA").

Usage: make_ca.py OUTDIR
Writes ca.pem, server.pem, server.key and other-ca.pem into OUTDIR (ECDSA P-256, valid from
an hour ago for a day).
"""
import datetime
import ipaddress
import os
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


def name(cn):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def certificate(subject, key, issuer, issuer_key, ca):
    now = datetime.datetime.now(datetime.timezone.utc)
    b = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=ca, crl_sign=ca,
                encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
    )
    if not ca:
        b = b.add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        ).add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    return b.sign(issuer_key, hashes.SHA256())


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    pem = serialization.Encoding.PEM
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = certificate(name("credhygiene test CA"), ca_key, name("credhygiene test CA"), ca_key, True)
    key = ec.generate_private_key(ec.SECP256R1())
    server = certificate(name("127.0.0.1"), key, ca.subject, ca_key, False)
    other_key = ec.generate_private_key(ec.SECP256R1())
    other = certificate(name("another test CA"), other_key, name("another test CA"), other_key, True)
    write(os.path.join(out, "ca.pem"), ca.public_bytes(pem))
    write(os.path.join(out, "server.pem"), server.public_bytes(pem))
    write(
        os.path.join(out, "server.key"),
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
    )
    write(os.path.join(out, "other-ca.pem"), other.public_bytes(pem))


if __name__ == "__main__":
    main()
