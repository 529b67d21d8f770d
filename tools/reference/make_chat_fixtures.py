#!/usr/bin/env python3
# make_chat_fixtures.py: write the chat-template fixtures tests/test-chat.c checks byte for byte.
# SPDX-License-Identifier: MIT
#
# For each case: tests/data/chat/NNN-name.json (an OpenAI chat request body) and NNN-name.txt
# (the prompt the real template renders for it, in transformers' Jinja environment after vLLM's
# normalisation: chat_reference.py). When transformers is installed, every prompt is also
# rendered by transformers' own compiled template and must agree.
# Also writes tests/data/chat/float-repr.txt: "float.hex()<TAB>json.dumps(x)" lines for random
# and edge-case doubles, to check Glimmer's Python float repr directly.
#
# Usage: tools/reference/make_chat_fixtures.py [OUT_DIR]   (default tests/data/chat)

import glob
import json
import os
import random
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import chat_reference as ref  # noqa: E402

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ref.ROOT, "tests", "data", "chat")

WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Get weather for a city",
    "parameters": {"type": "object", "properties": {
        "city": {"type": "string", "description": "City name"},
        "days": {"type": "integer"}}, "required": ["city"]}}}

SEARCH = {"type": "function", "function": {
    "name": "search_files",
    "description": "Search the workspace. Returns matches as “path:line” — use sparingly.",
    "parameters": {"type": "object", "properties": {
        "query": {"type": "string", "minLength": 1},
        "globs": {"type": "array", "items": {"type": "string"}, "default": ["*.c", "*.h"]},
        "options": {"type": "object", "properties": {
            "case_sensitive": {"type": "boolean", "default": False},
            "max_results": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 50},
            "threshold": {"type": "number", "minimum": 0.0, "maximum": 1.0, "default": 0.75},
            "context": {"anyOf": [{"type": "integer"}, {"type": "null"}], "default": None}},
            "additionalProperties": False}},
        "required": ["query"]}}}

CALC = {"type": "function", "function": {
    "name": "计算器", "description": "Évalue une expression — 数学 🧮",
    "parameters": {"type": "object", "properties": {
        "expr": {"type": "string", "pattern": "^[0-9+*/() .-]+$", "examples": ["1+2", "(3*4)/5"]},
        "precision": {"type": "number", "multipleOf": 1e-05, "maximum": 1e16,
                      "exclusiveMinimum": -1.5e-7},
        "mode": {"enum": ["exact", "approx", None, 1, 2.5, True]}}}}}

NOW = {"type": "function", "function": {"name": "now"}}


def user(text):
    return {"role": "user", "content": text}


def system(text):
    return {"role": "system", "content": text}


def asst(content, reasoning=None, calls=None, **extra):
    m = {"role": "assistant", "content": content}
    if reasoning is not None:
        m["reasoning_content"] = reasoning
    if calls is not None:
        m["tool_calls"] = calls
    m.update(extra)
    return m


def call(name, args, id_="call_0"):
    return {"id": id_, "type": "function", "function": {"name": name, "arguments": args}}


def tool(text, id_="call_0"):
    return {"role": "tool", "tool_call_id": id_, "content": text}


