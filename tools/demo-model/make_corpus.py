#!/usr/bin/env python3
# make_corpus.py: the synthetic training corpus of the demo model (data/demo-model/).
# SPDX-License-Identifier: MIT
#
# Every conversation is made here from templates and a seeded random generator; no text comes
# from anywhere else. Kinds: greetings and small talk, short facts the generator computes
# (parity, number comparison, digits, numbers in words, days, months, colours, unit
# conversions), arithmetic through a `calculator` tool call, date and time through a
# `current_time` tool call (no arguments), "I can't" answers, and multi-turn follow-ups. Each
# assistant turn starts with a short reasoning trace, except in the thinking-off conversations
# (chat_template_kwargs.enable_thinking false).
#
# Rendering uses the real GLM-4.7-Flash template (data/chat_template.jinja, sha256 checked) in
# transformers' Jinja environment (tools/reference/chat_reference.py); --check-cli compares a
# sample with `glimmer-cli render`. One training example per user turn ("cycle"):
#
#   text  = render(messages up to the end of the cycle, add_generation_prompt=False) + "<|user|>"
#   spans = for every assistant turn i of the cycle, [len(prompt_i), len(turn_i) + len(stop_i))
#           prompt_i = render(messages[:i], add_generation_prompt=True), which ends in "<think>"
#                      (or "</think>" with thinking off)
#           turn_i   = render(messages[:i+1], add_generation_prompt=False)
#           stop_i   = "<|observation|>" after tool calls (the tool message renders it next),
#                      "<|user|>" after a final answer (an eos id of the real model)
#
# so the model learns exactly what GLM-4.7-Flash emits after the generation prompt: reasoning,
# "</think>", content and/or "<tool_call>NAME<arg_key>K</arg_key><arg_value>V</arg_value>
# </tool_call>", then the stop token (docs: chat-format.md §1.4, §1.8, §3). The script asserts
# that every prompt_i is a prefix of turn_i and of text.
#
# Arithmetic expressions whose crc32 is 0 mod 10 never appear in the corpus; evaluate.py asks
# only about those (held_out()).
#
# Usage: make_corpus.py --out corpus.jsonl [--n 60000] [--seed 1]
#        make_corpus.py --check-cli build/src/glimmer-cli [--check-n 200]
# Output: one JSON object a line: {"kind", "thinking", "text", "spans": [[start, end], ...]}
# (character offsets into text).

import argparse
import datetime
import json
import multiprocessing
import os
import random
import subprocess
import sys
import tempfile
import time
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tools", "reference"))
import chat_reference as ref  # noqa: E402

STOP_CALL = "<|observation|>"
STOP_ANSWER = "<|user|>"

CALCULATOR = {"type": "function", "function": {
    "name": "calculator",
    "description": "Evaluate an arithmetic expression with integers, + - * / and parentheses.",
    "parameters": {"type": "object", "properties": {
        "expr": {"type": "string", "description": "The expression, for example 37 * 41"}},
        "required": ["expr"]}}}

CURRENT_TIME = {"type": "function", "function": {
    "name": "current_time",
    "description": "The current local date and time as an ISO 8601 timestamp.",
    "parameters": {"type": "object", "properties": {}, "required": []}}}

DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December"]
MONTH_DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
ORDINALS = ["first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth",
            "ninth", "tenth", "eleventh", "twelfth"]
ONES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
        "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen",
        "eighteen", "nineteen"]
TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]

# Colour facts (everyday knowledge, written for this generator).
MIXES = {("blue", "yellow"): "green", ("red", "yellow"): "orange", ("blue", "red"): "purple",
         ("red", "white"): "pink", ("black", "white"): "grey", ("blue", "white"): "light blue"}
THINGS = [("the sky on a clear day", "blue"), ("grass", "green"), ("fresh snow", "white"),
          ("a ripe banana", "yellow"), ("a ripe tomato", "red"), ("coal", "black"),
          ("a lemon", "yellow"), ("milk", "white"), ("chocolate", "brown"),
          ("a carrot", "orange"), ("a fire truck", "red"), ("a lime", "green")]
RAINBOW = ["red", "orange", "yellow", "green", "blue", "indigo", "violet"]

# name, plural, factor to the smaller unit, smaller unit plural, range of the amount
UNITS = [("kilometre", "kilometres", 1000, "metres", 1, 50),
         ("metre", "metres", 100, "centimetres", 1, 30),
         ("kilogram", "kilograms", 1000, "grams", 1, 50),
         ("litre", "litres", 1000, "millilitres", 1, 20),
         ("hour", "hours", 60, "minutes", 1, 12),
         ("minute", "minutes", 60, "seconds", 1, 10),
         ("day", "days", 24, "hours", 1, 7),
         ("week", "weeks", 7, "days", 1, 10)]

