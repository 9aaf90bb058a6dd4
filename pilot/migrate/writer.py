"""pilot.json5 text as the migration commands write it: comments first, then the data with
every object or list that fits on one line written on one line."""

from __future__ import annotations

import json
from typing import Any

WIDTH = 100


def json5_text(header: list[str], data: Any, escape_dollars: bool = True) -> str:
    """`header` as `//` comments, then `data` (each `$` doubled, as pilot.json5 reads `$$`)."""
    body = _dump(data, 0)
    if escape_dollars:
        body = body.replace("$", "$$")
    return "".join(f"// {line}\n" for line in header) + body + "\n"


def _dump(value: Any, indent: int, lead: int = 0) -> str:
    """`value` at `indent`, after `lead` characters already on its first line."""
    flat = _flat(value)
    if indent + lead + len(flat) <= WIDTH or not isinstance(value, dict | list) or not value:
        return flat
    pad = " " * (indent + 2)
    if isinstance(value, list):
        items = [pad + _dump(item, indent + 2) for item in value]
    else:
        items = [
            f"{pad}{_key(key)}: {_dump(item, indent + 2, len(_key(key)) + 2)}"
            for key, item in value.items()
        ]
    close = " " * indent + ("]" if isinstance(value, list) else "}")
    return ("[" if isinstance(value, list) else "{") + "\n" + ",\n".join(items) + ",\n" + close


def _flat(value: Any) -> str:
    if isinstance(value, dict):
        inner = ", ".join(f"{_key(key)}: {_flat(item)}" for key, item in value.items())
        return "{ " + inner + " }" if inner else "{}"
    if isinstance(value, list):
        return "[" + ", ".join(_flat(item) for item in value) + "]"
    return json.dumps(value, ensure_ascii=False)


def _key(key: str) -> str:
    return key if key.isidentifier() else json.dumps(key)
