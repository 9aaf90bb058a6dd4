"""All the templates of one pilot."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from pilot.config.model import Config
from pilot.config.template_model import Template
from pilot.consul.watch import WatchHub
from pilot.log import Log
from pilot.render.language import own_services
from pilot.render.renderer import (
    Actions,
    TemplateRunner,
    TemplateStatus,
    base_dir,
    load_template,
)


class Templates:
    """Starts one TemplateRunner per configured template, sharing the watch hub's long polls."""

    def __init__(
        self,
        config: Config,
        hub: WatchHub,
        actions: Actions,
        emit: Callable[[str, str], object],
        log: Log,
        environ: Mapping[str, str],
    ) -> None:
        self._hub, self._actions, self._emit = hub, actions, emit
        self._log, self._environ = log, environ
        self._sources: dict[str, str] = {}
        self._own_services = own_services(config)
        self.runners = {t.name: self._runner(t, config.path) for t in config.templates}

    def start(self) -> None:
        """Start rendering every template."""
        for runner in self.runners.values():
            runner.start()

    def statuses(self) -> tuple[TemplateStatus, ...]:
        """A snapshot of every template."""
        return tuple(runner.status() for runner in self.runners.values())

    def close(self) -> None:
        """Stop every runner."""
        for runner in self.runners.values():
            runner.close()

    def reconfigure(self, config: Config, replaced: frozenset[str]) -> None:
        """After a reload: drop the `replaced` templates (removed or changed, the reload
        plan's) and those whose source text changed; start the new and changed ones."""
        self._own_services = own_services(config)
        wanted = {t.name: t for t in config.templates}
        for label, runner in list(self.runners.items()):
            template = wanted.get(label)
            if (
                template is None
                or label in replaced
                or (_source_text(template, config.path) != self._sources.get(label))
            ):
                runner.close()
                del self.runners[label]
        for label, template in wanted.items():
            if label not in self.runners:
                self.runners[label] = self._runner(template, config.path)
                self.runners[label].start()

    def _runner(self, template: Template, config_path: str) -> TemplateRunner:
        runner = TemplateRunner(
            template,
            load_template(template, config_path),
            self._hub,
            self._actions,
            self._emit,
            self._log,
            self._environ,
            base_dir(config_path),
            self._own_services,
        )
        self._sources[template.name] = _source_text(template, config_path)
        return runner


def _source_text(template: Template, config_path: str) -> str:
    """What the template says now: a reload re-reads source files, as consul-template does."""
    if template.contents is not None:
        return template.contents
    from pilot.render.sources import source_path

    with open(source_path(template, config_path), encoding="utf-8") as file:
        return file.read()
