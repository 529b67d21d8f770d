#!/usr/bin/env python3
# evaluate.py: measure the demo model through glimmer-cli, the way the app runs it, and write
# the model card (data/demo-model/README.md).
# SPDX-License-Identifier: MIT
#
# Every case is a fresh conversation from make_corpus.py's generators with an evaluation seed;
# arithmetic questions use only expressions that make_corpus.py keeps out of the training corpus
# (held_out()). For each model turn: `glimmer-cli render` (the request) -> `tokenize` ->
# `generate --temperature 0` -> `parse` (reasoning, content, tool calls as OpenAI JSON). When the
# model calls a tool, the tool is run (calculator: make_corpus.calculate on the model's own
# expression; current_time: the case's timestamp) and the conversation continues with the
# model's own message and the result.
#
# Measured:
#   tool call   arithmetic: the first turn calls calculator with expr == the expected
#               expression (also reported: same value); time questions: current_time, no args
#   answer      the turn after the tool result states the result (calculator: the last
#               number in the answer is the result string; current_time: the asked parts of
#               the timestamp) and calls nothing
#   chat        greetings, small talk and facts: no tool call, non-empty answer; facts: the
#               answer equals the generator's
#   thinking    thinking on: the output has "</think>" before any content or tool call and
#               ends with a stop token; thinking off: no "<think>"/"</think>" and no reasoning
#
# Usage: evaluate.py --model data/demo-model --cli build/src/glimmer-cli
#                    [--bf16 DIR] [--card data/demo-model/README.md] [--n 200] [--seed 7]
# --bf16 also checks glimmer-cli's BF16 logits against transformers' and measures the BF16
# model for comparison.

import argparse
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import make_corpus as mc  # noqa: E402

MAX_TOKENS = 200
NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


class Cli:
    def __init__(self, cli, model, tokenizer, tmp):
        self.cli, self.model, self.tokenizer, self.tmp = cli, model, tokenizer, tmp
        self.ids = {}
        vocab = json.load(open(tokenizer, encoding="utf-8"))
        for a in vocab["added_tokens"]:
            self.ids[a["content"]] = a["id"]

    def run(self, *args):
        return subprocess.run([self.cli, *args], check=True, capture_output=True,
                              text=True).stdout

    def turn(self, req, key):
        """One model turn for a request: (generated ids, parsed message dict)."""
        rpath = os.path.join(self.tmp, f"{key}.json")
        with open(rpath, "w", encoding="utf-8") as f:
            json.dump(req, f, ensure_ascii=False)
        prompt = subprocess.run([self.cli, "render", "--request", rpath], check=True,
                                capture_output=True).stdout
        ppath = os.path.join(self.tmp, f"{key}.txt")
        with open(ppath, "wb") as f:
            f.write(prompt)
        tokens = self.run("tokenize", "--tokenizer", self.tokenizer, "--text-file", ppath).strip()
        out = self.run("generate", "--model", self.model, "--tokens", tokens, "--max-tokens",
                       str(MAX_TOKENS), "--temperature", "0", "--threads", "1").strip()
        ids = [int(x) for x in out.split(",") if x]
        msg = json.loads(self.run("parse", "--tokenizer", self.tokenizer, "--request", rpath,
                                  "--ids", out or "0"))
        if not out:
            msg = {"content": None, "reasoning_content": None, "tool_calls": [],
                   "finish_reason": "length"}
        return ids, msg


# ---- cases ----

