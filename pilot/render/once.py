"""`pilot render`: every template rendered once from the live registry (consul-template's
-once and -dry)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from typing import IO, Any

from pilot.config.model import Config
from pilot.config.template_model import Template
from pilot.consul.api import ConsulAPI
from pilot.consul.calls import ConsulCalls
from pilot.consul.client import ConsulTarget, resolve_target
from pilot.consul.errors import describe
from pilot.consul.watch import Query, fetch
from pilot.health.checks import CheckResult
from pilot.log import Log
from pilot.render.language import MISSING, Lookups, TemplateLookupError, own_services
from pilot.render.output import replace_output
from pilot.render.renderer import base_dir, load_template

MAX_PASSES = 20  # nested lookups (services() then service(name)) need a pass per level


def render_once(config: Config, dry_run: bool, out: IO[str] = sys.stdout) -> int:
    """Render every template; print them (`dry_run`) or write those that changed and run their
    checks. Returns 0, or 1 when any template failed."""
    target = resolve_target(config.consul, os.environ, config.consul.listen)
    try:
        return asyncio.run(_render_with(target, config, dry_run, out))
    except Exception as error:  # the registry is unreachable or answered nonsense
        print(f"pilot: render failed: {describe(error, (target.token,))}", file=sys.stderr)
        return 1


async def _render_with(target: ConsulTarget, config: Config, dry_run: bool, out: IO[str]) -> int:
    # Warnings go nowhere: a failure ends the render with its own message.
    calls = ConsulCalls(target, Log(level="error"))
    try:
        return await _render_all(config, ConsulAPI(calls), dry_run, out)
    finally:
        await calls.close()


async def _render_all(config: Config, api: ConsulAPI, dry_run: bool, out: IO[str]) -> int:
    cache: dict[Query, Any] = {}
    failed = False
    for template in config.templates:
        compiled = load_template(template, config.path)
        try:
            text = await _evaluate(
                compiled, api, cache, base_dir(config.path), own_services(config)
            )
        except TemplateLookupError as error:
            print(f"pilot: template.{template.name}: {error}", file=sys.stderr)
            failed = True
            continue
        for name, count in template.min_instances:
            query = Query("service", name, (), None, True)
            if query not in cache:
                cache[query] = (await fetch(api, query))[1]
            if len(cache[query]) < count:
                print(
                    f"pilot: template.{template.name}: {name} has {len(cache[query])} of "
                    f"{count} instances, not rendered",
                    file=sys.stderr,
                )
                failed = True
                break
        else:
            if dry_run:
                out.write(f"> {template.dest}\n{text}")
            elif not await _write(template, text.encode("utf-8")):
                failed = True
    return 1 if failed else 0


async def _evaluate(
    compiled: Any, api: ConsulAPI, cache: dict[Query, Any], directory: str, own: frozenset[str]
) -> str:
    for _ in range(MAX_PASSES):
        lookups = Lookups(
            lambda query: cache.get(query, MISSING), os.environ, directory, own_services=own
        )
        text: str = compiled.render(**lookups.functions())
        if not lookups.missing:
            return text
        for query in lookups.missing:
            cache[query] = (await fetch(api, query))[1]
    raise TemplateLookupError("lookups still missing after many passes")


async def _write(template: Template, data: bytes) -> bool:
    outcome = await replace_output(template, data, _run_check)
    if outcome.error is not None:
        print(f"pilot: template.{template.name}: {outcome.error}", file=sys.stderr)
        return False
    return True


async def _run_check(argv: tuple[str, ...], timeout: float) -> CheckResult:
    # A one-shot command, not the supervisor: no reaper runs here, so subprocess may wait.
    try:
        result = subprocess.run(
            argv, capture_output=True, text=True, timeout=timeout, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return CheckResult(False, str(error))
    return CheckResult(result.returncode == 0, result.stdout + result.stderr)
