"""Which Consul agent pilot talks to: the config, overridden by Consul's own environment
variables as in Consul's tools; TLS verification on by default; the token never shown."""

from __future__ import annotations

import pytest

from pilot.config.consul_model import ConsulConfig, ConsulTLS
from pilot.consul.client import resolve_target

TOKEN = "s3cr3t-token"


def test_defaults_verify_tls_and_take_the_config_address() -> None:
    """Without environment the config's address is used, over http, verification on."""
    target = resolve_target(ConsulConfig(address="10.0.0.1:8500"), {})
    assert (target.scheme, target.host, target.port) == ("http", "10.0.0.1", 8500)
    assert target.verify is True and target.cert is None and target.token is None
    https = resolve_target(ConsulConfig(address="https://consul.example:8501"), {})
    assert (https.scheme, https.host, https.port) == ("https", "consul.example", 8501)
    assert https.verify is True
    assert https.url == "https://consul.example:8501"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("10.9.8.7:8600", ("http", "10.9.8.7", 8600)),
        ("http://10.9.8.7:8600", ("http", "10.9.8.7", 8600)),
        ("https://agent.example:8501", ("https", "agent.example", 8501)),
        ("https://agent.example:8501/", ("https", "agent.example", 8501)),
        ("[::1]:8500", ("http", "::1", 8500)),
    ],
)
def test_consul_http_addr_overrides_the_config(value: str, expected: tuple[str, str, int]) -> None:
    """CONSUL_HTTP_ADDR, with or without a scheme prefix, replaces the configured address."""
    config = ConsulConfig(address="https://configured.example:9999")
    target = resolve_target(config, {"CONSUL_HTTP_ADDR": value})
    assert (target.scheme, target.host, target.port) == expected


def test_consul_http_addr_that_is_not_host_port_is_an_error() -> None:
    with pytest.raises(ValueError, match="not host:port"):
        resolve_target(ConsulConfig(), {"CONSUL_HTTP_ADDR": "http://agent-without-port"})


def test_consul_http_token_overrides_the_config_token() -> None:
    config = ConsulConfig(token="from-config")
    assert resolve_target(config, {}).token == "from-config"
    assert resolve_target(config, {"CONSUL_HTTP_TOKEN": TOKEN}).token == TOKEN
    assert resolve_target(ConsulConfig(), {"CONSUL_HTTP_TOKEN": TOKEN}).token == TOKEN


def test_consul_cacert_is_what_verification_trusts() -> None:
    """CONSUL_CACERT replaces tls.ca_file; verification stays on, against that bundle."""
    config = ConsulConfig(address="https://a:8501", tls=ConsulTLS(ca_file="/config/ca.pem"))
    assert resolve_target(config, {}).verify == "/config/ca.pem"
    target = resolve_target(config, {"CONSUL_CACERT": "/env/ca.pem"})
    assert target.verify == "/env/ca.pem"


def test_consul_client_cert_and_key_override_the_config() -> None:
    config = ConsulConfig(
        address="https://a:8501",
        tls=ConsulTLS(cert_file="/config/cert.pem", key_file="/config/key.pem"),
    )
    assert resolve_target(config, {}).cert == ("/config/cert.pem", "/config/key.pem")
    environ = {"CONSUL_CLIENT_CERT": "/env/cert.pem", "CONSUL_CLIENT_KEY": "/env/key.pem"}
    assert resolve_target(config, environ).cert == ("/env/cert.pem", "/env/key.pem")
    only_cert = resolve_target(config, {"CONSUL_CLIENT_CERT": "/env/cert.pem"})
    assert only_cert.cert == ("/env/cert.pem", "/config/key.pem")
    from_env_only = resolve_target(ConsulConfig(address="https://a:8501"), environ)
    assert from_env_only.cert == ("/env/cert.pem", "/env/key.pem")


@pytest.mark.parametrize("value", ["false", "FALSE", "0", "no"])
def test_consul_http_ssl_verify_false_turns_verification_off(value: str) -> None:
    """CONSUL_HTTP_SSL_VERIFY=false wins over the config, even over a configured CA."""
    config = ConsulConfig(address="https://a:8501", tls=ConsulTLS(ca_file="/config/ca.pem"))
    assert resolve_target(config, {"CONSUL_HTTP_SSL_VERIFY": value}).verify is False
    assert resolve_target(ConsulConfig(), {"CONSUL_HTTP_SSL_VERIFY": value}).verify is False


def test_consul_http_ssl_verify_true_overrides_a_config_that_turned_it_off() -> None:
    config = ConsulConfig(address="https://a:8501", tls=ConsulTLS(verify=False))
    assert resolve_target(config, {}).verify is False
    assert resolve_target(config, {"CONSUL_HTTP_SSL_VERIFY": "true"}).verify is True


def test_the_token_never_shows_in_the_targets_repr() -> None:
    for config, environ in (
        (ConsulConfig(token=TOKEN), {}),
        (ConsulConfig(), {"CONSUL_HTTP_TOKEN": TOKEN}),
    ):
        target = resolve_target(config, environ)
        assert target.token == TOKEN
        assert TOKEN not in repr(target) and TOKEN not in str(target)
        assert TOKEN not in target.url
