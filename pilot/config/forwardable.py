"""The signals a job may have forwarded: one table for the config's validation and for
pilot's signal handling, which reads it before the event loop exists (so: no imports)."""

# What tini passes on, bar SIGPIPE (pilot's own could not be told from a sent one). Of the
# synchronous signals only those a handler cannot trap pilot in: abort() re-raises after a
# handler, SIGSYS and SIGTRAP resume after the call or breakpoint; a handler for SIGSEGV,
# SIGBUS, SIGFPE or SIGILL that returns would loop on a genuine fault. A job that lists
# SIGTERM, SIGINT or SIGPWR gets that signal, not its stop signal, when pilot stops on it.
FORWARDABLE = frozenset(
    [
        "SIGHUP",
        "SIGINT",
        "SIGQUIT",
        "SIGTERM",
        "SIGPWR",
        "SIGUSR1",
        "SIGUSR2",
        "SIGWINCH",
        "SIGALRM",
        "SIGCONT",
        "SIGTSTP",
        "SIGURG",
        "SIGXCPU",
        "SIGXFSZ",
        "SIGVTALRM",
        "SIGPROF",
        "SIGIO",
        "SIGSTKFLT",
        "SIGABRT",
        "SIGSYS",
        "SIGTRAP",
    ]
)
