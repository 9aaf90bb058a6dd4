"""Go's fmt for template values (strings, ints, floats, bools, nil, lists, maps): `%v` as Go
prints it, `Sprint` and `Sprintf` with the common verbs, flags, width and precision."""

from __future__ import annotations

import math
import re
from decimal import Decimal
from typing import Any

from pilot.gotemplate.parse import MAX_OUTPUT, TemplateError

_VERB = re.compile(r"%([-+# 0]*)(\d+|\*)?(?:\.(\*|\d*))?(.)?", re.DOTALL)


def go_value(value: Any) -> str:
    """`value` as Go's `%v` prints it."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _go_float(value)
    if value is None:
        return "<nil>"
    if isinstance(value, list):
        return "[" + " ".join(go_value(item) for item in value) + "]"
    if isinstance(value, dict):
        return "map[" + " ".join(f"{key}:{go_value(value[key])}" for key in sorted(value)) + "]"
    return str(value)


def _go_float(value: float) -> str:
    """Go's shortest `%g`: exponent form below 1e-4 and from 1e6 up (the %v of a float)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "-0" if math.copysign(1, value) < 0 else "0"
    sign, digits_tuple, exponent = Decimal(repr(value)).normalize().as_tuple()
    digits = "".join(map(str, digits_tuple))
    assert isinstance(exponent, int)
    point = len(digits) + exponent  # digits before the decimal point
    minus = "-" if sign else ""
    if point - 1 < -4 or point - 1 >= 6:
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{minus}{mantissa}e{'-' if point - 1 < 0 else '+'}{abs(point - 1):02d}"
    if point <= 0:
        return f"{minus}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return minus + digits + "0" * (point - len(digits))
    return f"{minus}{digits[:point]}.{digits[point:]}"


def sprint(args: list[Any]) -> str:
    """Go's `fmt.Sprint`: a space between operands when neither is a string."""
    out: list[str] = []
    for i, arg in enumerate(args):
        if i and not isinstance(arg, str) and not isinstance(args[i - 1], str):
            out.append(" ")
        out.append(go_value(arg))
    return "".join(out)


def go_string(text: str) -> str:
    """Go's `strconv.Quote`."""
    out = ['"']
    for char in text:
        if char in '"\\':
            out.append("\\" + char)
        elif char in "\a\b\f\n\r\t\v":
            out.append("\\" + "abfnrtv"["\a\b\f\n\r\t\v".index(char)])
        elif char.isprintable():
            out.append(char)
        elif ord(char) < 0x80:
            out.append(f"\\x{ord(char):02x}")
        else:
            out.append(f"\\u{ord(char):04x}" if ord(char) < 0x10000 else f"\\U{ord(char):08x}")
    return "".join(out) + '"'


def _type(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    return {int: "int", float: "float64", str: "string", list: "[]interface {}"}.get(
        type(value), "<nil>" if value is None else "map"
    )


def sprintf(fmt: str, args: list[Any]) -> str:
    """Go's `fmt.Sprintf` with the verbs v s q d x X o b c t e E f F g G and %%; a width or
    precision of more than 7 digits ends the format as Go's does (`%!(NOVERB)`).

    Raises:
        TemplateError: the result is longer than MAX_OUTPUT.
    """
    out: list[str] = []
    pos, used, size = 0, 0, 0
    for match in _VERB.finditer(fmt):
        mark = len(out)
        out.append(fmt[pos : match.start()])
        pos = match.end()
        flags, width, precision, verb = match.groups()
        if _overflows(width) or _overflows(precision):  # Go gives up on the rest
            out.append("%!(NOVERB)")
            pos = len(fmt)
            break
        if width == "*":
            width, used = _star(args, used, out, "%!(BADWIDTH)")
            if width is not None and width.startswith("-"):
                flags, width = flags + "-", width[1:]
        if precision == "*":
            precision, used = _star(args, used, out, "%!(BADPREC)")
            if precision is not None and precision.startswith("-"):
                precision = None
        if verb is None:
            out.append("%!(NOVERB)")
        elif verb == "%":
            out.append("%")
        elif used >= len(args):
            out.append(f"%!{verb}(MISSING)")
        else:
            used += 1
            out.append(_format(args[used - 1], flags, width, precision, verb))
        size += sum(len(piece) for piece in out[mark:])
        if size > MAX_OUTPUT:
            raise TemplateError(0, f"result longer than {MAX_OUTPUT} characters")
    out.append(fmt[pos:])
    if used < len(args):
        extra = ", ".join(f"{_type(arg)}={go_value(arg)}" for arg in args[used:])
        out.append(f"%!(EXTRA {extra})")
    return "".join(out)


def _overflows(digits: str | None) -> bool:
    """Whether Go's `parsenum` gives up on `digits` (past 1e6 before the last digit)."""
    number = 0
    for digit in digits if digits and digits != "*" else "":
        if number > 1_000_000:
            return True
        number = number * 10 + int(digit)
    return False


def _star(args: list[Any], used: int, out: list[str], bad: str) -> tuple[str | None, int]:
    """A `*` width or precision: the next argument, an int of at most 1e6 (else `bad`)."""
    value = args[used] if used < len(args) else None
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) <= 1_000_000:
        return str(value), used + 1
    out.append(bad)
    return None, used + (used < len(args))


def _format(value: Any, flags: str, width: str | None, precision: str | None, verb: str) -> str:
    integer = isinstance(value, int) and not isinstance(value, bool)
    if verb in "sv" or (verb == "t" and isinstance(value, bool)):
        text = go_value(value)
        if precision is not None and precision.isdigit() and verb == "s":
            text = text[: int(precision)]
        return _pad(text, flags, width)
    if verb == "q" and (isinstance(value, str) or integer):
        return _pad(go_string(value if isinstance(value, str) else chr(value)), flags, width)
    if verb == "c" and integer:
        return _pad(chr(value), flags, width)
    if verb in "xX" and isinstance(value, str):
        return _pad(
            value.encode().hex() if verb == "x" else value.encode().hex().upper(), flags, width
        )
    if verb in "dxXob" and integer:
        spec = _spec(flags, width, None) + {"d": "d", "x": "x", "X": "X", "o": "o", "b": "b"}[verb]
        return format(value, spec)
    if verb in "eEfFgG" and isinstance(value, int | float) and not isinstance(value, bool):
        if precision is None and verb in "gG":
            return _pad(_go_float(float(value)), flags, width)
        prec = int(precision or 0) if precision is not None else 6
        return format(float(value), _spec(flags, width, prec) + verb)
    return f"%!{verb}({_type(value)}={go_value(value)})"


def _spec(flags: str, width: str | None, precision: int | None) -> str:
    spec = "<" if "-" in flags else ""
    spec += "+" if "+" in flags else " " if " " in flags else ""
    spec += "#" if "#" in flags else ""
    spec += "0" if "0" in flags and "-" not in flags else ""
    spec += width if width and width.isdigit() else ""
    return spec + (f".{precision}" if precision is not None else "")


def _pad(text: str, flags: str, width: str | None) -> str:
    if not width or not width.isdigit():
        return text
    return text.ljust(int(width)) if "-" in flags else text.rjust(int(width))
