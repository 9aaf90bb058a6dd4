"""ContainerPilot v3 configs run unchanged by real pilot processes against a registry
(consul-dev, or real Consul when one is given), one feature family per test, driven by
ContainerPilot's own command line where it has one."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.helpers import (
    PYTHON,
    REPO,
    Pilot,
    Registry,
    read_lines,
    require,
    require_pid_namespace,
    scaled,
    wait_for,
)

CONTAINERPILOT = [PYTHON, "-m", "pilot.cli.containerpilot"]
APP_PID = "echo app $CONTAINERPILOT_PID >> {log}; exec sleep 1000"
MIXED = '{{ .MODE | default "dev" }} {{ .KV }} {{ env "KV" }}'  # rendered into one argument


def containerpilot(
    *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The `containerpilot` command, as a helper script or an operator runs it."""
    full = {k: v for k, v in os.environ.items() if k != "PILOT_SOCKET"}
    full.update({"PYTHONPATH": str(REPO), **(env or {})})
    return subprocess.run(
        [*CONTAINERPILOT, *args], capture_output=True, text=True, timeout=scaled(30), env=full
    )


def v3(tmp_path: Path, body: str, registry: Registry | None = None) -> str:
    """A v3 file: `consul` and the control socket the test helpers talk to, then `body`."""
    consul = registry.address if registry else "127.0.0.1:1"
    return f'{{ consul: "{consul}", control: {{ socket: "{tmp_path}/pilot.sock" }},\n{body} }}'


def sh(script: str, *args: str) -> str:
    """An exec array (JSON5 text) running `script` with `args` ($0...): ContainerPilot runs
    no shell of its own."""
    return "[" + ", ".join(quote(arg) for arg in ["/bin/sh", "-c", script, *args]) + "]"


def quote(text: str) -> str:
    """A JSON5 string; single-quoted when it holds '"' (a template action's own quotes, which
    the template sees before JSON5 does)."""
    return f"'{text}'" if '"' in text and "'" not in text else json.dumps(text)


def test_jobs_and_when_events(pilot: Callable[..., Pilot], tmp_path: Path) -> None:
    """preStart → app on exitSuccess; hooks on stopping/stopped; a task with restarts "2"
    runs 3 times; a SIGHUP-sourced job runs on every SIGHUP; a string exec is split on single
    spaces with no shell (the empty argument stays)."""
    log = tmp_path / "log"
    body = f"""jobs: [
      {{ name: "preStart", exec: {sh(f"echo preStart >> {log}")} }},
      {{ name: "app", exec: {sh(f"echo app >> {log}; exec sleep 1000")},
         when: {{ source: "preStart", once: "exitSuccess" }} }},
      {{ name: "split", exec: "printf <%s><%s><%s>\\\\n a  b" }},
      {{ name: "task", exec: {sh(f"echo task >> {log}")}, restarts: "2",
         when: {{ interval: "200ms" }} }},
      {{ name: "on-hup", exec: {sh(f"echo hup >> {log}")}, when: {{ source: "SIGHUP" }} }},
      {{ name: "preStop", exec: {sh(f"echo preStop >> {log}")},
         when: {{ source: "app", once: "stopping" }} }},
      {{ name: "postStop", exec: {sh(f"echo postStop >> {log}")},
         when: {{ source: "app", once: "stopped" }} }},
    ]"""
    p = pilot(v3(tmp_path, body))
    wait_for(lambda: read_lines(log).count("task") == 3 and "app" in read_lines(log), 10)
    assert read_lines(log).index("preStart") < read_lines(log).index("app")
    p.wait_for_output(r"<a><><b>")
    for expected in (1, 2):
        p.signal(signal.SIGHUP)
        wait_for(lambda n=expected: read_lines(log).count("hup") == n, 5, message="hup job")
    p.signal(signal.SIGTERM)
    assert p.wait(15) in (0, 143)
    lines = read_lines(log)
    assert lines.count("task") == 3
    assert lines.index("preStop") < lines.index("postStop")


