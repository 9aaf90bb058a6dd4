"""What the distribution ships: the shipped templates as package data of `pilot.templates`."""

from __future__ import annotations

import subprocess
import sys
import tomllib

from pilot.templates import shipped_template
from tests.helpers import REPO

PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
TEMPLATES = REPO / "pilot" / "templates"


def test_every_shipped_template_is_package_data() -> None:
    """Every file under pilot/templates/ matches a package-data pattern of pilot.templates."""
    patterns = PYPROJECT["tool"]["setuptools"]["package-data"]["pilot.templates"]
    on_disk = {
        path
        for path in TEMPLATES.rglob("*")
        if path.is_file() and path.suffix not in (".py", ".pyc")
    }
    assert on_disk, "no shipped template found"
    matched = {path for pattern in patterns for path in TEMPLATES.glob(pattern)}
    assert on_disk <= matched, f"not in [tool.setuptools.package-data]: {on_disk - matched}"


def test_shipped_template_names_a_file_of_the_package() -> None:
    """`pilot:nginx/site.conf.j2` resolves to the file inside the imported package."""
    path = shipped_template("nginx/site.conf.j2")
    assert path == str(TEMPLATES / "nginx" / "site.conf.j2")


def test_distribution_name_and_command() -> None:
    """The distribution is `pilot-supervisor`; its command and import package stay `pilot`
    (`containerpilot` is its ContainerPilot-compatible command)."""
    project = PYPROJECT["project"]
    assert project["name"] == "pilot-supervisor"
    assert project["scripts"] == {
        "pilot": "pilot.cli:main",
        "containerpilot": "pilot.containerpilot_cli:main",
    }
    assert "data-files" not in PYPROJECT["tool"]["setuptools"]


def test_importing_pilot_reads_no_package_metadata() -> None:
    """No module of `pilot run` imports importlib.metadata (15-20 ms of every start) until
    `pilot.__version__` is asked for (devconsul's DNS is left out: dnspython reads it)."""
    code = (
        "import importlib, pkgutil, sys, pilot\n"
        "for module in pkgutil.walk_packages(pilot.__path__, 'pilot.'):\n"
        "    if not module.name.endswith('__main__') and '.devconsul' not in module.name:\n"
        "        importlib.import_module(module.name)\n"
        "loaded = 'importlib.metadata' in sys.modules\n"
        "print(loaded, pilot.__version__, 'importlib.metadata' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True
    )
    version = PYPROJECT["project"]["version"]
    assert result.stdout.split() == ["False", version, "True"], result.stdout
