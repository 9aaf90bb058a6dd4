"""Health checks of jobs (exec, http, tcp) and the monitor that turns results into events."""
