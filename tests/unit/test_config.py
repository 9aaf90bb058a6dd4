"""Config loading: substitution, JSON5, validation, and the place named in every error."""

from __future__ import annotations

import contextlib
import math
import signal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pilot.config.errors import ConfigError
from pilot.config.load import parse_config
from pilot.config.substitute import substitute

ENV = {"PORT": "8080", "EMPTY": "", "NAME": "web"}


def load(text: str, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return parse_config(text, ENV if env is None else env, "pilot.json5")


def error_of(text: str, env: dict[str, str] | None = None) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load(text, env)
    return info.value


def test_minimal_config_gets_defaults() -> None:
    """A one-job config is valid and its job gets the documented defaults."""
    config = load('{jobs: [{name: "app", exec: "app --port 1"}]}')
    job = config.main_job
    assert job.argv == ("app", "--port", "1")
    assert job.stop.signal == signal.SIGTERM and job.stop.timeout == 10
    assert job.max_restarts == 0 and job.restart_on == "always"
    assert job.when.source == "global" and job.when.once == ("startup",)
    assert config.stop_timeout == 9


def test_shell_and_list_forms_of_exec() -> None:
    """exec as a list is argv; a string is split like a shell; shell: true runs /bin/sh -c."""
    config = load("""{jobs: [
        {name: "a", main: true, exec: ["echo", "a b"]},
        {name: "b", exec: "echo 'a b' c"},
        {name: "c", exec: "echo $HOME | wc", shell: true}]}""")
    assert config.job("a").argv == ("echo", "a b")
    assert config.job("b").argv == ("echo", "a b", "c")
    assert config.job("c").argv == ("/bin/sh", "-c", "echo $HOME | wc")


def test_substitution_forms() -> None:
    """${VAR}, ${VAR:-default} (also for empty values) and $$ are substituted."""
    text = '"${PORT} ${MISSING:-x} ${EMPTY:-d} ${NAME:-n} $$HOME $1"'
    assert substitute(text, ENV) == '"8080 x d web $HOME $1"'
    assert substitute("{port: ${PORT}}", ENV) == "{port: 8080}"


@pytest.mark.parametrize(
    "value",
    ["${OTHER}", "$${OTHER}", 'a", "b', "a\\nb", "\\u0041", "line\nbreak", "it's", "back\\"],
)
def test_what_substitution_inserts_is_literal(value: str) -> None:
    """An environment value reaches the config as it is, whatever it holds: a `${OTHER}` in it
    is not expanded, and quotes, backslashes and newlines are not JSON5 syntax."""
    environ = {"A": value, "OTHER": "expanded"}
    text = """{jobs: [{name: "a", exec: ["echo", "${A}", '${A}'], env: {X: "${A}"}}]}"""
    config = load(text, environ)
    assert config.main_job.argv == ("echo", value, value)
    assert dict(config.main_job.env)["X"] == value


def test_outside_quotes_only_a_scalar_is_inserted() -> None:
    """A bare `${VAR}` takes a number, true, false or null; anything else would be JSON5 syntax,
    so it is an error that says to quote it."""
    text = '{jobs: [{name: "a", exec: "x", restarts: ${N}}]}'
    assert load(text, {"N": "3"}).main_job.max_restarts == 3
    message = str(error_of(text, {"N": '3, exec: "evil"'}))
    assert message.startswith("pilot.json5:1:42: ${N} is outside quotes"), message
    assert "quote it" in message


def test_comments_are_not_substituted() -> None:
    """A `${VAR}` in a comment is left alone, even unset."""
    config = load('{jobs: [{name: "a", exec: "x"}]} // ${UNSET} /* ${NOR_THIS} */', {})
    assert config.main_job.argv == ("x",)


def test_substituted_number_is_accepted_where_an_integer_is_expected() -> None:
    """A variable holding digits works for an integer field."""
    config = load('{jobs: [{name: "a", exec: "x", success_codes: ["${PORT:-0}"]}]}', {})
    assert config.main_job.success_codes == (0,)


def test_braces_for_templates_are_left_alone() -> None:
    """{{ }} in a value is not touched at load time."""
    config = load('{jobs: [{name: "a", exec: "echo {{ name }}"}]}')
    assert config.main_job.argv == ("echo", "{{", "name", "}}")


def test_syntax_error_names_line_and_column() -> None:
    """A JSON5 syntax error is placed as file:line:column of the offending character."""
    text = '{\n  jobs: [\n    {name: "a" exec: "x"}]}'
    column = text.splitlines()[2].index("exec") + 1  # the missing comma is noticed at "exec"
    error = error_of(text)
    assert column == 16
    assert error.place == f"pilot.json5:3:{column}"
    assert error.message == 'syntax error: Unexpected "e"'


def test_unknown_key_suggests_the_right_one() -> None:
    """An unknown key is named with its path and a did-you-mean."""
    error = error_of('{jobs: [{name: "a", exec: "x", stop: {timout: "1s"}}]}')
    assert error.place == "jobs[0].stop.timout"
    assert 'did you mean "timeout"' in error.message


def test_unknown_top_level_key() -> None:
    """Unknown top-level keys are errors too."""
    assert error_of('{jobs: [{name: "a", exec: "x"}], jbos: []}').place == "jbos"


def test_wrong_type() -> None:
    """A value of the wrong type names its place and the expected type."""
    error = error_of('{jobs: [{name: "a", exec: "x", main: "yes"}]}')
    assert error.place == "jobs[0].main" and "true or false" in error.message


def test_bad_duration() -> None:
    """A duration without a valid unit is rejected with an example."""
    error = error_of(
        '{jobs: [{name: "a", exec: "x"}, {name: "b", main: true, exec: "y", '
        'when: {interval: "5 parsecs"}}]}'
    )
    assert error.place == "jobs[1].when.interval"
    assert 'duration like "5s"' in error.message


def test_bad_signal_name() -> None:
    """A signal that does not exist is rejected."""
    error = error_of('{jobs: [{name: "a", exec: "x", stop: {signal: "SIGNOPE"}}]}')
    assert error.place == "jobs[0].stop.signal"


def test_signal_names_with_and_without_prefix() -> None:
    """ "QUIT" and "SIGQUIT" are the same signal."""
    config = load('{jobs: [{name: "a", exec: "x", stop: {signal: "QUIT"}, forward: ["sighup"]}]}')
    assert config.main_job.stop.signal == signal.SIGQUIT
    assert config.main_job.forward == (signal.SIGHUP,)


def test_duplicate_job_name() -> None:
    """Two jobs cannot share a name."""
    error = error_of('{jobs: [{name: "a", exec: "x", main: true}, {name: "a", exec: "y"}]}')
    assert error.place == "jobs[1].name" and "duplicate" in error.message


def test_unset_variable_is_placed() -> None:
    """An unset variable without default names itself and its line:column."""
    error = error_of('{jobs: [\n{name: "a", exec: "${NOT_SET}"}]}', {})
    assert error.place == "pilot.json5:2:20"
    assert "NOT_SET" in error.message


def test_ambiguous_main_job() -> None:
    """Several jobs and none marked main is rejected asking for main: true."""
    error = error_of('{jobs: [{name: "a", exec: "x"}, {name: "b", exec: "y"}]}')
    assert error.place == "jobs" and "main: true" in error.message


def test_two_main_jobs() -> None:
    """Only one job may be main."""
    error = error_of(
        '{jobs: [{name: "a", exec: "x", main: true}, {name: "b", exec: "y", main: true}]}'
    )
    assert error.place == "jobs[1].main"


def test_unknown_event_source_and_code() -> None:
    """`when` must name a known source and one of its codes."""
    assert (
        error_of('{jobs: [{name: "a", exec: "x", when: {source: "nope", once: "startup"}}]}').place
        == "jobs[0].when.source"
    )
    assert (
        error_of(
            '{jobs: [{name: "a", exec: "x", when: {source: "global", once: "exitSuccess"}}]}'
        ).place
        == "jobs[0].when.once"
    )


def test_when_accepts_any_of_several_codes() -> None:
    """`once`/`each` take one code or a list (any of them); a bad code is placed by index."""
    config = parse_config(
        '{consul: "127.0.0.1:8500", jobs: [{name: "a", exec: "x", main: true, leader: {key: "k"}},'
        ' {name: "b", exec: "y", when: {source: "a", once: ["elected", "following"]}}]}',
        {},
    )
    assert config.jobs[1].when.codes == ("elected", "following")
    error = error_of(
        '{jobs: [{name: "a", exec: "x", main: true}, {name: "b", exec: "y",'
        ' when: {source: "a", each: ["exitFailed", "sideways"]}}]}'
    )
    assert error.place == "jobs[1].when.each[1]" and "'sideways'" in error.message
    assert (
        error_of('{jobs: [{name: "a", exec: "x", when: {source: "global", once: []}}]}').place
        == "jobs[0].when.once"
    )


def test_restarts_forms() -> None:
    """restarts accepts never, unlimited and counts; periodic jobs default to unlimited."""
    config = load("""{jobs: [
        {name: "a", main: true, exec: "x", restarts: "unlimited"},
        {name: "b", exec: "x", restarts: 3},
        {name: "c", exec: "x", when: {interval: "1s"}}]}""")
    assert config.job("a").max_restarts == math.inf
    assert config.job("b").max_restarts == 3
    assert config.job("c").max_restarts == math.inf and config.job("c").run_timeout == 1
    assert (
        error_of('{jobs: [{name: "a", exec: "x", restarts: "often"}]}').place == "jobs[0].restarts"
    )


@pytest.mark.parametrize(
    ("fragment", "place"),
    [
        ('jobs: [{name: "a", exec: "x", success_codes: ["²"]}]', "jobs[0].success_codes[0]"),
        ('jobs: [{name: "a", exec: "x", success_codes: [0, "٣"]}]', "jobs[0].success_codes[1]"),
        ('jobs: [{name: "a", exec: "x", restarts: "²"}]', "jobs[0].restarts"),
        ('jobs: [{name: "a", exec: "x"}], exit_codes: {map: {"²": 0}}', "exit_codes.map.²"),
        ('jobs: [{name: "a", exec: "x"}], exit_codes: {map: {"1": "³"}}', "exit_codes.map.1"),
    ],
)
def test_non_ascii_digits_are_placed_config_errors(fragment: str, place: str) -> None:
    """Digits outside ASCII ("²", Arabic-Indic "٣") are not integers: a placed ConfigError."""
    assert error_of("{" + fragment + "}").place == place


def test_exit_code_map() -> None:
    """exit_codes.map takes string keys (JSON5 object keys) as exit codes."""
    config = load('{jobs: [{name: "a", exec: "x"}], exit_codes: {map: {"143": 0}}}')
    assert dict(config.exit_codes.map) == {143: 0}


def test_top_level_must_be_an_object() -> None:
    """A config that is not an object is rejected."""
    assert "one object" in str(error_of("[1, 2]"))


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_arbitrary_text_only_raises_config_errors(text: str) -> None:
    """Whatever the text, loading it either works or raises ConfigError, nothing else."""
    with contextlib.suppress(ConfigError):
        load(text)


# Strings that look like numbers, some with digits outside ASCII (superscript two,
# Arabic-Indic three, fullwidth one), which int() accepts or chokes on: every integer field
# must answer them with a ConfigError.
NUMBERISH = st.sampled_from(["0", "143", " 7 ", "-1", "²", "٣", "\uff11", "1e3", "0x1", ""])
TREE = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5) | NUMBERISH,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(
                [
                    *["jobs", "name", "exec", "when", "stop", "restarts", "source", "once", "x"],
                    *["success_codes", "exit_codes", "map", "143", "²", "٣"],
                ]
            ),
            inner,
            max_size=4,
        )
    ),
    max_leaves=12,
)
# A job valid but for the integer fields, so that validation reaches them.
JOB = st.fixed_dictionaries(
    {"name": st.just("a"), "exec": st.just("x")},
    optional={
        "success_codes": st.lists(NUMBERISH | st.integers(), max_size=3) | TREE,
        "restarts": NUMBERISH | TREE,
        "stop": TREE,
    },
)
EXIT_CODES = st.fixed_dictionaries(
    {"map": st.dictionaries(NUMBERISH | st.text(max_size=3), NUMBERISH | st.integers()) | TREE}
)


