#!/usr/bin/env python3
# diff-chat.py: differential test of `glimmer-cli render` against the real chat template.
# SPDX-License-Identifier: MIT
#
# Each run makes fresh random OpenAI chat requests (seed from the clock, printed), writes each
# as JSON text in a random but valid style (whitespace, \u escapes, number spellings), and
# checks that glimmer-cli prints exactly what the template renders in transformers' Jinja
# environment after vLLM's normalisation (tools/reference/chat_reference.py). A few requests
# are broken on purpose; then both sides must refuse them.
#
# Environment: GLIMMER_CLI (set by tests/meson.build), DIFF_CHAT_SEED to replay a run,
# DIFF_CHAT_N requests (default 300). Exits 77 (skip) without jinja2.

import json
import math
import os
import random
import struct
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

try:
    import jinja2  # noqa: F401
except ImportError:
    print("diff-chat: jinja2 is not installed, skipping")
    sys.exit(77)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools", "reference"))
import chat_reference as ref  # noqa: E402

# ---- random values ----

PY_SPACES = "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004" \
            "\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
NOT_SPACES = "\u180e\u200b\ufeff\u2060"
PIECES = [
    "hello", "world", "Paris", "x", "The answer is 42.", "  ", " ", "\n", "\n\n", "\t", "\r\n",
    "<think>", "</think>", "<think>\n", "\n</think>\n\n", "<|user|>", "<|assistant|>",
    "<tool_call>", "</arg_value>", "[gMASK]", "<sop>", '"', "'", "\\", "\\n", "/", "{", "}",
    "é", "ü", "中文", "日本語", "한국어", "مرحبا", "😀", "👍🏽", "🇫🇷", "𝔘", "e\u0301",
    "\x01", "\x07", "\x08", "\x1b", "\x7f", "\u2028", "\u2029", "\ufffd",
]


def rand_text(rng, max_pieces=8):
    out = []
    for _ in range(rng.randint(0, max_pieces)):
        r = rng.random()
        if r < 0.55:
            out.append(rng.choice(PIECES))
        elif r < 0.75:
            out.append(rng.choice(PY_SPACES + NOT_SPACES))
        elif r < 0.9:
            out.append("".join(chr(rng.randint(0x20, 0x7e)) for _ in range(rng.randint(1, 6))))
        else:
            c = rng.randint(1, 0x10FFFF)
            if 0xD800 <= c <= 0xDFFF:
                c = 0xE000
            out.append(chr(c))
    return "".join(out)


def rand_float(rng):
    r = rng.random()
    if r < 0.3:
        while True:
            x = struct.unpack("<d", struct.pack("<Q", rng.getrandbits(64)))[0]
            if math.isfinite(x):
                return x
    if r < 0.6:
        return round(rng.uniform(-1e4, 1e4), rng.randint(0, 8))
    if r < 0.8:
        return rng.choice([0.0, -0.0, 1.0, 0.1, 1e-5, 1e-4, 1e15, 1e16, 1e17, 1e22, 5e-324,
                           1.7976931348623157e308, 2.0 ** 53, 9999999999999998.0, 0.5, 1e100,
                           123456789.125, 2.5e-10, 3e-320])
    if r < 0.95:
        return rng.choice([1.0, 2.0, 4.0, 0.5]) * 2.0 ** rng.randint(-1074, 1023)
    return rng.choice([math.inf, -math.inf, math.nan])


def rand_int(rng):
    r = rng.random()
    if r < 0.6:
        return rng.randint(-100, 1000)
    if r < 0.9:
        return rng.randint(-(2 ** 63), 2 ** 63 - 1)
    return rng.choice([0, -1, 2 ** 63 - 1, -(2 ** 63), 2 ** 53, 2 ** 53 + 1])


