"""What the control socket and telemetry see of a running pilot: the commands protocol, the
frozen status snapshot, the endpoint table, and the HTTP/1.1 framing both serve them over."""