# (name, request, how): how is "pretty" (indent 2, raw UTF-8), "ascii" (\u escapes),
# "compact", or a str holding the exact body text.
CASES = [
    ("user-only", {"messages": [user("Hello")]}, "pretty"),
    ("system-user", {"messages": [system("You are a helpful assistant."), user("Hello")]},
     "pretty"),
    ("enable-thinking-false", {"messages": [system("You are a helpful assistant."),
                                            user("Hello")],
                               "chat_template_kwargs": {"enable_thinking": False}}, "pretty"),
    ("enable-thinking-true", {"messages": [user("Hello")],
                              "chat_template_kwargs": {"enable_thinking": True}}, "pretty"),
    ("enable-thinking-null", {"messages": [user("Hello")],
                              "chat_template_kwargs": {"enable_thinking": None,
                                                       "other_kwarg": 3}}, "pretty"),
    ("no-generation-prompt", {"messages": [user("Hi"), asst("Hello!")],
                              "add_generation_prompt": False}, "pretty"),
    ("empty-messages", {"messages": []}, "compact"),
    ("tool-weather", {"messages": [system("You are a helpful assistant."),
                                   user("Weather in Paris?")], "tools": [WEATHER]}, "pretty"),
    ("tools-nested-schemas", {"messages": [user("find TODOs")],
                              "tools": [WEATHER, SEARCH, CALC, NOW]}, "pretty"),
    ("tools-nested-ascii", {"messages": [user("find TODOs")], "tools": [SEARCH, CALC]}, "ascii"),
    ("tool-without-description", {"messages": [user("x")], "tools": [NOW]}, "compact"),
    ("tool-extra-fields",
     {"messages": [user("x")],
      "tools": [{"function": {"parameters": {"type": "object", "properties": {}},
                              "strict": True, "name": "noop", "x-meta": {"v": 1.0}},
                 "type": "function", "cache_control": {"type": "ephemeral"}}]}, "pretty"),
    ("tools-empty-list", {"messages": [user("x")], "tools": []}, "compact"),
    ("tools-null", {"messages": [user("x")], "tools": None, "tool_choice": "auto"}, "compact"),
    ("tool-float-literals",
     None,
     '{"messages": [{"role": "user", "content": "floats"}], "tools": [{"type": "function", '
     '"function": {"name": "f", "parameters": {"a": 1E5, "b": 1.0, "c": 100.000, '
     '"d": 1e-5, "e": 0.0001, "f": 1e16, "g": 9999999999999998.0, "h": 1e400, '
     '"i": -1e400, "j": NaN, "k": Infinity, "l": -Infinity, "m": -0.0, "n": -0, '
     '"o": 5e-324, "p": 1.7976931348623157e308, "q": 0.1, "r": 2.5e-10, "s": 123456789.125, '
     '"t": 9223372036854775807, "u": -9223372036854775808, "v": 0e0, "w": 1.5E+300, '
     '"x": 3.0e-320, "y": 2.2250738585072014e-308, "z": 4.35e15}}}]}'),
    ("multi-turn-cleared", {"messages": [user("Hi"),
                                         asst("Hello! How can I help?", "Greet back."),
                                         user("2+2?")]}, "pretty"),
    ("clear-thinking-false", {"messages": [user("Hi"),
                                           asst("Hello! How can I help?", "Greet back."),
                                           user("2+2?")],
                              "chat_template_kwargs": {"clear_thinking": False}}, "pretty"),
    ("clear-thinking-true", {"messages": [user("Hi"), asst("Hello!", "Greet back."),
                                          user("2+2?"), asst("4", "Easy: 2+2=4.")],
                             "add_generation_prompt": False,
                             "chat_template_kwargs": {"clear_thinking": True,
                                                      "enable_thinking": True}}, "pretty"),
    ("clear-thinking-null", {"messages": [user("Hi"), asst("Hello!", "Greet back."), user("?")],
                             "chat_template_kwargs": {"clear_thinking": None}}, "pretty"),
    ("reasoning-in-tool-cycle",
     {"messages": [user("Weather in Paris for 2 days?"),
                   asst("", "Need to call get_weather.",
                        [call("get_weather", {"city": "Paris", "days": 2})]),
                   tool('{"temp": 20}')], "tools": [WEATHER]}, "pretty"),
    ("parallel-calls",
     {"messages": [user("Compare"),
                   asst("Let me check.", "two calls",
                        [call("get_weather", {"city": "Paris"}, "a"),
                         call("get_weather", {"city": "Rome"}, "b")]),
                   tool("20C", "a"), tool("25C", "b"),
                   asst("Rome is warmer.", "compare 20 vs 25")],
      "tools": [WEATHER], "add_generation_prompt": False}, "pretty"),
    ("argument-types",
     {"messages": [user("x"),
                   asst(None, calls=[call("f", {"flag": True, "n": 3, "x": None,
                                                "obj": {"a": [1, "é"]}, "s": "  two  spaces\n",
                                                "neg": -7, "f": 2.5, "big": 1e100,
                                                "empty_s": "", "empty_l": [], "empty_o": {},
                                                "q": "say \"hi\"\\n", "u": "日本語 🎉",
                                                "items": [1], "keys": "k"})])],
      "add_generation_prompt": False}, "pretty"),
    ("arguments-json-string",
     {"messages": [user("x"),
                   asst("", calls=[call("get_weather",
                                        '{"city": "Zürich", "days": 3, "units": null, '
                                        '"detail": {"hourly": true, "fields": ["t", "rh"]}, '
                                        '"ratio": 1.0, "exp": 1e5, "esc": "a\\u00e9\\n"}')])],
      "tools": [WEATHER]}, "pretty"),
    ("arguments-string-whitespace",
     {"messages": [user("x"), asst("", calls=[call("f", '  \n {"a" : 1 , "b":[ ]}\t')])]},
     "compact"),
    ("zero-argument-calls",
     {"messages": [user("time?"),
                   asst("", calls=[call("now", None, "a"), call("now", "", "b"),
                                   call("now", {}, "c"), call("now", "{}", "d")]),
                   tool("12:00", "a"), tool("12:00", "b"), tool("12:00", "c"),
                   tool("12:00", "d")], "tools": [NOW]}, "pretty"),
    ("arguments-missing",
     {"messages": [user("x"),
                   asst("", calls=[{"id": "c", "type": "function", "function": {"name": "now"}}])]},
     "compact"),
    ("calls-across-turns",
     {"messages": [system("Agent."), user("Plan a trip"),
                   asst("", "First the weather.", [call("get_weather", {"city": "Oslo"})]),
                   tool("-3C"),
                   asst("", "Cold. Search packing lists.",
                        [call("search_files", {"query": "packing", "options": {"max_results": 5,
                                                                              "threshold": 0.5}})]),
                   tool("packing.md:1: coat"),
                   asst("Pack a coat.", "Done."),
                   user("Thanks! And Rome?"),
                   asst("", "Weather again.", [call("get_weather", {"city": "Rome"})]),
                   tool("18C")],
      "tools": [WEATHER, SEARCH]}, "pretty"),
    ("consecutive-tool-results",
     {"messages": [user("go"), asst("", calls=[call("now", {})]),
                   tool("one"), tool("two"), tool(""), tool("four"),
                   user("again"), tool("orphan result")]}, "pretty"),
    ("tool-first-message", {"messages": [tool("first"), tool("second"), user("x")]}, "compact"),
    ("content-parts",
     {"messages": [system([{"type": "text", "text": "Part one."},
                           {"type": "text", "text": "Part two."}]),
                   user([{"type": "text", "text": "a"}, {"type": "text", "text": ""},
                         "bare string", {"type": "input_text", "text": "b"},
                         {"type": "text", "text": None}, {"type": "text", "text": "c\n"}]),
                   asst([{"type": "output_text", "text": "answer"},
                         {"type": "refusal", "refusal": "no"}]),
                   user([]),
                   tool([{"type": "text", "text": "r1"}, {"type": "text", "text": "r2"}])]},
     "pretty"),
    ("null-content",
     {"messages": [system(None), user(None),
                   asst(None, calls=[call("now", {})]), tool(None),
                   asst(None, "thought"), {"role": "user"}]}, "pretty"),
    ("embedded-think", {"messages": [user("x"), asst("<think>\nplan\n</think>\n\nAnswer")]},
     "pretty"),
    ("embedded-think-nested",
     {"messages": [user("x"), asst("pre<think>a<think>\n\nb\n\n</think>c</think>\n\n\nd  ")]},
     "pretty"),
    ("embedded-think-no-open",
     {"messages": [user("x"), asst("\n reasoning only \n</think>answer"),
                   asst("</think>"), asst("<think></think>"), asst("   </think>   ")]},
     "pretty"),
    ("embedded-think-with-reasoning-field",
     {"messages": [user("x"), asst("<think>inline</think>shown", "explicit"),
                   asst("<think>inline</think>shown", "")]}, "pretty"),
    ("embedded-think-cleared",
     {"messages": [user("x"), asst("<think>old plan</think>Old answer"), user("y"),
                   asst("<think>new plan</think>New answer")],
      "add_generation_prompt": False}, "pretty"),
    ("reasoning-field-names",
     {"messages": [user("x"),
                   {"role": "assistant", "content": "a", "reasoning": "from reasoning"},
                   {"role": "assistant", "content": "b", "reasoning": "",
                    "reasoning_content": "fallback"},
                   {"role": "assistant", "content": "c", "reasoning": "wins",
                    "reasoning_content": "loses"},
                   {"role": "assistant", "content": "d", "reasoning": None,
                    "reasoning_content": None}]}, "pretty"),
    ("whitespace-only-content",
     {"messages": [system("  "), user(" \n\t "),
                   asst(" \n\t ", " \n "), asst("\n\n"), tool("  ")]}, "pretty"),
    ("unicode-whitespace-strip",
     {"messages": [user("x"),
                   asst("\u3000\u00a0\u2028\u0085\x1c\x1d\x1e\x1f\x0b\x0c\r answer "
                        "\u2003\u205f\u202f\u1680\u2029",
                        "\u180e\u200b reasoning \u200b\ufeff"),
                   asst("\u2000\u2001\u2002\u2004\u2005\u2006\u2007\u2008\u2009\u200aé\u3000",
                        "\u00a0\u00a0")]},
     "ascii"),
    ("odd-characters",
     {"messages": [system('Quotes " \' ` and backslashes \\ \\\\ and / slashes'),
                   user("Control chars: \x01\x02\x07\x08\x7f tab\t cr\r lf\n"
                        " emoji 😀👍🏽🇫🇷 CJK 中文 한국어 日本語 RTL مرحبا "
                        "literal </think> <think> <|user|> <tool_call> [gMASK]"),
                   asst("Sure: \\n is not a newline; </arg_value> appears here too",
                        calls=[call("f", {"k\"ey": "v</arg_value>\n", "ключ": "значение",
                                          "ctrl": "\x01\x1f\x7f\u2028\u2029",
                                          "nested": {"q": "\"\\/\b\f\n\r\t"}})])]},
     "ascii"),
    ("odd-characters-raw",
     {"messages": [user("emoji 😀 CJK 中文 \u2028 \u2029 é"),
                   asst("ok", calls=[call("f", {"s": "😀 \u2028", "n": ["é", {"ü": 1}]})])]},
     "pretty"),
    ("multiple-system",
     {"messages": [system("First."), user("a"), system("Mid-conversation note."),
                   asst("b", "r"), system("Late."), user("c")]}, "pretty"),
    ("assistant-prefill",
     {"messages": [user("Write a haiku"), asst("Autumn moonlight—", "haiku time")],
      "add_generation_prompt": False}, "pretty"),
    ("ignored-fields",
     {"model": "glm-4.7-flash", "temperature": 0.7, "top_p": 1.0, "stream": True,
      "max_tokens": 128, "tool_choice": "auto", "parallel_tool_calls": True,
      "messages": [{"role": "user", "content": "hi", "name": "alice"},
                   {"role": "assistant", "content": "", "name": "bot",
                    "tool_calls": [{"id": "x", "type": "function", "index": 0,
                                    "function": {"name": "now", "arguments": "{}"}}]},
                   {"role": "tool", "content": "t", "tool_call_id": "x", "name": "now"}],
      "tools": [NOW]}, "pretty"),
    ("empty-tool-calls",
     {"messages": [user("x"), asst("plain", "r", []), asst("null calls", None, None)]},
     "compact"),
    ("duplicate-keys", None,
     '{"messages": [{"role": "system", "content": "dropped"}], "add_generation_prompt": true, '
     '"messages": [{"role": "user", "content": "first", "content": "second"}, '
     '{"role": "assistant", "content": "", "tool_calls": [{"function": {"name": "f", '
     '"arguments": "{\\"b\\": 1, \\"a\\": 2, \\"b\\": 3}"}}]}], '
     '"add_generation_prompt": false}'),
    ("json-whitespace-and-bom", None,
     '\ufeff \r\n{\r\n\t"messages"\t:\r\n [ {"role" : "user" ,\n "content":"crlf\\r\\n body"}'
     ' ] ,\n"chat_template_kwargs" : { "enable_thinking" : false }\n}\r\n'),
    ("escaped-slash-and-unicode", None,
     '{"messages": [{"role": "user", "content": "a\\/b \\u00E9\\u00e9 \\ud83d\\ude00 '
     '\\u4e2d \\u0007 \\"q\\" \\\\"}], "tools": [{"type": "function", "function": {"name": '
     '"\\u5de5\\u5177", "description": "\\u2028\\u0001x"}}]}'),
    ("long-agent-loop",
     {"messages": [system("You are a coding agent."), user("Fix the failing test.")] +
      [m for i in range(6) for m in (
          asst("" if i % 2 else f"Step {i}.", f"Thinking about step {i}…",
               [call("search_files", {"query": f"test_{i}", "globs": ["tests/*.c"]}, f"c{i}")]),
          tool(f"tests/test-{i}.c:{10 * i}: assert", f"c{i}"))] +
      [asst("Fixed.", "All done.")],
      "tools": [SEARCH], "add_generation_prompt": False}, "pretty"),
]


