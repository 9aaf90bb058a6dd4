"""pilot's telemetry endpoint in Consul as service `pilot-telemetry` (ContainerPilot registered
`containerpilot`), so Prometheus finds every pilot through its Consul service discovery. Its TTL
check is a heartbeat of pilot's event loop: a pilot that hangs turns critical."""

from __future__ import annotations

import asyncio
import contextlib
import socket

from pilot.consul.services import Registrar, ServiceRecord

SERVICE = "pilot-telemetry"
KEY = "pilot:telemetry"  # the registrar's key; no job name contains ':'
HEARTBEAT = 10.0  # seconds between reports; the check's TTL is 2.5 heartbeats


class Advertiser:
    """Keeps `pilot-telemetry` registered and passing while pilot runs."""

    def __init__(
        self,
        registrar: Registrar,
        address: str,
        port: int,
        name: str = SERVICE,
        tags: tuple[str, ...] = (),
        service_id: str | None = None,
    ) -> None:
        self._registrar = registrar
        self.record = ServiceRecord(
            job=KEY,
            name=name,
            id=service_id or f"{name}-{socket.gethostname()}-{port}",
            address=address,
            port=port,
            tags=tags,
            meta={},
            ttl=2.5 * HEARTBEAT,
            interval=HEARTBEAT,
            initial_status="passing",
            enable_tag_override=False,
            deregister_after=None,
        )
        registrar.register(self.record)
        self._task = asyncio.get_running_loop().create_task(self._beat())

    async def _beat(self) -> None:
        while True:
            self._registrar.report(KEY, "passing", "pilot is running")
            await asyncio.sleep(HEARTBEAT)

    async def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