def test_a_job_restarts_on_success_as_on_failure(
    pilot: Callable[..., Pilot], tmp_path: Path
) -> None:
    """restarts: 2 on a job that exits 0 runs it three times (ContainerPilot restarts on
    success and failure alike), and not a fourth: a periodic job ticks on meanwhile."""
    log = tmp_path / "log"
    body = f"""jobs: [
      {{ name: "thrice", exec: {sh(f"echo thrice >> {log}")}, restarts: 2 }},
      {{ name: "tick", exec: {sh(f"echo tick >> {log}")}, when: {{ interval: "200ms" }} }},
      {{ name: "app", exec: "sleep 1000" }},
    ]"""
    pilot(v3(tmp_path, body))
    wait_for(lambda: read_lines(log).count("thrice") == 3, 10, message="three runs")
    ticks = read_lines(log).count("tick")
    wait_for(lambda: read_lines(log).count("tick") >= ticks + 3, 10, message="ticks after")
    assert read_lines(log).count("thrice") == 3


def test_a_source_nothing_emits_never_starts_its_job(
    pilot: Callable[..., Pilot], tmp_path: Path
) -> None:
    """when.source naming no job (or empty) is ContainerPilot's never: pilot warns, with the
    place, and runs everything else."""
    log = tmp_path / "log"
    body = f"""jobs: [
      {{ name: "app", exec: "sleep 1000" }},
      {{ name: "late", exec: {sh(f"echo late >> {log}")},
         when: {{ source: "consul-agent", once: "healthy" }} }},
      {{ name: "never", exec: {sh(f"echo never >> {log}")}, when: {{ once: "shutdown" }} }},
      {{ name: "tick", exec: {sh(f"echo tick >> {log}")}, when: {{ interval: "200ms" }} }},
    ]"""
    p = pilot(v3(tmp_path, body))
    wait_for(lambda: read_lines(log).count("tick") >= 3, 10, message="ticks")
    assert "jobs[1].when.source: 'consul-agent' names no job or watch" in p.output
    assert "jobs[2].when.source: is empty" in p.output
    assert read_lines(log) == ["tick"] * len(read_lines(log))
    p.signal(signal.SIGTERM)
    p.wait(15)
    assert "late" not in read_lines(log) and "never" not in read_lines(log)


@pytest.mark.slow
def test_health_and_registration(
    pilot: Callable[..., Pilot], registry: Registry, tmp_path: Path
) -> None:
    """A job with a port registers as <name>-<hostname> at its interface's address, passing
    once its health exec passes; jobs see CONTAINERPILOT_<JOB>_IP, CONTAINERPILOT_<JOB>_PID
    and CONTAINERPILOT_PID;
    a stop deregisters it."""
    env_file = tmp_path / "env"
    body = f"""jobs: [{{ name: "app", port: 8080, interfaces: ["static:127.0.0.9"], tags: ["v1"],
      exec: {sh(f"env | grep ^CONTAINERPILOT_ | sort > {env_file}; exec sleep 1000")},
      when: {{ source: "side", once: "healthy" }},
      health: {{ exec: "true", interval: 1, ttl: 5 }} }},
      {{ name: "side", exec: "sleep 1000", health: {{ exec: "true", interval: 1, ttl: 5 }} }}]"""
    p = pilot(v3(tmp_path, body, registry))
    entries = wait_for(lambda: registry.instances("app", passing=True), 10, message="passing")
    service = entries[0]["Service"]
    assert service["ID"] == f"app-{socket.gethostname()}"
    assert (service["Address"], service["Port"], service["Tags"]) == ("127.0.0.9", 8080, ["v1"])
    env = wait_for(lambda: read_lines(env_file), 5, message="env")
    assert "CONTAINERPILOT_APP_IP=127.0.0.9" in env
    assert f"CONTAINERPILOT_PID={p.pilot_pid}" in env
    side = next(job for job in p.status()["jobs"] if job["name"] == "side")
    assert f"CONTAINERPILOT_SIDE_PID={side['pid']}" in env
    p.signal(signal.SIGTERM)
    p.wait(15)
    assert registry.instances("app") == []