@settings(max_examples=300, deadline=None)
@given(
    st.fixed_dictionaries(
        {"jobs": TREE | st.lists(JOB, min_size=1, max_size=2)},
        optional={"exit_codes": EXIT_CODES | TREE},
    )
)
def test_arbitrary_structures_only_raise_config_errors(value: dict[str, object]) -> None:
    """Structured but wrong configs, integer fields included, also end in ConfigError only."""
    import json

    with contextlib.suppress(ConfigError):
        load(json.dumps(value))


def test_http_check_options_are_placed() -> None:
    """method/header/tls_skip_verify belong to an http check and must be valid HTTP."""
    base = '{consul: "127.0.0.1:8500", jobs: [{name: "a", exec: "x", port: 80, health: %s}]}'
    config = parse_config(
        base % '{http: "https://h/x", method: "HEAD", header: {"X-A": "1"}, tls_skip_verify: true}',
        {},
    )
    health = config.jobs[0].health
    assert health is not None and health.header == (("X-A", "1"),) and health.tls_skip_verify
    assert error_of(base % '{tcp: "h:1", header: {"X-A": "1"}}').place == "jobs[0].health.header"
    assert error_of(base % '{http: "http://h/", method: "GE T"}').place == "jobs[0].health.method"
    assert (
        error_of(base % '{http: "http://h/", header: {"Bad Name": "1"}}').place
        == "jobs[0].health.header.Bad Name"
    )
