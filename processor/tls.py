"""TLSConfig: the `tls:` block under each server endpoint (Collector key names), and its server contexts.

    tls:
      cert_file: /certs/server.crt       # PEM, the server's certificate (chain)
      key_file: /certs/server.key        # PEM, its private key
      client_ca_file: /certs/ca.crt      # set: every client must present a certificate it signed (mTLS)
      min_version: "1.2"                 # or "1.3"

No `cert_file` means plaintext. Everything is loaded once at validation, so a missing file, a key
that does not match the certificate or a CA file that holds no certificate stops start-up with the
dotted key, never the first handshake.
"""

from __future__ import annotations

import pathlib
import ssl
from dataclasses import dataclass

VERSIONS: dict[str, ssl.TLSVersion] = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}


@dataclass(frozen=True)
class TLSConfig:
    cert_file: str = ""
    key_file: str = ""
    client_ca_file: str = ""  # set: client certificates required (mTLS)
    min_version: str = "1.2"

    @property
    def enabled(self) -> bool:
        return bool(self.cert_file)

    @property
    def mutual(self) -> bool:
        return bool(self.client_ca_file)

    def validate(self, path: str) -> list[str]:
        problems: list[str] = []
        if self.min_version not in VERSIONS:
            problems.append(
                f"{path}.min_version: must be one of {', '.join(VERSIONS)}, got {self.min_version!r}"
            )
        if bool(self.cert_file) != bool(self.key_file):
            missing = "key_file" if self.cert_file else "cert_file"
            problems.append(f"{path}.{missing}: cert_file and key_file go together; {missing} is not set")
            return problems
        if self.client_ca_file and not self.cert_file:
            problems.append(
                f"{path}.client_ca_file: client certificates need TLS: set cert_file and key_file"
            )
            return problems
        for key in ("cert_file", "key_file", "client_ca_file"):
            name = getattr(self, key)
            if name and not pathlib.Path(name).is_file():
                problems.append(f"{path}.{key}: no such file {name!r}")
        if problems or not self.enabled:
            return problems
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        try:
            context.load_cert_chain(self.cert_file, self.key_file)
        except ssl.SSLError as exc:
            if "KEY_VALUES_MISMATCH" in str(exc):
                problems.append(
                    f"{path}.key_file: {self.key_file!r} does not match cert_file {self.cert_file!r}"
                )
            else:
                problems.append(
                    f"{path}.cert_file: cannot load {self.cert_file!r} with key {self.key_file!r}: "
                    f"{exc.reason or exc}"
                )
        if self.client_ca_file:
            try:
                context.load_verify_locations(cafile=self.client_ca_file)
            except (ssl.SSLError, ValueError) as exc:
                problems.append(f"{path}.client_ca_file: cannot load {self.client_ca_file!r}: {exc}")
            else:
                if not context.get_ca_certs():
                    problems.append(f"{path}.client_ca_file: {self.client_ca_file!r} holds no CA certificate")
        return problems


def server_context(config: TLSConfig) -> ssl.SSLContext:
    """A server-side SSLContext: the certificate, the minimum version, and for mTLS the client CA.

    Call it on a validated config: `validate` reports what would make it raise.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = VERSIONS.get(config.min_version, ssl.TLSVersion.TLSv1_2)
    context.load_cert_chain(config.cert_file, config.key_file)
    if config.client_ca_file:
        context.load_verify_locations(cafile=config.client_ca_file)
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def read_pem(name: str) -> bytes:
    return pathlib.Path(name).read_bytes()