def register(registry: Registry, name: str, port: int) -> None:
    """An instance of service `backend` whose TTL check passes."""
    registry.put(
        "/v1/agent/service/register",
        {"Name": "backend", "ID": name, "Address": "127.0.0.1", "Port": port,
         "Check": {"TTL": "30s", "Status": "passing"}},
    )  # fmt: skip


@pytest.mark.slow
def test_watches_emit_changed_then_healthy_on_every_change(
    pilot: Callable[..., Pilot], registry: Registry, tmp_path: Path
) -> None:
    """Each change of the passing set emits changed then healthy (ContainerPilot's order),
    a first empty answer emits nothing, and the last instance gone emits unhealthy."""
    log = tmp_path / "log"
    body = f"""jobs: [
      {{ name: "app", exec: "sleep 1000" }},
      {{ name: "on-change", exec: {sh(f"echo changed >> {log}")},
         when: {{ source: "watch.backend", each: "changed" }} }},
      {{ name: "on-healthy", exec: {sh(f"echo healthy >> {log}")},
         when: {{ source: "watch.backend", each: "healthy" }} }},
      {{ name: "on-unhealthy", exec: {sh(f"echo unhealthy >> {log}")},
         when: {{ source: "watch.backend", each: "unhealthy" }} }},
    ],
    watches: [{{ name: "backend", interval: 1 }}]"""
    p = pilot(v3(tmp_path, body, registry))
    p.wait_for_output(r"app started")
    register(registry, "backend-1", 9001)
    wait_for(lambda: sorted(read_lines(log)) == ["changed", "healthy"], 10, message="first")
    register(registry, "backend-2", 9002)
    wait_for(lambda: read_lines(log).count("healthy") == 2, 10, message="healthy again")
    for name in ("backend-1", "backend-2"):
        registry.put(f"/v1/agent/service/deregister/{name}")
    wait_for(lambda: "unhealthy" in read_lines(log), 10, message="unhealthy")
    assert read_lines(log).count("changed") >= 3


@pytest.mark.slow
def test_telemetry_and_putmetric_from_a_helper_script(
    pilot: Callable[..., Pilot], registry: Registry, tmp_path: Path
) -> None:
    """A sensor script pushes with `containerpilot -putmetric`; /metrics shows it, /status
    answers, and the endpoint is registered in Consul as service `containerpilot`."""
    script = tmp_path / "sensor.sh"
    script.write_text(f"#!/bin/sh\nexec {' '.join(CONTAINERPILOT)} -putmetric app_hits=2\n")
    script.chmod(0o755)
    # its own timeout: by default a periodic run is stopped after one interval, as in
    # ContainerPilot, and a Python start on a loaded machine can take longer than 300 ms
    port = free_port()
    body = f"""jobs: [
      {{ name: "app", exec: "sleep 1000" }},
      {{ name: "sensor", exec: "{script}", when: {{ interval: "300ms" }}, timeout: "10s" }},
    ],
    telemetry: {{ port: {port}, interfaces: ["static:127.0.0.1"], tags: ["cp"],
      metrics: [{{ namespace: "app", name: "hits", type: "counter", help: "hits" }}] }}"""
    pilot(v3(tmp_path, body, registry))
    metrics = wait_for(lambda: metric(port, "app_hits_total") >= 4, 30, message="pushed twice")
    assert metrics
    status = json.loads(fetch(f"http://127.0.0.1:{port}/status"))
    assert {job["name"] for job in status["jobs"]} >= {"app", "sensor"}
    entries = wait_for(lambda: registry.instances("containerpilot"), 10, message="telemetry")
    assert entries[0]["Service"]["Port"] == port and entries[0]["Service"]["Tags"] == ["cp"]


