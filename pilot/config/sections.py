"""Composite kinds — lists, maps and nested sections — and the three walks over a section
dataclass: parse (collecting every error of the tree), dump, and JSON Schema."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from operator import itemgetter
from typing import Any, TypeVar

from pilot.config.errors import ConfigError, ConfigErrors
from pilot.config.kinds import MASK, Json, Kind, all_strings, typename

T = TypeVar("T")


class JsonObject(dict[str, Json]):
    """A parsed JSON5 object that remembers the keys it was given more than once."""

    duplicates: tuple[str, ...] = ()


def json_object(items: Iterable[tuple[str, Json]]) -> JsonObject:
    """`object_pairs_hook` for json5: the last value of a key wins, repeated keys are noted."""
    pairs = list(items)
    out = JsonObject(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        repeated: dict[str, None] = {}
        for key, _ in pairs:
            if key in seen:
                repeated[key] = None
            seen.add(key)
        out.duplicates = tuple(repeated)
    return out


def _repeated(value: dict[str, Json]) -> tuple[str, ...]:
    """The keys given more than once in the object `value`."""
    return getattr(value, "duplicates", ())


def _duplicate(place: str) -> ConfigError:
    return ConfigError(place, "duplicate key: given more than once in this object")


def _parse(kind: Kind, value: Json, place: str, errors: list[ConfigError]) -> tuple[bool, Any]:
    """Parse one value; on failure record its errors and return what could be built, if any."""
    try:
        return True, kind.parse(value, place)
    except ConfigErrors as error:
        errors.extend(error.errors)
        return error.partial is not None, error.partial
    except ConfigError as error:
        # Kept without its traceback, whose frames (holding `errors`) would make a cycle of
        # every error: a map of 75,000 wrong values cost the collector about a second.
        errors.append(error.with_traceback(None))
        return False, None


class ListOf(Kind):
    placeholder = ()

    def __init__(self, item: Kind, single_ok: bool = False) -> None:
        self.item, self.single_ok = item, single_ok

    def parse(self, value: Json, place: str) -> tuple[Any, ...]:
        if self.single_ok and not isinstance(value, list):
            value = [value]
        if not isinstance(value, list):
            raise ConfigError(place, f"must be a list, not {typename(value)}")
        errors: list[ConfigError] = []
        items = [_parse(self.item, item, f"{place}[{i}]", errors) for i, item in enumerate(value)]
        result = tuple(item for _, item in items)
        if errors:  # a list missing an item would mislead the checks across fields
            raise ConfigErrors(errors, result if all(ok for ok, _ in items) else None)
        return result

    def dump(self, value: Any) -> Json:
        return [self.item.dump(item) for item in value]

    def schema(self) -> dict[str, Json]:
        many: dict[str, Json] = {"type": "array", "items": self.item.schema()}
        return {"anyOf": [self.item.schema(), many]} if self.single_ok else many


class MapOf(Kind):
    """An object with free keys; values of one kind. Stored as a sorted tuple of pairs.
    `masked(key)` says which values `pilot validate` hides."""

    def __init__(
        self,
        value_kind: Kind,
        key_kind: Kind | None = None,
        masked: Callable[[str], bool] | None = None,
    ) -> None:
        self.value_kind, self.key_kind, self.masked = value_kind, key_kind, masked

    def parse(self, value: Json, place: str) -> tuple[tuple[Any, Any], ...]:
        if not isinstance(value, dict):
            raise ConfigError(place, f"must be an object, not {typename(value)}")
        bulk = self._parse_in_bulk(value)
        if bulk is not None:
            return bulk
        errors: list[ConfigError] = []
        pairs = []
        repeated = _repeated(value)
        for key, item in value.items():
            where = f"{place}.{key}"
            if key in repeated:
                errors.append(_duplicate(where))
            key_ok, parsed_key = (
                _parse(self.key_kind, key, where, errors) if self.key_kind else (True, key)
            )
            item_ok, parsed = _parse(self.value_kind, item, where, errors)
            if key_ok and item_ok:
                pairs.append((parsed_key, parsed))
        result = tuple(sorted(pairs, key=lambda pair: str(pair[0])))
        if errors:
            raise ConfigErrors(errors, result)
        return result

    def _parse_in_bulk(self, value: dict[str, Json]) -> tuple[tuple[Any, Any], ...] | None:
        """The parsed map when every key and value passes its kind's check over all at once
        and no key is repeated (a large `env` map: no place is built per entry); else None."""
        if _repeated(value):
            return None
        keys = list(value) if self.key_kind is None else self.key_kind.parse_all(list(value))
        items = self.value_kind.parse_all(list(value.values()))
        if keys is None or items is None or not all_strings(keys):
            return None
        return tuple(sorted(zip(keys, items, strict=True), key=itemgetter(0)))

    def dump(self, value: Any) -> Json:
        return {
            str(key): MASK if self.masked and self.masked(str(key)) else self.value_kind.dump(item)
            for key, item in value
        }

    def schema(self) -> dict[str, Json]:
        return {"type": "object", "additionalProperties": self.value_kind.schema()}


class Obj(Kind):
    """A nested section described by a frozen dataclass whose fields carry `setting` metadata."""

    def __init__(
        self, cls: type[Any], shorthand: Callable[[Json, str], Json] | None = None
    ) -> None:
        self.cls, self.shorthand = cls, shorthand

    def parse(self, value: Json, place: str) -> Any:
        if self.shorthand is not None and not isinstance(value, dict):
            value = self.shorthand(value, place)
        return parse_section(self.cls, value, place)

    def dump(self, value: Any) -> Json:
        return dump_section(value)

    def schema(self) -> dict[str, Json]:
        return section_schema(self.cls)


def fields_of(cls: type[Any]) -> list[dataclasses.Field[Any]]:
    """The config fields of a section dataclass (those with a kind)."""
    return list(_fields_by_name(cls).values())


_FIELDS: dict[type[Any], dict[str, dataclasses.Field[Any]]] = {}
_REQUIRED: dict[type[Any], tuple[str, ...]] = {}


def _fields_by_name(cls: type[Any]) -> dict[str, dataclasses.Field[Any]]:
    """The config fields of `cls` by name, worked out once per class (a config may hold
    thousands of jobs)."""
    known = _FIELDS.get(cls)
    if known is None:
        known = _FIELDS[cls] = {f.name: f for f in dataclasses.fields(cls) if "kind" in f.metadata}
        _REQUIRED[cls] = tuple(name for name, f in known.items() if _required(f))
    return known


def _required(f: dataclasses.Field[Any]) -> bool:
    return f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING


def parse_section(cls: type[T], value: Json, place: str) -> T:
    """Build dataclass `cls` from a JSON object, naming `place` in every error.

    Raises:
        ConfigError: every problem of the object and what it holds, in the order of the file
            (a ConfigErrors when there are several, or when a partial section could be built).
    """
    if not isinstance(value, dict):
        raise ConfigError(place, f"must be an object, not {typename(value)}")
    known = _fields_by_name(cls)
    errors: list[ConfigError] = []
    kwargs = {}
    complete = True
    repeated = _repeated(value)
    for key, item in value.items():
        if key in repeated:
            errors.append(_duplicate(_join(place, str(key))))
        f = known.get(key)
        if f is None:
            import difflib  # only for a mistake

            close = difflib.get_close_matches(str(key), list(known), n=1, cutoff=0.6)
            hint = (
                f' (did you mean "{close[0]}"?)' if close else f" (known keys: {', '.join(known)})"
            )
            errors.append(ConfigError(_join(place, str(key)), f"unknown key{hint}"))
            continue
        ok, parsed = _parse(f.metadata["kind"], item, _join(place, key), errors)
        if ok:
            kwargs[key] = parsed
        elif _required(f):
            complete = _stand_in(f, kwargs) and complete
    for name in _REQUIRED[cls]:
        if name not in value:
            errors.append(ConfigError(_join(place, name), "is required"))
            complete = _stand_in(known[name], kwargs) and complete
    if errors:
        raise ConfigErrors(errors, cls(**kwargs) if complete else None)
    return cls(**kwargs)


def _stand_in(f: dataclasses.Field[Any], kwargs: dict[str, Any]) -> bool:
    """Put the kind's placeholder for a required field that failed; False when it has none."""
    placeholder = f.metadata["kind"].placeholder
    if placeholder is None:
        return False
    kwargs[f.name] = placeholder
    return True


def dump_section(value: Any) -> dict[str, Json]:
    """The normalised JSON form of a section: defaults filled in, unset optional values left out,
    secrets masked, durations with units."""
    out = {}
    for f in fields_of(type(value)):
        item = getattr(value, f.name)
        if item is not None:
            out[f.name] = f.metadata["kind"].dump(item)
    return out


def section_schema(cls: type[Any]) -> dict[str, Json]:
    """JSON Schema of a section dataclass."""
    properties = {}
    required = []
    for f in fields_of(cls):
        properties[f.name] = {**f.metadata["kind"].schema(), "description": f.metadata["doc"]}
        if _required(f):
            required.append(f.name)
    out: dict[str, Json] = {
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
    }
    if required:
        out["required"] = required
    if cls.__doc__:
        out["description"] = cls.__doc__.strip().splitlines()[0]
    return out


def _join(place: str, key: str) -> str:
    return f"{place}.{key}" if place else key