def rand_value(rng, depth=0):
    r = rng.random()
    if depth < 3 and r < 0.2:
        return [rand_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    if depth < 3 and r < 0.4:
        return {rand_text(rng, 2) or "k": rand_value(rng, depth + 1)
                for _ in range(rng.randint(0, 4))}
    r = rng.random()
    if r < 0.1:
        return None
    if r < 0.2:
        return rng.random() < 0.5
    if r < 0.45:
        return rand_int(rng)
    if r < 0.7:
        return rand_float(rng)
    return rand_text(rng)


def rand_schema(rng):
    props = {}
    for _ in range(rng.randint(0, 4)):
        kind = rng.choice(["string", "integer", "number", "boolean", "array", "object"])
        p = {"type": kind}
        if rng.random() < 0.5:
            p["description"] = rand_text(rng, 4)
        if kind == "number" and rng.random() < 0.6:
            p["minimum"] = rand_float(rng)
        if kind == "integer" and rng.random() < 0.6:
            p["maximum"] = rand_int(rng)
        if rng.random() < 0.3:
            p["default"] = rand_value(rng, 2)
        if rng.random() < 0.2:
            p["enum"] = [rand_value(rng, 3) for _ in range(rng.randint(1, 3))]
        props[rand_text(rng, 2) or "p"] = p
    schema = {"type": "object", "properties": props}
    if props and rng.random() < 0.5:
        schema["required"] = rng.sample(sorted(props), rng.randint(1, len(props)))
    return schema


def rand_content(rng, allow_absent=True):
    r = rng.random()
    if r < 0.08 and allow_absent:
        return ...                       # no "content" key
    if r < 0.15:
        return None
    if r < 0.3:
        parts = []
        for _ in range(rng.randint(0, 4)):
            s = rand_text(rng, 4)
            kind = rng.random()
            if kind < 0.2:
                parts.append(s)
            elif kind < 0.7:
                parts.append({"type": "text", "text": s if rng.random() < 0.9 else None})
            else:
                t = rng.choice(["input_text", "output_text", "refusal", "thinking"])
                parts.append({"type": t, ("text" if t.endswith("text") else t): s})
        return parts
    if r < 0.45:
        # content that embeds reasoning
        return (rand_text(rng, 2) + rng.choice(["<think>", "", "<think>\n"]) + rand_text(rng, 4)
                + rng.choice(["</think>", "\n</think>\n\n", "</think></think>"])
                + rand_text(rng, 4))
    return rand_text(rng)


def rand_arguments(rng):
    args = {rand_text(rng, 2) or "a": rand_value(rng, 1) for _ in range(rng.randint(0, 4))}
    r = rng.random()
    if r < 0.45:
        return args
    if r < 0.8:
        return json.dumps(args, ensure_ascii=rng.random() < 0.5,
                          indent=rng.choice([None, None, 1]))
    return rng.choice([None, "", {}, "{}", ...])


def rand_call(rng, names):
    fn = {"name": rng.choice(names) if names and rng.random() < 0.8 else rand_text(rng, 2)}
    args = rand_arguments(rng)
    if args is not ...:
        fn["arguments"] = args
    tc = {"id": f"call_{rng.randint(0, 999)}", "type": "function", "function": fn}
    return tc


def rand_message(rng, names):
    role = rng.choices(["user", "assistant", "tool", "system"], [4, 4, 3, 1])[0]
    m = {"role": role}
    content = rand_content(rng)
    if content is not ...:
        m["content"] = content
    if role == "assistant":
        for key in ("reasoning_content", "reasoning"):
            r = rng.random()
            if r < 0.4:
                m[key] = rand_text(rng, 5)
            elif r < 0.5:
                m[key] = ""
            elif r < 0.55:
                m[key] = None
        r = rng.random()
        if r < 0.4:
            m["tool_calls"] = [rand_call(rng, names) for _ in range(rng.randint(1, 3))]
        elif r < 0.5:
            m["tool_calls"] = rng.choice([None, []])
    if role == "tool" and rng.random() < 0.5:
        m["tool_call_id"] = "call_1"
    if rng.random() < 0.1:
        m["name"] = rand_text(rng, 2)
    items = list(m.items())
    rng.shuffle(items)
    return dict(items)


def rand_tool(rng):
    fn = {"name": rand_text(rng, 2) or "f"}
    if rng.random() < 0.7:
        fn["description"] = rng.choice([None, rand_text(rng, 6)])
    if rng.random() < 0.8:
        fn["parameters"] = rng.choice([None, rand_schema(rng), rand_schema(rng)])
    if rng.random() < 0.2:
        fn["strict"] = rng.choice([True, False, None])
    t = {"function": fn}
    if rng.random() < 0.7:
        t["type"] = "function"
    if rng.random() < 0.1:
        t["x-extra"] = rand_value(rng, 2)
    fn_items = list(fn.items())
    rng.shuffle(fn_items)
    t["function"] = dict(fn_items)
    items = list(t.items())
    rng.shuffle(items)
    return dict(items)


def rand_request(rng):
    req = {}
    tools = None
    r = rng.random()
    if r < 0.5:
        tools = [rand_tool(rng) for _ in range(rng.randint(1, 3))]
        req["tools"] = tools
    elif r < 0.6:
        req["tools"] = rng.choice([None, []])
    names = [t["function"]["name"] for t in tools] if tools else []
    req["messages"] = [rand_message(rng, names) for _ in range(rng.randint(0, 8))]
    if rng.random() < 0.4:
        req["add_generation_prompt"] = rng.random() < 0.5
    if rng.random() < 0.5:
        kw = {}
        for key in ("enable_thinking", "clear_thinking"):
            if rng.random() < 0.6:
                kw[key] = rng.choice([True, False, None])
        req["chat_template_kwargs"] = kw if rng.random() < 0.9 else None
    if rng.random() < 0.3:
        req["model"] = "glm-4.7-flash"
        req["temperature"] = rand_float(rng)
    items = list(req.items())
    rng.shuffle(items)
    return dict(items)


# ---- random but valid JSON spelling ----

def ws(rng):
    if rng.random() < 0.7:
        return ""
    return "".join(rng.choice(" \t\n\r") for _ in range(rng.randint(1, 3)))


def spell_string(rng, s):
    style = rng.random()
    out = ['"']
    for c in s:
        o = ord(c)
        esc = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b",
               "\f": "\\f"}.get(c)
        if esc is None and o < 0x20:
            esc = "\\u%04x" % o
        if esc is not None:
            out.append(esc if rng.random() < 0.8 else "\\u%04X" % o)
        elif c == "/" and rng.random() < 0.5:
            out.append("\\/")
        elif style < 0.3 and rng.random() < 0.5:
            if o > 0xFFFF:
                o -= 0x10000
                out.append("\\u%04x\\u%04x" % (0xD800 + (o >> 10), 0xDC00 + (o & 0x3FF)))
            else:
                out.append(("\\u%04x" if rng.random() < 0.5 else "\\u%04X") % o)
        else:
            out.append(c)
    out.append('"')
    return "".join(out)


