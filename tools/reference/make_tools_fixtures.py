#!/usr/bin/env python3
# make_tools_fixtures.py: fixtures for tests/test-tools.c, made by Python, never by Glimmer.
# SPDX-License-Identifier: MIT
#
# tests/data/tools/calculator.json:
#   "cases":  expressions in the calculator's grammar (engine/glim-calculator.c: numbers,
#             + - * / parentheses, unary minus and plus, spaces) with the demo model's own
#             calculator's text for them (tools/demo-model/make_corpus.py calculate(), which
#             is Python's eval) and float(value) as repr; "exact" is false where an integer
#             leaves int64 (Glimmer then continues in doubles, Python in big integers).
#   "format": float values (repr) and make_corpus.py fmt_number() of them.
#   "division_by_zero": expressions in the grammar that Python's eval refuses with
#             ZeroDivisionError.
# tests/data/tools/builtins.json:
#   "tools":  make_corpus.py's CALCULATOR and CURRENT_TIME, as the model saw them;
#   "prompt": the real chat template's rendering (chat_reference.py) of a user message with
#             both tools, which Glimmer's registry + renderer must reproduce byte for byte.
#
# Usage: tools/reference/make_tools_fixtures.py [--out tests/data/tools]   (needs jinja2)

import argparse
import json
import os
import random
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tools", "demo-model"))
sys.path.insert(0, HERE)
import chat_reference as ref  # noqa: E402
import make_corpus as corpus  # noqa: E402

INT64 = 2 ** 63

HAND = [
    "37 * 41", "1 + 2", "7 / 2", "6 / 2", "1 / 3", "2 / 3", "-5", "--5", "+5", "- -3",
    "10 - 20", "(1 + 2) * 3", "1 + 2 * 3", "8 / 4 / 2", "2 * (3 + 4) - -1", "0.1 + 0.2",
    "1.5 * 4", ".5 + 5.", "3.0", "0", "00", "007.5", "-0", "-0.0", "0 * -1.5", "100000 * 100000",
    "999999999 * 999999999", "123456789 * 1000", "1 / 100000", "1 / 10000000", "22 / 7",
    "(((((1)))))", "1-1", "  12 +   30  ", " 4*5 ", "2 - 3 - 4", "2 * 3 / 4",
    "9007199254740993 + 0", "9007199254740993 * 1.0", "123456789012.5 * 1", "1234567890123.5 + 0",
    "9223372036854775807", "-9223372036854775807 - 1", "0.000001 * 0.00001",
    "5 / 0.5", "(37 * 41) / 1517", "1 / 7 * 7", "3 * 0.1", "100 / 3", "-7 / 2", "1000000 / 3",
]

BIG = [
    "9223372036854775807 + 1", "-9223372036854775807 - 2", "99999999999 * 99999999999",
    "3037000500 * 3037000500", "9223372036854775808", "-(-9223372036854775807 - 1)",
]

ZERO = ["1 / 0", "5 / (3 - 3)", "1 / 0.0", "0 / 0", "2 * (1 / (2 - 2))", "1 / -0"]

FORMAT = [1 / 3, 2 / 3, 0.1 + 0.2, 1e-05, 1e-7, 1e16, 1.5e16, -0.0, 0.0, 0.5, -2.5, 3.5,
          123456789.123, 12345678901.5, 1234567890123.5, 0.1, 1e15 + 0.5, 2.0 ** 70, 1e300,
          5e-324, -1 / 3, 100 / 3, 1e-4, 123456.7890123, 9.999999999e-5, 0.00012345678901,
          9999999999.5, 99999.99999999]


