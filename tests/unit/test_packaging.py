"""What a plain `pip install .` ships: every template under templates/ (used as `pilot:<path>`)."""

from __future__ import annotations

import tomllib

from tests.helpers import REPO


def test_every_shipped_template_is_installed() -> None:
    data_files = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"][
        "data-files"
    ]
    installed = {path for paths in data_files.values() for path in paths}
    on_disk = {
        str(path.relative_to(REPO)) for path in (REPO / "templates").rglob("*") if path.is_file()
    }
    assert on_disk <= installed, f"missing from [tool.setuptools.data-files]: {on_disk - installed}"
