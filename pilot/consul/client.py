"""Which Consul agent pilot talks to, and with which credentials."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from pilot.config.consul_model import ConsulConfig

_TRUE = {"1", "t", "true", "yes", "on"}
_FALSE = {"0", "f", "false", "no", "off"}


@dataclass(frozen=True)
class ConsulTarget:
    """A resolved Consul address with its credentials. The token never shows in its repr."""

    host: str
    port: int
    scheme: str
    token: str | None = field(default=None, repr=False)
    datacenter: str | None = None
    verify: bool | str = True
    cert: tuple[str, str] | str | None = None
    server_name: str | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"


def resolve_target(
    config: ConsulConfig, environ: Mapping[str, str], embedded_address: str | None = None
) -> ConsulTarget:
    """Apply Consul's own environment variables (CONSUL_HTTP_ADDR, CONSUL_HTTP_TOKEN,
    CONSUL_CACERT, CONSUL_CLIENT_CERT/KEY, CONSUL_HTTP_SSL_VERIFY) over the config.

    Raises:
        ValueError: the address (from the config or the environment) is not host:port.
    """
    address = environ.get("CONSUL_HTTP_ADDR") or (
        embedded_address if config.embedded and embedded_address else config.address
    )
    scheme = config.scheme or ("https" if _flag(environ.get("CONSUL_HTTP_SSL")) else "http")
    for prefix in ("http://", "https://"):
        if address.startswith(prefix):
            scheme, address = prefix[:-3], address[len(prefix) :]
    host, sep, port = address.rstrip("/").rpartition(":")
    if not sep or not (port.isascii() and port.isdigit()) or not host:
        raise ValueError(f"Consul address {address!r} is not host:port")
    verify: bool | str = config.tls.verify
    env_verify = environ.get("CONSUL_HTTP_SSL_VERIFY")
    if env_verify is not None and env_verify.lower() in _TRUE | _FALSE:
        verify = env_verify.lower() in _TRUE
    ca_file = environ.get("CONSUL_CACERT") or config.tls.ca_file
    if verify and ca_file:
        verify = ca_file
    cert_file = environ.get("CONSUL_CLIENT_CERT") or config.tls.cert_file
    key_file = environ.get("CONSUL_CLIENT_KEY") or config.tls.key_file
    cert: tuple[str, str] | str | None = (
        (cert_file, key_file) if cert_file and key_file else cert_file
    )
    return ConsulTarget(
        host=host.strip("[]"),
        port=int(port),
        scheme=scheme,
        # A token read from a file often ends in a newline, which no HTTP header may hold.
        token=(environ.get("CONSUL_HTTP_TOKEN") or config.token or "").strip() or None,
        datacenter=config.datacenter,
        verify=verify,
        cert=cert,
        server_name=config.tls.server_name,
    )


def _flag(value: str | None) -> bool:
    return value is not None and value.lower() in _TRUE