TOPICS = ["the history of Rome", "quantum physics", "the stock market", "French cooking",
          "football results", "the weather tomorrow", "the news", "a good book to read",
          "the population of a city", "how to fix a car", "the best programming language",
          "a movie to watch", "the capital of a country", "medical advice", "a poem"]
SYSTEM_PROMPTS = ["You are a helpful assistant.", "You are Glimmer, a friendly local assistant.",
                  "Answer briefly.", "You are a helpful assistant. Use the tools when needed.",
                  "Be concise and friendly."]


# ---- small helpers ----

def words(n):
    """English words for 0 <= n <= 999."""
    if n < 20:
        return ONES[n]
    if n < 100:
        return TENS[n // 10] + ("" if n % 10 == 0 else "-" + ONES[n % 10])
    rest = n % 100
    return ONES[n // 100] + " hundred" + ("" if rest == 0 else " and " + words(rest))


def fmt_number(v):
    """How the demo calculator prints a value: integers exactly, others with up to 10
    significant digits (Python's format(v, '.10g'))."""
    if isinstance(v, int) or float(v).is_integer():
        return str(int(v))
    return format(v, ".10g")


def calculate(expr):
    """The calculator tool: evaluate + - * / ( ) on integers and decimals; None if invalid."""
    allowed = set("0123456789+-*/(). ")
    if not expr or not set(expr) <= allowed:
        return None
    try:
        v = eval(expr, {"__builtins__": {}}, {})  # noqa: S307 - characters checked above
    except (SyntaxError, ZeroDivisionError, TypeError, ValueError):
        return None
    if not isinstance(v, (int, float)):
        return None
    return fmt_number(v)


def held_out(expr):
    """Expressions kept out of the corpus for evaluate.py (about one in ten)."""
    return zlib.crc32(expr.encode()) % 10 == 0


def number(rng, lo=1, hi=999):
    """A number with small ones more likely."""
    r = rng.random()
    if r < 0.35:
        return rng.randint(lo, min(hi, 20))
    if r < 0.7:
        return rng.randint(lo, min(hi, 99))
    return rng.randint(lo, hi)


def pick(rng, *options):
    return rng.choice(options)


class Step:
    """One assistant turn: reasoning, content, tool calls [(name, args)], their results."""

    def __init__(self, reasoning, content="", calls=(), results=()):
        self.reasoning, self.content = reasoning, content
        self.calls, self.results = list(calls), list(results)


class Cycle:
    """A user message and the assistant turns that answer it."""

    def __init__(self, kind, user, steps, value=None):
        self.kind, self.user, self.steps = kind, user, steps
        self.value = value   # a number later turns can refer to ("that")


# ---- expressions ----

OPS = {"+": ("plus", "add", "sum"), "-": ("minus", "subtract", "difference"),
       "*": ("times", "multiply", "product"), "/": ("divided by", "divide", "quotient")}


def simple_expr(rng):
    op = rng.choice("+-*/")
    if op == "/":
        b = number(rng, 2, 50)
        a = b * number(rng, 1, 60) if rng.random() < 0.7 else number(rng)
    elif op == "*":
        a, b = number(rng, 1, 999), number(rng, 1, 99)
        if rng.random() < 0.5:
            a, b = b, a
    else:
        a, b = number(rng), number(rng)
    return a, op, b


def make_expr(rng, want_held_out):
    """(expr, user-facing question) with expr in canonical form 'a op b' or with parentheses."""
    while True:
        r = rng.random()
        if r < 0.75:
            a, op, b = simple_expr(rng)
            expr = f"{a} {op} {b}"
            q = arith_question(rng, a, op, b, expr)
        else:
            a, op, b = simple_expr(rng)
            op2, c = rng.choice("+-*/"), number(rng, 1, 20)
            if rng.random() < 0.5:
                expr = f"({a} {op} {b}) {op2} {c}"
            else:
                expr = f"{c} {op2} ({a} {op} {b})"
            shown = expr if rng.random() < 0.8 else expr.replace(" ", "")
            q = pick(rng, f"What is {shown}?", f"Calculate {shown}", f"What's {shown}?",
                     f"Compute {shown}.", f"How much is {shown}?", f"{shown} = ?",
                     f"Can you work out {shown}?", f"Please calculate {shown}.")
        if calculate(expr) is not None and held_out(expr) == want_held_out:
            return expr, q


def arith_question(rng, a, op, b, expr):
    r = rng.random()
    if r < 0.5:
        sym = op
        if op == "*" and rng.random() < 0.25:
            sym = "x"
        shown = f"{a} {sym} {b}" if rng.random() < 0.8 else f"{a}{sym}{b}"
        return pick(rng, f"What is {shown}?", f"Calculate {shown}", f"What's {shown}?",
                    f"Compute {shown}.", f"How much is {shown}?", f"{shown} = ?",
                    f"Can you work out {shown}?", f"{shown}?", f"Please calculate {shown}.",
                    f"What does {shown} give?")
    word = OPS[op]
    if r < 0.8:
        return pick(rng, f"What is {a} {word[0]} {b}?", f"What's {a} {word[0]} {b}?",
                    f"How much is {a} {word[0]} {b}?", f"Calculate {a} {word[0]} {b}.")
    if op == "+":
        return pick(rng, f"Add {a} and {b}.", f"What is the sum of {a} and {b}?",
                    f"Please add {a} to {b}.")
    if op == "-":
        return pick(rng, f"Subtract {b} from {a}.", f"What do you get if you take {b} from {a}?",
                    f"What is the difference between {a} and {b}?")
    if op == "*":
        return pick(rng, f"Multiply {a} by {b}.", f"What is the product of {a} and {b}?",
                    f"What do you get when you multiply {a} by {b}?")
    return pick(rng, f"Divide {a} by {b}.", f"What is {a} divided by {b}?",
                f"What do you get when you divide {a} by {b}?")


def calc_step(rng, expr, why):
    reasoning = pick(rng, f"{why} I'll use the calculator with {expr}.",
                     f"{why} The calculator can do this: {expr}.",
                     f"{why} Let me call the calculator tool with the expression {expr}.")
    return Step(reasoning, calls=[("calculator", {"expr": expr})], results=[calculate(expr)])


def calc_answer(rng, expr, result, thinking):
    reasoning = pick(rng, f"The calculator returned {result}, so {expr} = {result}.",
                     f"The tool says {result}. That is the answer.",
                     f"Result: {result}. I'll give it to the user.")
    content = pick(rng, f"{expr} = {result}.", f"The answer is {result}.",
                   f"{expr} is {result}.", f"It's {result}.", f"That gives {result}.",
                   f"{expr} = {result}")
    return Step(reasoning, content)


def arith_cycle(rng, held=False):
    expr, q = make_expr(rng, held)
    step = calc_step(rng, expr, pick(rng, f"The user wants {expr}.",
                                     f"This is arithmetic: {expr}.",
                                     f"The user asks me to calculate {expr}.",
                                     "I should not guess arithmetic."))
    result = step.results[0]
    return Cycle("arith", q, [step, calc_answer(rng, expr, result, True)], value=result)


def followup_arith_cycle(rng, prev):
    """A follow-up on the previous result ("multiply that by 3")."""
    k = number(rng, 2, 20)
    op = rng.choice("+-*/")
    q = {"+": pick(rng, f"Now add {k} to that.", f"And plus {k}?", f"Add {k} to it."),
         "-": pick(rng, f"Now subtract {k}.", f"And minus {k}?", f"Take {k} away from that."),
         "*": pick(rng, f"Multiply that by {k}.", f"And times {k}?", f"Now multiply it by {k}."),
         "/": pick(rng, f"Divide that by {k}.", f"And divided by {k}?", f"Now divide it by {k}."),
         }[op]
    expr = f"{prev} {op} {k}"
    step = calc_step(rng, expr, f"The previous result was {prev}, so now I need {expr}.")
    result = step.results[0]
    return Cycle("arith-followup", q, [step, calc_answer(rng, expr, result, True)], value=result)


def parallel_arith_cycle(rng):
    e1, _ = make_expr(rng, False)
    e2, _ = make_expr(rng, False)
    q = pick(rng, f"What is {e1} and what is {e2}?", f"Calculate {e1} and {e2}.",
             f"Two sums: {e1}, and {e2}.")
    r1, r2 = calculate(e1), calculate(e2)
    s1 = Step(f"Two calculations: {e1} and {e2}. I'll call the calculator twice.",
              calls=[("calculator", {"expr": e1}), ("calculator", {"expr": e2})],
              results=[r1, r2])
    s2 = Step(f"The results are {r1} and {r2}.", f"{e1} = {r1} and {e2} = {r2}.")
    return Cycle("arith-parallel", q, [s1, s2])


# ---- time ----

def timestamp(rng):
    d = datetime.datetime(2024, 1, 1) + datetime.timedelta(
        seconds=rng.randrange(4 * 365 * 86400))
    return d


def iso(d):
    return d.strftime("%Y-%m-%dT%H:%M:%S")


def part_of_day(h):
    if 5 <= h < 12:
        return "morning"
    if 12 <= h < 18:
        return "afternoon"
    if 18 <= h < 22:
        return "evening"
    return "night"


TIME_QUESTIONS = {
    "time": ["What time is it?", "What's the time?", "Can you tell me the time?",
             "Do you know what time it is?", "What time is it now?", "Time?"],
    "date": ["What's the date today?", "What is today's date?", "What day of the month is it?",
             "Which date is it today?", "Date?", "What's the date?"],
    "year": ["What year is it?", "Which year are we in?", "What's the current year?"],
    "month": ["What month is it?", "Which month are we in?", "What's the current month?"],
    "datetime": ["What's the date and time?", "Tell me the date and the time.",
                 "What is the current date and time?"],
    "part": ["Is it morning or afternoon?", "Is it day or night right now?",
             "What part of the day is it?"],
}


def time_answer(rng, what, d):
    hm = d.strftime("%H:%M")
    date = f"{MONTHS[d.month - 1]} {d.day}, {d.year}"
    if what == "time":
        return (f"The timestamp is {iso(d)}, so the time is {hm}.",
                pick(rng, f"It's {hm}.", f"The time is {hm}.", f"It is {hm} right now."))
    if what == "date":
        return (f"The timestamp is {iso(d)}. Month {d.month} is {MONTHS[d.month - 1]}.",
                pick(rng, f"Today is {date}.", f"It's {date}.", f"The date is {date}."))
    if what == "year":
        return (f"The timestamp starts with {d.year}.",
                pick(rng, f"It's {d.year}.", f"We are in {d.year}.", f"The year is {d.year}."))
    if what == "month":
        return (f"The month in {iso(d)} is {d.month:02d}, which is {MONTHS[d.month - 1]}.",
                pick(rng, f"It's {MONTHS[d.month - 1]}.",
                     f"We are in {MONTHS[d.month - 1]} {d.year}."))
    if what == "datetime":
        return (f"The timestamp is {iso(d)}: {date}, {hm}.",
                pick(rng, f"It's {hm} on {date}.", f"Today is {date} and the time is {hm}."))
    p = part_of_day(d.hour)
    return (f"The hour is {d.hour:02d}, which is in the {p}.",
            pick(rng, f"It's {p}: the time is {hm}.", f"It's {hm}, so it's {p}."))


def time_cycle(rng, d=None):
    what = rng.choice(list(TIME_QUESTIONS))
    q = rng.choice(TIME_QUESTIONS[what])
    d = d or timestamp(rng)
    s1 = Step(pick(rng, "The user wants the current time. I need the current_time tool.",
                   "I can't know the date or time myself, so I'll call current_time.",
                   "I'll check the clock with the current_time tool."),
              calls=[("current_time", {})], results=[iso(d)])
    r, c = time_answer(rng, what, d)
    return Cycle("time-" + what, q, [s1, Step(r, c)], value=d)


def time_without_tool_cycle(rng):
    q = rng.choice(TIME_QUESTIONS[rng.choice(["time", "date", "year", "datetime"])])
    return Cycle("time-notool", q, [Step(
        "There is no current_time tool here, and I can't know the time on my own.",
        pick(rng, "I don't have access to a clock here, so I can't tell you the current time "
             "or date.", "Sorry, I can't check the time or date without a clock tool."))])


def time_and_calc_cycle(rng):
    expr, _ = make_expr(rng, False)
    d = timestamp(rng)
    q = pick(rng, f"What time is it, and what is {expr}?", f"Tell me the time and calculate {expr}.")
    res = calculate(expr)
    s1 = Step(f"Two things: the time and {expr}. I'll call current_time and the calculator.",
              calls=[("current_time", {}), ("calculator", {"expr": expr})],
              results=[iso(d), res])
    hm = d.strftime("%H:%M")
    s2 = Step(f"The time is {hm} and {expr} = {res}.", f"It's {hm}, and {expr} = {res}.")
    return Cycle("time-calc", q, [s1, s2])


# ---- chat and facts ----

def greeting_cycle(rng):
    q = pick(rng, "Hi", "Hello!", "Hey", "Hi there!", "Good morning", "Good evening",
             "Hello, how are you?", "Hey there", "Hi!", "Good afternoon!", "Yo", "Hello")
    if "how are you" in q:
        return Cycle("greeting", q, [Step("The user greets me and asks how I am.",
                                          pick(rng, "I'm doing well, thanks for asking! How can I "
                                               "help you today?", "Hello! I'm fine, thank you. "
                                               "What can I do for you?"))])
    return Cycle("greeting", q, [Step(
        pick(rng, "The user says hello. I'll greet them back and offer help.",
             "A greeting. I should reply in a friendly way.", "Just a greeting; keep it short."),
        pick(rng, "Hello! How can I help you today?", "Hi! What can I do for you?",
             "Hello! Ask me anything, I can also do arithmetic and tell the time.",
             "Hi there! How can I help?", "Hey! What would you like to know?"))])


def smalltalk_cycle(rng):
    kind = rng.randrange(6)
    if kind == 0:
        return Cycle("smalltalk", pick(rng, "How are you?", "How are you doing?", "How's it going?"),
                     [Step("The user asks how I am.", pick(
                         rng, "I'm doing well, thank you! What can I do for you?",
                         "All good here. How can I help?"))])
    if kind == 1:
        return Cycle("identity", pick(rng, "Who are you?", "What's your name?", "What are you?",
                                      "Introduce yourself."),
                     [Step("The user asks who I am. I'm the small demo model of Glimmer.",
                           "I'm the demo model that ships with Glimmer: a very small language "
                           "model. I can chat a little, answer simple questions, and use tools "
                           "like a calculator and a clock.")])
    if kind == 2:
        return Cycle("identity", pick(rng, "What can you do?", "How can you help me?",
                                      "What are you good at?"),
                     [Step("The user asks what I can do.",
                           "I can do arithmetic with the calculator tool, tell the date and time "
                           "with the current_time tool, and answer simple questions about "
                           "numbers, days, months, colours and units.")])
    if kind == 3:
        return Cycle("smalltalk", pick(rng, "Tell me a joke.", "Say something funny.",
                                       "Do you know a joke?"),
                     [Step("A joke request. I'll keep it short and simple.", pick(
                         rng, "Why did the number seven stay away from nine? Because seven "
                         "eight nine!", "I would tell you a joke about zero, but it doesn't "
                         "count for much."))])
    if kind == 4:
        return Cycle("smalltalk", pick(rng, "I'm bored.", "I'm tired.", "I had a long day."),
                     [Step("The user shares how they feel. Be kind and brief.", pick(
                         rng, "Sorry to hear that. Maybe a short break would help. I'm here if "
                         "you want to chat.", "That happens. Want to try a quick number puzzle "
                         "with me?"))])
    return Cycle("unknown", pick(rng, f"Tell me about {rng.choice(TOPICS)}.",
                                 f"Can you help me with {rng.choice(TOPICS)}?",
                                 f"What do you know about {rng.choice(TOPICS)}?"),
                 [Step("This is outside what a tiny demo model knows. I should say so honestly.",
                       "I'm only a tiny demo model, so I can't help with that. I can do "
                       "arithmetic, tell the time, and answer simple questions about numbers, "
                       "days, months, colours and units.")])


def closing_cycle(rng):
    if rng.random() < 0.5:
        return Cycle("thanks", pick(rng, "Thanks!", "Thank you.", "Great, thanks", "Cool, thanks!",
                                    "Perfect."),
                     [Step("The user thanks me.", pick(rng, "You're welcome!",
                                                       "Glad I could help!",
                                                       "Any time! Anything else?"))])
    return Cycle("bye", pick(rng, "Bye!", "Goodbye.", "See you later.", "That's all, bye."),
                 [Step("The user says goodbye.", pick(rng, "Goodbye! Have a nice day.",
                                                      "Bye! Come back any time."))])


def fact_cycle(rng):
    kind = rng.randrange(13)
    if kind == 0:
        n = number(rng)
        p = "even" if n % 2 == 0 else "odd"
        last = n % 10
        r = f"{n} ends in {last}, which is {'even' if last % 2 == 0 else 'odd'}, so {n} is {p}."
        form = rng.randrange(3)
        if form == 0:
            return Cycle("fact-parity", pick(rng, f"Is {n} even or odd?", f"Is {n} odd or even?"),
                         [Step(r, f"{n} is {p}.")])
        ask = "even" if form == 1 else "odd"
        ans = ("Yes" if ask == p else "No") + f", {n} is {p}."
        return Cycle("fact-parity", pick(rng, f"Is {n} {ask}?", f"Is {n} an {ask} number?"),
                     [Step(r, ans)])
    if kind == 1:
        n = number(rng, 0, 998)
        if rng.random() < 0.5:
            return Cycle("fact-next", pick(rng, f"What number comes after {n}?",
                                           f"What is the next number after {n}?"),
                         [Step(f"The number after {n} is {n} + 1 = {n + 1}.",
                               f"{n + 1} comes after {n}.")])
        n += 1
        return Cycle("fact-prev", pick(rng, f"What number comes before {n}?",
                                       f"What is the number just before {n}?"),
                     [Step(f"The number before {n} is {n} - 1 = {n - 1}.",
                           f"{n - 1} comes before {n}.")])
    if kind == 2:
        a, b = number(rng), number(rng)
        while a == b:
            b = number(rng)
        big, small = max(a, b), min(a, b)
        want_small = rng.random() < 0.3
        q = (pick(rng, f"Which is smaller, {a} or {b}?", f"What is the smaller number: {a} or {b}?")
             if want_small else
             pick(rng, f"Which is bigger, {a} or {b}?", f"Which is larger: {a} or {b}?",
                  f"Is {a} greater than {b}?"))
        r = f"{big} is greater than {small}."
        if q.startswith("Is "):
            ans = ("Yes" if a > b else "No") + f", {big} is greater than {small}."
        elif want_small:
            ans = f"{small} is smaller than {big}."
        else:
            ans = f"{big} is larger than {small}."
        return Cycle("fact-compare", q, [Step(r, ans)])
    if kind == 3:
        n = number(rng, 1, 99999) if rng.random() < 0.5 else number(rng)
        d = len(str(n))
        return Cycle("fact-digits", pick(rng, f"How many digits does {n} have?",
                                         f"How many digits are in {n}?"),
                     [Step(f"{n} is written with {d} digit{'s' if d > 1 else ''}.",
                           f"{n} has {d} digit{'s' if d > 1 else ''}.")])
    if kind == 4:
        n = number(rng, 0, 999)
        w = words(n)
        return Cycle("fact-words", pick(rng, f"How do you write {n} in words?",
                                        f"Spell out the number {n}.", f"What is {n} in words?"),
                     [Step(f"{n} in English words is {w}.", f"{n} is written \"{w}\".")])
    if kind == 5:
        i, k = rng.randrange(7), rng.randint(1, 6)
        if k == 1 and rng.random() < 0.6:
            if rng.random() < 0.5:
                return Cycle("fact-day", pick(rng, f"What day comes after {DAYS[i]}?",
                                              f"Which day follows {DAYS[i]}?"),
                             [Step(f"The week goes {DAYS[i]}, {DAYS[(i + 1) % 7]}.",
                                   f"{DAYS[(i + 1) % 7]} comes after {DAYS[i]}.")])
            return Cycle("fact-day", pick(rng, f"What day comes before {DAYS[i]}?",
                                          f"Which day is before {DAYS[i]}?"),
                         [Step(f"The week goes {DAYS[(i - 1) % 7]}, {DAYS[i]}.",
                               f"{DAYS[(i - 1) % 7]} comes before {DAYS[i]}.")])
        j = (i + k) % 7
        chain = ", ".join(DAYS[(i + t) % 7] for t in range(k + 1))
        return Cycle("fact-day", pick(rng, f"What day is it {k} days after {DAYS[i]}?",
                                      f"If today is {DAYS[i]}, what day is it in {k} days?"),
                     [Step(f"Counting {k} days: {chain}.", f"It's {DAYS[j]}.")])
    if kind == 6:
        r = rng.randrange(3)
        if r == 0:
            return Cycle("fact-week", pick(rng, "How many days are in a week?",
                                           "How many days does a week have?"),
                         [Step("A week has seven days, Monday to Sunday.",
                               "A week has 7 days.")])
        d = rng.choice(DAYS)
        weekend = d in ("Saturday", "Sunday")
        return Cycle("fact-weekend", pick(rng, f"Is {d} a weekday or a weekend day?",
                                          f"Is {d} part of the weekend?"),
                     [Step(f"The weekend is Saturday and Sunday. {d} is "
                           f"{'' if weekend else 'not '}one of them.",
                           f"{d} is {'a weekend day' if weekend else 'a weekday'}.")])
    if kind == 7:
        m = rng.randrange(12)
        r = rng.randrange(3)
        if r == 0:
            nd = MONTH_DAYS[m]
            ans = (f"{MONTHS[m]} has 28 days, or 29 in a leap year." if m == 1
                   else f"{MONTHS[m]} has {nd} days.")
            return Cycle("fact-month", pick(rng, f"How many days are in {MONTHS[m]}?",
                                            f"How many days does {MONTHS[m]} have?"),
                         [Step(f"{MONTHS[m]} is month {m + 1}.", ans)])
        if r == 1:
            return Cycle("fact-month", pick(rng, f"What month comes after {MONTHS[m]}?",
                                            f"Which month follows {MONTHS[m]}?"),
                         [Step(f"After month {m + 1} comes month {(m + 1) % 12 + 1}.",
                               f"{MONTHS[(m + 1) % 12]} comes after {MONTHS[m]}.")])
        return Cycle("fact-month", pick(rng, f"What is the {ORDINALS[m]} month of the year?",
                                        f"Which month is number {m + 1}?"),
                     [Step(f"Counting from January, month {m + 1} is {MONTHS[m]}.",
                           f"The {ORDINALS[m]} month is {MONTHS[m]}.")])
    if kind == 8:
        (a, b), c = rng.choice(list(MIXES.items()))
        if rng.random() < 0.5:
            a, b = b, a
        return Cycle("fact-colour", pick(rng, f"What colour do you get when you mix {a} and {b}?",
                                         f"What do {a} and {b} make?",
                                         f"If I mix {a} paint with {b} paint, what colour is it?"),
                     [Step(f"Mixing {a} and {b} paint gives {c}.",
                           f"Mixing {a} and {b} gives {c}.")])
    if kind == 9:
        thing, c = rng.choice(THINGS)
        return Cycle("fact-colour", pick(rng, f"What colour is {thing}?",
                                         f"What is the colour of {thing}?"),
                     [Step(f"{thing[0].upper() + thing[1:]} is {c}.",
                           f"{thing[0].upper() + thing[1:]} is {c}.")])
    if kind == 10:
        if rng.random() < 0.5:
            return Cycle("fact-rainbow", pick(rng, "What are the colours of the rainbow?",
                                              "Name the colours of a rainbow."),
                         [Step("A rainbow has seven colours, from red to violet.",
                               "Red, orange, yellow, green, blue, indigo and violet.")])
        return Cycle("fact-primary", pick(rng, "What are the primary colours?",
                                          "Which colours are primary?"),
                     [Step("For paint, the primary colours are red, yellow and blue.",
                           "The primary colours of paint are red, yellow and blue.")])
    # unit conversions (kinds 11 and 12)
    name, plural, f, small, lo, hi = rng.choice(UNITS)
    n = rng.randint(lo, hi)
    big = name if n == 1 else plural
    if rng.random() < 0.7:
        q = pick(rng, f"How many {small} are in {n} {big}?", f"Convert {n} {big} to {small}.",
                 f"What is {n} {big} in {small}?")
        return Cycle("fact-units", q, [Step(f"1 {name} is {f} {small}, so {n} {big} is "
                                            f"{n} x {f} = {n * f} {small}.",
                                            f"{n} {big} is {n * f} {small}.")])
    m = n * f
    q = pick(rng, f"How many {plural} are {m} {small}?", f"Convert {m} {small} to {plural}.")
    return Cycle("fact-units", q, [Step(f"1 {name} is {f} {small}, so {m} {small} is "
                                        f"{m} / {f} = {n} {big}.", f"{m} {small} is {n} {big}.")])


# ---- conversations ----

def tools_choice(rng):
    r = rng.random()
    if r < 0.72:
        t = [CALCULATOR, CURRENT_TIME]
        if rng.random() < 0.5:
            t.reverse()
        return t
    if r < 0.82:
        return [CALCULATOR]
    if r < 0.88:
        return [CURRENT_TIME]
    return []


def first_cycle(rng, has_calc, has_time):
    while True:
        r = rng.random()
        if r < 0.08:
            return greeting_cycle(rng)
        if r < 0.14:
            return smalltalk_cycle(rng)
        if r < 0.32:
            return fact_cycle(rng)
        if r < 0.72:
            if has_calc:
                return arith_cycle(rng) if rng.random() < 0.95 else parallel_arith_cycle(rng)
            continue
        if r < 0.90:
            if has_time and has_calc and rng.random() < 0.05:
                return time_and_calc_cycle(rng)
            if has_time:
                return time_cycle(rng)
            return time_without_tool_cycle(rng)
        if r < 0.93 and not has_calc and not has_time:
            return time_without_tool_cycle(rng)
        return smalltalk_cycle(rng)


def next_cycle(rng, prev, has_calc, has_time):
    r = rng.random()
    if prev.kind.startswith("arith") and prev.value is not None and has_calc and r < 0.5:
        return followup_arith_cycle(rng, prev.value)
    if prev.kind.startswith("time-") and isinstance(prev.value, datetime.datetime) and r < 0.4:
        later = prev.value + datetime.timedelta(seconds=rng.randint(5, 900))
        c = time_cycle(rng, later)
        c.user = pick(rng, "And ", "What about: ", "") + c.user[0].lower() + c.user[1:] \
            if rng.random() < 0.5 else c.user
        return c
    if r < 0.7:
        return first_cycle(rng, has_calc, has_time)
    return closing_cycle(rng)


class Conversation:
    def __init__(self, tools, system, thinking, flag, cycles):
        self.tools, self.system, self.thinking, self.flag = tools, system, thinking, flag
        self.cycles = cycles

    def kwargs(self):
        if self.flag is None:
            return None
        return {"enable_thinking": self.flag}


def make_conversation(rng):
    tools = tools_choice(rng)
    names = {t["function"]["name"] for t in tools}
    has_calc, has_time = "calculator" in names, "current_time" in names
    system = rng.choice(SYSTEM_PROMPTS) if rng.random() < 0.2 else None
    thinking = rng.random() >= 0.2
    flag = (None if rng.random() < 0.7 else True) if thinking else False
    cycles = [first_cycle(rng, has_calc, has_time) if rng.random() < 0.85 else greeting_cycle(rng)]
    n = 1 + (rng.random() < 0.45) + (rng.random() < 0.2)
    while len(cycles) < n:
        cycles.append(next_cycle(rng, cycles[-1], has_calc, has_time))
    return Conversation(tools, system, thinking, flag, cycles)


def messages_of(conv, cycles=None):
    """OpenAI messages for the first `cycles` cycles (all by default)."""
    msgs = []
    if conv.system:
        msgs.append({"role": "system", "content": conv.system})
    k = 0
    for cyc in conv.cycles[:cycles]:
        msgs.append({"role": "user", "content": cyc.user})
        for step in cyc.steps:
            m = {"role": "assistant", "content": step.content}
            if conv.thinking:
                m["reasoning_content"] = step.reasoning
            if step.calls:
                m["tool_calls"] = []
                for name, args in step.calls:
                    k += 1
                    m["tool_calls"].append({"id": f"call_{k}", "type": "function",
                                            "function": {"name": name, "arguments": args}})
            msgs.append(m)
            for j, res in enumerate(step.results):
                msgs.append({"role": "tool", "tool_call_id": f"call_{k - len(step.results) + j + 1}",
                             "content": res})
    return msgs


def request(conv, msgs, add_generation_prompt):
    req = {"messages": msgs, "add_generation_prompt": add_generation_prompt}
    if conv.tools:
        req["tools"] = conv.tools
    if conv.kwargs() is not None:
        req["chat_template_kwargs"] = conv.kwargs()
    return req


class Renderer:
    def __init__(self):
        self.template = ref.compile_template(ref.load_template())

    def __call__(self, req):
        return ref.render(self.template, json.loads(json.dumps(req)))


def examples(conv, render, requests=None):
    """Training examples of a conversation (one per cycle): dicts with text and spans."""
    out = []
    msgs = messages_of(conv)
    user_idx = [i for i, m in enumerate(msgs) if m["role"] == "user"]
    for c, u in enumerate(user_idx):
        end = user_idx[c + 1] if c + 1 < len(user_idx) else len(msgs)
        full_req = request(conv, msgs[:end], False)
        text = render(full_req) + STOP_ANSWER
        if requests is not None:
            requests.append(full_req)
        spans = []
        for i in range(u + 1, end):
            if msgs[i]["role"] != "assistant":
                continue
            preq = request(conv, msgs[:i], True)
            prompt, turn = render(preq), render(request(conv, msgs[:i + 1], False))
            if requests is not None:
                requests.append(preq)
            stop = STOP_CALL if msgs[i].get("tool_calls") else STOP_ANSWER
            if not (turn.startswith(prompt) and text.startswith(turn)
                    and text[len(turn):].startswith(stop)):
                raise AssertionError(f"prefix property broken at message {i}: {prompt!r}")
            want_end = "<think>" if conv.thinking else "</think>"
            assert prompt.endswith("<|assistant|>" + want_end), prompt[-40:]
            spans.append([len(prompt), len(turn) + len(stop)])
        out.append({"kind": conv.cycles[c].kind, "thinking": conv.thinking, "text": text,
                    "spans": spans})
    return out


def check_cli(cli, n, seed):
    """Render n conversations' requests with glimmer-cli and with Jinja; all must agree."""
    rng = random.Random(seed)
    render = Renderer()
    reqs = []
    for _ in range(n):
        examples(make_conversation(rng), render, reqs)
    bad = 0
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "req.json")
        for req in reqs:
            with open(path, "w") as f:
                json.dump(req, f, ensure_ascii=False)
            got = subprocess.run([cli, "render", "--request", path], check=True,
                                 capture_output=True).stdout.decode("utf-8")
            if got != render(req):
                bad += 1
                if bad <= 3:
                    print(f"MISMATCH for {json.dumps(req)[:200]}...\n  cli:   {got[-120:]!r}\n"
                          f"  jinja: {render(req)[-120:]!r}")
    print(f"check-cli: {len(reqs)} requests from {n} conversations, {bad} mismatches")
    return bad == 0


CHUNK = 500   # conversations per seeded chunk: the corpus does not depend on the worker count


def make_chunk(args):
    seed, index, n = args
    rng = random.Random(seed * 1000003 + index)
    render = Renderer()
    return [json.dumps(ex, ensure_ascii=False) + "\n"
            for _ in range(n) for ex in examples(make_conversation(rng), render)]


def main():
    ap = argparse.ArgumentParser(description="Make the demo model's synthetic corpus.")
    ap.add_argument("--out", help="corpus.jsonl to write")
    ap.add_argument("--n", type=int, default=60000, help="conversations (default 60000)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--check-cli", metavar="GLIMMER_CLI",
                    help="compare the Jinja rendering with `glimmer-cli render` and exit")
    ap.add_argument("--check-n", type=int, default=200, help="conversations for --check-cli")
    a = ap.parse_args()
    if a.check_cli:
        sys.exit(0 if check_cli(a.check_cli, a.check_n, a.seed + 1000) else 1)
    if not a.out:
        ap.error("--out is required")
    t0 = time.time()
    chunks = [(a.seed, c, min(CHUNK, a.n - c * CHUNK)) for c in range((a.n + CHUNK - 1) // CHUNK)]
    kinds = {}
    n_ex = n_chars = 0
    with open(a.out, "w", encoding="utf-8") as f, \
            multiprocessing.Pool(min(len(chunks), os.cpu_count() or 1)) as pool:
        for lines in pool.imap(make_chunk, chunks):
            for line in lines:
                f.write(line)
                ex = json.loads(line)
                key = ex["kind"].split("-")[0] + ("" if ex["thinking"] else " (no think)")
                kinds[key] = kinds.get(key, 0) + 1
                n_ex += 1
                n_chars += len(ex["text"])
    print(f"make_corpus: {a.n} conversations, {n_ex} examples, {n_chars / 1e6:.1f} M chars "
          f"-> {a.out} in {time.time() - t0:.1f} s")
    for k in sorted(kinds):
        print(f"  {k:24s} {kinds[k]}")


if __name__ == "__main__":
    main()
