"""Format repairs: a parser whose dict has the right content in the wrong format, fixed without
a model call.

Extraction feedback often says a field has the right content and the wrong form: "phone '030
1234 5678' is not digits only (expected '03012345678')", "date 'March 3, 2024' does not have the
format YYYY-MM-DD". The local model, asked to repair the parser, lowercased the name with the
e-mail, or returned a placeholder dict; the task model, shown the format in an example, still
copied the text's. Which of a few standard conversions turns the values the parser returned
into the ones the feedback expects is a question answered by trying them, not by a model:
:func:`format_repair` reads the tests the feedback implies (call, expected dict), finds for each
field the conversion that maps the most returned values to the expected ones (lowercase,
digits only, a number, an ISO date, ...), and writes the function again as the old one, renamed,
followed by those conversions; when the parser raised on replies with JSON inside (in code
fences, or with words around it), it is given that JSON. The result is an ordinary proposal:
it goes through the same trial as any repair and is kept only when it returns more expected
results than the current code (:func:`optimizers.step.implied.improves`).

>>> from tracegraph.node import Node, NodeKind
>>> call = Node({"name": "Jo", "phone": "030 12"}, NodeKind.CALL, "read_1", op="read")
>>> conversions([(call, {"name": "Jo", "phone": "03012"})])
{'phone': 'digits'}
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Callable, Sequence
from typing import Any

from optimizers.step.replay import find_def, function_name
from tracegraph.node import Node, NodeKind

__all__ = ["CONVERSIONS", "conversions", "format_repair"]

#: The helpers a repaired function may use, as source (the same text is run here to choose).
HELPERS: dict[str, str] = {
    "_iso_date": '''def _iso_date(text):
    """A date written in words or with other separators as YYYY-MM-DD (else unchanged)."""
    t = re.sub(r"(\\d)(st|nd|rd|th)\\b", r"\\1", str(text).strip())
    t = " ".join(re.sub(r"\\b(?:the|of|on)\\b|,", " ", t, flags=re.IGNORECASE).split())
    for form in ("%B %d %Y", "%d %B %Y", "%b %d %Y", "%d %b %Y", "%Y/%m/%d", "%Y-%m-%d",
                 "%Y.%m.%d", "%d.%m.%Y", "%d/%m/%Y", "%m/%d/%Y", "%Y %m %d", "%Y%m%d"):
        try:
            return datetime.datetime.strptime(t, form).strftime("%Y-%m-%d")
        except ValueError:
            pass
    return text
''',
    "_json_part": '''def _json_part(text):
    """The JSON in a reply: a fenced block's content, else from the first { or [ to the last."""
    text = str(text)
    fenced = re.search(r"```[\\w-]*[ \\t]*\\n?(.*?)```", text, flags=re.DOTALL)
    if fenced:
        return fenced.group(1).strip()
    starts = [i for i in (text.find("{"), text.find("[")) if i >= 0]
    if not starts:
        return text
    start = min(starts)
    end = text.rfind("}" if text[start] == "{" else "]")
    return text[start : end + 1] if end > start else text
''',
    "_number": '''def _number(text):
    """A number written with thousands separators, a currency or words around it."""
    found = re.search(r"-?\\d[\\d,]*(?:\\.\\d+)?", str(text))
    if found is None:
        return text
    value = float(found.group().replace(",", ""))
    return int(value) if value.is_integer() and "." not in found.group() else value
