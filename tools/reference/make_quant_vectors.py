#!/usr/bin/env python3
"""Reference vectors for `glimmer-cli quantize`, computed by NVIDIA ModelOpt itself.

Writes tests/data/quant-vectors/:

  bf16/                 a tiny Glm4MoeLiteForCausalLM BF16 checkpoint whose weights are built to
                        hit every corner of ModelOpt's NVFP4 arithmetic: exact E2M1 ties
                        (0.25 .. 5) and their +-1 ulp neighbours, zero blocks, blocks far below
                        the global amax (the 2^-9 clamp), small negatives that become -0,
                        BF16 subnormals, fused groups whose members have different amax;
                        plus generation_config.json and chat_template.jinja (copied through)
  config.json, hf_quant_config.json, model.safetensors
                        the NVFP4 export: weight / weight_scale / weight_scale_2 from
                        modelopt.torch.quantization.qtensor.nvfp4_tensor.NVFP4QTensor with
                        max-unified weight_scale_2 over q_a+kv_a and gate+up, exclude_modules
                        from modelopt's own _prefix_wildcard_summarize_exclude_modules
                        (no input_scale: quantize does not calibrate)
  cases.safetensors     float32 unit cases for glim_nvfp4_quantize at extreme magnitudes:
                        case.N.w F32 [rows, cols], case.N.scale_2 F32 [],
                        case.N.weight U8, case.N.weight_scale F8_E4M3 (NVFP4QTensor on F32)

Unless --no-pipeline, it also runs the whole ModelOpt pipeline on bf16/ (mtq.quantize with
NVFP4_DEFAULT_CFG, then export_hf_checkpoint, on CPU) and fails unless every weight tensor and
the exclude list match what it wrote.

Usage: python3 tools/reference/make_quant_vectors.py [--out tests/data/quant-vectors]
Needs torch, transformers >= 5, nvidia-modelopt (0.47 was used). Deterministic.
"""

import argparse
import contextlib
import io
import json
import os
import shutil
import sys
import tempfile
import warnings

import torch

warnings.filterwarnings("ignore")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

from safetensors import safe_open  # noqa: E402
from safetensors.torch import save_file  # noqa: E402

import modelopt  # noqa: E402
from modelopt.torch.export.quant_utils import _prefix_wildcard_summarize_exclude_modules  # noqa: E402
from modelopt.torch.quantization.qtensor.nvfp4_tensor import NVFP4QTensor  # noqa: E402
from modelopt.torch.quantization.utils.numeric_utils import E2M1_MAX, E4M3_MAX  # noqa: E402

SEED = 20240611
BLOCK = 16

CONFIG = {
    "architectures": ["Glm4MoeLiteForCausalLM"],
    "attention_bias": False,
    "attention_dropout": 0.0,
    "pad_token_id": 196,
    "eos_token_id": [196, 203, 205],
    "hidden_act": "silu",
    "hidden_size": 64,
    "intermediate_size": 64,
    "max_position_embeddings": 4096,
    "model_type": "glm4_moe_lite",
    "moe_intermediate_size": 32,
    "topk_method": "noaux_tc",
    "norm_topk_prob": True,
    "num_attention_heads": 2,
    "n_group": 1,
    "topk_group": 1,
    "n_routed_experts": 4,
    "n_shared_experts": 1,
    "routed_scaling_factor": 1.8,
    "num_experts_per_tok": 2,
    "first_k_dense_replace": 1,
    "num_hidden_layers": 2,
    "num_key_value_heads": 2,
    "num_nextn_predict_layers": 0,
    "partial_rotary_factor": 1.0,
    "rms_norm_eps": 1e-05,
    "rope_scaling": None,
    "rope_theta": 1000000,
    "tie_word_embeddings": False,
    "dtype": "bfloat16",
    "transformers_version": "5.0.0rc0",
    "q_lora_rank": 32,
    "kv_lora_rank": 32,
    "qk_nope_head_dim": 16,
    "qk_rope_head_dim": 16,
    "v_head_dim": 16,
    "vocab_size": 256,
}

TIES = [0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5.0]


def bf16_neighbours(x):
    """x and the next BF16 values below and above it."""
    t = torch.tensor([x], dtype=torch.bfloat16)
    bits = t.view(torch.int16)
    lo = (bits - 1).view(torch.bfloat16)
    hi = (bits + 1).view(torch.bfloat16)
    return [float(lo), float(t), float(hi)]


