#!/usr/bin/env python3
# train.py: train the demo model, a small Glm4MoeLiteForCausalLM (GLM-4.7-Flash's architecture:
# MLA with q_lora, a dense first layer, then MoE layers with a shared expert, sigmoid router with
# e_score_correction_bias, n_group 1), on the corpus of make_corpus.py, and save it as a BF16
# Hugging Face checkpoint in the layout of the real one.
# SPDX-License-Identifier: MIT
#
# Training: transformers 5.17's own model class, AdamW, linear warm-up then cosine decay to 10%,
# bf16 autocast on CUDA (fp32 master weights; the router stays fp32), right-padded batches of
# similar lengths (no attention mask needed: the model is causal and padding comes last), loss
# only on the assistant spans of each example (reasoning, "</think>", content, tool calls and
# the stop token). The router bias is not trained by gradient: as in DeepSeek-V3's
# auxiliary-loss-free balancing it moves by --bias-rate towards equal expert load after each
# step.
#
# Reproducibility: torch.manual_seed(--seed), data order from numpy's generator seeded with
# --seed, deterministic algorithms requested. With --steps the run is bit-for-bit repeatable on
# CPU; on CUDA it asks for deterministic kernels (warn_only). With --minutes and no --steps, the
# speed of the first steps fixes the step count of the schedule (printed, so a rerun with
# --steps N repeats it); training also stops when the time is up.
#
# Output (--out DIR): config.json (the real model's keys, eos = the tokenizer's <|endoftext|>,
# <|user|>, <|observation|>), generation_config.json, model.safetensors (BF16, per-expert
# mlp.experts.E.{gate,up,down}_proj.weight, fp32 e_score_correction_bias), tokenizer.json,
# tokenizer_config.json, chat_template.jinja (data/chat_template.jinja), train_log.json.
#
# Usage: train.py --corpus corpus.jsonl --tokenizer tokenizer.json --out DIR
#                 [--device cuda|cpu] [--minutes N] [--steps N] [--preset demo|tiny] ...

import argparse
import json
import math
import os
import shutil
import sys
import time

os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "true")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tools", "reference"))
import make_fixtures as mf  # noqa: E402  (config.json keys, BF16 layout helpers)
import transformers  # noqa: E402
from safetensors.torch import save_file  # noqa: E402
from tokenizers import Tokenizer  # noqa: E402
from transformers import Glm4MoeLiteForCausalLM  # noqa: E402

# Shapes. Every NVFP4 input dimension (hidden, q_lora, kv_lora, heads * v_head, intermediate,
# moe_intermediate) is a multiple of 16.
PRESETS = {
    # 7.4M parameters with the corpus's 2.6k vocabulary: 14.7 MB in BF16
    "demo": dict(hidden_size=256, num_hidden_layers=6, num_attention_heads=4,
                 q_lora_rank=128, kv_lora_rank=128, qk_nope_head_dim=32, qk_rope_head_dim=16,
                 v_head_dim=64, intermediate_size=768, moe_intermediate_size=64,
                 n_routed_experts=16, num_experts_per_tok=4, n_shared_experts=1),
    # for CPU smoke tests
    "tiny": dict(hidden_size=64, num_hidden_layers=3, num_attention_heads=2,
                 q_lora_rank=32, kv_lora_rank=32, qk_nope_head_dim=16, qk_rope_head_dim=8,
                 v_head_dim=16, intermediate_size=128, moe_intermediate_size=32,
                 n_routed_experts=8, num_experts_per_tok=2, n_shared_experts=1),
}
SHAPE_KEYS = list(PRESETS["demo"])
STOPS = ("<|endoftext|>", "<|user|>", "<|observation|>")


def log(msg):
    print(msg, flush=True)


# ---- data ----

