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
V2_KEYS = ("services", "backends", "preStart", "preStop", "postStop", "coprocesses", "tasks")