@pytest.mark.slow
def test_control_plane_putenv_reload_maintenance_ping(
    pilot: Callable[..., Pilot], registry: Registry, tmp_path: Path
) -> None:
    """`containerpilot -putenv` then `-reload` re-renders the template with the new value;
    `-maintenance enable|disable` takes the service out of Consul and back; `-ping` says ok;
    `pilot ctl` reaches the same pilot."""
    colours = tmp_path / "colours"
    body = f"""jobs: [{{ name: "app", port: 8080, interfaces: ["static:127.0.0.1"],
      exec: {sh(f'echo {{{{ .COLOUR | default "none" }}}} >> {colours}; exec sleep 1000')},
      health: {{ exec: "true", interval: 1, ttl: 5 }} }}]"""
    p = pilot(v3(tmp_path, body, registry))
    config = str(p.config_path)
    wait_for(lambda: read_lines(colours) == ["none"], 10, message="first run")
    assert containerpilot("-config", config, "-ping").stdout == "ok\n"
    assert containerpilot("-config", config, "-putenv", "COLOUR=blue").returncode == 0
    assert containerpilot("-config", config, "-reload").returncode == 0
    wait_for(lambda: read_lines(colours) == ["none", "blue"], 10, message="re-rendered")
    wait_for(lambda: registry.instances("app", passing=True), 10, message="registered")
    assert containerpilot("-config", config, "-maintenance", "enable").returncode == 0
    wait_for(lambda: not registry.instances("app", passing=True), 10, message="maintenance")
    assert p.status()["maintenance"] is True
    assert containerpilot("-config", config, "-maintenance", "disable").returncode == 0
    wait_for(lambda: registry.instances("app", passing=True), 10, message="back")
    assert p.ctl("ping").returncode == 0


def test_go_templates_generate_the_config(pilot: Callable[..., Pilot], tmp_path: Path) -> None:
    """loop over a count from the environment, default, if/else, and a value holding '='
    (kept whole by env, cut at '=' in the data, as ContainerPilot's bug #573)."""
    log = tmp_path / "log"
    body = f"""jobs: [
      {{{{ range $i := loop (env "WORKERS") }}}}
      {{ name: "w{{{{ $i }}}}", exec: {sh(f"echo w$0 >> {log}", "{{ $i }}")} }},
      {{{{ end }}}}
      {{ name: "app", exec: {sh(f"echo $0 >> {log}; exec sleep 1000", MIXED)} }},
    ]"""
    pilot(v3(tmp_path, body), env={"WORKERS": "3", "KV": "a=b"})
    wait_for(lambda: len(read_lines(log)) == 4, 10, message="jobs ran")
    assert sorted(read_lines(log)) == ["dev a a=b", "w0", "w1", "w2"]


