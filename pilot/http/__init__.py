"""pilot's one HTTP/1.1 layer, on h11 over asyncio streams: the server side of the control
socket, telemetry and the traffic monitor page, and the client side: a kept-alive Client (the
Consul client), request_once (the health checks), and the blocking fetch (`pilot ctl`). It
imports nothing from pilot but the log, so every layer may use it; h11 is imported at the first
connection, not at start-up."""