def random_expr(rng, depth=0):
    """An expression in the calculator's grammar, with random spacing."""
    r = rng.random()
    if depth > 3 or r < 0.35:
        if rng.random() < 0.75:
            s = str(rng.randint(0, 2000))
        else:
            s = f"{rng.randint(0, 999)}.{rng.randint(0, 999)}"
        if rng.random() < 0.15:
            s = "-" + s
        return s
    if r < 0.45:
        return "(" + random_expr(rng, depth + 1) + ")"
    sp = rng.choice(["", " ", " ", "  "])
    return random_expr(rng, depth + 1) + sp + rng.choice("+-*/") + sp + random_expr(rng, depth + 1)


def evaluate(expr):
    """Python's value of expr, or 'zero' for ZeroDivisionError."""
    try:
        return eval(expr, {"__builtins__": {}}, {})  # noqa: S307 - grammar-only text
    except ZeroDivisionError:
        return "zero"


def int_stays_in_int64(expr):
    """True when Python computes expr with integers that all fit in int64 (checked by
    evaluating every integer sub-result: re-run with a tracing int)."""
    ok = [True]

    class I(int):
        def _wrap(self, v):
            if isinstance(v, int):
                if not -INT64 <= v < INT64:
                    ok[0] = False
                return I(v)
            return v

        def __add__(self, o): return self._wrap(int(self) + o)
        def __radd__(self, o): return self._wrap(o + int(self))
        def __sub__(self, o): return self._wrap(int(self) - o)
        def __rsub__(self, o): return self._wrap(o - int(self))
        def __mul__(self, o): return self._wrap(int(self) * o)
        def __rmul__(self, o): return self._wrap(o * int(self))
        def __neg__(self): return self._wrap(-int(self))

        def __truediv__(self, o):
            if isinstance(o, int) and max(abs(int(self)), abs(int(o))) > 2 ** 53:
                ok[0] = False       # Python divides big ints exactly, Glimmer as doubles
            return int(self) / (int(o) if isinstance(o, int) else o)

        def __rtruediv__(self, o):
            if isinstance(o, int) and max(abs(int(self)), abs(int(o))) > 2 ** 53:
                ok[0] = False
            return (int(o) if isinstance(o, int) else o) / int(self)
        def __pos__(self): return self

    import re
    traced = re.sub(r"(?<![\d.])(\d+)(?![\d.])", r"I(\1)", expr)
    try:
        eval(traced, {"__builtins__": {}, "I": I}, {})  # noqa: S307
    except ZeroDivisionError:
        pass
    return ok[0]


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default=os.path.join(ROOT, "tests", "data", "tools"))
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)

    rng = random.Random(20261129)
    exprs = list(HAND) + [random_expr(rng) for _ in range(300)]
    cases, zero = [], list(ZERO)
    for e in exprs + BIG:
        v = evaluate(e)
        if v == "zero":
            zero.append(e)
            continue
        text = corpus.calculate(e)
        assert text is not None, e
        cases.append({"expr": e, "text": text, "value": repr(float(v)),
                      "exact": int_stays_in_int64(e) and e not in BIG})
    for e in zero:
        assert evaluate(e) == "zero", e
    fmt = [{"value": repr(float(v)), "text": corpus.fmt_number(v)} for v in FORMAT]
    with open(os.path.join(a.out, "calculator.json"), "w") as f:
        json.dump({"cases": cases, "format": fmt, "division_by_zero": zero}, f, indent=1,
                  ensure_ascii=False)
        f.write("\n")

    tools = [corpus.CALCULATOR, corpus.CURRENT_TIME]
    req = {"messages": [{"role": "user", "content": "What is 37 * 41?"}], "tools": tools}
    prompt = ref.render(ref.compile_template(ref.load_template()), json.loads(json.dumps(req)))
    with open(os.path.join(a.out, "builtins.json"), "w") as f:
        json.dump({"tools": tools, "prompt": prompt}, f, indent=1, ensure_ascii=False)
        f.write("\n")
    print(f"make_tools_fixtures: {len(cases)} cases, {len(fmt)} formats, {len(zero)} "
          f"divisions by zero -> {a.out}")


if __name__ == "__main__":
    main()
