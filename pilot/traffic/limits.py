"""What one client of a recording proxy can hold, and how long each side is waited for. Read
as `limits.NAME` where used, so that a test can lower one."""

MAX_CONNECTIONS = 256  # client connections open at once
MAX_PER_ADDRESS = 64  # client connections open at once from one address
MAX_HEAD = 64 << 10  # bytes of a request or response head, its last CRLF included
HEAD_TIMEOUT = 10.0  # seconds for a request head to arrive whole
IDLE_TIMEOUT = 60.0  # seconds a client may stay silent between requests, or within a body
CONNECT_TIMEOUT = 10.0  # seconds to connect to the service
IDENTIFY_TIMEOUT = 2.0  # seconds an exchange's record waits for `identify`'s answer
CLOSE_TIMEOUT = 5.0  # seconds a client has to take the last bytes before they are dropped
READ_SIZE = 64 << 10
