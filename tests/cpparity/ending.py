"""When a ContainerPilot v3 config ends on its own, and with what exit code: the scenarios run
by the real ContainerPilot (`record.py ending`) and by pilot (tests/integration/
test_containerpilot_ending.py). `{dir}` is the run's directory; each job appends its name to
{dir}/log when it runs. `ends`: the config ends by itself; otherwise it keeps running once the
jobs named in `settled` are over, until SIGTERM."""

from __future__ import annotations

from typing import Any

HEAD = '{ consul: "127.0.0.1:1", stopTimeout: 1, control: { socket: "{dir}/cp.sock" },\n'


def job(name: str, script: str = "", **more: str) -> str:
    """A job that logs its name, then runs `script` (sh)."""
    argv = ["/bin/sh", "-c", f"echo {name} >> {{dir}}/log; {script or 'true'}"]
    extra = "".join(f", {key}: {value}" for key, value in more.items())
    quoted = ", ".join(f"'{arg}'" for arg in argv)
    return f'  {{ name: "{name}", exec: [{quoted}]{extra} }},\n'


SCENARIOS: list[dict[str, Any]] = [
    {
        "name": "restarts then a one-shot",
        "config": HEAD + "jobs: [\n"
        + job("app", "sleep 1", restarts="2")
        + job("oneshot")
        + "] }\n",
        "ends": True,
    },
    {
        "name": "a failing job",
        "config": HEAD + "jobs: [\n" + job("app", "exit 3") + "] }\n",
        "ends": True,
    },
    {
        "name": "hooks on stopping",
        "config": HEAD + "jobs: [\n"
        + job("app")
        + job("pre", when='{ source: "app", once: "stopping" }')
        + job("post", when='{ source: "pre", once: "exitSuccess" }')
        + "] }\n",
        "ends": True,
    },
    {
        "name": "a periodic job with restarts",
        "config": HEAD + "jobs: [\n"
        + job("tick", when='{ interval: "300ms" }', restarts="2")
        + job("oneshot")
        + "] }\n",
        "ends": True,
    },
    {
        "name": "a job waiting for an event that cannot come",
        "config": HEAD + "jobs: [\n"
        + job("app", "exit 3")
        + job("after", when='{ source: "app", once: "exitSuccess" }')
        + "] }\n",
        "ends": False,
        "settled": ["app"],
    },
    {
        "name": "a job without exec",
        "config": HEAD + "jobs: [\n"
        + job("oneshot")
        + '  { name: "public", port: 80, interfaces: ["static:127.0.0.1"],'
        + " health: { interval: 1, ttl: 5 } },\n"
        + "] }\n",
        "ends": False,
        "settled": ["oneshot"],
    },
    {
        "name": "telemetry",
        "config": HEAD + "jobs: [\n" + job("oneshot") + "],\n"
        + '  telemetry: { port: {port}, interfaces: ["static:127.0.0.1"] } }\n',
        "ends": False,
        "settled": ["oneshot"],
    },
    {
        "name": "a hook on a job that ended while another runs",
        "config": HEAD + "jobs: [\n"
        + job("setup")
        + job("after-setup", when='{ source: "setup", once: "stopped" }')
        + job("app", "exec sleep 1000")
        + "] }\n",
        "ends": False,
        "settled": ["setup", "after-setup"],
    },
    {
        "name": "signalled",
        "config": HEAD + "jobs: [\n" + job("app", "exec sleep 1000") + "] }\n",
        "ends": False,
        "settled": [],
    },
]  # fmt: skip
