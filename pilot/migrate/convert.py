"""`pilot convert`: a ContainerPilot config written as pilot.json5. Template actions that only
read a variable (`{{ .VAR }}`, `{{ .VAR | default "x" }}`, `{{ env "VAR" }}`) inside a string
become `${VAR:-default}`; anything else is rendered with the current environment, and the
output says so."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pilot.config.containerpilot.keys import V2_KEYS
from pilot.config.containerpilot.v2 import v2_to_v3
from pilot.config.containerpilot.v3 import translate
from pilot.config.durations import format_duration, parse_duration
from pilot.config.errors import ConfigError
from pilot.gotemplate.execute import FUNCTIONS, place
from pilot.gotemplate.parse import (
    Block,
    Node,
    Operand,
    Pipeline,
    TemplateError,
    parse,
)
from pilot.migrate.main_job import main_job
from pilot.migrate.writer import json5_text

_MARK = "zpilotvar{}z"  # stands for a ${VAR:-default} while the data is translated
_MARKS = re.compile(r"zpilotvar(\d+)z")
Notes = list[tuple[str, str]]
_DROPPED = ("service_id", "restart_on")  # pilot's defaults do it, or the host names it


def convert(
    text: str, environ: Mapping[str, str], filename: str, app: list[str] | None = None
) -> str:
    """pilot.json5 text for the ContainerPilot config `text` (v3, or v2 with `app` the command
    it ran as its main process).

    Raises:
        ConfigError: the file is not a config ContainerPilot would read.
    """
    from pilot.config.load import parse_config

    variables: list[str] = []
    originals: list[str] = []
    notes: list[tuple[str, str]] = []
    marked = _mark_variables(text, variables, originals, notes, filename)
    if not variables:
        return _convert(text, environ, filename, app, notes, [])
    for _ in range(len(variables)):
        try:
            output = _convert(marked, environ, filename, app, notes, variables)
            parse_config(output, environ, "pilot.json5")
            return output
        except ConfigError as error:
            # A variable where ContainerPilot reads a number, a level, a name...: render it.
            culprits = {int(n) for n in _MARKS.findall(str(error))}
            if not culprits:
                break
            for n in culprits:
                marked = marked.replace(_MARK.format(n), originals[n])
                notes.append((variables[n], "rendered with the current environment"))
    notes = [(f, what) for f, what in notes if not what.startswith("rendered")]
    notes.append((filename, "every template action was rendered with the current environment"))
    return _convert(text, environ, filename, app, notes, [])


def _convert(
    text: str,
    environ: Mapping[str, str],
    filename: str,
    app: list[str] | None,
    notes: list[tuple[str, str]],
    variables: list[str],
) -> str:
    from pilot.config.containerpilot.detect import parse_rendered

    raw = parse_rendered(text, environ, filename)
    notes = list(notes)
    if any(key in raw for key in V2_KEYS):
        raw, more = v2_to_v3(raw, app)
        notes += more
    translation = translate(raw)
    notes += translation.notes
    native = translation.native
    if isinstance(raw.get("consul"), str) and _MARKS.search(raw["consul"]):
        native["consul"] = raw["consul"]  # the port comes with the variable's value
        translation.warnings = [w for w in translation.warnings if w[0] != "consul"]
    notes += translation.warnings
    notes += _without_silent_jobs(native, set(translation.settings["silent_sources"]), filename)
    notes += _longer_ttls(native)
    notes += _choose_main(native)
    for section in [*native.get("jobs", []), native.get("telemetry", {})]:
        for key in _DROPPED:
            section.pop(key, None)
    for job in native.get("jobs", []):
        if job.get("service") == job["name"]:
            del job["service"]
        if job.get("tags") == []:
            del job["tags"]
        if job.get("stop") == {"signal": "SIGTERM", "timeout": f"{native['stop_timeout']}s"}:
            job["stop"] = {"timeout": job["stop"]["timeout"]}
    header = [f"pilot.json5 converted from {filename} (ContainerPilot)"]
    header += [f"{where}: {what}" for where, what in notes]
    output = json5_text(header, native)
    return _MARKS.sub(lambda m: variables[int(m.group(1))], output)


def _without_silent_jobs(native: dict[str, Any], silent: set[str], filename: str) -> Notes:
    """Leave out the jobs ContainerPilot never starts (their source emits nothing), which
    pilot.json5 cannot say.

    Raises:
        ConfigError: no job is left, or one waits for a job left out.
    """
    jobs = native.get("jobs", [])
    never = [job for job in jobs if job.get("when", {}).get("source") in silent]
    if not never:
        return []
    gone = {job["name"] for job in never}
    kept = [job for job in jobs if job not in never]
    for job in kept:
        if job.get("when", {}).get("source") in gone:
            raise ConfigError(
                filename,
                f"job {job['name']!r} waits for {job['when']['source']!r}, which never starts: "
                "pilot.json5 cannot say that; remove or fix those jobs and convert again",
            )
    if not kept:
        raise ConfigError(filename, "no job would ever start: nothing to convert")
    native["jobs"] = kept
    return [
        (f"job {name!r}", "never starts (its when.source emits nothing): left out")
        for name in sorted(gone)
    ]


def _choose_main(native: dict[str, Any]) -> Notes:
    """Mark the main job, which ContainerPilot has not: it ran until every job was over."""
    chosen = main_job(native.get("jobs", []))
    if chosen is None:
        return []
    chosen["main"] = True
    return [
        (
            f"job {chosen['name']!r}",
            "main: pilot exits when it is over (ContainerPilot ran until every job was)",
        )
    ]


def _longer_ttls(native: dict[str, Any]) -> Notes:
    """A health ttl no longer than its interval, which pilot.json5 refuses, raised to one
    second more."""
    notes: Notes = []
    for job in native.get("jobs", []):
        health = job.get("health")
        if health and parse_duration(health["ttl"]) <= parse_duration(health["interval"]):
            health["ttl"] = format_duration(parse_duration(health["interval"]) + 1)
            notes.append((f"job {job['name']!r}", f"health ttl raised to {health['ttl']}"))
    return notes


def _mark_variables(
    text: str,
    variables: list[str],
    originals: list[str],
    notes: list[tuple[str, str]],
    filename: str,
) -> str:
    """`text` with each variable-only action inside a JSON string replaced by a mark (its
    `${...}` in `variables`, its action in `originals`); other actions are left to be
    rendered, and noted."""
    out: list[str] = []
    quote: str | None = None
    offset = 0
    try:
        nodes = parse(text, FUNCTIONS)
    except TemplateError as error:
        raise ConfigError(place(text, error.offset, filename), error.message) from None
    for node in nodes:
        if isinstance(node, str):
            out.append(node)
            quote = _quote_after(node, quote)
            offset += len(node)
            continue
        reference = _reference(node)
        where = place(text, text.rfind("{{", 0, node.offset), filename)
        if quote is not None and reference is not None:
            out.append(_MARK.format(len(variables)))
            variables.append(reference)
            originals.append(_source_of(text, node))
            continue
        notes.append((where, "rendered with the current environment"))
        out.append(_source_of(text, node))
    return "".join(out)


def _reference(node: Node) -> str | None:
    """`${VAR:-default}` for `.VAR`, `.VAR | default "x"` and `env "VAR"`, else None."""
    if not isinstance(node, Pipeline) or node.variables:
        return None
    commands = node.commands
    name: str | None = None
    head = commands[0]
    if len(head) == 1 and head[0].kind == "field" and len(head[0].fields) == 1:
        name = head[0].fields[0]
    elif _call(head, "env") and len(head) == 2 and head[1].kind == "literal":
        name = str(head[1].value)
    if name is None or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        return None
    if len(commands) == 1:
        return f"${{{name}:-}}"
    tail = commands[1]
    if len(commands) == 2 and _call(tail, "default") and len(tail) == 2:
        default = tail[1].value
        if tail[1].kind == "literal" and isinstance(default, str) and "}" not in default:
            return f"${{{name}:-{default.replace('$', '$$')}}}"
    return None


def _call(command: list[Operand], function: str) -> bool:
    return command[0].kind == "ident" and command[0].value == function


def _source_of(text: str, node: Pipeline | Block) -> str:
    """The whole action or block of `node`, from its `{{` to the `}}` that closes it."""
    start = text.rfind("{{", 0, node.offset)
    if isinstance(node, Pipeline):
        return text[start : text.index("}}", node.offset) + 2]
    depth, pos = 0, start
    for match in re.finditer(r"\{\{-?\s*(if|range|with|end)\b", text[start:]):
        depth += 1 if match.group(1) != "end" else -1
        if depth == 0:
            pos = start + match.end()
            break
    return text[start : text.index("}}", pos) + 2]


def _quote_after(chunk: str, quote: str | None) -> str | None:
    """Whether a JSON5 string is open after `chunk` (and with which quote)."""
    i = 0
    while i < len(chunk):
        char = chunk[i]
        if quote is None and char in "\"'":
            quote = char
        elif quote is not None and char == "\\":
            i += 1
        elif quote is not None and char == quote:
            quote = None
        i += 1
    return quote