def load_examples(corpus, tok, max_len):
    """[(ids int32, loss mask bool)] of the corpus; examples longer than max_len are dropped.

    Each text is cut at its span boundaries and the pieces are encoded separately; the spans
    start and end at added tokens ("<think>"/"</think>" before, the stop token last), where HF
    cuts the text first anyway, so the ids are those of the whole text (checked on a sample)."""
    pieces, owners, flags = [], [], []
    texts = []
    with open(corpus, encoding="utf-8") as f:
        for n, line in enumerate(f):
            ex = json.loads(line)
            text, pos = ex["text"], 0
            if n < 200:
                texts.append(text)
            for s, e in ex["spans"]:
                for a, b, flag in ((pos, s, False), (s, e, True)):
                    if b > a:
                        pieces.append(text[a:b])
                        owners.append(n)
                        flags.append(flag)
                pos = e
            if pos < len(text):
                pieces.append(text[pos:])
                owners.append(n)
                flags.append(False)
    encs = tok.encode_batch(pieces, add_special_tokens=False)
    n_ex = owners[-1] + 1 if owners else 0
    ids = [[] for _ in range(n_ex)]
    masks = [[] for _ in range(n_ex)]
    for enc, o, flag in zip(encs, owners, flags):
        ids[o].extend(enc.ids)
        masks[o].extend([flag] * len(enc.ids))
    for i, t in enumerate(texts):
        if tok.encode(t, add_special_tokens=False).ids != ids[i]:
            raise SystemExit(f"example {i}: piecewise encoding differs from the whole text")
    out, dropped = [], 0
    for i, m in zip(ids, masks):
        if len(i) > max_len:
            dropped += 1
            continue
        out.append((np.asarray(i, dtype=np.int32), np.asarray(m, dtype=bool)))
    return out, dropped


