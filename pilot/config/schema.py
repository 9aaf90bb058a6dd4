"""The JSON Schema of pilot.json5, generated from the model so it cannot drift from validation."""

from __future__ import annotations

from pilot.config.kinds import Json
from pilot.config.model import Config
from pilot.config.sections import section_schema


def config_schema() -> dict[str, Json]:
    """JSON Schema (draft 2020-12) for editors."""
    schema = section_schema(Config)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "pilot.json5",
        **schema,
    }
