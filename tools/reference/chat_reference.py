# chat_reference.py: the reference GLM-4.7-Flash prompt renderer: the real chat template run
# by Jinja2 the way transformers compiles it, on messages normalised the way vLLM does.
# SPDX-License-Identifier: MIT
#
# Used by tools/reference/make_chat_fixtures.py (fixtures) and tests/diff-chat.py (differential
# test against `glimmer-cli render`). Needs only jinja2; when transformers is installed,
# transformers_template() gives its own compiled template to check the replica against.
#
# Sources (docs/chat-format.md §1.3-§1.5):
#   transformers utils/chat_template_utils.py: ImmutableSandboxedEnvironment(trim_blocks=True,
#     lstrip_blocks=True, extensions=[AssistantTracker, loopcontrols]), tojson = json.dumps
#     (ensure_ascii=False by default); render(messages=, tools=, documents=,
#     add_generation_prompt=, **chat_template_kwargs).
#   vLLM chat_utils.py: content None -> "", text parts joined with "\n" (empty parts dropped),
#     assistant reasoning = reasoning or reasoning_content, arguments strings json.loads'ed,
#     None / "" -> {}; serving: tools = [tool.model_dump()] (type, function{name, description,
#     parameters, extras}, extras).
# Where Glimmer refuses a request on purpose (see engine/glim-chat.h, engine/glim-pyjson.h),
# normalise() raises Rejected, so a differential test can check both sides refuse it.

import hashlib
import json
import math
import os

import jinja2
import jinja2.ext
from jinja2.sandbox import ImmutableSandboxedEnvironment

TEMPLATE_SHA256 = "d63ad536c3c81880043e22ec7fd08db42b4d8fb7c89c7138bc562bfa25281375"
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TEMPLATE_PATH = os.path.join(ROOT, "data", "chat_template.jinja")
ROLES = ("system", "user", "assistant", "tool")
TEXT_PARTS = {"text": "text", "input_text": "text", "output_text": "text",
              "refusal": "refusal", "thinking": "thinking"}
INT64 = (-(2 ** 63), 2 ** 63 - 1)
MAX_DEPTH = 512


class Rejected(Exception):
    """A request that vLLM/Jinja or (by decision) Glimmer refuses."""


def load_template(path=TEMPLATE_PATH):
    data = open(path, "rb").read()
    digest = hashlib.sha256(data).hexdigest()
    if digest != TEMPLATE_SHA256:
        raise SystemExit(f"{path}: sha256 {digest}, expected {TEMPLATE_SHA256}")
    return data.decode("utf-8")


def _tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    # transformers' filter, verbatim in behaviour
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators,
                      sort_keys=sort_keys)


def _raise_exception(message):
    raise jinja2.exceptions.TemplateError(message)


def compile_template(text):
    """The template compiled in a replica of transformers' environment (jinja2 only)."""
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=[jinja2.ext.loopcontrols])
    env.filters["tojson"] = _tojson
    env.globals["raise_exception"] = _raise_exception
    return env.from_string(text)


def transformers_template(text):
    """transformers' own compiled template, or None when transformers is not installed."""
    try:
        from transformers.utils.chat_template_utils import _compile_jinja_template
    except ImportError:
        return None
    return _compile_jinja_template(text)


# ---- what Glimmer cannot hold (engine/glim-pyjson.h) ----

def _check_value(v, path, depth=0):
    if depth > MAX_DEPTH:
        raise Rejected(f"{path}: nested too deeply")
    if isinstance(v, bool) or v is None or isinstance(v, float):
        return
    if isinstance(v, int):
        if not INT64[0] <= v <= INT64[1]:
            raise Rejected(f"{path}: integer outside 64 bits")
    elif isinstance(v, str):
        _check_text(v, path)
    elif isinstance(v, list):
        for i, x in enumerate(v):
            _check_value(x, f"{path}[{i}]", depth + 1)
    elif isinstance(v, dict):
        for k, x in v.items():
            _check_text(k, path)
            _check_value(x, f"{path}.{k}", depth + 1)


def _check_text(s, path):
    if "\0" in s:
        raise Rejected(f"{path}: U+0000")
    if any(0xD800 <= ord(c) <= 0xDFFF for c in s):
        raise Rejected(f"{path}: lone surrogate")


def loads(text):
    """json.loads as a vLLM server applies it to a body, plus Glimmer's refusals."""
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as e:
        raise Rejected(f"not valid JSON: {e}")
    _check_value(value, "request")
    return value


# ---- vLLM's normalisation ----

def _text(content, path):
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise Rejected(f"{path}: bad content")
    texts = []
    for j, part in enumerate(content):
        if isinstance(part, str):
            t = part
        elif isinstance(part, dict):
            kind = part.get("type")
            if not isinstance(kind, str) or kind not in TEXT_PARTS:
                raise Rejected(f"{path}[{j}].type: unsupported")
            t = part.get(TEXT_PARTS[kind])
            if t is None:
                continue
            if not isinstance(t, str):
                raise Rejected(f"{path}[{j}]: text not a string")
        else:
            raise Rejected(f"{path}[{j}]: bad part")
        if t:                     # vLLM: `if parse_res: content.append(parse_res)`
            texts.append(t)
    return "\n".join(texts)


