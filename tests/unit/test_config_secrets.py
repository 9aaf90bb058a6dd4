"""Secrets in `pilot validate --print` and the Consul token as it is read."""

from __future__ import annotations

import pytest

from pilot.config.errors import ConfigError
from pilot.config.load import parse_config
from pilot.config.sections import dump_section

TOKEN = "b1gs3cr3t-t0k3n"
CONFIG = '{consul: {token: "TOKEN"}, jobs: [{name: "a", exec: "x"}]}'


def test_env_values_named_like_secrets_are_masked() -> None:
    """Env values whose name says TOKEN, SECRET, PASSWORD, KEY... are masked, a password in a
    URL is hidden, anything else shows."""
    config = parse_config(
        '{jobs: [{name: "a", exec: "x", env: {API_TOKEN: "t1", DB_PASSWORD: "p1",'
        ' AWS_SECRET_ACCESS_KEY: "s1", my_api_key: "k1", DATABASE_URL: "postgres://u:p2@h/db",'
        ' MODE: "blue", PORT: 8080}}]}',
        {},
    )
    env = dump_section(config)["jobs"][0]["env"]
    assert env == {
        "API_TOKEN": "********",
        "AWS_SECRET_ACCESS_KEY": "********",
        "DATABASE_URL": "postgres://u:xxxxx@h/db",
        "DB_PASSWORD": "********",
        "MODE": "blue",
        "PORT": "8080",
        "my_api_key": "********",
    }


def test_every_header_value_is_masked() -> None:
    """Health-check header values are masked whatever their name (credentials, mostly)."""
    config = parse_config(
        '{consul: "h:1", jobs: [{name: "a", exec: "x", port: 80, health: {http: "http://h/",'
        ' header: {Authorization: "Bearer t", "X-Trace": "on"}}}]}',
        {},
    )
    header = dump_section(config)["jobs"][0]["health"]["header"]
    assert header == {"Authorization": "********", "X-Trace": "********"}


@pytest.mark.parametrize("written", [f"{TOKEN}\\n", f"  {TOKEN}\\t", f"\\r\\n{TOKEN}\\r\\n"])
def test_surrounding_whitespace_of_the_token_is_stripped(written: str) -> None:
    """A token with a trailing newline (from `$(cat file)` or an env file) is used stripped."""
    config = parse_config(CONFIG.replace("TOKEN", written), {})
    assert config.consul.token == TOKEN


@pytest.mark.parametrize("written", ["  ", "b1g s3cr3t", "b1g\\u0007s3cr3t"])
def test_a_token_with_space_inside_is_refused_without_showing_it(written: str) -> None:
    """Only whitespace, or a space or control character inside, is an error that never shows
    the token."""
    with pytest.raises(ConfigError) as info:
        parse_config(CONFIG.replace("TOKEN", written), {})
    assert info.value.place == "consul.token"
    assert "s3cr3t" not in str(info.value) and "not shown" in info.value.message


def test_consul_http_token_from_the_environment_is_checked_too() -> None:
    """CONSUL_HTTP_TOKEN with a space inside is a placed error naming the variable only."""
    environ = {"CONSUL_HTTP_TOKEN": "b1g s3cr3t\n"}
    with pytest.raises(ConfigError) as info:
        parse_config(
            '{watches: [{name: "w", key: "k"}], jobs: [{name: "a", exec: "x"}]}', environ
        )
    assert info.value.place == "CONSUL_HTTP_TOKEN" and "s3cr3t" not in str(info.value)
