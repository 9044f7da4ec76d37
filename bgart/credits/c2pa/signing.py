"""A local signing identity for C2PA exports: a test root CA and one end-entity leaf.

C2PA validators (c2pa-rs) insist on a proper X.509 profile for the claim signer: an
ES256/P-256 key, ``digitalSignature`` key usage marked critical, an extended key usage from
the C2PA set, subject *and* authority key identifiers, ``CA:FALSE``, and a chain that ends
at a root. :func:`init_signing` makes exactly that, so a production can sign its exports
offline the day it starts.

That root is **not** on the public C2PA trust list: viewers such as Adobe's Content
Credentials site will show the signature as valid but the signer as unknown. A production
that wants publicly trusted credentials buys a document-signing certificate from a CA on
the list and points ``signing_cert``/``signing_key`` at it; nothing else changes.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

from bgart.errors import BgartError, InputError

log = logging.getLogger(__name__)

#: ``c2pa-kp-claimSigning``: the EKU the C2PA certificate policy defines for claim signers.
C2PA_CLAIM_SIGNING = ObjectIdentifier("1.3.6.1.4.1.62558.2.1")

CHAIN_FILE = "cert_chain.pem"
KEY_FILE = "signer.key"
ROOT_FILE = "root_ca.pem"

NOT_TRUSTED_NOTE = (
    "this signing CA was made locally by bgart and is NOT on the public C2PA trust list: "
    "validators will report the signature as intact but the signer as untrusted"
)

LEAF_DAYS = 2 * 365
ROOT_DAYS = 10 * 365


@dataclass(frozen=True)
class LoadedSigner:
    """PEM material ready for c2pa: the chain (leaf first) and its private key."""

    cert_chain_pem: bytes
    key_pem: bytes
    root_pem: bytes | None  # last certificate of the chain when it is self-signed
    subject: str  # the leaf's subject, RFC 4514


#: RFC 5280 upper bounds (ub-common-name, ub-organization-name), counted in characters.
NAME_LIMIT = 64


def fit_attribute(text: str, limit: int = NAME_LIMIT) -> str:
    """``text`` cut to ``limit`` characters, on a character boundary, never mid-character.

    The cryptography package counts an attribute's length in UTF-8 bytes for its check,
    so the cut keeps it within ``limit`` bytes too (a kanji is 3 bytes); an ellipsis marks
    a cut. The full title goes in the manifest and the reports, never only in the cert."""
    text = " ".join(text.split())
    if len(text.encode("utf-8")) <= limit:
        return text
    mark = "…"
    room = limit - len(mark.encode("utf-8"))
    out: list[str] = []
    used = 0
    for ch in text:
        size = len(ch.encode("utf-8"))
        if used + size > room:
            break
        out.append(ch)
        used += size
    return "".join(out).rstrip() + mark


def _name(organisation: str, suffix: str) -> x509.Name:
    """Common name ``<organisation> <suffix>``: the organisation is cut, the suffix kept."""
    room = NAME_LIMIT - len(suffix.encode("utf-8")) - 1
    return x509.Name(
        [
            x509.NameAttribute(
                NameOID.COMMON_NAME, f"{fit_attribute(organisation, room)} {suffix}"
            ),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, fit_attribute(organisation)),
        ]
    )


def _key_usage(*, signer: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=signer,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=not signer,
        crl_sign=not signer,
        encipher_only=False,
        decipher_only=False,
    )


def make_test_chain(
    organisation: str, *, now: dt.datetime | None = None
) -> tuple[bytes, bytes, bytes]:
    """Return ``(chain_pem, leaf_key_pem, root_pem)``; chain is leaf then root."""
    if not organisation.strip():
        raise InputError("organisation: must not be empty (it names the signer)")
    now = now or dt.datetime.now(dt.UTC)
    start = now - dt.timedelta(minutes=5)  # tolerate small clock skew between machines

    root_key = ec.generate_private_key(ec.SECP256R1())
    root_name = _name(organisation, "bgart test root CA (not publicly trusted)")
    root = (
        x509.CertificateBuilder()
        .subject_name(root_name)
        .issuer_name(root_name)
        .public_key(root_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(now + dt.timedelta(days=ROOT_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(signer=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), False
        )
        .sign(root_key, hashes.SHA256())
    )

    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(_name(organisation, "bgart signer"))
        .issuer_name(root_name)
        .public_key(leaf_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(now + dt.timedelta(days=LEAF_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(signer=True), critical=True)
        # The C2PA claim-signing EKU, plus emailProtection for validators that predate it.
        .add_extension(
            x509.ExtendedKeyUsage([C2PA_CLAIM_SIGNING, ExtendedKeyUsageOID.EMAIL_PROTECTION]),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(leaf_key.public_key()), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), False
        )
        .sign(root_key, hashes.SHA256())
    )

    pem = serialization.Encoding.PEM
    root_pem = root.public_bytes(pem)
    chain = leaf.public_bytes(pem) + root_pem
    key_pem = leaf_key.private_bytes(
        pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return chain, key_pem, root_pem


def _write_private(path: Path, data: bytes, mode: int) -> None:
    """Write ``data`` to ``path`` atomically, created with ``mode`` (never world-readable)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)  # umask may have narrowed or (on odd systems) widened it
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def init_signing(dir: Path, organisation: str, *, overwrite: bool = False) -> tuple[Path, Path]:
    """Create ``dir/signing/{cert_chain.pem, signer.key, root_ca.pem}``; return (chain, key).

    ``dir`` is the project folder. Refuses to replace an existing identity unless
    ``overwrite`` (a new key would make earlier exports unverifiable against the new root).
    Logs, at warning level, that the CA is not on the public C2PA trust list.
    """
    folder = Path(dir) / "signing"
    chain_path, key_path, root_path = folder / CHAIN_FILE, folder / KEY_FILE, folder / ROOT_FILE
    if not overwrite and (chain_path.exists() or key_path.exists()):
        raise InputError(f"{folder}: a signing identity already exists (not overwritten)")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"{folder}: cannot create folder ({exc.strerror})") from None
    chain, key_pem, root_pem = make_test_chain(organisation)
    _write_private(key_path, key_pem, 0o600)
    _write_private(chain_path, chain, 0o644)
    _write_private(root_path, root_pem, 0o644)
    log.warning("%s: %s", chain_path, NOT_TRUSTED_NOTE)
    return chain_path, key_path