def test_refusals_exit_2_with_placed_messages(pilot: Callable[..., Pilot], tmp_path: Path) -> None:
    """A v3 file ContainerPilot refuses and a v2 file are refused before anything runs."""
    bad = pilot(v3(tmp_path, 'jobs: [{ name: "app", exec: "x", port: 80 }]'))
    assert bad.wait(10) == 2
    assert "jobs[0].health: must be set if 'port' is set" in bad.output
    old = tmp_path / "containerpilot.json"
    old.write_text('{ consul: "c:8500", services: [{ name: "a", port: 1 }] }')
    result = subprocess.run(
        [PYTHON, "-m", "pilot", "validate", "-c", str(old)],
        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    assert result.returncode == 2 and "pilot convert" in result.stderr


def test_validate_names_the_dialect_and_prints_the_native_form(tmp_path: Path) -> None:
    """`pilot validate` says it read ContainerPilot v3 and prints the pilot.json5."""
    path = tmp_path / "containerpilot.json5"
    path.write_text(v3(tmp_path, 'jobs: [{ name: "app", exec: "{{ .APP }} --fast" }]'))
    result = subprocess.run(
        [PYTHON, "-m", "pilot", "validate", "-c", str(path)],
        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO), "APP": "a"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "read as ContainerPilot v3: 1 job (runs until every job is over)" in result.stdout
    assert 'exec: ["${APP:-}", "--fast"]' in result.stdout


def test_convert_validate_run_round_trip(pilot: Callable[..., Pilot], tmp_path: Path) -> None:
    """`pilot convert` writes a pilot.json5 that validates and runs the same jobs."""
    log = tmp_path / "log"
    source = tmp_path / "containerpilot.json5"
    source.write_text(
        v3(
            tmp_path,
            f"""jobs: [{{ name: "setup", exec: {sh(f"echo setup >> {log}")} }},
          {{ name: "app", exec: {sh(f"echo app-$0 >> {log}; exec sleep 1000", "{{ .WHO }}")},
            when: {{ source: "setup", once: "exitSuccess" }} }}]""",
        )
    )
    native = tmp_path / "native.json5"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    subprocess.run(
        [PYTHON, "-m", "pilot", "convert", str(source), "-o", str(native)], check=True, env=env
    )
    assert "${WHO:-}" in native.read_text()
    p = pilot(native.read_text(), env={"WHO": "me"})
    wait_for(lambda: read_lines(log) == ["setup", "app-me"], 10, message="converted run")
    assert p.status()["jobs"]


def test_supervisord_import_runs(pilot: Callable[..., Pilot], tmp_path: Path) -> None:
    """`pilot import supervisord.conf` writes a pilot.json5 that runs its programs."""
    require(importlib.util.find_spec("supervisor") is not None, "pip install '.[supervisord]'")
    log = tmp_path / "log"
    conf = tmp_path / "supervisord.conf"
    conf.write_text(
        "[supervisord]\nnodaemon=true\n"
        f"[program:first]\ncommand=/bin/sh -c 'echo first >> {log}; exec sleep 1000'\npriority=1\n"
        f"[program:second]\ncommand=/bin/sh -c 'echo second-%(process_num)s >> {log}; "
        "exec sleep 1000'\nprocess_name=%(program_name)s-%(process_num)s\nnumprocs=2\n"
    )
    out = subprocess.run(
        [PYTHON, "-m", "pilot", "import", str(conf)],
        capture_output=True, text=True, check=True, env={**os.environ, "PYTHONPATH": str(REPO)},
    ).stdout  # fmt: skip
    p = pilot(
        out.replace(
            "{\n  jobs", f'{{\n  control: {{ socket: "{tmp_path}/pilot.sock" }},\n  jobs', 1
        )
    )
    wait_for(lambda: len(read_lines(log)) == 3, 10, message="programs ran")
    assert sorted(read_lines(log)) == ["first", "second-0", "second-1"]
    # priority orders spawns, as in supervisord (not what the programs print first)
    started = {job["name"]: job["started_at"] for job in p.status()["jobs"]}
    assert started["first"] <= started["second-0"]
    assert started["first"] <= started["second-1"]


@pytest.mark.slow
def test_interfaces_in_a_network_namespace(pilot: Callable[..., Pilot], tmp_path: Path) -> None:
    """With a dummy eth0 (a veth where the kernel has no dummy driver) holding two addresses,
    the default interfaces pick eth0's IPv4,
    eth0[1] its second address and a CIDR its match; exported as CONTAINERPILOT_<JOB>_IP."""
    require(os.geteuid() == 0, "network namespaces need root")
    require(shutil.which("unshare") is not None, "unshare (util-linux) is missing")
    require(shutil.which("ip") is not None, "ip (iproute2) is missing")
    setup = (
        "ip link set lo up && (ip link add eth0 type dummy 2>/dev/null || "
        "ip link add eth0 type veth peer name eth0-peer) && ip link set eth0 up && "
        "ip addr add 10.99.0.2/24 dev eth0 && ip addr add 10.99.0.3/24 dev eth0 && "
        'exec "$@"'
    )
    out = tmp_path / "ips"
    health = '{ exec: "true", interval: 1, ttl: 5 }'

    def job(name: str, interfaces: str) -> str:
        script = f"echo {name}=$CONTAINERPILOT_{name.upper()}_IP >> {out}; exec sleep 1000"
        return f'{{ name: "{name}", port: 80, {interfaces} health: {health}, exec: {sh(script)} }}'

    body = f"""jobs: [{job("one", "")}, {job("two", 'interfaces: ["eth0[1]"],')},
      {job("three", 'interfaces: ["10.99.0.0/24"],')}]"""
    text = v3(tmp_path, body).replace('"127.0.0.1:1"', '"embedded"')
    pilot(text, wrap=["unshare", "--net", "sh", "-c", setup, "sh"])
    lines = wait_for(lambda: len(read_lines(out)) == 3 and read_lines(out), 15, message="ips")
    assert sorted(lines) == ["one=10.99.0.2", "three=10.99.0.2", "two=10.99.0.3"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=scaled(5)) as response:
        return str(response.read().decode())


def metric(port: int, name: str) -> float:
    """The value of an unlabelled sample of /metrics (0 when absent or unreachable)."""
    try:
        text = fetch(f"http://127.0.0.1:{port}/metrics")
    except OSError:
        return 0.0
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0


def test_containerpilot_as_the_entrypoint(tmp_path: Path) -> None:
    """`ENTRYPOINT ["containerpilot"]` with `CONTAINERPILOT=file://...` (v2's form) runs the
    config as PID 1, and SIGTERM stops it through the pre-stop hook."""
    require_pid_namespace()
    log = tmp_path / "log"
    path = tmp_path / "containerpilot.json5"
    path.write_text(
        v3(
            tmp_path,
            f"""jobs: [{{ name: "app", exec: {sh(APP_PID.format(log=log))} }},
            {{ name: "preStop", exec: {sh(f"echo preStop >> {log}")},
               when: {{ source: "app", once: "stopping" }} }}]""",
        )
    )
    env = {**os.environ, "PYTHONPATH": str(REPO), "CONTAINERPILOT": f"file://{path}"}
    proc = subprocess.Popen(
        ["unshare", "--pid", "--fork", "--mount-proc", *CONTAINERPILOT],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_for(lambda: read_lines(log), 10, message="app started")
        assert read_lines(log)[0] == "app 1"  # pilot is PID 1
        children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
        os.kill(int(children[0]), signal.SIGTERM)
        proc.wait(scaled(15))
        assert read_lines(log)[-1] == "preStop"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(scaled(5))


@pytest.mark.slow
def test_containerpilots_own_tasks_fixture(pilot: Callable[..., Pilot], tmp_path: Path) -> None:
    """ContainerPilot's integration test test_tasks, on its fixture: restarts "5" means six
    runs, a 100ms timeout kills each of six runs, a task without restarts keeps running."""
    task = tmp_path / "task.sh"
    task.write_text('#!/bin/sh\necho run >> "$2"\nsleep "$1"\n')
    task.chmod(0o755)

    def job(n: int, seconds: str, extra: str) -> str:
        return (
            f'{{ name: "task{n}", exec: ["{task}", "{seconds}", "{tmp_path}/task{n}.txt"], '
            f"{extra} }}"
        )

    body = f"""jobs: [
      {job(1, "0.2", 'when: { interval: "500ms" }, restarts: "5"')},
      {job(2, "0.2", 'timeout: "500ms", when: { interval: "500ms" }, restarts: "5"')},
      {job(3, "2", 'timeout: "100ms", when: { interval: "500ms" }, restarts: "5"')},
      {job(4, "0", 'when: { interval: "1000ms" }')},
    ]"""
    p = pilot(v3(tmp_path, body))
    for n in (1, 2, 3):
        wait_for(lambda n=n: len(read_lines(tmp_path / f"task{n}.txt")) == 6, 15, message=f"{n}")
    wait_for(lambda: len(read_lines(tmp_path / "task4.txt")) > 1, 5, message="task4 again")
    wait_for(lambda: p.output.count("task3 timed out") == 6, 5, message="6 timeouts")
    assert p.output.count("task1 timed out") == p.output.count("task2 timed out") == 0