def spell_float(rng, x):
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return rng.choice(["Infinity", "1e999", "9E+400"]) if x > 0 else \
            rng.choice(["-Infinity", "-1e999"])
    candidates = [repr(x), "%.17g" % x, "%.17e" % x, "%.20E" % x]
    if x == int(x) and abs(x) < 1e20:
        candidates += ["%d.0" % x, "%d.000" % x, "%de0" % x, "%dE+00" % x]
    good = []
    for c in candidates:
        if "e" not in c.lower() and "." not in c:
            continue
        if c.lstrip("-").startswith(("inf", "nan")) or float(c) != x:
            continue
        if c.lstrip("-")[:1] == "0" and c.lstrip("-")[1:2].isdigit():
            continue                      # no leading zeros in JSON
        good.append(c)
    s = rng.choice(good) if good else repr(x)
    if math.copysign(1, x) < 0 and not s.startswith("-"):
        s = "-" + s
    return s


def spell(rng, v):
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return spell_float(rng, v)
    if isinstance(v, str):
        return spell_string(rng, v)
    if isinstance(v, list):
        return "[" + ws(rng) + ("," + ws(rng)).join(spell(rng, x) + ws(rng) for x in v) + "]"
    items = [ws(rng) + spell_string(rng, k) + ws(rng) + ":" + ws(rng) + spell(rng, x) + ws(rng)
             for k, x in v.items()]
    return "{" + ",".join(items) + ws(rng) + "}"


