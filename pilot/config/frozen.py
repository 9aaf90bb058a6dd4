"""`@section`: a frozen dataclass for the config's sections, cheap to define.

`@dataclass(frozen=True)` writes and compiles six methods per class (`__init__`, `__repr__`,
`__eq__`, `__hash__`, `__setattr__`, `__delattr__`): most of what importing the config model
cost, on every start. A section gets the same fields, defaults, `dataclasses.fields` and
`dataclasses.replace`, but shares generic methods that read the fields at run time, so that
defining one compiles nothing; configs are built a few times per run, where that reading costs
microseconds.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, TypeVar, dataclass_transform, overload

T = TypeVar("T")
_MISSING = dataclasses.MISSING


@overload
def section(cls: type[T], /) -> type[T]: ...
@overload
def section(*, kw_only: bool = False) -> Callable[[type[T]], type[T]]: ...


@dataclass_transform(frozen_default=True, field_specifiers=(dataclasses.field,))
def section(cls: type[T] | None = None, /, *, kw_only: bool = False) -> Any:
    """Make `cls` a frozen dataclass: `@section`, or `@section(kw_only=True)`. A section may
    inherit from a section (not from, or to, a dataclass made by `@dataclass`)."""

    def wrap(cls: type[T]) -> type[T]:
        dataclasses.dataclass(cls, init=False, repr=False, eq=False, kw_only=kw_only)
        for name, method in _METHODS.items():
            setattr(cls, name, method)
        return cls

    return wrap if cls is None else wrap(cls)


class _Layout:
    """A section class's fields as the generic methods use them (worked out once per class)."""

    def __init__(self, cls: type[Any]) -> None:
        fields = [f for f in dataclasses.fields(cls) if f.init]
        self.positional = [f for f in fields if not f.kw_only]
        self.by_name = {f.name: f for f in fields}
        self.repr = [f.name for f in dataclasses.fields(cls) if f.repr]
        self.compare = [f.name for f in dataclasses.fields(cls) if f.compare]
        self.hash = [
            f.name for f in dataclasses.fields(cls) if (f.hash if f.hash is not None else f.compare)
        ]
        self.post_init: Callable[[Any], None] | None = getattr(cls, "__post_init__", None)
        # Every field in order, with its default (MISSING where a factory or the caller must
        # give the value): an instance's attributes are this, updated, in one step.
        self.template = {f.name: f.default for f in fields}
        self.factories = [
            (f.name, f.default_factory) for f in fields if f.default_factory is not _MISSING
        ]
        self.required = [
            f.name for f in fields if f.default is _MISSING and f.default_factory is _MISSING
        ]


_LAYOUTS: dict[type[Any], _Layout] = {}


def _layout(cls: type[Any]) -> _Layout:
    layout = _LAYOUTS.get(cls)
    if layout is None:
        layout = _LAYOUTS[cls] = _Layout(cls)
    return layout


def _init(self: Any, *args: Any, **kwargs: Any) -> None:
    cls = type(self)
    layout = _layout(cls)
    if len(args) > len(layout.positional):
        raise TypeError(
            f"{cls.__name__}() takes {len(layout.positional)} positional arguments "
            f"but {len(args)} were given"
        )
    for f, value in zip(layout.positional, args, strict=False):
        if f.name in kwargs:
            raise TypeError(f"{cls.__name__}() got multiple values for argument {f.name!r}")
        kwargs[f.name] = value
    unknown = kwargs.keys() - layout.by_name.keys()
    if unknown:
        raise TypeError(f"{cls.__name__}() got an unexpected keyword argument {min(unknown)!r}")
    for name in layout.required:
        if name not in kwargs:
            raise TypeError(f"{cls.__name__}() missing required argument: {name!r}")
    values = layout.template.copy()
    values.update(kwargs)
    for name, factory in layout.factories:
        if name not in kwargs:
            values[name] = factory()
    self.__dict__.update(values)  # as object.__setattr__ would (no field is a descriptor)
    if layout.post_init is not None:
        layout.post_init(self)


def _repr(self: Any) -> str:
    parts = ", ".join(f"{name}={getattr(self, name)!r}" for name in _layout(type(self)).repr)
    return f"{type(self).__qualname__}({parts})"


def _values(self: Any, names: list[str]) -> tuple[Any, ...]:
    return tuple(getattr(self, name) for name in names)


def _eq(self: Any, other: object) -> Any:  # a bool, or NotImplemented
    if other.__class__ is not self.__class__:
        return NotImplemented
    names = _layout(type(self)).compare
    return _values(self, names) == _values(other, names)


def _hash(self: Any) -> int:
    return hash(_values(self, _layout(type(self)).hash))


def _setattr(self: Any, name: str, value: Any) -> None:
    raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")


def _delattr(self: Any, name: str) -> None:
    raise dataclasses.FrozenInstanceError(f"cannot delete field {name!r}")


_METHODS: dict[str, Callable[..., Any]] = {
    "__init__": _init,
    "__repr__": _repr,
    "__eq__": _eq,
    "__hash__": _hash,
    "__setattr__": _setattr,
    "__delattr__": _delattr,
}
