"""Go text/template as ContainerPilot renders its config: data, functions, builtins, errors."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pilot.gotemplate.execute import RenderError, environment_data, render
from pilot.gotemplate.gofmt import sprintf

ENV = {"A": "x", "CONSUL": "c1", "N": "3", "LIST": "a:b:c", "EQ": "k=v", "EMPTY": ""}


def run(source: str, environ: dict[str, str] | None = None) -> str:
    environ = ENV if environ is None else environ
    return render(source, environment_data(environ), environ, "cp.json5")


def error_of(source: str) -> str:
    with pytest.raises(RenderError) as caught:
        run(source)
    return str(caught.value)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("{{ .A }}-{{ .MISSING }}!", "x-!"),
        ('{{ .MISSING | default "d" }} {{ .A | default "d" }} {{ .EMPTY | default 5 }}', "d x 5"),
        ('{{ env "EQ" }} {{ .EQ }}', "k=v k"),
        ("{{ if .CONSUL_AGENT }}localhost{{ else }}{{ .CONSUL }}{{ end }}:8500", "c1:8500"),
        ('{{ if eq .A "y" }}1{{ else if eq .A "x" "z" }}2{{ else }}3{{ end }}', "2"),
        ("{{ if and .A (not .MISSING) }}yes{{ end }}{{ if or .MISSING .EMPTY }}no{{ end }}", "yes"),
        (
            "{{ with .A }}[{{ . }}]{{ else }}none{{ end }}{{ with .EMPTY }}{{ else }}-{{ end }}",
            "[x]-",
        ),
        ("{{ range $i := loop 3 }}{{ $i }},{{ end }}", "0,1,2,"),
        ("{{ range loop 2 5 }}{{ . }}{{ end }}|{{ range loop 5 2 }}{{ . }}{{ end }}", "234|543"),
        ("{{ range loop .N }}{{ . }}{{ end }}", "012"),
        ('{{ range $i, $p := .LIST | split ":" }}{{ $i }}={{ $p }};{{ end }}', "0=a;1=b;2=c;"),
        ('{{ range split "," "" }}x{{ else }}empty{{ end }}', "empty"),
        ('{{ .LIST | split ":" | join "-" }}', "a-b-c"),
        ('{{ replaceAll "a" "o" "banana" }}', "bonono"),
        ('{{ regexReplaceAll "([a-z])([0-9])" "${2}$1" "a1 b2" }}', "1a 2b"),
        ("a  {{- .A -}}  \n b", "axb"),
        ("{{/* a comment */}}x{{- /* trimmed */ -}}  y", "xy"),
        ('{{ `{{ raw }}` }} {{ "q\\t\\"" }}', '{{ raw }} q\t"'),
        (
            '{{ printf "%s-%03d %v %q %5.2f %x" .A 7 (loop 2) "hi" 3.14159 255 }}',
            'x-007 [0 1] "hi"  3.14 ff',
        ),
        ("{{ $x := 1 }}{{ $x = 2 }}{{ $x }}", "2"),
        ('{{ len "abc" }} {{ len (loop 4) }} {{ index (loop 3) 1 }}', "3 4 1"),
        ('{{ print 1 2 "a" 3 }} {{ println "b" }}', "1 2a3 b\n"),
        (
            "{{ 1.5 }} {{ 1e6 }} {{ 100000.0 }} {{ 0x10 }} {{ 'a' }} {{ true }} {{ nil }}",
            "1.5 1e+06 100000 16 97 true <nil>",
        ),
        ('{{ lt 1 2 }} {{ ge 1 2 }} {{ ne .A "x" }}', "true false false"),
        ('{{ html "<a&b>" }} {{ urlquery "a b&c" }}', "&lt;a&amp;b&gt; a+b%26c"),
    ],
)
def test_renders_as_go(source: str, expected: str) -> None:
    """Each construct renders as Go's text/template with ContainerPilot's functions does."""
    assert run(source) == expected


def test_loop_and_env_generate_jobs() -> None:
    """The documented way to generate entries: loop over a count from the environment."""
    source = '[{{ range $i := loop (env "N") }}{{ if $i }}, {{ end }}"w{{ $i }}"{{ end }}]'
    assert run(source) == '["w0", "w1", "w2"]'


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("{\n  a: {{ .A ", "cp.json5:2:6: unclosed action"),
        ("x\n  {{ nope .A }}", 'cp.json5:2:6: function "nope" not defined'),
        ("{{ if .A }}\nx", "cp.json5:1:4: unexpected EOF"),
        ("ok\n{{ end }}", "cp.json5:2:4: unexpected {{end}}"),
        ("{\n  a: {{ .A.B }}", "cp.json5:2:9: can't evaluate field B in type string"),
        ('{{ loop "x" }}', 'cp.json5:1:4: error calling loop: strconv.Atoi: parsing "x"'),
        ("{{ .A | split }}", "cp.json5:1:9: wrong number of args for split"),
        ('{{ eq 1 "a" }}', "incompatible types for comparison"),
        ("{{ $y }}", "undefined variable: $y"),
        ("{{ .A 1 }}", "can't give argument to non-function"),
        ('{{ join "," .A }}', "expected []string; got string"),
        ('{{ define "x" }}{{ end }}', "not supported in a config"),
        ("{{ 5 | }}", "missing value for command"),
        ("{{ (1 }}", "unclosed left paren"),
    ],
)
def test_errors_name_line_and_column(source: str, expected: str) -> None:
    """Parse and execution errors are placed in the original file, in Go's words."""
    assert expected in error_of(source)


