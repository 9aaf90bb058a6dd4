"""Session endpoints: create, renew, destroy, and the blocking reads info, list and node."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pilot.devconsul.agent.registry import Registry
from pilot.devconsul.go.decode import ANY, INT, STRING, STRINGS, ListOf, Struct
from pilot.devconsul.go.durations import SECOND, parse_go_duration
from pilot.devconsul.routes.blocking import Result, block
from pilot.devconsul.routes.query import local_datacenter, path_name, query_options
from pilot.devconsul.routes.request import Request, Response
from pilot.devconsul.routes.router import Router
from pilot.devconsul.routes.views import session_json
from pilot.devconsul.state.catalog import SERF_CHECK
from pilot.devconsul.state.errors import ConsulError
from pilot.devconsul.state.sessions import TABLE, Session, session_topic
from pilot.devconsul.state.store import Watch

SESSION = Struct(
    "Session",
    {
        "ID": STRING,
        "Name": STRING,
        "Node": STRING,
        "LockDelay": ANY,
        "Behavior": STRING,
        "TTL": STRING,
        "NodeChecks": STRINGS,
        "ServiceChecks": ListOf(Struct("ServiceCheck", {"ID": STRING, "Namespace": STRING})),
        "Checks": STRINGS,
        "CreateIndex": INT,
        "ModifyIndex": INT,
    },
)
LOCK_DELAY_MIN_THRESHOLD = 1000  # a LockDelay below 1000 (ns) is taken as seconds


def add_session_routes(router: Router, registry: Registry) -> None:
    """Serve /v1/session/ from `registry`."""
    routes = SessionRoutes(registry)
    put, get = ("PUT",), ("GET",)
    router.add("/v1/session/create", put, routes.create)
    router.add("/v1/session/renew/", put, routes.renew)
    router.add("/v1/session/destroy/", put, routes.destroy)
    router.add("/v1/session/info/", get, routes.info)
    router.add("/v1/session/list", get, routes.list)
    router.add("/v1/session/node/", get, routes.node)


def lock_delay(raw: Any) -> int:
    """Session.UnmarshalJSON's LockDelay: a duration string or a number of nanoseconds, and
    anything below 1000 counts as seconds (so 15 and "15ns" are both 15 s)."""
    nanoseconds = 0
    if isinstance(raw, str):
        try:
            nanoseconds = parse_go_duration(raw)
        except ValueError as error:
            raise ConsulError(400, f"Request decode failed: {error}") from None
    elif isinstance(raw, int | float) and not isinstance(raw, bool):
        nanoseconds = int(raw)
    return nanoseconds * SECOND if nanoseconds < LOCK_DELAY_MIN_THRESHOLD else nanoseconds


class SessionRoutes:
    """The session endpoints."""

    def __init__(self, registry: Registry) -> None:
        self.store, self.sessions = registry.store, registry.sessions
        self.node_name = registry.agent.node

    def create(self, request: Request) -> Response:
        """A session with the agent's defaults (its node, serfHealth, 15 s, release)."""
        query_options(request)
        body: dict[str, Any] = request.json(SESSION) if request.body else {}
        session = Session(
            self.sessions.new_id(),
            body.get("Node") or self.node_name,
            name=body.get("Name", ""),
            behavior=body.get("Behavior") or "release",
            ttl=body.get("TTL", ""),
            node_checks=body.get("NodeChecks", [SERF_CHECK]),
            service_checks=body.get("ServiceChecks"),
            checks=body.get("Checks", [SERF_CHECK]),
        )
        if "LockDelay" in body:
            session.lock_delay = lock_delay(body["LockDelay"])
        _fixup_checks(session)
        with self.store.write() as txn:
            self.sessions.create(txn, session)
        return Response(body={"ID": session.id})

    def renew(self, request: Request) -> Response:
        """PUT /v1/session/renew/:id: [session], or a 404."""
        session_id = path_name(request, "Missing session")
        local_datacenter(request, request.param("dc"))
        session = self.sessions.renew(session_id)
        if session is None:
            raise ConsulError(404, f"Session id '{session_id}' not found")
        with self.store.lock:
            return Response(body=[session_json(session)])

    def destroy(self, request: Request) -> Response:
        """PUT /v1/session/destroy/:id: true, known or not."""
        session_id = path_name(request, "Missing session")
        local_datacenter(request, request.param("dc"))
        with self.store.write() as txn:
            self.sessions.destroy(txn, session_id)
        return Response(body=True)

    def info(self, request: Request) -> Response:
        """[session], or [] for an unknown one (a blocking read keeps waiting for it)."""
        session_id = path_name(request, "Missing session")
        watch = Watch(frozenset({session_topic(session_id)}))

        def query() -> Result:
            session = self.sessions.table.get(session_id)
            body = [session_json(session)] if session else []
            return Result(self.sessions.index(), body, watch, found=session is not None)

        return self._answer(request, query)

    def list(self, request: Request) -> Response:
        """GET /v1/session/list."""
        return self._answer(request, self._listing(lambda session: True))

    def node(self, request: Request) -> Response:
        """GET /v1/session/node/:node."""
        node = path_name(request, "Missing node name")
        return self._answer(request, self._listing(lambda session: session.node == node))

    def _listing(self, keep: Callable[[Session], bool]) -> Callable[[], Result]:
        def query() -> Result:
            body = [session_json(s) for _, s in sorted(self.sessions.table.items()) if keep(s)]
            return Result(self.sessions.index(), body, Watch(frozenset({TABLE})))

        return query

    def _answer(self, request: Request, query: Callable[[], Result]) -> Response:
        query_options(request)
        result = block(self.store, request, query)
        return Response(body=result.body, index=result.index)


def _fixup_checks(session: Session) -> None:
    """fixupEmptySessionChecks: `Checks: []` empties the default NodeChecks; the default
    `Checks` give way to `NodeChecks`; an empty NodeChecks empties the default Checks."""
    if not session.checks:
        session.node_checks = []
    elif session.checks == [SERF_CHECK] or not session.node_checks:
        session.checks = []
