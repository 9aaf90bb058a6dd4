"""The operations a running pilot offers to the control socket and telemetry."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from pilot.interface.status import Status

if TYPE_CHECKING:
    from pilot.interface.routes import LogsQuery, TrafficQuery


class CommandError(Exception):
    """A command that cannot be done; `status` is the HTTP status the control socket answers."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


class Commands(Protocol):
    """Everything that can be asked of a running pilot; signals, the control socket and
    `pilot ctl` all go through one implementation of it."""

    def status(self) -> Status: ...

    def putenv(self, values: Any) -> None: ...

    def putmetric(self, values: Any) -> None: ...

    async def reload(self) -> None: ...

    async def maintenance(self, enable: bool, reason: str | None = None) -> None: ...

    async def restart_job(self, name: str) -> None: ...

    async def stop_job(self, name: str) -> None: ...

    async def start_job(self, name: str) -> None: ...

    def signal_job(self, name: str, signame: Any) -> bool: ...

    async def rebuild_job(self, name: str) -> None: ...

    async def logs(self, query: LogsQuery) -> dict[str, Any]: ...

    async def traffic(self, query: TrafficQuery) -> dict[str, Any]: ...

    def exchange(self, exchange_id: int) -> dict[str, Any]: ...