''',
}

#: name -> the conversion of a field's value ``v``, as an expression (tried in this order).
CONVERSIONS: dict[str, str] = {
    "strip": "v.strip()",
    "lowercase": "v.lower()",
    "uppercase": "v.upper()",
    "title case": "v.title()",
    "digits": 're.sub(r"\\D", "", v)',
    "no spaces": 're.sub(r"\\s+", "", v)',
    "number": "_number(v)",
    "ISO date": "_iso_date(v)",
    "stripped lowercase": "v.strip().lower()",
}


def _compile() -> tuple[dict[str, Callable[[str], Any]], Callable[[str], str]]:
    import datetime

    space: dict[str, Any] = {"re": re, "datetime": datetime}
    for helper in HELPERS.values():
        exec(helper, space)  # our own source, the one written into repairs
    runs = {k: eval(f"lambda v: {e}", space) for k, e in CONVERSIONS.items()}
    return runs, space["_json_part"]


_RUN, _JSON_PART = _compile()


def _argument(call: Node) -> Any:
    """The one argument a call received other than the code (or None)."""
    args = [q.peek() for q in call.parents if q is not call.code_param]
    return args[0] if len(args) == 1 else None


def json_in(call: Node) -> Any:
    """For a call that raised on a string with JSON inside (fenced, or with words around it):
    that JSON, parsed (None when there is none, or the string is JSON already)."""
    arg = _argument(call)
    if call.kind is not NodeKind.EXCEPTION or not isinstance(arg, str):
        return None
    part = _JSON_PART(arg)
    if part == arg.strip():
        return None
    try:
        value = json.loads(part)
    except ValueError:
        return None
    return value if isinstance(value, (dict, list)) else None


def _converts(name: str, got: Any, want: Any) -> bool:
    if not isinstance(got, str):
        return False
    try:
        out = _RUN[name](got)
    except Exception:
        return False
    numbers = all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in (out, want))
    return bool(out == want) and (type(out) is type(want) or numbers)


def conversions(tests: Sequence[tuple[Node, Any]], unwrap: bool = False) -> dict[str, str]:
    """For each field some test expects in another form: the conversion that turns the most of
    the returned values into the expected ones and changes no value of a result that is right
    as a whole (a test read from feedback on one field expects the other fields as they were
    returned, right or not: a checker names the first problem only). ``unwrap``: a call that
    raised on a reply with JSON inside counts as having returned that JSON."""
    wrong: dict[str, list[tuple[str, Any]]] = {}  # field -> (returned, expected) that differ
    right: dict[str, list[str]] = {}  # field -> values of results that are right as a whole
    for call, want in tests:
        got = call.peek() if call.kind is NodeKind.CALL else json_in(call) if unwrap else None
        if not (isinstance(got, dict) and isinstance(want, dict)) or set(got) != set(want):
            continue
        for key, value in got.items():
            if not isinstance(key, str):
                continue
            if got == want and isinstance(value, str):
                right.setdefault(key, []).append(value)
            elif value != want[key] and isinstance(value, str):
                wrong.setdefault(key, []).append((value, want[key]))
    chosen: dict[str, str] = {}
    for key, pairs in wrong.items():
        best, hits = None, 0
        for name in CONVERSIONS:
            if any(_changes(name, v) for v in right.get(key, [])):
                continue  # it would change a value that is right
            n = sum(_converts(name, g, w) for g, w in pairs)
            if n > hits:
                best, hits = name, n
        if best is not None:
            chosen[key] = best
    return chosen


def _changes(name: str, value: str) -> bool:
    try:
        return bool(_RUN[name](value) != value)
    except Exception:
        return True


def format_repair(code_param: Node, tests: Sequence[tuple[Node, Any]]) -> tuple[str | None, str]:
    """The function written again with the conversions of :func:`conversions` applied to the
    dict it returns (or None), and what it does / why not."""
    unwrap = any(json_in(call) is not None for call, _ in tests)
    chosen = conversions(tests, unwrap)
    if not chosen and not unwrap:
        return None, "no standard conversion turns the returned fields into the expected ones"
    source = str(code_param.peek())
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None, "the current code does not parse"
    name = function_name(source, code_param)
    fn = find_def(tree, name) if name else None
    if fn is None or isinstance(fn, ast.AsyncFunctionDef) or fn.decorator_list:
        return None, "the function could not be found as a plain def"
    inner = f"_{name}_before_formats"
    while inner in source:
        inner += "_"
    args = fn.args
    passed = [a.arg for a in args.posonlyargs + args.args]
    passed += [f"*{args.vararg.arg}"] if args.vararg else []
    passed += [f"{a.arg}={a.arg}" for a in args.kwonlyargs]
    passed += [f"**{args.kwarg.arg}"] if args.kwarg else []
    unwrap = unwrap and bool(args.posonlyargs + args.args)
    if unwrap:  # the reply's JSON, not the words or fences around it
        passed[0] = f"_json_part({passed[0]})"
    if not chosen and not unwrap:
        return None, "the function takes no argument to take the JSON from"
    doc = ast.get_docstring(fn)
    lines = [f"def {name}({ast.unparse(args)}):"]
    if doc:
        quoted = f'"""{doc}"""' if '"""' not in doc and not doc.endswith('"') else repr(doc)
        lines.append(f"    {quoted}")
    lines += [f"    data = {inner}({', '.join(passed)})", "    if isinstance(data, dict):"]
    lines += ["        data = dict(data)"]
    for key, conv in chosen.items():
        expr = re.sub(r"\bv\b", f"data[{key!r}]", CONVERSIONS[conv])
        lines += [
            f"        if isinstance(data.get({key!r}), str):",
            f"            data[{key!r}] = {expr}",
        ]
    lines += ["    return data"]
    renamed = _renamed(source, fn, inner).strip()
    used = " ".join([CONVERSIONS[c] for c in chosen.values()] + passed[:1])
    helpers = [h for k, h in HELPERS.items() if f"{k}(" in used and f"def {k}(" not in renamed]
    head = "import datetime\nimport re" if "_iso_date" in used else "import re"
    new = "\n\n\n".join([head, "\n".join(lines), renamed, *(h.strip() for h in helpers)]) + "\n"
    said = [f"{k}: {v}" for k, v in chosen.items()]
    said = (["the JSON inside the reply read"] if unwrap else []) + said
    return new, f"standard conversions ({', '.join(said)}), no model call"


def _renamed(source: str, fn: ast.FunctionDef, inner: str) -> str:
    """``source`` with the function ``fn`` defined as ``inner`` (its def line edited only)."""
    lines = source.splitlines()
    at = fn.lineno - 1
    lines[at] = re.sub(rf"\bdef\s+{re.escape(fn.name)}\s*\(", f"def {inner}(", lines[at], count=1)
    return "\n".join(lines)
