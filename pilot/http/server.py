"""pilot's HTTP/1.1 servers: requests framed by h11 on asyncio streams, answered by a handler.

A hostile client costs bounded resources (see Limits): at most `max_connections` are open at
once; over a TCP port more are closed at once, over a unix socket (root's own) they wait in
the listen backlog. Each connection has its own deadlines, so a slow client delays no other:
a request must begin within `idle_timeout` and be whole (head and body) within `head_deadline`
of its first byte, with a head of at most `max_head` bytes (else 431; a read is at most
`max_head`) and a body of at most `max_body` (else 413); its answer must be taken within
`idle_timeout`. HTTP/1.1 requests need a Host header (RFC 9112; else 400). A handler that
fails unexpectedly answers 500 and logs one line. A handler may end a long poll when its client
goes (Request.unless_gone)."""

from __future__ import annotations

import asyncio
import contextlib
import http
import socket
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING

from pilot.http.limits import Limits
from pilot.http.messages import HTTPError, Request, Response, json_error
from pilot.log import Log

if TYPE_CHECKING:
    import h11

Handler = Callable[[Request], Awaitable[Response]]
ErrorAnswer = Callable[[HTTPError], Response]

BACKLOG = 1024  # connections the kernel queues for a unix socket while all slots are taken
REFUSALS_LOGGED_EVERY = 60.0  # seconds: at most one log line about refused connections
INTERNAL_ERROR = "internal error (see pilot's log)"


class Refusals:
    """The connections a server closed unread because `limit` were open, said in the log at
    most once every REFUSALS_LOGGED_EVERY seconds (a flood must not flood the log too)."""

    def __init__(self, name: str, limit: int, log: Log) -> None:
        self.name, self.limit, self._log = name, limit, log
        self.count = 0
        self._logged: float | None = None

    def note(self) -> None:
        """Count one refused connection, and say so when the last line is old enough."""
        self.count += 1
        now = time.monotonic()
        if self._logged is None or now - self._logged >= REFUSALS_LOGGED_EVERY:
            self._logged = now
            self._log.warn(
                f"{self.name}: {self.limit} connections open, new ones are closed at once "
                f"({self.count} so far)"
            )