def test_functions_are_checked_in_branches_not_taken() -> None:
    """As in Go, an unknown function is a parse error even where it would never run."""
    assert 'function "later" not defined' in error_of("{{ if false }}{{ later }}{{ end }}")


@pytest.mark.parametrize(
    ("fmt", "args", "expected"),
    [
        ("%d%%", [5], "5%"),
        ("%-4s|", ["ab"], "ab  |"),
        ("%.1s", ["abc"], "a"),
        ("%d", ["x"], "%!d(string=x)"),
        ("%s %s", ["a"], "a %!s(MISSING)"),
        ("%s", ["a", 1], "a%!(EXTRA int=1)"),
        ("%t %v", [True, None], "true <nil>"),
        ("%c%X%o%b", [65, 255, 8, 5], "AFF10101"),
        ("%g %e", [0.0001, 1234.5], "0.0001 1.234500e+03"),
        # what Go 1.19's fmt prints: an 8-digit width or precision ends the format
        ("%099999999d|", [5], "%!(NOVERB)%!(EXTRA int=5)"),
        ("%.99999999f", [1.5], "%!(NOVERB)%!(EXTRA float64=1.5)"),
        ("%*d", [99999999, 5], "%!(BADWIDTH)5"),
        ("%.*d", [99999999, 5], "%!(BADPREC)5"),
        ("%*d|%-*d|", [3, 5, 3, 6], "  5|6  |"),
    ],
)
def test_printf_follows_go(fmt: str, args: list[object], expected: str) -> None:
    """printf's verbs, widths and error forms are Go's."""
    assert sprintf(fmt, args) == expected


@pytest.mark.timeout(10)
@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ('{{ printf "%09999999d" 5 }}', "cp.json5:1:4: error calling printf: result longer than"),
        ('{{ printf "%.9999999f" 1.5 }}', "cp.json5:1:4: error calling printf: result longer"),
        (
            "{{ range loop 100000000 }}{{ end }}",
            "cp.json5:1:10: error calling loop: loop: 100000000",
        ),
        (
            "{{ range loop 100000 }}{{ range loop 100000 }}{{ end }}{{ end }}",
            "more than 1000000 range iterations",
        ),
        ("{{ range loop 1000 }}" + "x" * 1001 + "{{ end }}", "result is longer than 1000000"),
        ('{{ replaceAll "" (printf "%0999999d" 1) (printf "%0999d" 1) }}', "longer than 1000000"),
        ("{{ " + "(" * 200 + "1" + ")" * 200 + " }}", "cp.json5:1:"),
        ("{{ if 1 }}" * 200 + "{{ end }}" * 200, "nested more than 100 deep"),
    ],
    ids=["width", "precision", "loop", "ranges", "output", "replaceAll", "parens", "blocks"],
)
def test_a_template_cannot_run_for_minutes_or_fill_the_memory(source: str, expected: str) -> None:
    """Widths Go accepts but a config has no use for, huge loops, nesting: a placed error,
    at once."""
    assert expected in error_of(source)


@pytest.mark.timeout(10)
def test_regex_replace_is_linear_in_the_value() -> None:
    """A backtracking pattern over an environment value: RE2, as Go's regexp, is linear."""
    environ = {"V": "a" * 5000 + "b"}
    source = '{{ regexReplaceAll "(a+)+$" "x" .V }}|{{ regexReplaceAll "(a|aa)*c" "-" .V }}'
    assert run(source, environ) == environ["V"] + "|" + environ["V"]


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ('{{ regexReplaceAll "a*" "x" "baaac" }}', "xbxcx"),  # Go's empty-match rule
        ('{{ regexReplaceAll "(?P<w>b+)" "<${w}$1$$>" "abbc" }}', "a<bbbb$>c"),
        ('{{ regexReplaceAll "(b)" "$1x$2" "abc" }}', "ac"),  # $1x is group "1x": empty
        ('{{ regexReplaceAll "(" "x" "abc" }}', "error parsing regexp: missing ): ("),
    ],
)
def test_regex_replace_follows_go(source: str, expected: str) -> None:
    try:
        assert run(source) == expected
    except RenderError as error:
        assert expected in str(error)


TOKENS = [
    "{{", "}}", " ", ".A", "$x", ":=", "|", "(", ")", "if", "else", "end", "range", "with",
    "loop", "printf", '"%d"', '"%*s"', "1", "-1", "9999999", "default", "env", '"A"', "split",
    "join", "replaceAll", "regexReplaceAll", '"a*"', '""', "index", "len", "eq", "and", "not",
    "{{-", "-}}", "`x`", "'a'", "nil", ",", "$", ".", "{{/*", "*/}}", "\n", "x", '"',
]  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(TOKENS), max_size=25))
def test_any_template_renders_or_gives_a_placed_error(tokens: list[str]) -> None:
    """Fuzzed: nothing but a rendering or a RenderError naming file:line:column."""
    try:
        run("".join(tokens))
    except RenderError as error:
        assert str(error).startswith("cp.json5:"), error