def body_of(rng, req):
    text = ws(rng) + spell(rng, req) + ws(rng)
    data = text.encode("utf-8")
    if rng.random() < 0.03:
        data = b"\xef\xbb\xbf" + data
    return data


# ---- broken requests: both sides must refuse ----

def break_request(rng, req, data):
    msgs = req.get("messages") or [{"role": "user", "content": "x"}]
    how = rng.randrange(9)
    if how == 0:
        return data[:rng.randrange(len(data))]
    if how == 1:
        return data.replace(b"}", b",}", 1) if b"}" in data else b"{,}"
    if how == 2:
        msgs[0].pop("role", None)
    elif how == 3:
        msgs[0]["role"] = rng.choice(["developer", "function", "bot", 7])
    elif how == 4:
        msgs.append({"role": "assistant", "tool_calls": [
            {"function": {"name": "f", "arguments": rng.choice(["{", "[1]", "5", "{'a': 1}",
                                                                 "  ", "nul", "\ufeff{}"])}}]})
    elif how == 5:
        msgs.append({"role": "user", "content": rng.choice(["a\0b", 5, {"text": "x"}])})
    elif how == 6:
        req["tools"] = [{"type": "function", "function": {"name": "f", "parameters": {
            "big": rng.choice([2 ** 63, -(2 ** 63) - 1, 10 ** 30])}}}]
    elif how == 7:
        return data.replace(b"{", b"{\"x\": \"\\ud800\", ", 1)
    else:
        return data + b"\xff"
    req["messages"] = msgs
    return json.dumps(req).encode("utf-8")


# ---- the comparison ----

def run_cli(cli, data):
    p = subprocess.run([cli, "render", "--request", "-"], input=data, capture_output=True)
    return p.returncode, p.stdout, p.stderr


def first_diff(a, b):
    i = 0
    while i < len(a) and i < len(b) and a[i] == b[i]:
        i += 1
    return i


def main():
    cli = os.environ.get("GLIMMER_CLI")
    if not cli:
        print("diff-chat: GLIMMER_CLI is not set")
        return 1
    seed = int(os.environ.get("DIFF_CHAT_SEED", time.time_ns() % (2 ** 32)))
    n = int(os.environ.get("DIFF_CHAT_N", "300"))
    print(f"diff-chat: seed {seed}, {n} requests (DIFF_CHAT_SEED={seed} replays this run)")
    rng = random.Random(seed)
    template = ref.compile_template(ref.load_template())

    cases = []
    for _ in range(n):
        req = rand_request(rng)
        data = body_of(rng, req)
        if rng.random() < 0.1:
            data = break_request(rng, req, data)
        try:
            want = ref.render_text(template, data).encode("utf-8")
        except ref.Rejected:
            want = None
        cases.append((data, want))

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        results = list(pool.map(lambda c: run_cli(cli, c[0]), cases))

    failures = 0
    refused = 0
    out_dir = os.environ.get("G_TEST_BUILDDIR") or tempfile.gettempdir()
    for i, ((data, want), (rc, out, err)) in enumerate(zip(cases, results)):
        if want is None:
            refused += 1
            ok = rc == 1 and out == b"" and err.startswith(b"glimmer-cli render: ")
            why = f"reference refuses it; glimmer-cli exit {rc}: {err[:200]!r}"
        else:
            ok = rc == 0 and out == want
            k = first_diff(out, want)
            why = (f"glimmer-cli exit {rc} {err[:300]!r}" if rc != 0 else
                   f"first difference at byte {k}:\n  got:  {out[max(0, k - 60):k + 60]!r}\n"
                   f"  want: {want[max(0, k - 60):k + 60]!r}")
        if ok:
            continue
        failures += 1
        path = os.path.join(out_dir, f"diff-chat-{seed}-{i}.json")
        with open(path, "wb") as f:
            f.write(data)
        if failures <= 10:
            print(f"MISMATCH request {i} (saved as {path}): {why}")
    print(f"diff-chat: {n - failures}/{n} agree ({refused} refused by both sides or expected to be)"
          f", seed {seed}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