def special_rows(cols, g, unit):
    """Rows of `cols` values that exercise ties, zero blocks, clamps, -0 and subnormals.
    `unit` is the value a scaled 1.0 stands for when the block amax is 6 * unit."""
    rows = []
    nb = cols // BLOCK
    # exact ties (both signs) in blocks whose amax is exactly 6 * unit
    vals = [6.0]
    for t in TIES:
        vals += [t, -t]
    vals = (vals + [0.0] * BLOCK)[:BLOCK]
    rows.append([v * unit for v in vals] * nb)
    # ties +- one BF16 ulp
    near = [6.0]
    for t in TIES:
        near += bf16_neighbours(t)[0:1] + bf16_neighbours(-t)[2:3]
    near = (near + [0.0] * BLOCK)[:BLOCK]
    rows.append([v * unit for v in near] * nb)
    near = [6.0]
    for t in TIES:
        near += bf16_neighbours(t)[2:3] + bf16_neighbours(-t)[0:1]
    near = (near + [0.0] * BLOCK)[:BLOCK]
    rows.append([v * unit for v in near] * nb)
    # a zero block, a block far below the global amax (scale clamps to 2^-9), a block of tiny
    # negatives that round to -0, BF16 subnormals mixed with normals
    r = []
    for b in range(nb):
        kind = b % 4
        if kind == 0:
            r += [0.0] * BLOCK
        elif kind == 1:
            r += [float(x) * 1e-6 * unit for x in torch.randn(BLOCK, generator=g)]
        elif kind == 2:
            r += [6.0 * unit] + [-0.1 * unit] * (BLOCK - 1)
        else:
            r += [2.0e-39, -3.0e-40, 1.0e-38, 5.0 * unit] + [float(x) * unit for x in torch.randn(BLOCK - 4, generator=g)]
    rows.append(r)
    return rows


def make_weight(rows, cols, g, special, amax_hint=None):
    w = torch.randn(rows, cols, generator=g) * (1.0 / cols ** 0.5)
    if special:
        unit = 2.0 ** -10                 # block amax 6 * 2^-10: the block scale is a power of 2
        sr = special_rows(cols, g, unit)
        for i, r in enumerate(sr[: rows - 1]):
            w[1 + i] = torch.tensor(r)
        # global amax 2.625 = 2688 * 2^-10, so weight_scale_2 = 2^-10 exactly
        w[0, 0] = 2.625
        w[0, 1:] = w[0, 1:].clamp(-2.5, 2.5)
    if amax_hint is not None:
        w = w / w.abs().max() * amax_hint
    return w.to(torch.bfloat16)


def build_checkpoint(g):
    c = CONFIG
    H, V = c["hidden_size"], c["vocab_size"]
    nh = c["num_attention_heads"]
    qk = c["qk_nope_head_dim"] + c["qk_rope_head_dim"]
    sd = {}
    sd["model.embed_tokens.weight"] = torch.randn(V, H, generator=g).to(torch.bfloat16)
    for li in range(c["num_hidden_layers"]):
        p = f"model.layers.{li}."
        a = p + "self_attn."
        norm = lambda n: (1.0 + 0.1 * torch.randn(n, generator=g)).to(torch.bfloat16)  # noqa: E731
        sd[p + "input_layernorm.weight"] = norm(H)
        sd[p + "post_attention_layernorm.weight"] = norm(H)
        sd[a + "q_a_layernorm.weight"] = norm(c["q_lora_rank"])
        sd[a + "kv_a_layernorm.weight"] = norm(c["kv_lora_rank"])
        # q_a has the smaller amax: the fused group's weight_scale_2 comes from kv_a
        sd[a + "q_a_proj.weight"] = make_weight(c["q_lora_rank"], H, g, False, amax_hint=0.3)
        sd[a + "kv_a_proj_with_mqa.weight"] = make_weight(c["kv_lora_rank"] + c["qk_rope_head_dim"], H, g, False, amax_hint=0.7)
        sd[a + "q_b_proj.weight"] = make_weight(nh * qk, c["q_lora_rank"], g, li == 0)
        sd[a + "kv_b_proj.weight"] = make_weight(nh * (c["qk_nope_head_dim"] + c["v_head_dim"]), c["kv_lora_rank"], g, li == 1)
        sd[a + "o_proj.weight"] = make_weight(H, nh * c["v_head_dim"], g, True)
        m = p + "mlp."
        if li < c["first_k_dense_replace"]:
            I = c["intermediate_size"]
            sd[m + "gate_proj.weight"] = make_weight(I, H, g, True)
            sd[m + "up_proj.weight"] = make_weight(I, H, g, False, amax_hint=3.0)
            sd[m + "down_proj.weight"] = make_weight(H, I, g, True)
        else:
            E, I = c["n_routed_experts"], c["moe_intermediate_size"]
            sd[m + "gate.weight"] = make_weight(E, H, g, False)
            sd[m + "gate.e_score_correction_bias"] = (0.1 * torch.randn(E, generator=g)).float()
            for e in range(E):
                sd[m + f"experts.{e}.gate_proj.weight"] = make_weight(I, H, g, e == 1, amax_hint=None if e == 1 else 0.2 + 0.1 * e)
                sd[m + f"experts.{e}.up_proj.weight"] = make_weight(I, H, g, e == 2)
                sd[m + f"experts.{e}.down_proj.weight"] = make_weight(H, I, g, e == 3)
            Is = I * c["n_shared_experts"]
            sd[m + "shared_experts.gate_proj.weight"] = make_weight(Is, H, g, False)
            sd[m + "shared_experts.up_proj.weight"] = make_weight(Is, H, g, True)
            sd[m + "shared_experts.down_proj.weight"] = make_weight(H, Is, g, False)
    sd["model.norm.weight"] = (1.0 + 0.1 * torch.randn(H, generator=g)).to(torch.bfloat16)
    sd["lm_head.weight"] = make_weight(V, H, g, False)
    return dict(sorted(sd.items()))