def make_cases(seed, n):
    """(category, Conversation-like dict) list: arith, followup, time, chat, nothink."""
    rng = random.Random(seed)
    cases = []

    def conv(cycles, thinking=True, tools=None):
        tools = tools if tools is not None else (
            [mc.CALCULATOR, mc.CURRENT_TIME] if rng.random() < 0.5
            else [mc.CURRENT_TIME, mc.CALCULATOR])
        flag = None if thinking else False
        return mc.Conversation(tools, None, thinking, flag, cycles)

    for _ in range(n):
        cases.append(("arith", conv([mc.arith_cycle(rng, held=True)])))
    for _ in range(max(1, n // 4)):
        first = mc.arith_cycle(rng, held=True)
        cases.append(("followup", conv([first, mc.followup_arith_cycle(rng, first.value)])))
    for _ in range(max(1, n // 3)):
        cases.append(("time", conv([mc.time_cycle(rng)])))
    for _ in range(max(1, n // 3)):
        r = rng.random()
        c = (mc.greeting_cycle(rng) if r < 0.25 else mc.smalltalk_cycle(rng) if r < 0.4
             else mc.fact_cycle(rng))
        cases.append(("chat", conv([c])))
    for i in range(max(1, n // 3)):
        c = [mc.arith_cycle(rng, held=True), mc.time_cycle(rng), mc.fact_cycle(rng),
             mc.greeting_cycle(rng)][i % 4]
        cases.append(("nothink", conv([c], thinking=False)))
    return cases


def time_keys(kind, d):
    """Strings the answer to a time question must contain."""
    what = kind.split("-", 1)[1]
    hm = d.strftime("%H:%M")
    month = mc.MONTHS[d.month - 1]
    return {"time": [hm], "date": [month, str(d.day), str(d.year)], "year": [str(d.year)],
            "month": [month], "datetime": [hm, month, str(d.day)],
            "part": [mc.part_of_day(d.hour)]}[what]


def think_ok(ids, msg, thinking, cli):
    """Thinking on: '</think>' present and before any tool call, and a stop token at the end.
    Thinking off: no think tags and no reasoning."""
    stops = {cli.ids["<|endoftext|>"], cli.ids["<|user|>"], cli.ids["<|observation|>"]}
    stopped = bool(ids) and ids[-1] in stops
    t_open, t_close, call = cli.ids["<think>"], cli.ids["</think>"], cli.ids["<tool_call>"]
    if not thinking:
        return stopped and t_open not in ids and t_close not in ids and \
            not msg.get("reasoning_content")
    if t_close not in ids:
        return False
    k = ids.index(t_close)
    return stopped and call not in ids[:k]


def assistant_message(msg):
    m = {"role": "assistant", "content": msg.get("content") or ""}
    if msg.get("reasoning_content"):
        m["reasoning_content"] = msg["reasoning_content"]
    if msg.get("tool_calls"):
        m["tool_calls"] = msg["tool_calls"]
    return m


def call_args(call):
    a = call["function"].get("arguments") or "{}"
    try:
        return json.loads(a) if isinstance(a, str) else a
    except ValueError:
        return None


def run_case(cli, idx, category, conv):
    """Run one case; returns a dict of booleans (None = not applicable) and a transcript."""
    res = {"category": category, "kind": conv.cycles[-1].kind, "thinking": conv.thinking}
    history = mc.messages_of(conv, len(conv.cycles) - 1)   # earlier cycles: ground truth
    cyc = conv.cycles[-1]
    history.append({"role": "user", "content": cyc.user})
    expect_calls = cyc.steps[0].calls
    req = mc.request(conv, history, True)
    ids, msg = cli.turn(req, f"{idx}-1")
    res["transcript"] = [{"user": cyc.user, "ids": len(ids), "message": msg}]
    think = [think_ok(ids, msg, conv.thinking, cli)]
    calls = msg.get("tool_calls") or []
    if not expect_calls:
        res["no_call"] = not calls
        res["answered"] = bool((msg.get("content") or "").strip())
        if cyc.kind.startswith("fact-"):
            res["fact_exact"] = (msg.get("content") or "").strip() == cyc.steps[0].content
    else:
        name, args = expect_calls[0]
        got = calls[0] if calls else None
        got_args = call_args(got) if got else None
        res["call_name"] = got is not None and got["function"]["name"] == name
        if name == "calculator":
            gexpr = (got_args or {}).get("expr") if isinstance(got_args, dict) else None
            gexpr = gexpr if isinstance(gexpr, str) else None
            res["call_exact"] = res["call_name"] and gexpr is not None and \
                gexpr.strip() == args["expr"] and len(got_args) == 1
            res["call_value"] = res["call_name"] and gexpr is not None and \
                mc.calculate(gexpr) == mc.calculate(args["expr"])
            result = mc.calculate(gexpr) if res["call_name"] and gexpr else None
        else:
            res["call_exact"] = res["call_name"] and got_args == {}
            res["call_value"] = res["call_exact"]
            result = mc.iso(cyc.value) if res["call_name"] else None
        res["one_call"] = len(calls) == 1
        if result is not None and res["call_name"]:
            history.append(assistant_message(msg))
            history.append({"role": "tool", "tool_call_id": calls[0].get("id", "call_1"),
                            "content": result})
            ids2, msg2 = cli.turn(mc.request(conv, history, True), f"{idx}-2")
            think.append(think_ok(ids2, msg2, conv.thinking, cli))
            content = msg2.get("content") or ""
            if name == "calculator":   # the answer's last number is the result
                nums = NUMBER.findall(content)
                uses = bool(nums) and nums[-1] == result
            else:
                uses = all(k in content for k in time_keys(cyc.kind, cyc.value))
            res["answer_uses_result"] = uses and not msg2.get("tool_calls")
            res["transcript"].append({"tool": result, "ids": len(ids2), "message": msg2})
        else:
            res["answer_uses_result"] = None
    res["think_ok"] = all(think)
    res["think_turns"] = len(think)
    return res


def rate(results, key, pred=lambda r: True):
    vals = [r[key] for r in results if pred(r) and r.get(key) is not None]
    return (sum(vals), len(vals))


def summarize(results):
    is_ = lambda c: (lambda r: r["category"] == c)  # noqa: E731
    rows = [
        ("arithmetic: calculator called with the exact expression", rate(results, "call_exact", is_("arith"))),
        ("arithmetic: calculator called, same value", rate(results, "call_value", is_("arith"))),
        ("arithmetic: final answer states the tool result", rate(results, "answer_uses_result", is_("arith"))),
        ("follow-up (\"multiply that by 3\"): exact expression", rate(results, "call_exact", is_("followup"))),
        ("follow-up: final answer states the tool result", rate(results, "answer_uses_result", is_("followup"))),
        ("time/date: current_time called without arguments", rate(results, "call_exact", is_("time"))),
        ("time/date: answer states the asked part of the timestamp", rate(results, "answer_uses_result", is_("time"))),
        ("chat and facts: no tool call", rate(results, "no_call", is_("chat"))),
        ("facts: answer equals the generator's", rate(results, "fact_exact", is_("chat"))),
        ("thinking on: </think> closes the reasoning before the answer (all turns)",
         rate(results, "think_ok", lambda r: r["thinking"])),
        ("thinking off: no reasoning, no think tags", rate(results, "think_ok", lambda r: not r["thinking"])),
        ("thinking off: arithmetic calls the calculator correctly",
         rate(results, "call_exact", lambda r: r["category"] == "nothink" and r["kind"] == "arith")),
        ("thinking off: answer states the tool result",
         rate(results, "answer_uses_result", lambda r: r["category"] == "nothink")),
    ]
    return rows


def pct(x):
    k, n = x
    return f"{100.0 * k / n:.1f}% ({k}/{n})" if n else "n/a"


def run_all(cli_path, model, tokenizer, cases, jobs):
    with tempfile.TemporaryDirectory(prefix="glimmer-eval-") as tmp:
        cli = Cli(cli_path, model, tokenizer, tmp)
        with ThreadPoolExecutor(jobs) as ex:
            futs = [ex.submit(run_case, cli, i, c, conv) for i, (c, conv) in enumerate(cases)]
            return [f.result() for f in futs]


def logits_check(cli_path, bf16_dir, tokenizer):
    """glimmer-cli's BF16 logits vs transformers' (float32 compute on the BF16 weights)."""
    import numpy as np
    import torch
    from tokenizers import Tokenizer
    from transformers import Glm4MoeLiteForCausalLM
    conv = mc.Conversation([mc.CALCULATOR], None, True, None,
                           [mc.arith_cycle(random.Random(3), held=True)])
    text = mc.Renderer()(mc.request(conv, mc.messages_of(conv), False))
    ids = Tokenizer.from_file(tokenizer).encode(text, add_special_tokens=False).ids
    model = Glm4MoeLiteForCausalLM.from_pretrained(bf16_dir, dtype=torch.float32,
                                                   attn_implementation="eager",
                                                   experts_implementation="eager").eval()
    with torch.no_grad():
        ref = model(torch.tensor([ids])).logits[0].numpy()
    with tempfile.NamedTemporaryFile(suffix=".f32") as f:
        subprocess.run([cli_path, "logits", "--model", bf16_dir, "--tokens",
                        ",".join(map(str, ids)), "--out", f.name], check=True,
                       capture_output=True)
        got = np.fromfile(f.name, dtype="<f4").reshape(ref.shape)
    rel = float(np.linalg.norm(got - ref) / np.linalg.norm(ref))
    agree = float((got.argmax(-1) == ref.argmax(-1)).mean())
    return {"tokens": len(ids), "rel_l2": rel, "argmax_agree": agree}


# ---- model card ----

def count(v):
    """A number with thousands separators, or "not recorded" for a log that lacks it."""
    return f"{v:,}" if isinstance(v, (int, float)) else "not recorded"


def card(args, rows, rows_bf16, lcheck, samples, cfg, tlog, n_cases, eval_s):
    p = tlog.get("parameters")
    msize = os.path.getsize(os.path.join(args.model, "model.safetensors"))
    lines = []
    w = lines.append
    w("# Glimmer demo model")
    w("")
    w("A very small model with the architecture of GLM-4.7-Flash (`Glm4MoeLiteForCausalLM`: MLA "
      "attention with q_lora, a dense first layer, then MoE layers with a shared expert and a "
      "sigmoid router with `e_score_correction_bias`, n_group 1), trained from scratch on a "
      "synthetic corpus so that the app has something real to run: it thinks (`<think>` … "
      "`</think>`), answers greetings and simple questions, and calls two tools, `calculator` "
      "and `current_time`, in GLM-4.7's exact chat and tool-call format. It knows nothing "
      "else. Stored as a ModelOpt NVFP4 export made by `glimmer-cli quantize`.")
    w("")
    w("## What it is")
    w("")
    w("| | |")
    w("| --- | --- |")
    w(f"| parameters | {p:,} ({p * 2 / 1e6:.1f} MB in BF16) |" if p else "| parameters | ? |")
    w(f"| files | `model.safetensors` {msize / 1e6:.2f} MB (NVFP4 linears, BF16 embeddings, "
      "lm_head, norms and routers), `config.json`, `hf_quant_config.json`, `tokenizer.json`, "
      "`chat_template.jinja` (GLM-4.7-Flash's, byte for byte) |")
    w(f"| layers | {cfg['num_hidden_layers']} (1 dense, {cfg['num_hidden_layers'] - 1} MoE), "
      f"hidden {cfg['hidden_size']} |")
    w(f"| attention | MLA, {cfg['num_attention_heads']} heads, q_lora {cfg['q_lora_rank']}, "
      f"kv_lora {cfg['kv_lora_rank']}, qk {cfg['qk_nope_head_dim']}+{cfg['qk_rope_head_dim']} "
      f"(nope+rope), v {cfg['v_head_dim']}, RoPE theta {cfg.get('rope_theta')} |")
    w(f"| MoE | {cfg['n_routed_experts']} routed experts, top {cfg['num_experts_per_tok']}, "
      f"{cfg['n_shared_experts']} shared, expert ffn {cfg['moe_intermediate_size']}, dense ffn "
      f"{cfg['intermediate_size']}, routed scaling {cfg['routed_scaling_factor']} |")
    w(f"| vocabulary | {cfg['vocab_size']}: byte-level BPE trained on the corpus with "
      "GLM-4.7-Flash's pipeline and its 36 added tokens (same strings and special flags) |")
    w(f"| stop ids | {cfg['eos_token_id']} = `<|endoftext|>`, `<|user|>`, `<|observation|>` |")
    w("")
    w("## How it was made")
    w("")
    w("Everything is regenerated by the scripts in `tools/demo-model/`; no text comes from "
      "anywhere else.")
    w("")
    w("1. `make_corpus.py`: seeded templates and random numbers make conversations (greetings, "
      "small talk, facts the generator computes about numbers, days, months, colours and "
      "units, arithmetic through `calculator`, date and time through `current_time`, "
      "follow-ups, thinking-off requests). They are rendered with the real chat template "
      "(checked against `glimmer-cli render`). The loss covers only what the model emits after "
      "the generation prompt: reasoning, `</think>`, content and/or tool calls, and the stop "
      "token (`<|observation|>` after tool calls, `<|user|>` after an answer).")
    w("2. `make_tokenizer.py`: the BPE, trained with Hugging Face tokenizers on the corpus.")
    w("3. `train.py`: transformers' `Glm4MoeLiteForCausalLM`, AdamW, warm-up and cosine decay, "
      "bf16 autocast, auxiliary-loss-free expert balancing; saved as a BF16 checkpoint with "
      "per-expert tensors, as the real model stores them.")
    w("4. `glimmer-cli quantize` to NVFP4; `evaluate.py` measures it through `glimmer-cli` and "
      "writes this card.")
    w("")
    if tlog:
        a = tlog.get("args", {})
        w("| training | |")
        w("| --- | --- |")
        w(f"| device | {tlog.get('gpu') or tlog.get('device')}, torch {tlog.get('torch')}, "
          f"transformers {tlog.get('transformers')} |")
        w(f"| steps | {tlog.get('steps')} in {tlog.get('train_seconds')} s, "
          f"{a.get('batch_tokens')} padded tokens a step, peak lr {a.get('lr')}, seed "
          f"{a.get('seed')} |")
        w(f"| data | {tlog.get('train_examples')} examples, {count(tlog.get('tokens_seen'))} "
          f"tokens seen ({count(tlog.get('loss_tokens_seen'))} in the loss) |")
        w(f"| loss | final train {tlog.get('final_train_loss')}, held-out "
          f"{tlog.get('val_loss')} |")
        w(f"| speed | {count(tlog.get('tokens_per_second'))} tokens/s |")
        w("")
    w("Commands (repository root):")
    w("")
    w("```sh")
    w("# on the GPU machine: corpus, tokenizer, training; the BF16 model lands in $OUT")
    w(f"tools/demo-model/run-gpu.sh \"$OUT\" {args.minutes or 'MINUTES'}")
    w("# here: quantize into data/demo-model/, evaluate, write this card")
    w("tools/demo-model/finish.sh BF16_DIR")
    w("```")
    w("")
    w("## Measured quality")
    w("")
    w(f"{n_cases} held-out conversations (evaluation seed {args.seed}; arithmetic expressions "
      "that never occur in the corpus), greedy decoding with `glimmer-cli generate "
      "--temperature 0` on the CPU backend, parsed with `glimmer-cli parse`. When the model "
      "calls a tool, the tool runs and the model's own message and the result go back in "
      f"({eval_s:.0f} s).")
    w("")
    if rows_bf16:
        w("| check | NVFP4 (shipped) | BF16 |")
        w("| --- | ---: | ---: |")
        for (name, v), (_, vb) in zip(rows, rows_bf16):
            w(f"| {name} | {pct(v)} | {pct(vb)} |")
    else:
        w("| check | NVFP4 (shipped) |")
        w("| --- | ---: |")
        for name, v in rows:
            w(f"| {name} | {pct(v)} |")
    w("")
    if lcheck:
        w(f"glimmer-cli's BF16 logits against transformers' on a {lcheck['tokens']}-token "
          f"conversation: relative L2 {lcheck['rel_l2']:.1e}, argmax agrees on "
          f"{100 * lcheck['argmax_agree']:.1f}% of positions.")
        w("")
    w("## Sample outputs (NVFP4, greedy)")
    w("")
    for s in samples:
        w("```")
        w(s)
        w("```")
        w("")
    w("## Limits")
    w("")
    w("It is a demo of the pipeline, not an assistant: outside the corpus's templates "
      "(English, short questions, the two tools above) its answers are nonsense, and it can "
      "state wrong facts with confidence. Tool results are its only source of arithmetic and "
      "time. The calculator it expects evaluates + - * / and parentheses and prints integers "
      "exactly and other values with up to 10 significant digits; `current_time` returns a "
      "local ISO 8601 timestamp without time zone (`2025-03-14T09:27:05`).")
    w("")
    return "\n".join(lines)


def sample_text(r):
    out = []
    for t in r["transcript"]:
        if "user" in t:
            out.append(f"user: {t['user']}")
        if "tool" in t:
            out.append(f"tool: {t['tool']}")
        m = t["message"]
        if m.get("reasoning_content"):
            out.append(f"  reasoning: {m['reasoning_content']}")
        if m.get("content"):
            out.append(f"  content: {m['content']}")
        for c in m.get("tool_calls") or []:
            out.append(f"  tool call: {c['function']['name']} {c['function']['arguments']}")
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description="Evaluate the demo model through glimmer-cli.")
    ap.add_argument("--model", required=True, help="the NVFP4 model folder")
    ap.add_argument("--cli", required=True, help="glimmer-cli")
    ap.add_argument("--tokenizer", help="default: MODEL/tokenizer.json")
    ap.add_argument("--bf16", help="the BF16 folder: logits check and a comparison column")
    ap.add_argument("--n", type=int, default=200, help="arithmetic cases (others scale)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--card", help="write the model card here")
    ap.add_argument("--json", help="write all results here")
    ap.add_argument("--minutes", help="training minutes, for the command shown in the card")
    args = ap.parse_args()
    tokenizer = args.tokenizer or os.path.join(args.model, "tokenizer.json")
    cases = make_cases(args.seed, args.n)
    t0 = time.time()
    results = run_all(args.cli, args.model, tokenizer, cases, args.jobs)
    eval_s = time.time() - t0
    rows = summarize(results)
    rows_bf16 = lcheck = None
    if args.bf16:
        rows_bf16 = summarize(run_all(args.cli, args.bf16, tokenizer, cases, args.jobs))
        lcheck = logits_check(args.cli, args.bf16, tokenizer)
    width = max(len(n) for n, _ in rows)
    print(f"evaluate: {len(cases)} cases on {args.model} in {eval_s:.0f} s")
    for i, (name, v) in enumerate(rows):
        extra = f"   BF16 {pct(rows_bf16[i][1])}" if rows_bf16 else ""
        print(f"  {name:{width}s}  {pct(v)}{extra}")
    if lcheck:
        print(f"  BF16 logits vs transformers: rel L2 {lcheck['rel_l2']:.2e}, argmax agrees "
              f"{100 * lcheck['argmax_agree']:.1f}%")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rows": rows, "rows_bf16": rows_bf16, "logits": lcheck,
                       "results": results}, f, indent=1, default=str)
    if args.card:
        cfg = json.load(open(os.path.join(args.model, "config.json")))
        tpath = os.path.join(args.model, "train_log.json")
        tlog = json.load(open(tpath)) if os.path.exists(tpath) else {}
        picks = []
        for cat in ("arith", "time", "chat", "nothink", "followup"):
            picks += [r for r in results if r["category"] == cat][:1]
        text = card(args, rows, rows_bf16, lcheck, [sample_text(r) for r in picks], cfg, tlog,
                    len(cases), eval_s)
        os.makedirs(os.path.dirname(os.path.abspath(args.card)), exist_ok=True)
        with open(args.card, "w", encoding="utf-8") as f:
            f.write(text)
        print(f"wrote {args.card}")


if __name__ == "__main__":
    main()
