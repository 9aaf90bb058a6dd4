"""All the templates of one pilot."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from pilot.config.model import Config
from pilot.core.log import Log
from pilot.discovery.watch import WatchHub
from pilot.render.renderer import Actions, TemplateRunner, base_dir, load_template


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
        self.runners = {
            template.label: TemplateRunner(
                template,
                load_template(template, config.path),
                hub,
                actions,
                emit,
                log,
                environ,
                base_dir(config.path),
            )
            for template in config.templates
        }

    def start(self) -> None:
        for runner in self.runners.values():
            runner.start()

    def close(self) -> None:
        for runner in self.runners.values():
            runner.close()