def batches(examples, batch_tokens, seed, pad_id):
    """Endless deterministic stream of (ids [B, T], labels [B, T]) int64 tensors. Each epoch:
    a seeded permutation, cut into pools, each pool sorted by length and cut into batches of
    at most batch_tokens padded tokens, the batches of the epoch shuffled."""
    lengths = np.array([len(e[0]) for e in examples])
    epoch = 0
    while True:
        rng = np.random.default_rng([seed, epoch])
        perm = rng.permutation(len(examples))
        plan = []
        pool = max(1, 64 * batch_tokens // max(1, int(lengths.mean())))
        for p0 in range(0, len(perm), pool):
            chunk = sorted(perm[p0:p0 + pool], key=lambda i: lengths[i])
            cur = []
            for i in chunk:
                if cur and (len(cur) + 1) * lengths[i] > batch_tokens:
                    plan.append(cur)
                    cur = []
                cur.append(i)
            if cur:
                plan.append(cur)
        for b in rng.permutation(len(plan)):
            yield collate([examples[i] for i in plan[b]], pad_id)
        epoch += 1


def collate(exs, pad_id):
    T = max(len(e[0]) for e in exs)
    ids = np.full((len(exs), T), pad_id, dtype=np.int64)
    labels = np.full((len(exs), T), -100, dtype=np.int64)
    for r, (i, m) in enumerate(exs):
        ids[r, :len(i)] = i
        labels[r, :len(i)] = np.where(m, i, -100)
    return torch.from_numpy(ids), torch.from_numpy(labels)


# ---- model ----

def config_dict(shape, vocab, eos, args):
    theta = int(args.rope_theta) if float(args.rope_theta).is_integer() else args.rope_theta
    fx = {"model": dict(shape, vocab_size=vocab, num_key_value_heads=shape["num_attention_heads"],
                        n_group=1, topk_group=1, first_k_dense_replace=1, norm_topk_prob=True,
                        routed_scaling_factor=args.routed_scaling_factor, rms_norm_eps=1e-5,
                        tie_word_embeddings=False, num_nextn_predict_layers=0),
          "rope_style": "toplevel_with_null_scaling", "rope_theta": theta,
          "write_mlp_layer_types": False}
    c = mf.make_config_dict(fx)   # the real config.json's keys, GLM-4.7-Flash's style
    c["eos_token_id"] = eos
    c["pad_token_id"] = eos[0]
    c["max_position_embeddings"] = args.max_position_embeddings
    return c


def fp32_router(model):
    """Keep router logits in fp32 under autocast too (the engine computes them in fp32)."""
    for mod in model.modules():
        if type(mod).__name__ == "Glm4MoeLiteTopkRouter":
            orig = mod.forward

            def forward(h, orig=orig):
                with torch.autocast(device_type=h.device.type, enabled=False):
                    return orig(h.float())
            mod.forward = forward


class Balancer:
    """Auxiliary-loss-free load balancing (DeepSeek-V3): after each step, every router's
    e_score_correction_bias moves by `rate` up for experts that got fewer than the mean number
    of (non-padding) tokens, down for those that got more."""

    def __init__(self, model, rate):
        self.rate, self.valid, self.counts = rate, None, {}
        self.routers = [m for m in model.modules() if type(m).__name__ == "Glm4MoeLiteTopkRouter"]
        for r in self.routers:
            r.register_forward_hook(self.hook)

    def hook(self, mod, args, out):
        if not mod.training:
            return
        idx = out[2]
        if self.valid is not None:
            idx = idx[self.valid]
        c = torch.bincount(idx.flatten(), minlength=mod.num_experts)
        self.counts[mod] = self.counts.get(mod, 0) + c

    def step(self):
        imbalance = 0.0
        with torch.no_grad():
            for r, c in self.counts.items():
                c = c.float()
                r.e_score_correction_bias += self.rate * torch.sign(c.mean() - c)
                imbalance = max(imbalance, float(c.max() / c.mean().clamp(min=1)))
        self.counts = {}
        return imbalance


def build_model(cfg, device):
    hf_cfg = mf.hf_config_from_dict(cfg)
    model = Glm4MoeLiteForCausalLM._from_config(hf_cfg, attn_implementation="sdpa",
                                                experts_implementation="eager",
                                                dtype=torch.float32)
    return model.to(device)


def pick_experts(model, batch, device, autocast, candidates=("eager", "grouped_mm")):
    """The fastest of transformers' experts implementations that computes the same loss and
    gradients as "eager" on one batch (any failure rules a candidate out)."""
    ids, labels = batch[0].to(device), batch[1].to(device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    ref, best = None, None
    for name in candidates:
        try:
            model.set_experts_implementation(name)
            times = []
            for i in range(4):
                model.zero_grad(set_to_none=True)
                sync()
                t = time.time()
                with autocast():
                    loss, _ = loss_of(model, ids, labels)
                loss.backward()
                sync()
                times.append(time.time() - t)
            grads = torch.cat([p.grad.flatten().float() for p in model.parameters()
                               if p.grad is not None])
            ms = 1000 * min(times[1:])
            if ref is None:
                ref = (float(loss), grads)
                ok = True
            else:
                dl = abs(float(loss) - ref[0]) / abs(ref[0])
                dg = float((grads - ref[1]).norm() / ref[1].norm())
                ok = dl < 1e-2 and dg < 5e-2
            log(f"experts {name}: {ms:.1f} ms fwd+bwd, loss {float(loss):.5f}"
                + ("" if ok else " (differs from eager: not used)"))
            if ok and (best is None or ms < best[1]):
                best = (name, ms)
        except Exception as e:  # noqa: BLE001 - any failure only rules the candidate out
            log(f"experts {name}: unusable ({type(e).__name__}: {str(e)[:120]})")
    model.zero_grad(set_to_none=True)
    model.set_experts_implementation(best[0])
    return best[0]


def count_params(model):
    return sum(p.numel() for p in model.parameters())


def loss_of(model, ids, labels):
    """Mean cross-entropy over the labelled positions (logits only where needed)."""
    h = model.model(input_ids=ids, use_cache=False).last_hidden_state
    tgt = labels[:, 1:]
    sel = tgt != -100
    logits = model.lm_head(h[:, :-1][sel]).float()
    return F.cross_entropy(logits, tgt[sel]), int(sel.sum())


def lr_at(step, total, warmup, peak, min_frac):
    """Linear warm-up, then cosine from peak down to min_frac * peak at step `total`."""
    if step < warmup:
        return peak * (step + 1) / warmup
    p = min(1.0, (step - warmup) / max(1, total - warmup))
    return peak * (min_frac + (1 - min_frac) * 0.5 * (1 + math.cos(math.pi * p)))


def evaluate(model, examples, device, batch_tokens, pad_id, autocast):
    model.eval()
    tot, n = 0.0, 0
    with torch.no_grad():
        order = sorted(range(len(examples)), key=lambda i: len(examples[i][0]))
        cur = []
        groups = []
        for i in order:
            if cur and (len(cur) + 1) * len(examples[i][0]) > batch_tokens:
                groups.append(cur)
                cur = []
            cur.append(i)
        if cur:
            groups.append(cur)
        for g in groups:
            ids, labels = collate([examples[i] for i in g], pad_id)
            with autocast():
                loss, k = loss_of(model, ids.to(device), labels.to(device))
            tot += float(loss) * k
            n += k
    model.train()
    return tot / max(1, n)


# ---- saving ----

def bf16_state_dict(model, cfg):
    """The on-disk layout of the real checkpoint: per-expert projections, BF16, fp32 router
    bias, no RoPE buffers; sorted names."""
    I = cfg["moe_intermediate_size"]
    out = {}
    for k, v in model.state_dict().items():
        v = v.detach().to("cpu")
        if "rotary_emb" in k:
            continue
        if k.endswith(".mlp.experts.gate_up_proj"):
            pre = k[: -len("gate_up_proj")]
            for e in range(v.shape[0]):
                out[f"{pre}{e}.gate_proj.weight"] = v[e, :I].to(torch.bfloat16).contiguous()
                out[f"{pre}{e}.up_proj.weight"] = v[e, I:].to(torch.bfloat16).contiguous()
        elif k.endswith(".mlp.experts.down_proj"):
            pre = k[: -len("down_proj")]
            for e in range(v.shape[0]):
                out[f"{pre}{e}.down_proj.weight"] = v[e].to(torch.bfloat16).contiguous()
        elif k.endswith("e_score_correction_bias"):
            out[k] = v.to(torch.float32).contiguous()
        else:
            out[k] = v.to(torch.bfloat16).contiguous()
    return dict(sorted(out.items()))


def save(model, cfg, args, tok_path, log_obj):
    os.makedirs(args.out, exist_ok=True)
    sd = bf16_state_dict(model, cfg)
    save_file(sd, os.path.join(args.out, "model.safetensors"), metadata={"format": "pt"})
    mf.write_json(os.path.join(args.out, "config.json"), cfg)
    eos = cfg["eos_token_id"]
    mf.write_json(os.path.join(args.out, "generation_config.json"), {
        "_from_model_config": True, "do_sample": True, "eos_token_id": eos,
        "pad_token_id": cfg["pad_token_id"], "temperature": 1.0, "top_p": 0.95,
        "transformers_version": transformers.__version__})
    shutil.copyfile(tok_path, os.path.join(args.out, "tokenizer.json"))
    shutil.copyfile(os.path.join(ROOT, "data", "chat_template.jinja"),
                    os.path.join(args.out, "chat_template.jinja"))
    mf.write_json(os.path.join(args.out, "tokenizer_config.json"), {
        "tokenizer_class": "PreTrainedTokenizerFast", "eos_token": "<|endoftext|>",
        "pad_token": "<|endoftext|>", "padding_side": "left", "model_max_length":
        cfg["max_position_embeddings"], "clean_up_tokenization_spaces": False,
        "do_lower_case": False, "remove_space": False})
    mf.write_json(os.path.join(args.out, "train_log.json"), log_obj)
    return sd


def check_saved(model, out_dir):
    """from_pretrained on the saved folder must give our parameters rounded to BF16 (checks the
    per-expert names, the fusion transformers applies on load, and the fp32 bias)."""
    loaded = Glm4MoeLiteForCausalLM.from_pretrained(out_dir, dtype=torch.float32)
    mine = model.state_dict()
    worst = 0
    for k, v in loaded.state_dict().items():
        if "rotary_emb" in k:
            continue
        ref = mine[k].detach().cpu()
        if not k.endswith("e_score_correction_bias"):
            ref = ref.to(torch.bfloat16).float()
        if not torch.equal(v.cpu().float(), ref.float()):
            worst += 1
            log(f"  saved tensor differs after reload: {k}")
    if worst:
        raise SystemExit("saved checkpoint does not reload to the trained weights")
    return len(loaded.state_dict())


# ---- main ----

def main():
    ap = argparse.ArgumentParser(description="Train the Glimmer demo model.")
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--tokenizer", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--minutes", type=float, help="time budget of the training loop")
    ap.add_argument("--steps", type=int, help="optimizer steps (fixes the schedule)")
    ap.add_argument("--preset", choices=sorted(PRESETS), default="demo")
    for k in SHAPE_KEYS:
        ap.add_argument("--" + k.replace("_", "-"), type=int, dest=k)
    ap.add_argument("--routed-scaling-factor", type=float, default=1.8)
    ap.add_argument("--max-position-embeddings", type=int, default=4096)
    ap.add_argument("--rope-theta", type=float, default=10000.0,
                    help="RoPE base (GLM-4.7-Flash: 1e6; 1e4 resolves the short demo contexts "
                    "better)")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--min-lr-frac", type=float, default=0.1)
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--weight-decay", type=float, default=0.1)
    ap.add_argument("--batch-tokens", type=int, default=32768,
                    help="padded tokens per step (default 32768)")
    ap.add_argument("--max-len", type=int, default=1024)
    ap.add_argument("--val", type=int, default=400, help="held-out examples for the val loss")
    ap.add_argument("--bias-rate", type=float, default=2e-3)
    ap.add_argument("--experts", default="auto",
                    help="transformers experts_implementation: eager, grouped_mm, or auto "
                    "(the faster one that matches eager on the first batch)")
    ap.add_argument("--log-every", type=int, default=50)
    ap.add_argument("--eval-every", type=int, default=500)
    ap.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch default)")
    ap.add_argument("--deterministic", action=argparse.BooleanOptionalAction, default=True,
                    help="request deterministic kernels (default on; off may be faster on CUDA)")
    args = ap.parse_args()
    if args.minutes is None and args.steps is None:
        ap.error("give --steps or --minutes")
    t_start = time.time()

    torch.manual_seed(args.seed)
    if args.deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    autocast = ((lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if device.type == "cuda"
                else (lambda: torch.autocast("cpu", enabled=False)))

    tok = Tokenizer.from_file(args.tokenizer)
    vocab = tok.get_vocab_size(with_added_tokens=True)
    eos = [tok.token_to_id(t) for t in STOPS]
    if None in eos:
        raise SystemExit(f"{args.tokenizer} lacks one of {STOPS}")
    pad_id = eos[0]
    examples, dropped = load_examples(args.corpus, tok, args.max_len)
    n_val = min(args.val, len(examples) // 10)
    val, train = examples[:n_val], examples[n_val:]
    n_tok = sum(len(e[0]) for e in train)
    n_lab = sum(int(e[1].sum()) for e in train)
    log(f"data: {len(train)} train / {n_val} val examples, {n_tok / 1e6:.2f} M tokens "
        f"({n_lab / 1e6:.2f} M in the loss), {dropped} longer than {args.max_len} dropped, "
        f"vocab {vocab}, eos {eos}")

    shape = dict(PRESETS[args.preset])
    for k in SHAPE_KEYS:
        if getattr(args, k) is not None:
            shape[k] = getattr(args, k)
    cfg = config_dict(shape, vocab, eos, args)
    model = build_model(cfg, device)
    fp32_router(model)
    n_params = count_params(model)
    log(f"model: {args.preset} {json.dumps(shape)}\n       {n_params / 1e6:.2f} M parameters "
        f"({n_params * 2 / 1e6:.1f} MB in BF16), device {device}")
    stream = batches(train, args.batch_tokens, args.seed, pad_id)
    first = next(stream)
    experts = args.experts
    if experts == "auto":
        experts = pick_experts(model, first, device, autocast)
        log(f"experts: {experts} (pass --experts {experts} to repeat this run exactly)")
    else:
        model.set_experts_implementation(experts)
    balancer = Balancer(model, args.bias_rate)

    decay = [p for n, p in model.named_parameters() if p.dim() >= 2 and "embed" not in n]
    no_decay = [p for n, p in model.named_parameters() if not (p.dim() >= 2 and "embed" not in n)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.95), eps=1e-8,
                            fused=device.type == "cuda")

    total = args.steps
    budget = args.minutes * 60 if args.minutes else None
    history = []
    step, t0 = 0, time.time()
    tok_seen = lab_seen = 0
    run_loss, run_n = 0.0, 0
    t_log = t0
    tok_log = 0
    model.train()
    while True:
        if total is not None and step >= total:
            break
        elapsed = time.time() - t0
        if budget is not None and elapsed >= budget:
            log(f"time budget of {args.minutes} min reached at step {step}")
            break
        if total is None and step == 10:
            t10 = elapsed
        if total is None and step == 40:
            per_step = (elapsed - t10) / 30
            total = max(step + 1, int(0.97 * (budget - elapsed) / per_step) + step)
            log(f"schedule: {total} steps from {per_step * 1000:.0f} ms/step "
                f"(repeat this run with --steps {total})")
        sched_total = total if total is not None else 10 ** 9
        lr = lr_at(step, sched_total, args.warmup, args.lr, args.min_lr_frac)
        for g in opt.param_groups:
            g["lr"] = lr
        ids, labels = first if step == 0 else next(stream)
        ids, labels = ids.to(device, non_blocking=True), labels.to(device, non_blocking=True)
        balancer.valid = (ids != pad_id).flatten()
        with autocast():
            loss, k = loss_of(model, ids, labels)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        gnorm = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        imbalance = balancer.step()
        step += 1
        tok_seen += int(ids.numel())
        tok_log += int(ids.numel())
        lab_seen += k
        run_loss += float(loss)
        run_n += 1
        if step % args.log_every == 0 or step == 1 or step == total:
            now = time.time()
            rate = tok_log / max(1e-9, now - t_log)
            log(f"step {step:6d}  loss {run_loss / run_n:.4f}  lr {lr:.2e}  gnorm "
                f"{float(gnorm):.2f}  max/mean expert load {imbalance:.2f}  "
                f"{rate / 1e3:.1f} k tok/s  {now - t0:.0f} s")
            history.append({"step": step, "loss": round(run_loss / run_n, 5), "lr": lr,
                            "time_s": round(now - t0, 1)})
            run_loss, run_n, t_log, tok_log = 0.0, 0, now, 0
        if args.eval_every and step % args.eval_every == 0 and val:
            vl = evaluate(model, val, device, args.batch_tokens, pad_id, autocast)
            log(f"step {step:6d}  val loss {vl:.4f}")
            history.append({"step": step, "val_loss": round(vl, 5)})
    train_s = time.time() - t0
    val_loss = evaluate(model, val, device, args.batch_tokens, pad_id, autocast) if val else None
    last = [h["loss"] for h in history if "loss" in h]
    summary = {
        "steps": step, "train_seconds": round(train_s, 1),
        "final_train_loss": last[-1] if last else None,
        "val_loss": round(val_loss, 5) if val_loss is not None else None,
        "tokens_per_second": round(tok_seen / max(1e-9, train_s)),
        "tokens_seen": tok_seen, "loss_tokens_seen": lab_seen,
        "parameters": n_params, "device": str(device),
        "gpu": torch.cuda.get_device_name(0) if device.type == "cuda" else None,
        "torch": torch.__version__, "transformers": transformers.__version__,
        "args": vars(args), "experts": experts, "shape": shape, "vocab": vocab,
        "train_examples": len(train), "val_examples": n_val, "history": history,
    }
    sd = save(model, cfg, args, args.tokenizer, summary)
    n_saved = check_saved(model, args.out)
    size = os.path.getsize(os.path.join(args.out, "model.safetensors"))
    log(f"saved {args.out}: {len(sd)} tensors, model.safetensors {size / 1e6:.2f} MB; reload "
        f"check passed on {n_saved} tensors; total {time.time() - t_start:.0f} s")
    log("")
    log("| steps | final train loss | val loss | tokens/s | params | BF16 MB |")
    log("| ---: | ---: | ---: | ---: | ---: | ---: |")
    log(f"| {step} | {summary['final_train_loss']} | {summary['val_loss']} | "
        f"{summary['tokens_per_second']} | {n_params} | {size / 1e6:.2f} |")


if __name__ == "__main__":
    main()
