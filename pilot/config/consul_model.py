"""Config sections about Consul: the agent address, health checks, registration, watches."""

from __future__ import annotations

from pilot.config.durations import SHORTEST_INTERVAL
from pilot.config.errors import ConfigError
from pilot.config.frozen import section
from pilot.config.kinds import Argv, Bool, Choice, Duration, Json, Secret, Str, Url, setting
from pilot.config.sections import ListOf, MapOf, Obj

DEFAULT_ADDRESS = "127.0.0.1:8500"
LONGEST_WAIT = 600.0  # Consul caps a blocking query's wait at 10 minutes


class Token(Secret):
    """An ACL token. Surrounding whitespace (a newline left by `$(cat file)` or an env file) is
    stripped; whitespace or control characters inside are an error that never shows the token."""

    def parse(self, value: Json, place: str) -> str:
        return consul_token(super().parse(value, place), place)


def consul_token(value: str, place: str) -> str:
    """`value` without surrounding whitespace (also for CONSUL_HTTP_TOKEN).

    Raises:
        ConfigError: nothing is left, or a space or control character is inside; the message
            never contains the token.
    """
    token = value.strip()
    if not token:
        raise ConfigError(place, "is only whitespace (token not shown)")
    if any(c.isspace() or not c.isprintable() for c in token):
        raise ConfigError(place, "contains a space or a control character inside (token not shown)")
    return token


@section
class ConsulTLS:
    """TLS towards Consul. Verification is on unless `verify: false`."""

    ca_file: str | None = setting(Str(), "CA bundle that signed the agent's certificate", None)
    cert_file: str | None = setting(Str(), "client certificate", None)
    key_file: str | None = setting(Str(), "client key", None)
    server_name: str | None = setting(Str(), "name expected in the agent's certificate", None)
    verify: bool = setting(Bool(), "verify the agent's certificate", True)


@section
class ConsulConfig:
    """Where Consul is: "host:port", "https://host:port", "embedded", or this object."""

    address: str = setting(
        Str(), '"host:port", "http(s)://host:port" or "embedded"', DEFAULT_ADDRESS
    )
    scheme: str | None = setting(
        Choice("http", "https"), "default: from the address, else http", None
    )
    token: str | None = setting(
        Token(), "ACL token (never logged; surrounding whitespace is stripped)", None
    )
    datacenter: str | None = setting(Str(), "datacenter of every query", None)
    tls: ConsulTLS = setting(Obj(ConsulTLS), "TLS settings", ConsulTLS())
    listen: str = setting(Str(), "where an embedded registry listens", DEFAULT_ADDRESS)
    dns: str | None = setting(
        Str(), '"host:port" where an embedded registry answers DNS (default: no DNS)', None
    )

    @property
    def embedded(self) -> bool:
        return self.address == "embedded"


def consul_shorthand(value: Json, place: str) -> Json:
    """`consul: "host:port"` is `consul: {address: "host:port"}`."""
    if isinstance(value, str):
        return {"address": value}
    raise ConfigError(place, 'must be "host:port", "embedded" or an object')


@section
class Health:
    """How pilot checks a job: exactly one of exec, http or tcp, every interval."""

    exec: tuple[str, ...] | None = setting(Argv(), "command; exit 0 is healthy", None)
    http: str | None = setting(Url(), "URL; a 2xx or 3xx answer is healthy", None)
    tcp: str | None = setting(Str(), '"host:port" that must accept a connection', None)
    method: str = setting(Str(), "HTTP method of an http check", "GET")
    header: tuple[tuple[str, str], ...] = setting(
        MapOf(Str(), masked=lambda _: True),
        "request headers of an http check (values masked by pilot validate)",
        (),
    )
    tls_skip_verify: bool = setting(
        Bool(), "an https check accepts any certificate (as Consul's TLSSkipVerify)", False
    )
    interval: float = setting(
        Duration(minimum=SHORTEST_INTERVAL), "time between checks (at least 100ms)", 10.0
    )
    timeout: float | None = setting(
        Duration(positive=True), "a check slower than this fails (default: the interval)", None
    )
    ttl: float | None = setting(
        Duration(minimum=1.0),
        "Consul TTL of the check, at least 1s (default: 3 x interval)",
        None,
    )

    @property
    def check_timeout(self) -> float:
        return self.timeout if self.timeout is not None else self.interval

    @property
    def check_ttl(self) -> float:
        return self.ttl if self.ttl is not None else 3 * self.interval


@section
class ServiceConsul:
    """Registration options passed through to Consul."""

    enable_tag_override: bool = setting(Bool(), "let others change the service's tags", False)
    deregister_critical_service_after: float | None = setting(
        Duration(positive=True),
        "Consul removes the service after it is critical this long (Consul's minimum is 1m)",
        None,
    )


@section
class Watch:
    """A blocking query on Consul: a service's instances, a key, or a key prefix."""

    name: str = setting(Str(), "events come from watch.<name>")
    service: str | None = setting(Str(), "service name", None)
    key: str | None = setting(Str(), "KV key", None)
    prefix: str | None = setting(Str(), "KV prefix", None)
    tags: tuple[str, ...] = setting(
        ListOf(Str(), single_ok=True), "instances must have all these tags", ()
    )
    datacenter: str | None = setting(Str(), "datacenter to query", None)
    passing: bool = setting(Bool(), "only instances whose checks all pass", True)
    wait: float = setting(
        Duration(minimum=1.0, maximum=LONGEST_WAIT),
        "longest wait of one blocking query (1s to 10m)",
        60.0,
    )


@section
class LeaderTags:
    """Tags the job's service carries while leader, and while follower."""

    leader: str | None = setting(Str(), "tag while elected", None)
    follower: str | None = setting(Str(), "tag while not elected", None)


@section
class Leader:
    """Leader election through a Consul lock (session + KV acquire)."""

    key: str = setting(Str(), "the KV key of the lock")
    ttl: float = setting(Duration(positive=True), "session TTL (Consul's minimum is 10s)", 10.0)
    lock_delay: float = setting(
        Duration(), "after a leader is lost, nobody may take the lock for this long", 1.0
    )
    tags: LeaderTags = setting(
        Obj(LeaderTags), "registration tags that follow the role", LeaderTags()
    )
    value: str | None = setting(
        Str(), "what the lock holds (default: the job's address:port)", None
    )