def _opt_str(m, key, path):
    v = m.get(key)
    if v is not None and not isinstance(v, str):
        raise Rejected(f"{path}.{key}: not a string")
    return v


def _arguments(fn, path):
    args = fn.get("arguments")
    if args is None or args == "":
        return {}
    if isinstance(args, str):
        try:
            args = json.loads(args)
        except (ValueError, RecursionError) as e:
            raise Rejected(f"{path}: not valid JSON: {e}")
        _check_value(args, path)
    if not isinstance(args, dict):
        raise Rejected(f"{path}: not an object")
    return args


def _message(m, i):
    path = f"messages[{i}]"
    if not isinstance(m, dict):
        raise Rejected(f"{path}: not an object")
    role = m.get("role")
    if not isinstance(role, str) or role not in ROLES:
        raise Rejected(f"{path}.role: missing or unknown")
    out = {"role": role, "content": _text(m.get("content"), f"{path}.content")}
    if role != "assistant":
        return out
    reasoning = _opt_str(m, "reasoning", path) or _opt_str(m, "reasoning_content", path)
    if reasoning is not None:
        out["reasoning"] = reasoning
        out["reasoning_content"] = reasoning
    calls = m.get("tool_calls")
    if calls is None:
        return out
    if not isinstance(calls, list):
        raise Rejected(f"{path}.tool_calls: not a list")
    out["tool_calls"] = []
    for j, tc in enumerate(calls):
        tpath = f"{path}.tool_calls[{j}]"
        if not isinstance(tc, dict) or not isinstance(tc.get("function"), dict):
            raise Rejected(f"{tpath}.function: missing")
        fn = tc["function"]
        if not isinstance(fn.get("name"), str):
            raise Rejected(f"{tpath}.function.name: missing")
        out["tool_calls"].append({
            "id": tc.get("id"), "type": "function",
            "function": {"name": fn["name"],
                         "arguments": _arguments(fn, f"{tpath}.function.arguments")}})
    return out


def _tool(t, i):
    """ChatCompletionToolsParam.model_dump(): declared fields, then extras in input order."""
    path = f"tools[{i}]"
    if not isinstance(t, dict):
        raise Rejected(f"{path}: not an object")
    if "type" in t and t["type"] != "function":
        raise Rejected(f"{path}.type: not function")
    fn = t.get("function")
    if not isinstance(fn, dict):
        raise Rejected(f"{path}.function: missing")
    if not isinstance(fn.get("name"), str):
        raise Rejected(f"{path}.function.name: missing")
    if fn.get("description") is not None and not isinstance(fn["description"], str):
        raise Rejected(f"{path}.function.description: not a string")
    if fn.get("parameters") is not None and not isinstance(fn["parameters"], dict):
        raise Rejected(f"{path}.function.parameters: not an object")
    f = {"name": fn["name"], "description": fn.get("description"),
         "parameters": fn.get("parameters")}
    for k, v in fn.items():
        if k not in f:
            f[k] = v
    d = {"type": "function", "function": f}
    for k, v in t.items():
        if k not in d:
            d[k] = v
    return d


def normalise(request):
    """(messages, tools, kwargs) as vLLM passes them to apply_chat_template."""
    if not isinstance(request, dict):
        raise Rejected("request: not an object")
    messages = request.get("messages")
    if not isinstance(messages, list):
        raise Rejected("messages: missing or not a list")
    msgs = [_message(m, i) for i, m in enumerate(messages)]
    tools = request.get("tools")
    if tools is not None:
        if not isinstance(tools, list):
            raise Rejected("tools: not a list")
        tools = [_tool(t, i) for i, t in enumerate(tools)]
    kwargs = {"add_generation_prompt": request.get("add_generation_prompt", True)}
    if not isinstance(kwargs["add_generation_prompt"], bool):
        raise Rejected("add_generation_prompt: not a boolean")
    ctk = request.get("chat_template_kwargs")
    if ctk is not None:
        if not isinstance(ctk, dict):
            raise Rejected("chat_template_kwargs: not an object")
        for key in ("enable_thinking", "clear_thinking"):
            if key in ctk:
                if ctk[key] is not None and not isinstance(ctk[key], bool):
                    raise Rejected(f"chat_template_kwargs.{key}: not a boolean")
                kwargs[key] = ctk[key]
    return msgs, tools, kwargs


def render(template, request):
    """The prompt for a parsed request body (a dict), or Rejected."""
    msgs, tools, kwargs = normalise(request)
    return template.render(messages=msgs, tools=tools, documents=None, **kwargs)


def render_text(template, body):
    """The prompt for a request body given as JSON text, or Rejected."""
    return render(template, loads(body))


def is_finite_json(value):
    """True when json.dumps(value) needs no NaN/Infinity extension."""
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list):
        return all(is_finite_json(v) for v in value)
    if isinstance(value, dict):
        return all(is_finite_json(v) for v in value.values())
    return True