class Server:
    """Answers requests with `handler`; `name` (the server's) begins its log lines. With
    `keep_alive`, a connection may carry several requests, else each answer closes it.
    `error_answer` renders refusals; `headers` go with every answer."""

    def __init__(
        self,
        handler: Handler,
        name: str,
        limits: Limits,
        log: Log,
        *,
        keep_alive: bool = False,
        error_answer: ErrorAnswer = json_error,
        headers: Sequence[tuple[str, str]] = (),
    ) -> None:
        self._handler, self.name, self.limits, self._log = handler, name, limits, log
        self._keep_alive, self._error_answer, self._headers = keep_alive, error_answer, headers
        self._refusals = Refusals(name, limits.max_connections, log)
        self._servers: list[asyncio.Server] = []
        self._listener: socket.socket | None = None
        self._accepting: asyncio.Task[None] | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self._freed = asyncio.Event()

    @property
    def addresses(self) -> list[tuple[str, int]]:
        """(host, port) of each TCP socket listened on."""
        return [sock.getsockname()[:2] for server in self._servers for sock in server.sockets]

    async def listen_tcp(self, host: str, port: int) -> None:
        """Listen on host:port (port 0: any free port); raises OSError when it cannot. Anyone
        may reach a port: a connection over the limit is closed at once."""
        self._servers.append(
            await asyncio.start_server(
                self._serve_or_refuse, host, port, limit=self.limits.max_head, backlog=BACKLOG
            )
        )

    def listen_unix(self, path: str) -> None:
        """Listen on a unix socket at `path` (made with the process's umask); raises OSError
        when it cannot. A connection over the limit waits in the listen backlog."""
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            listener.bind(path)
            listener.listen(BACKLOG)
        except OSError:
            listener.close()
            raise
        listener.setblocking(False)
        self._listener = listener
        self._accepting = asyncio.create_task(self._accept(listener))

    async def close(self) -> None:
        """Stop listening and end every open connection, long polls included."""
        for server in self._servers:
            server.close()
        if self._accepting is not None:
            self._accepting.cancel()
            await asyncio.gather(self._accepting, return_exceptions=True)
        if self._listener is not None:
            self._listener.close()
        for task in self._connections:
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        for server in self._servers:
            await server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Answer the requests of one connection, then close it."""
        connection = _Connection(reader, writer, self.limits)
        try:
            while await self._exchange(connection):
                pass
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client went away, or did not take its answer
        except asyncio.CancelledError:  # by close(): end quietly
            pass
        except Exception as error:  # a bug of pilot's: one line, not asyncio's traceback
            self._log.error(f"{self.name}: {connection.peer}: {_one_line(error)}")
        finally:
            writer.transport.abort()  # nothing left to do after a clean close

    async def _serve_or_refuse(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        """A TCP connection: served, or closed at once when `max_connections` are open."""
        if len(self._connections) >= self.limits.max_connections:
            writer.transport.abort()
            self._refusals.note()
            return
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            await self._serve(reader, writer)
        finally:
            self._ended(task)

    async def _accept(self, listener: socket.socket) -> None:
        """Accept connections while fewer than `max_connections` are open; the others wait."""
        loop = asyncio.get_running_loop()
        while True:
            while len(self._connections) >= self.limits.max_connections:
                self._freed.clear()
                await self._freed.wait()
            try:
                sock, _ = await loop.sock_accept(listener)
            except OSError as error:  # out of file descriptors: the clients wait meanwhile
                self._log.warn(f"{self.name}: cannot accept a connection: {error}")
                await asyncio.sleep(1)
                continue
            task = asyncio.create_task(self._serve_socket(sock))
            self._connections.add(task)
            task.add_done_callback(self._ended)

    async def _serve_socket(self, sock: socket.socket) -> None:
        """A unix socket connection accepted by `_accept`."""
        try:
            reader, writer = await asyncio.open_unix_connection(
                sock=sock, limit=self.limits.max_head
            )
        except BaseException:
            sock.close()
            raise
        await self._serve(reader, writer)

    def _ended(self, task: asyncio.Task[None]) -> None:
        self._connections.discard(task)
        self._freed.set()

    async def _exchange(self, connection: _Connection) -> bool:
        """Read and answer one request; whether the connection may carry another."""
        try:
            request = await connection.read_request()
        except _Late as late:
            if late.message:
                self._log.debug(f"{self.name}: closed {connection.peer}: {late.message}")
            return False
        except HTTPError as error:  # answered before the request was read to its end
            self._log.debug(f"{self.name}: {connection.peer}: {error.status} {error.message}")
            await self._send(connection, self._error_answer(error))
            await connection.linger()
            return False
        if request is None:
            return False
        return await self._send(connection, await self._respond(request, connection))

    async def _respond(self, request: Request, connection: _Connection) -> Response:
        """The handler's answer; meanwhile, whether the client goes (`request.gone`)."""
        handling = asyncio.ensure_future(self._answer(request, connection.peer))
        watch = asyncio.ensure_future(connection.reader.read(self.limits.max_head))
        try:
            await asyncio.wait({handling, watch}, return_when=asyncio.FIRST_COMPLETED)
            if watch.done():
                data = b"" if watch.exception() else watch.result()
                connection.receive(data)  # a pipelined request is kept for later
                if not data:
                    request.gone.set()
            return await handling
        finally:
            handling.cancel()
            watch.cancel()
            await asyncio.wait({handling, watch})  # the stream is free for the next read

    async def _answer(self, request: Request, peer: str) -> Response:
        try:
            return await self._handler(request)
        except HTTPError as error:
            self._log.debug(
                f"{self.name}: {peer}: {request.method} {request.path}: "
                f"{error.status} {error.message}"
            )
            return self._error_answer(error)
        except ConnectionError:
            raise
        except Exception as error:  # a bug of pilot's: one line, not asyncio's traceback
            self._log.error(
                f"{self.name}: {request.method} {request.path} failed: {_one_line(error)}"
            )
            return self._error_answer(HTTPError(500, INTERNAL_ERROR))

    async def _send(self, connection: _Connection, response: Response) -> bool:
        """Write `response` within `idle_timeout`; whether the connection may carry another
        request. Raises ConnectionError when the client does not take it in time."""
        headers = [
            ("Content-Type", response.content_type),
            ("Content-Length", str(len(response.body))),
            *self._headers,
            *response.headers.items(),
        ]
        if not self._keep_alive:
            headers.append(("Connection", "close"))
        try:
            async with asyncio.timeout(self.limits.idle_timeout):
                return await connection.send(response.status, headers, response.body)
        except TimeoutError:
            self._log.debug(
                f"{self.name}: closed {connection.peer}: answer not read within "
                f"{self.limits.idle_timeout:g}s"
            )
            raise ConnectionError("answer not taken") from None


