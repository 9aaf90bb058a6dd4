"""`@section` behaves as `@dataclass(frozen=True)` does for the config's sections."""

from __future__ import annotations

import dataclasses

import pytest

from pilot.config.frozen import section
from pilot.config.model import Config, JobConfig, Stop


@section(kw_only=True)
class Base:
    tag: str = "t"


@section
class Point(Base):
    x: int
    y: int = 2
    items: tuple[int, ...] = dataclasses.field(default_factory=tuple)
    note: str = dataclasses.field(default="", compare=False)


@section
class Named:
    name: str = ""

    def __post_init__(self) -> None:
        if not self.name:
            object.__setattr__(self, "name", "default")


def test_init_defaults_and_keywords_only_fields() -> None:
    assert Point(1) == Point(x=1, y=2, items=(), tag="t")
    assert Point(1, 3, tag="u").tag == "u"
    with pytest.raises(TypeError, match="missing required argument: 'x'"):
        Point()  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="unexpected keyword argument 'z'"):
        Point(1, z=3)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="multiple values"):
        Point(1, x=1)  # type: ignore[misc]
    with pytest.raises(TypeError, match="positional"):
        Point(1, 2, (), "n", "extra")  # type: ignore[call-arg]


def test_frozen_eq_hash_repr() -> None:
    point = Point(1, note="a")
    with pytest.raises(dataclasses.FrozenInstanceError):
        point.x = 2  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        del point.x
    assert point == Point(1, note="b")  # compare=False fields do not count
    assert hash(point) == hash(Point(1, note="b"))
    assert point != Point(2)
    assert point.__eq__(Named()) is NotImplemented
    assert repr(point) == "Point(tag='t', x=1, y=2, items=(), note='a')"


def test_fields_replace_and_post_init() -> None:
    assert [f.name for f in dataclasses.fields(Point)] == ["tag", "x", "y", "items", "note"]
    assert dataclasses.replace(Point(1), y=5) == Point(1, 5)
    assert Named().name == "default"
    assert dataclasses.is_dataclass(Stop())


def test_the_config_model_is_unchanged_in_use() -> None:
    job = JobConfig(name="a", exec=("true",))
    config = Config(jobs=(job,))
    assert config.main_job is job
    assert {config: 1}[Config(jobs=(JobConfig(name="a", exec=("true",)),))] == 1
    assert dataclasses.replace(config, path="/x") == config  # path is compare=False
    assert job.stop == Stop(15, 10.0)