LINEARS = ("q_a_proj", "q_b_proj", "kv_a_proj_with_mqa", "kv_b_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


def quantized_modules(sd):
    return [k[: -len(".weight")] for k in sd if k.endswith(".weight") and k.split(".")[-2] in LINEARS]


def groups_of(mods):
    s, groups, done = set(mods), [], set()
    for m in mods:
        if m in done:
            continue
        for a, b in (("q_a_proj", "kv_a_proj_with_mqa"), ("gate_proj", "up_proj")):
            if m.endswith("." + a) and m[: -len(a)] + b in s:
                groups.append([m, m[: -len(a)] + b])
                done.update(groups[-1])
                break
        else:
            if m.endswith(".kv_a_proj_with_mqa") or m.endswith(".up_proj"):
                continue  # added with its partner
            groups.append([m])
            done.add(m)
    return groups


def nvfp4(w, wsf2):
    """ModelOpt's own code: scales, then codes, for weight w and global scale wsf2."""
    ws, _ = NVFP4QTensor.get_weights_scaling_factor(w, BLOCK, wsf2)
    qt, _, _ = NVFP4QTensor.quantize(w, BLOCK, ws, wsf2)
    return qt._quantized_data.contiguous(), ws.contiguous()


def export(sd):
    mods = quantized_modules(sd)
    out = {k: v for k, v in sd.items() if not (k.endswith(".weight") and k[: -len(".weight")] in set(mods))}
    for grp in groups_of(mods):
        amax = torch.stack([sd[m + ".weight"].abs().amax().float() for m in grp]).max()
        wsf2 = amax / (E2M1_MAX * E4M3_MAX)
        for m in grp:
            packed, ws = nvfp4(sd[m + ".weight"], wsf2)
            out[m + ".weight"] = packed
            out[m + ".weight_scale"] = ws
            out[m + ".weight_scale_2"] = wsf2.clone().reshape(())
    # exclude_modules as ModelOpt computes it on the transformers-5 module tree
    L = CONFIG["num_hidden_layers"]
    unq = ["model.embed_tokens"] + [f"model.layers.{li}.mlp.gate" for li in range(CONFIG["first_k_dense_replace"], L)] + ["lm_head"]
    q = sorted({(m.split(".mlp.experts.")[0] + ".mlp.experts") if ".mlp.experts." in m else m for m in mods})
    excl = sorted(_prefix_wildcard_summarize_exclude_modules(unq, q))
    return dict(sorted(out.items())), excl


def quant_configs(excl):
    producer = {"name": "modelopt", "version": modelopt.__version__}
    hq = {"producer": producer, "quantization": {"quant_algo": "NVFP4", "kv_cache_quant_algo": None,
                                                 "group_size": BLOCK, "exclude_modules": excl}}
    from modelopt.torch.export.convert_hf_config import convert_hf_quant_config_format
    return hq, convert_hf_quant_config_format(hq)


def f32_cases(g):
    """Extreme magnitudes that a BF16 model cannot carry through a forward pass."""
    cases = []
    for amax, rows, cols in ((1e30, 3, 32), (3e-30, 2, 48), (1e-37, 2, 32), (448.0 * 6.0, 2, 16), (1.0, 4, 64)):
        w = torch.randn(rows, cols, generator=g)
        w = w / w.abs().max() * amax
        w[0, :BLOCK] = 0.0                       # a zero block
        w[-1, -1] = -amax * 1e-9                 # tiny negative: clamped scale, -0 or small code
        cases.append(w.float())
    out = {}
    for i, w in enumerate(cases):
        wsf2 = NVFP4QTensor.get_weights_scaling_factor_2(w)
        packed, ws = nvfp4(w, wsf2)
        out[f"case.{i}.w"] = w.contiguous()
        out[f"case.{i}.scale_2"] = wsf2.float().reshape(()).clone()
        out[f"case.{i}.weight"] = packed
        out[f"case.{i}.weight_scale"] = ws
    return out


def write_json(path, obj, indent):
    with open(path, "w") as f:
        json.dump(obj, f, indent=indent)
        f.write("\n")


def pipeline_check(bf16_dir, qsd, excl):
    """Run ModelOpt end to end (calibrate + export) and compare the weight tensors."""
    import modelopt.torch.quantization as mtq
    from modelopt.torch.export import export_hf_checkpoint
    from transformers import Glm4MoeLiteForCausalLM

    model = Glm4MoeLiteForCausalLM.from_pretrained(bf16_dir, dtype=torch.bfloat16, attn_implementation="eager",
                                                   experts_implementation="eager").eval()
    g = torch.Generator().manual_seed(SEED + 1)
    batches = [torch.randint(0, CONFIG["vocab_size"], (1, 32), generator=g) for _ in range(4)]

    def loop(mdl):
        for b in batches:
            mdl(b, use_cache=False)

    tmp = tempfile.mkdtemp(prefix="glimmer_qv_")
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            model = mtq.quantize(model, mtq.NVFP4_DEFAULT_CFG, loop)
            export_hf_checkpoint(model, export_dir=tmp)
        ref = {}
        for fn in sorted(os.listdir(tmp)):
            if fn.endswith(".safetensors"):
                with safe_open(os.path.join(tmp, fn), "pt") as f:
                    for k in f.keys():
                        ref[k] = f.get_tensor(k)
        with open(os.path.join(tmp, "hf_quant_config.json")) as f:
            mo_excl = json.load(f)["quantization"]["exclude_modules"]
    finally:
        shutil.rmtree(tmp)
    bad = []
    for k, v in qsd.items():
        r = ref.get(k)
        if r is None or r.dtype != v.dtype or r.shape != v.shape or not torch.equal(r.view(torch.uint8) if r.dtype == torch.float8_e4m3fn else r, v.view(torch.uint8) if v.dtype == torch.float8_e4m3fn else v):
            bad.append(k)
    extra = sorted(k for k in set(ref) - set(qsd) if not k.endswith(".input_scale"))
    print(f"modelopt {modelopt.__version__} pipeline: {len(qsd)} tensors compared, {len(bad)} differ, "
          f"{len(extra)} unexpected, exclude_modules {'match' if mo_excl == excl else 'DIFFER'}")
    if bad or extra or mo_excl != excl:
        print("differ:", bad[:10], "unexpected:", extra[:10], "modelopt exclude:", mo_excl)
        sys.exit(1)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="tests/data/quant-vectors")
    ap.add_argument("--no-pipeline", action="store_true", help="skip the end-to-end ModelOpt check")
    args = ap.parse_args()
    torch.manual_seed(SEED)
    g = torch.Generator().manual_seed(SEED)
    out = args.out
    if os.path.isdir(out):
        shutil.rmtree(out)
    bf16 = os.path.join(out, "bf16")
    os.makedirs(bf16)

    sd = build_checkpoint(g)
    write_json(os.path.join(bf16, "config.json"), CONFIG, 2)
    save_file(sd, os.path.join(bf16, "model.safetensors"), metadata={"format": "pt"})
    write_json(os.path.join(bf16, "generation_config.json"), {"eos_token_id": CONFIG["eos_token_id"], "pad_token_id": CONFIG["pad_token_id"]}, 2)
    with open(os.path.join(bf16, "chat_template.jinja"), "w") as f:
        f.write("[gMASK]<sop>{% for m in messages %}<|{{ m.role }}|>{{ m.content }}{% endfor %}")

    qsd, excl = export(sd)
    hq, qc = quant_configs(excl)
    save_file(qsd, os.path.join(out, "model.safetensors"), metadata={"format": "pt"})
    write_json(os.path.join(out, "hf_quant_config.json"), hq, 4)
    write_json(os.path.join(out, "config.json"), dict(CONFIG, quantization_config=qc), 4)
    save_file(f32_cases(g), os.path.join(out, "cases.safetensors"))
    print(f"wrote {out}: {len(qsd)} tensors, {sum(1 for k in qsd if k.endswith('_scale_2'))} NVFP4 modules, "
          f"exclude_modules {excl}")
    if not args.no_pipeline:
        pipeline_check(bf16, qsd, excl)


if __name__ == "__main__":
    main()
