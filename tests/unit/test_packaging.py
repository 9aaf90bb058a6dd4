"""What the distribution ships: the shipped templates and the monitor page as package data."""

from __future__ import annotations

import subprocess
import sys
import tomllib

import pytest

from pilot.templates import shipped_template
from tests.helpers import REPO

PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
TEMPLATES = REPO / "pilot" / "templates"


@pytest.mark.parametrize("package", ["pilot.templates", "pilot.traffic"])
def test_every_data_file_is_package_data(package: str) -> None:
    """Every file of the package that is not Python (the shipped templates, the monitor page)
    matches one of its package-data patterns, so the wheel carries it."""
    patterns = PYPROJECT["tool"]["setuptools"]["package-data"][package]
    folder = REPO.joinpath(*package.split("."))
    on_disk = {
        path
        for path in folder.rglob("*")
        if path.is_file() and path.suffix not in (".py", ".pyc") and "__pycache__" not in path.parts
    }
    assert on_disk, f"no data file found in {package}"
    matched = {path for pattern in patterns for path in folder.glob(pattern)}
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
        "pilot": "pilot.cli.pilot:main",
        "containerpilot": "pilot.cli.containerpilot:main",
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