def _read(path: Path, what: str) -> bytes:
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise InputError(f"{path}: no such {what} file") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a folder, not a {what} file") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read {what} ({exc.strerror})") from None
    if not data.strip():
        raise InputError(f"{path}: empty {what} file")
    return data


def load_signer(cert_path: Path, key_path: Path) -> LoadedSigner:
    """Read and check a PEM chain + key pair; errors name the offending file.

    Checks: both parse, the key is EC P-256 (ES256 is what bgart signs with), the key matches
    the first certificate, and the leaf is inside its validity period.
    """
    cert_path, key_path = Path(cert_path), Path(key_path)
    chain_pem = _read(cert_path, "certificate")
    key_pem = _read(key_path, "private key")
    try:
        certs = x509.load_pem_x509_certificates(chain_pem)
    except ValueError:
        raise InputError(f"{cert_path}: not a PEM certificate chain") from None
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except TypeError:
        raise InputError(f"{key_path}: private key is password-protected (not supported)") from None
    except (ValueError, UnsupportedAlgorithm):
        raise InputError(f"{key_path}: not a PEM private key") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise InputError(f"{key_path}: expected an EC P-256 key (ES256)")
    leaf = certs[0]
    if leaf.public_key() != key.public_key():
        raise BgartError(f"{key_path}: private key does not match the certificate in {cert_path}")
    now = dt.datetime.now(dt.UTC)
    if not (leaf.not_valid_before_utc <= now <= leaf.not_valid_after_utc):
        raise BgartError(
            f"{cert_path}: signing certificate is not valid now "
            f"({leaf.not_valid_before_utc:%Y-%m-%d} to {leaf.not_valid_after_utc:%Y-%m-%d})"
        )
    last = certs[-1]
    root_pem = (
        last.public_bytes(serialization.Encoding.PEM)
        if len(certs) > 1 and last.issuer == last.subject
        else None
    )
    return LoadedSigner(chain_pem, key_pem, root_pem, leaf.subject.rfc4514_string())
