"""JSON5 translated to JSON for the C parser, with no Python work per token but per string.

The json5 library is pure Python and quadratic in places: a 1 MiB config (a long comment, a
large `env` map, a long string) took 25-110 s to read (BENCHMARKS.md). Here comments go (their
line breaks stay, so lines keep their numbers), strings become JSON strings, and in what lies
between them keys get quotes, trailing commas go, numbers become JSON's (`0x1F`, `.5`, `+1`;
JSON's parser takes `Infinity` and `NaN`) and other spaces plain ones. Everything else is left
as it is: JSON's parser then finds what is wrong.
"""

from __future__ import annotations

import re

# Possessive: a comment or string never gives back what it took (no backtracking).
_REGION = re.compile(
    r"""(//[^\n\r\u2028\u2029]*+|/\*[^*]*+\*++(?:[^/*][^*]*+\*++)*+/"""
    r"""|"[^"\\\n\r]*+(?:\\(?:\r\n|[\s\S])[^"\\\n\r]*+)*+"|'[^'\\\n\r]*+(?:\\(?:\r\n|[\s\S])[^'\\\n\r]*+)*+')"""
)
_SPACES = str.maketrans(
    dict.fromkeys("\v\f\xa0\ufeff\u1680\u202f\u205f\u3000", " ")
    | dict.fromkeys(map(chr, range(0x2000, 0x200B)), " ")
    | {"\u2028": "\n", "\u2029": "\n"}
)
# Each pattern starts with a character class, so the search skips to its candidates in C.
_KEY = re.compile(r"((?:[^\W\d]|\$)[\w$\u200c\u200d]*+)(?=[ \t\n\r]*+:)")
_TRAILING_COMMA = re.compile(r",(?=[ \t\n\r]*+[}\]])")
_NUMBERISH = re.compile(r"[-+.0-9][\w.$+-]*+")
_ODD_DOT = (re.compile(r"\.(?![0-9])"), re.compile(r"\.(?<![0-9]\.)"))
_JSON_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*+)(?:\.[0-9]++)?(?:[eE][+-]?[0-9]++)?")
_JSON5_NUMBER = re.compile(
    r"[+-]?(?:Infinity|NaN|0[xX][0-9a-fA-F]++|(?:[0-9]++\.?[0-9]*+|\.[0-9]++)(?:[eE][+-]?[0-9]++)?)"
)
_ESCAPE = re.compile(r"""\\(?:x([0-9a-fA-F]{2})|(\r\n|[\n\r\u2028\u2029])|([\s\S]))|(")""")
_JSON_ESCAPES = frozenset('"\\/bfnrtu')
_JSON_ESCAPES_OR_QUOTE = re.compile(r"[^\\]*+(?:\\['\\/bfnrtu][^\\]*+)*+")
_OTHER_ESCAPES = {"'": "'", "v": "\\u000b", "0": "\\u0000"}
_SEPARATOR = "\x00"  # between the pieces of code while they are translated as one text


def to_json(text: str) -> str | None:
    """`text` as JSON with the same meaning and, but for line continuations in strings, the
    same line numbers; what is not JSON5 stays not JSON. None for a text holding a NUL
    (never JSON5 outside a string, and this module's separator)."""
    if _SEPARATOR in text:
        return None
    parts = _REGION.split(text)  # code, region, code, region, ..., code
    regions = parts[1::2]
    # A string leaves a separator in the code; a comment its line breaks, joining the code
    # around it into one piece (a key and its colon, a trailing comma and its bracket).
    parts[1::2] = [
        _SEPARATOR if region[0] != "/" else "\n" * region.count("\n") for region in regions
    ]
    strings = [_string(region) for region in regions if region[0] != "/"]
    joined = "".join(parts).translate(_SPACES)
    joined = '"'.join(_KEY.split(_TRAILING_COMMA.sub("", joined)))  # code"key"code"key"code
    if _may_hold_json5_numbers(joined):
        joined = _NUMBERISH.sub(_number, joined)
    out = joined.split(_SEPARATOR)  # code, code, ..., code: one more than the strings
    pieces = [""] * (2 * len(out) - 1)
    pieces[::2], pieces[1::2] = out, strings
    return "".join(pieces)


def _may_hold_json5_numbers(code: str) -> bool:
    """Whether `code` may hold `+1`, `0x1F`, `.5`, `5.` or `-NaN` (most configs do not: the
    pass over every number is skipped)."""
    return any(mark in code for mark in ("+", "0x", "0X", "NaN")) or any(
        pattern.search(code) for pattern in _ODD_DOT
    )


def _string(token: str) -> str:
    if token[0] == '"' and "\\" not in token:
        return token
    body = token[1:-1]
    if "\\" not in body:
        return '"' + body.replace('"', '\\"') + '"'
    if token[0] == "'" and '"' not in body and _JSON_ESCAPES_OR_QUOTE.fullmatch(body):
        return '"' + body.replace("\\'", "'") + '"'  # 'it\'s' (each ' in it is escaped)
    return f'"{_ESCAPE.sub(_escape, body)}"'


def _escape(match: re.Match[str]) -> str:
    hexa, line_break, char, quote = match.groups()
    if quote:
        return '\\"'  # a double quote in a single-quoted string
    if hexa:
        return f"\\u00{hexa}"
    if line_break:
        return ""  # a line continuation
    if char in _JSON_ESCAPES:
        return f"\\{char}"
    return _OTHER_ESCAPES.get(char, char)


def _number(match: re.Match[str]) -> str:
    token = match.group()
    start = match.start()
    if start and (match.string[start - 1].isalnum() or match.string[start - 1] in "_$"):
        return token  # digits of a key or a word
    if _JSON_NUMBER.fullmatch(token) or not _JSON5_NUMBER.fullmatch(token):
        return token  # JSON already, or not a number (for JSON's parser to report)
    sign = "-" if token[0] == "-" else ""
    digits = token.lstrip("+-")
    if digits in ("NaN", "Infinity"):
        return digits if digits == "NaN" else sign + digits
    if digits[:2] in ("0x", "0X"):
        return sign + str(int(digits, 16))
    mantissa, e, exponent = digits.replace("E", "e").partition("e")
    if mantissa.startswith("."):
        mantissa = "0" + mantissa
    if mantissa.endswith("."):
        mantissa += "0"
    return sign + mantissa + e + exponent
