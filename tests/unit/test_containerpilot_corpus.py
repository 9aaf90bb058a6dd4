"""Every file of the shared ContainerPilot corpus, read by pilot as ContainerPilot 3.8.0 read it
(its VERDICTS.md: loaded or refused, with the same environment); the v2 files, which
ContainerPilot 3 no longer reads, are refused with the way out and converted by `pilot convert`.
The corpus holds other people's files, so it is not in this repository: PILOT_CP_CORPUS points
to it (default: the shared copy); without it these tests are skipped."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from pilot.config.errors import ConfigError
from pilot.config.load import parse_config
from pilot.config.model import CONTAINERPILOT
from pilot.migrate.convert import convert
from tests.cpparity.sandbox import ENVIRON  # the environment of VERDICTS.md's header

CORPUS = Path(os.environ.get("PILOT_CP_CORPUS", "/work/shared/corpus/containerpilot"))
VERDICTS = CORPUS / "VERDICTS.md"
# What the v2 files need besides to render a consul address and a watch name.
V2_ENVIRON = {**ENVIRON, "VAULT": "vault", "BACKEND": "app"}
pytestmark = pytest.mark.skipif(not VERDICTS.is_file(), reason=f"no corpus at {CORPUS}")


def verdicts() -> dict[str, tuple[str, str]]:
    """File name -> (loaded|refused, ContainerPilot's message)."""
    if not VERDICTS.is_file():
        return {}
    rows = re.findall(r"^\| `(.+?)` \| (loaded|refused) \| (.*?) *\|$", VERDICTS.read_text(), re.M)
    return {name: (verdict, message) for name, verdict, message in rows}


def files(dialect: str) -> list[str]:
    folder = CORPUS / dialect
    return sorted(path.name for path in folder.iterdir()) if folder.is_dir() else []


def read_as_containerpilot(path: Path, environ: dict[str, str]) -> tuple[str, list[str]]:
    """("loaded", warnings) or ("refused", errors), pilot's verdict on the file."""
    try:
        config = parse_config(path.read_text(), environ, "containerpilot.json5")
    except ConfigError as error:
        return "refused", [str(one) for one in error.errors]
    assert config.dialect == CONTAINERPILOT
    return "loaded", list(config.warnings)


def test_the_verdicts_cover_the_corpus() -> None:
    assert sorted(verdicts()) == files("v3") and len(files("v3")) == 40


@pytest.mark.parametrize("name", files("v3"))
def test_pilot_agrees_with_containerpilot(name: str) -> None:
    """Loaded where ContainerPilot 3.8.0 loaded it (warnings allowed), refused where it
    refused it: by a Go template error, a JSON5 syntax error or a check of its own."""
    expected, message = verdicts()[name]
    verdict, said = read_as_containerpilot(CORPUS / "v3" / name, ENVIRON)
    assert verdict == expected, (said, message)


@pytest.mark.parametrize(
    ("name", "warning"),
    [
        ("anl__docker-dnscrypt-proxy__etc__containerpilot.json5", "consul: 'consul' has no port"),
        ("DM848__srv-jenkins__containerpilot.json5", "jobs[0].health.ttl: 10s is not longer"),
        (
            "Smithx10__etcd__etc__containerpilot.json5",
            "jobs[0].when.source: 'consul-agent' names no job or watch",
        ),
        ("geek__redis__etc__containerpilot.json5", "jobs[4].when.source: is empty"),
    ],
)
def test_what_containerpilot_runs_but_should_not_is_a_placed_warning(
    name: str, warning: str
) -> None:
    verdict, said = read_as_containerpilot(CORPUS / "v3" / name, ENVIRON)
    assert verdict == "loaded" and any(line.startswith(warning) for line in said), said


@pytest.mark.parametrize("name", files("v2"))
def test_a_v2_file_is_refused_and_converts(name: str) -> None:
    """ContainerPilot 3 refuses v2's keys (unknown config keys); pilot says so, and `pilot
    convert` writes a pilot.json5 that pilot loads."""
    text = (CORPUS / "v2" / name).read_text()
    verdict, said = read_as_containerpilot(CORPUS / "v2" / name, V2_ENVIRON)
    assert verdict == "refused" and "pilot convert" in said[0]
    native = convert(text, V2_ENVIRON, "containerpilot.json", app=["/bin/app"])
    assert parse_config(native, V2_ENVIRON, "pilot.json5").jobs