class _Late(Exception):
    """A request that did not come in time; `message` says so ("" when nothing is wrong)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class _Connection:
    """One connection: h11's state of it, and its streams."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, limits: Limits
    ) -> None:
        import h11  # here, not at start-up: pilot starts its control socket before any client

        self.reader, self.writer, self.limits = reader, writer, limits
        self.h11 = h11
        self.conn = h11.Connection(h11.SERVER, max_incomplete_event_size=limits.max_head)
        self.peer = _peer(writer)
        self.answered = 0
        self.head = False  # the request is a HEAD: its answer has no body

    def receive(self, data: bytes) -> None:
        """Data (b"" for the end) read while a handler ran, for the next request."""
        self.conn.receive_data(data)

    async def read_request(self) -> Request | None:
        """The next request, its body read whole; None when the client closed first.

        Raises:
            HTTPError: the request breaks HTTP or a limit (it is not read to its end).
            _Late: it did not begin within `idle_timeout`, or was not whole in `head_deadline`.
        """
        h11, limits = self.h11, self.limits
        self.head = False
        request: Request | None = None
        body: list[bytes] = []
        size = 0
        deadline: float | None = None
        fed = len(self.conn.trailing_data[0])  # bytes of this request (and after it) so far
        too_large = HTTPError(431, f"request head over {limits.max_head} bytes")
        while True:
            try:
                event = self.conn.next_event()
            except h11.RemoteProtocolError as error:
                if request is None and fed > limits.max_head:
                    raise too_large from None
                raise _refusal(error, limits) from None
            if event is h11.NEED_DATA:
                data = await self._read(deadline)
                if deadline is None:
                    deadline = asyncio.get_running_loop().time() + limits.head_deadline
                fed += len(data)
                self.conn.receive_data(data)
            elif isinstance(event, h11.Request):
                if fed - len(self.conn.trailing_data[0]) > limits.max_head:
                    raise too_large  # whole, but over the limit (h11 bounds incomplete ones)
                request = _request(event)
                self.head = event.method == b"HEAD"
                if _content_length(event) > limits.max_body:
                    raise HTTPError(413, f"body over {limits.max_body} bytes")
            elif isinstance(event, h11.Data):
                size += len(event.data)
                if size > limits.max_body:
                    raise HTTPError(413, f"body over {limits.max_body} bytes")
                body.append(event.data)
            elif isinstance(event, h11.EndOfMessage) and request is not None:
                request.body = b"".join(body)
                return request
            else:  # ConnectionClosed, or PAUSED after an answer that closes the connection
                return None

    async def _read(self, deadline: float | None) -> bytes:
        limits = self.limits
        try:
            if deadline is None:  # no byte of this request yet
                async with asyncio.timeout(limits.idle_timeout):
                    return await self.reader.read(limits.max_head)
            async with asyncio.timeout_at(deadline):
                return await self.reader.read(limits.max_head)
        except TimeoutError:
            if deadline is None:
                idle = f"no request within {limits.idle_timeout:g}s"
                raise _Late("" if self.answered else idle) from None
            raise _Late(f"no whole request within {limits.head_deadline:g}s") from None

    async def send(self, status: int, headers: list[tuple[str, str]], body: bytes) -> bool:
        """Write one answer; whether the connection may carry another request (else it is
        closed, cleanly)."""
        h11 = self.h11
        head = self.conn.send(
            h11.Response(status_code=status, headers=headers, reason=_reason(status))
        )
        if body and not self.head:
            head += self.conn.send(h11.Data(data=body))
        self.writer.write(head + self.conn.send(h11.EndOfMessage()))
        await self.writer.drain()
        self.answered += 1
        if self.conn.our_state is h11.DONE and self.conn.their_state is h11.DONE:
            self.conn.start_next_cycle()
            return True
        if self.conn.their_state is h11.DONE or self.conn.their_state is h11.MUST_CLOSE:
            self.writer.close()
            await self.writer.wait_closed()
        return False

    async def linger(self) -> None:
        """End the answer, then discard what the client still sends, for at most `linger`:
        closing with data unread resets a TCP connection, and the client could lose the answer."""
        self.writer.write_eof()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.limits.linger):
                while await self.reader.read(self.limits.max_head):
                    pass


def _request(event: h11.Request) -> Request:
    target = event.target.decode("latin-1")
    path, _, query = target.partition("?")
    headers = [(name.decode("latin-1"), value.decode("latin-1")) for name, value in event.headers]
    return Request(event.method.decode("latin-1").upper(), path, query, headers=headers)


def _content_length(event: h11.Request) -> int:
    """The declared body length (h11 has checked it is a number), 0 when none is declared."""
    for name, value in event.headers:
        if name == b"content-length":
            return int(value)
    return 0


def _refusal(error: h11.RemoteProtocolError, limits: Limits) -> HTTPError:
    if error.error_status_hint == 431:
        return HTTPError(431, f"request head over {limits.max_head} bytes")
    return HTTPError(error.error_status_hint, str(error))


def _reason(status: int) -> bytes:
    try:
        return http.HTTPStatus(status).phrase.encode()
    except ValueError:
        return b"Unknown"


def _peer(writer: asyncio.StreamWriter) -> str:
    address = writer.get_extra_info("peername")
    if isinstance(address, tuple) and len(address) >= 2:
        host, port = address[0], address[1]
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return "local client"


def _one_line(error: BaseException) -> str:
    return " ".join(f"{type(error).__name__}: {error}".split())
