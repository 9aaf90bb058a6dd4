"""The keys ContainerPilot 3.8 reads in each part of its config (and v2's, which it no longer
reads); anything else is an error, as its decoder makes it."""

TOP = ("consul", "logging", "control", "stopTimeout", "jobs", "watches", "telemetry")
JOB = (
    "name",
    "exec",
    "port",
    "initial_status",
    "interfaces",
    "tags",
    "consul",
    "health",
    "timeout",
    "restarts",
    "stopTimeout",
    "when",
    "logging",
)
WHEN = ("interval", "source", "once", "each", "timeout")
HEALTH = ("exec", "timeout", "interval", "ttl", "logging")
WATCH = ("name", "interval", "tag", "dc")
TELEMETRY = ("port", "interfaces", "tags", "metrics")
METRIC = ("namespace", "subsystem", "name", "help", "type")
CONSUL = ("address", "scheme", "token", "tls")
TLS = ("cafile", "capath", "clientcert", "clientkey", "servername", "verify")
LOGGING = ("level", "format", "output")
CONTROL = ("socket",)
JOB_LOGGING = ("raw",)
CONSUL_EXTRAS = ("enableTagOverride", "deregisterCriticalServiceAfter")
V2_KEYS = ("services", "backends", "preStart", "preStop", "postStop", "coprocesses", "tasks")
V2_FIELDS = ("poll", "onChange", "command", "frequency", "sensors", "check", "etcd")
EVERY = frozenset(
    TOP + JOB + WHEN + HEALTH + WATCH + TELEMETRY + METRIC + CONSUL + TLS + LOGGING + CONTROL
    + JOB_LOGGING + CONSUL_EXTRAS + V2_KEYS + V2_FIELDS
)  # fmt: skip