def body_text(req, how):
    if isinstance(how, str) and how not in ("pretty", "ascii", "compact"):
        return how
    if how == "ascii":
        return json.dumps(req, ensure_ascii=True, indent=1)
    if how == "compact":
        return json.dumps(req, ensure_ascii=False, separators=(",", ":"))
    return json.dumps(req, ensure_ascii=False, indent=2)


def float_cases(rng):
    xs = [0.0, -0.0, 1.0, -1.0, 0.1, 0.2, 0.3, 1 / 3, 2 / 3, 1e-4, 1e-5, 9.999e-5, 1e15, 1e16,
          1e17, 9999999999999998.0, 1e22, 1e23, 5e-324, 2.2250738585072014e-308,
          1.7976931348623157e308, 123456789.125, 4.35e15, 2.0 ** 53, 2.0 ** 53 + 2, 2.0 ** 60,
          2.0 ** 63, 2.0 ** 64, 0.5, 1.5e-7, 3.14159, 2.718281828459045, 100.0, 1e100,
          float("inf"), float("-inf"), float("nan")]
    xs += [2.0 ** e for e in range(-1074, 1024, 7)]
    xs += [10.0 ** e for e in range(-320, 309, 3)]
    while len(xs) < 3000:
        bits = rng.getrandbits(64)
        x = struct.unpack("<d", struct.pack("<Q", bits))[0]
        if x == x and abs(x) != float("inf"):
            xs.append(x)
        xs.append(round(rng.uniform(-1000, 1000), rng.randint(0, 6)))
    return xs


