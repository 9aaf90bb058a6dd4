"""Sample records of each filterable endpoint, every optional field present: what `?filter=`
selectors are checked against."""

from __future__ import annotations

from typing import Any

from pilot.devconsul.routes.views import (
    agent_service_json,
    check_json,
    node_json,
    service_json,
    service_node_json,
)
from pilot.devconsul.state.catalog import HealthCheck, Node, Service

_NODE = Node("n", "id", "a", {"lan": "a"}, {"k": "v"})
_SERVICE = Service(
    "n",
    "id",
    "name",
    tags=["t"],
    address="a",
    meta={"k": "v"},
    tagged_addresses={"lan": {"Address": "a", "Port": 1}},
    kind="k",
    socket_path="s",
    connect_native=True,
)
_CHECK = HealthCheck("n", "id", "name", service_tags=["t"])

NODE: Any = node_json(_NODE)
SERVICE_NODE: Any = service_node_json(_NODE, _SERVICE)
NODE_SERVICE: Any = service_json(_SERVICE)
AGENT_SERVICE: Any = agent_service_json(_SERVICE, "dc")
HEALTH_CHECK: Any = check_json(_CHECK)
CHECK_SERVICE_NODE: Any = {"Node": NODE, "Service": NODE_SERVICE, "Checks": [HEALTH_CHECK]}