def main():
    os.makedirs(OUT, exist_ok=True)
    for old in glob.glob(os.path.join(OUT, "[0-9][0-9][0-9]-*")):
        os.unlink(old)
    text = ref.load_template()
    template = ref.compile_template(text)
    hf = ref.transformers_template(text)
    names = set()
    for n, (name, req, how) in enumerate(CASES, 1):
        assert name not in names, name
        names.add(name)
        body = body_text(req, how).encode("utf-8")
        prompt = ref.render_text(template, body)
        if hf is not None:
            msgs, tools, kwargs = ref.normalise(ref.loads(body))
            assert hf.render(messages=msgs, tools=tools, documents=None, **kwargs) == prompt, name
        stem = os.path.join(OUT, f"{n:03d}-{name}")
        with open(stem + ".json", "wb") as f:
            f.write(body)
        with open(stem + ".txt", "wb") as f:
            f.write(prompt.encode("utf-8"))
    rng = random.Random(20240601)
    with open(os.path.join(OUT, "float-repr.txt"), "w") as f:
        f.write("# float.hex(x)\tjson.dumps(x), from tools/reference/make_chat_fixtures.py\n")
        for x in float_cases(rng):
            f.write(f"{x.hex()}\t{json.dumps(x)}\n")
    print(f"{len(CASES)} fixtures and float-repr.txt in {OUT}"
          f"{' (checked against transformers)' if hf is not None else ''}")


if __name__ == "__main__":
    main()
