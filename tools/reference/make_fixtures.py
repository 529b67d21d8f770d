#!/usr/bin/env python3
"""Generate Glimmer reference fixtures from the real transformers implementation.

For every fixture in FIXTURES this script

  1. builds a small Glm4MoeLiteForCausalLM (transformers 5.17) with a fixed seed
     and a non-degenerate weight initialisation,
  2. writes the BF16 checkpoint in the on-disk layout of the real model
     (per-expert tensors, fp32 e_score_correction_bias) to <out>/<name>/bf16/
     and checks that `from_pretrained` on it rebuilds exactly the same model,
  3. calibrates activation amax on random tokens with the BF16 model and
     quantizes to ModelOpt NVFP4 with ModelOpt's exact scale/rounding math
     (own re-implementation, cross-checked bit-for-bit against
     modelopt's NVFP4QTensor and, optionally, against a full
     `mtq.quantize` + `export_hf_checkpoint` run),
  4. dequantizes the NVFP4 weights exactly, loads them into the transformers
     model in float32 / eager attention / eager experts, runs greedy
     `generate` (16 tokens, KV cache) and one teacher-forced forward pass over
     prompt + greedy[:-1],
  5. writes config.json, hf_quant_config.json, the safetensors file(s),
     reference.json and logits.f32 (little-endian float32 [T x V]) to
     <out>/<name>/.

Usage:  python3 tools/reference/make_fixtures.py --out tests/data [--only NAME]
                [--no-modelopt-check]

The output is deterministic (same bytes on every run with the same
torch/transformers versions on the same machine).
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
import warnings
from collections import OrderedDict

import numpy as np
import torch
import torch.nn.functional as F

warnings.filterwarnings("ignore")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import transformers  # noqa: E402
from safetensors import safe_open  # noqa: E402
from safetensors.torch import save_file  # noqa: E402
from transformers import GenerationConfig, Glm4MoeLiteConfig, Glm4MoeLiteForCausalLM  # noqa: E402

transformers.logging.set_verbosity_error()
transformers.utils.logging.disable_progress_bar()

# The ModelOpt version whose export format (and 'producer' field) we reproduce
# and against which the quantization was cross-checked.
MODELOPT_PRODUCER_VERSION = "0.47.0"

# --------------------------------------------------------------------------------------
# Fixture definitions
# --------------------------------------------------------------------------------------
# Keys of "model": hyper-parameters written to config.json.
# "layout": how the checkpoint folder is written.
FIXTURES = OrderedDict()

FIXTURES["tiny-base"] = dict(
    seed=1001,
    description="GLM-4.7-Flash shape family in small: 1 dense layer then MoE, n_group=1, "
    "1 shared expert, norm_topk_prob, routed_scaling_factor 1.8, every Linear NVFP4, "
    "hf_quant_config.json only, single model.safetensors, config.json in the "
    "original GLM-4.7-Flash style (top-level rope_theta, rope_scaling null, no mlp_layer_types).",
    model=dict(
        vocab_size=512, hidden_size=64, intermediate_size=96, moe_intermediate_size=32,
        num_hidden_layers=3, num_attention_heads=4, num_key_value_heads=4,
        q_lora_rank=48, kv_lora_rank=32, qk_nope_head_dim=24, qk_rope_head_dim=8, v_head_dim=32,
        n_routed_experts=16, num_experts_per_tok=4, n_shared_experts=1, n_group=1, topk_group=1,
        first_k_dense_replace=1, norm_topk_prob=True, routed_scaling_factor=1.8,
        rms_norm_eps=1e-5, tie_word_embeddings=False, num_nextn_predict_layers=0,
    ),
    rope_style="toplevel_with_null_scaling", rope_theta=1000000, write_mlp_layer_types=False,
    hf_quant_config=True, config_quantization_config=False,
    bf16_modules=[], shards=1, mtp=False,
)

FIXTURES["tiny-groups"] = dict(
    seed=2002,
    description="Grouped top-k that really restricts (16 experts in 4 groups, keep 2 groups, "
    "top-3), 2 shared experts, first_k_dense_replace 2 (two dense layers, mlp_layer_types "
    "written too because transformers 5.17 ignores first_k_dense_replace), 4 layers, "
    "config.json quantization_config only (no hf_quant_config.json).",
    model=dict(
        vocab_size=1000, hidden_size=80, intermediate_size=128, moe_intermediate_size=32,
        num_hidden_layers=4, num_attention_heads=4, num_key_value_heads=4,
        q_lora_rank=32, kv_lora_rank=48, qk_nope_head_dim=16, qk_rope_head_dim=16, v_head_dim=16,
        n_routed_experts=16, num_experts_per_tok=3, n_shared_experts=2, n_group=4, topk_group=2,
        first_k_dense_replace=2, norm_topk_prob=True, routed_scaling_factor=1.3,
        rms_norm_eps=1e-5, tie_word_embeddings=False, num_nextn_predict_layers=0,
    ),
    rope_style="toplevel", rope_theta=1000000, write_mlp_layer_types=True,
    hf_quant_config=False, config_quantization_config=True,
    bf16_modules=[], shards=1, mtp=False,
)

FIXTURES["tiny-nonorm"] = dict(
    seed=3003,
    description="norm_topk_prob false, routed_scaling_factor 2.5, kv_b_proj kept BF16 (listed in "
    "exclude_modules), 2 safetensors shards + index (one quantized module's tensors straddle the "
    "shards), vocab not a multiple of 16, qk_nope != v_head, tie_word_embeddings false, both "
    "hf_quant_config.json and config.json quantization_config (as ModelOpt writes them).",
    model=dict(
        vocab_size=1001, hidden_size=96, intermediate_size=112, moe_intermediate_size=48,
        num_hidden_layers=3, num_attention_heads=4, num_key_value_heads=4,
        q_lora_rank=64, kv_lora_rank=32, qk_nope_head_dim=32, qk_rope_head_dim=16, v_head_dim=24,
        n_routed_experts=12, num_experts_per_tok=2, n_shared_experts=1, n_group=1, topk_group=1,
        first_k_dense_replace=1, norm_topk_prob=False, routed_scaling_factor=2.5,
        rms_norm_eps=1e-5, tie_word_embeddings=False, num_nextn_predict_layers=0,
    ),
    rope_style="toplevel", rope_theta=1000000, write_mlp_layer_types=False,
    hf_quant_config=True, config_quantization_config=True,
    bf16_modules=["kv_b_proj"], shards=2, mtp=False,
)

FIXTURES["tiny-mtp"] = dict(
    seed=4004,
    description="num_nextn_predict_layers 1 with the MTP layer model.layers.{L}.* present in BF16 "
    "(eh_proj, enorm, hnorm, shared_head.{norm,head}, embed_tokens, full MoE decoder block), "
    "excluded as 'model.layers.{L}*'; transformers ignores it for the logits. config.json in the "
    "transformers-5 save style (rope_parameters dict, mlp_layer_types, rope_interleave), "
    "rope_theta 10000, rms_norm_eps 1e-6, both hf_quant_config.json and quantization_config.",
    model=dict(
        vocab_size=640, hidden_size=64, intermediate_size=80, moe_intermediate_size=32,
        num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=4,
        q_lora_rank=32, kv_lora_rank=64, qk_nope_head_dim=16, qk_rope_head_dim=8, v_head_dim=24,
        n_routed_experts=8, num_experts_per_tok=2, n_shared_experts=1, n_group=1, topk_group=1,
        first_k_dense_replace=1, norm_topk_prob=True, routed_scaling_factor=1.8,
        rms_norm_eps=1e-6, tie_word_embeddings=False, num_nextn_predict_layers=1,
    ),
    rope_style="rope_parameters", rope_theta=10000, write_mlp_layer_types=True,
    hf_quant_config=True, config_quantization_config=True,
    bf16_modules=[], shards=1, mtp=True,
)

N_GREEDY = 16
LM_HEAD_GAIN = 3.0        # lm_head ~ N(0, (gain^2)/hidden): logits of O(gain)
CALIB_BATCHES = 4         # calibration: CALIB_BATCHES forward passes of 1 x CALIB_LEN random tokens
CALIB_LEN = 32
PROMPT_CANDIDATES = 64    # prompts tried (deterministically, in order) until one is accepted
MIN_GREEDY_MARGIN = 0.1   # acceptance: top1-top2 margin on the greedy rows
MIN_ALL_MARGIN = 0.03     # acceptance: top1-top2 margin on every row (prompt rows included)
MIN_DISTINCT_GREEDY = 6   # acceptance: distinct tokens among the 16 greedy tokens

E2M1_VALUES = [0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, -0.0, -0.5, -1.0, -1.5, -2.0, -3.0, -4.0, -6.0]
E2M1_BOUNDS = [0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5.0]
E2M1_MAX = 6.0
E4M3_MAX = 448.0
BLOCK = 16


def log(msg):
    print(msg, flush=True)


# --------------------------------------------------------------------------------------
# Config
# --------------------------------------------------------------------------------------
def special_ids(vocab):
    # Same offsets from the end of the vocabulary as the real model
    # (154880 - 154820 = 60, - 154827 = 53, - 154829 = 51).
    eos = [vocab - 60, vocab - 53, vocab - 51]
    return eos, vocab - 60


def mlp_layer_types(m):
    return ["dense" if i < m["first_k_dense_replace"] else "sparse" for i in range(m["num_hidden_layers"])]


def make_config_dict(fx):
    """config.json (without quantization_config) with the real model's keys."""
    m = fx["model"]
    eos, pad = special_ids(m["vocab_size"])
    c = {
        "architectures": ["Glm4MoeLiteForCausalLM"],
        "attention_bias": False,
        "attention_dropout": 0.0,
        "pad_token_id": pad,
        "eos_token_id": eos,
        "hidden_act": "silu",
        "hidden_size": m["hidden_size"],
        "intermediate_size": m["intermediate_size"],
        "max_position_embeddings": 4096,
        "model_type": "glm4_moe_lite",
        "moe_intermediate_size": m["moe_intermediate_size"],
        "topk_method": "noaux_tc",
        "norm_topk_prob": m["norm_topk_prob"],
        "num_attention_heads": m["num_attention_heads"],
        "n_group": m["n_group"],
        "topk_group": m["topk_group"],
        "n_routed_experts": m["n_routed_experts"],
        "n_shared_experts": m["n_shared_experts"],
        "routed_scaling_factor": m["routed_scaling_factor"],
        "num_experts_per_tok": m["num_experts_per_tok"],
        "first_k_dense_replace": m["first_k_dense_replace"],
        "num_hidden_layers": m["num_hidden_layers"],
        "num_key_value_heads": m["num_key_value_heads"],
        "num_nextn_predict_layers": m["num_nextn_predict_layers"],
        "partial_rotary_factor": 1.0,
        "rms_norm_eps": m["rms_norm_eps"],
        "tie_word_embeddings": m["tie_word_embeddings"],
        "dtype": "bfloat16",
        "transformers_version": transformers.__version__,
        "q_lora_rank": m["q_lora_rank"],
        "kv_lora_rank": m["kv_lora_rank"],
        "qk_nope_head_dim": m["qk_nope_head_dim"],
        "qk_rope_head_dim": m["qk_rope_head_dim"],
        "v_head_dim": m["v_head_dim"],
        "vocab_size": m["vocab_size"],
        "use_cache": True,
    }
    style = fx["rope_style"]
    if style == "toplevel_with_null_scaling":
        c["rope_scaling"] = None
        c["rope_theta"] = fx["rope_theta"]
    elif style == "toplevel":
        c["rope_theta"] = fx["rope_theta"]
    elif style == "rope_parameters":
        # What transformers 5.17 itself writes (PreTrainedConfig.to_dict): a rope_parameters
        # dict and no top-level rope_theta.
        c["rope_parameters"] = {"rope_theta": fx["rope_theta"], "rope_type": "default"}
        c["rope_interleave"] = True
        c["qk_head_dim"] = m["qk_nope_head_dim"] + m["qk_rope_head_dim"]
    else:
        raise ValueError(style)
    if fx["write_mlp_layer_types"]:
        c["mlp_layer_types"] = mlp_layer_types(m)
    return c


def hf_config_from_dict(cdict):
    cfg = Glm4MoeLiteConfig.from_dict(copy.deepcopy(cdict))
    # transformers 5.17 ignores first_k_dense_replace (see README): make sure the model it builds
    # has the dense/sparse pattern the config.json describes.
    expect = ["dense" if i < cdict["first_k_dense_replace"] else "sparse" for i in range(cdict["num_hidden_layers"])]
    if cfg.mlp_layer_types != expect:
        raise RuntimeError(f"mlp_layer_types {cfg.mlp_layer_types} != first_k_dense_replace pattern {expect}")
    return cfg


# --------------------------------------------------------------------------------------
# Weights (on-disk layout, bf16 + fp32 router bias)
# --------------------------------------------------------------------------------------
class Rng:
    def __init__(self, seed):
        self.g = torch.Generator().manual_seed(seed)

    def normal(self, shape, std=1.0, mean=0.0):
        return torch.randn(shape, generator=self.g, dtype=torch.float32) * std + mean


def _linear(rng, out_f, in_f, gain=1.0):
    return (rng.normal((out_f, in_f), std=gain / np.sqrt(in_f))).to(torch.bfloat16)


def _norm(rng, n):
    return (1.0 + 0.1 * rng.normal((n,))).to(torch.bfloat16)


def decoder_layer_weights(rng, m, prefix, sparse):
    H = m["hidden_size"]
    nh = m["num_attention_heads"]
    qk = m["qk_nope_head_dim"] + m["qk_rope_head_dim"]
    sd = OrderedDict()
    sd[prefix + "input_layernorm.weight"] = _norm(rng, H)
    a = prefix + "self_attn."
    sd[a + "q_a_proj.weight"] = _linear(rng, m["q_lora_rank"], H)
    sd[a + "q_a_layernorm.weight"] = _norm(rng, m["q_lora_rank"])
    sd[a + "q_b_proj.weight"] = _linear(rng, nh * qk, m["q_lora_rank"])
    sd[a + "kv_a_proj_with_mqa.weight"] = _linear(rng, m["kv_lora_rank"] + m["qk_rope_head_dim"], H)
    sd[a + "kv_a_layernorm.weight"] = _norm(rng, m["kv_lora_rank"])
    sd[a + "kv_b_proj.weight"] = _linear(rng, nh * (m["qk_nope_head_dim"] + m["v_head_dim"]), m["kv_lora_rank"])
    sd[a + "o_proj.weight"] = _linear(rng, H, nh * m["v_head_dim"])
    sd[prefix + "post_attention_layernorm.weight"] = _norm(rng, H)
    p = prefix + "mlp."
    if not sparse:
        I = m["intermediate_size"]
        sd[p + "gate_proj.weight"] = _linear(rng, I, H)
        sd[p + "up_proj.weight"] = _linear(rng, I, H)
        sd[p + "down_proj.weight"] = _linear(rng, H, I)
    else:
        E, I = m["n_routed_experts"], m["moe_intermediate_size"]
        sd[p + "gate.weight"] = _linear(rng, E, H)
        sd[p + "gate.e_score_correction_bias"] = (0.1 * rng.normal((E,))).to(torch.float32)
        for e in range(E):
            sd[p + f"experts.{e}.gate_proj.weight"] = _linear(rng, I, H)
            sd[p + f"experts.{e}.up_proj.weight"] = _linear(rng, I, H)
            sd[p + f"experts.{e}.down_proj.weight"] = _linear(rng, H, I)
        Is = I * m["n_shared_experts"]
        sd[p + "shared_experts.gate_proj.weight"] = _linear(rng, Is, H)
        sd[p + "shared_experts.up_proj.weight"] = _linear(rng, Is, H)
        sd[p + "shared_experts.down_proj.weight"] = _linear(rng, H, Is)
    return sd


def inject_edge_blocks(w):
    """Give a weight NVFP4 edge cases: an all-zero 16-block (ModelOpt sets its scale to 1.0), a
    tiny block whose E4M3 block scale is subnormal, and a block so small that its scale is
    clamped to 2^-9 (most of its codes become +-0)."""
    w = w.clone()
    w[0, 0:16] = 0
    w[1, 0:16] = (w[1, 0:16].float() * 4e-5).to(torch.bfloat16)
    w[2, 16:32] = (w[2, 16:32].float() * 1e-8).to(torch.bfloat16)
    return w


def make_weights(fx):
    m = fx["model"]
    rng = Rng(fx["seed"])
    V, H, L = m["vocab_size"], m["hidden_size"], m["num_hidden_layers"]
    sd = OrderedDict()
    sd["model.embed_tokens.weight"] = rng.normal((V, H)).to(torch.bfloat16)
    types = mlp_layer_types(m)
    for li in range(L):
        sd.update(decoder_layer_weights(rng, m, f"model.layers.{li}.", types[li] == "sparse"))
    for k in ("model.layers.0.self_attn.o_proj.weight", "model.layers.0.mlp.down_proj.weight"):
        sd[k] = inject_edge_blocks(sd[k])
    sd["model.norm.weight"] = _norm(rng, H)
    sd["lm_head.weight"] = _linear(rng, V, H, gain=LM_HEAD_GAIN)
    if fx["mtp"]:
        # MTP layer (index L): full MoE decoder block + eh_proj/enorm/hnorm/shared_head.
        # Its embed_tokens / shared_head.head are copies of the main ones (as in DeepSeek-V3 style
        # checkpoints, where these are shared weights).
        pre = f"model.layers.{L}."
        mtp = decoder_layer_weights(rng, m, pre, sparse=True)
        mtp[pre + "eh_proj.weight"] = _linear(rng, H, 2 * H)
        mtp[pre + "enorm.weight"] = _norm(rng, H)
        mtp[pre + "hnorm.weight"] = _norm(rng, H)
        mtp[pre + "shared_head.norm.weight"] = _norm(rng, H)
        mtp[pre + "shared_head.head.weight"] = sd["lm_head.weight"].clone()
        mtp[pre + "embed_tokens.weight"] = sd["model.embed_tokens.weight"].clone()
        sd.update(mtp)
    return sd


def fuse_for_hf(sd, num_layers):
    """On-disk per-expert names -> transformers 5.17 in-memory parameters.

    Mirrors conversion_mapping.py "qwen2_moe" (used for glm4_moe_lite):
      mlp.experts.*.gate_proj.weight + mlp.experts.*.up_proj.weight
          -> mlp.experts.gate_up_proj  [E, 2I, H]  (MergeModulelist(dim=0), Concatenate(dim=1))
      mlp.experts.*.down_proj.weight -> mlp.experts.down_proj [E, H, I]  (MergeModulelist(dim=0))
    MTP tensors (model.layers.{num_layers}.*) are dropped (transformers has no MTP module).
    """
    out = OrderedDict()
    experts = {}
    for k, v in sd.items():
        parts = k.split(".")
        if k.startswith("model.layers.") and int(parts[2]) >= num_layers:
            continue
        if ".mlp.experts." in k:
            pre, rest = k.split(".mlp.experts.")
            e, proj = rest.split(".")[0], rest.split(".")[1]
            experts.setdefault(pre, {}).setdefault(proj, {})[int(e)] = v
            continue
        out[k] = v
    for pre, d in experts.items():
        E = len(d["gate_proj"])
        out[pre + ".mlp.experts.gate_up_proj"] = torch.stack(
            [torch.cat([d["gate_proj"][e], d["up_proj"][e]], dim=0) for e in range(E)]
        )
        out[pre + ".mlp.experts.down_proj"] = torch.stack([d["down_proj"][e] for e in range(E)])
    return out


def build_model(cfg, fused_sd, dtype):
    model = Glm4MoeLiteForCausalLM._from_config(
        copy.deepcopy(cfg), attn_implementation="eager", experts_implementation="eager", dtype=dtype
    )
    # .to(dtype) would also cast the non-persistent RoPE inv_freq buffers; from_pretrained keeps
    # them float32, so restore them.
    fp32_buffers = {n: b.detach().clone() for n, b in model.named_buffers() if b.dtype == torch.float32}
    model = model.to(dtype)
    for n, b in model.named_buffers():
        if n in fp32_buffers:
            b.data = fp32_buffers[n]
    # keep the router bias in fp32 like _keep_in_fp32_modules_strict does (before loading, so that
    # load_state_dict's copy_ does not round it)
    for mod in model.modules():
        if hasattr(mod, "e_score_correction_bias"):
            mod.e_score_correction_bias.data = mod.e_score_correction_bias.data.to(torch.float32)
    sd = {k: (v.to(torch.float32) if k.endswith("e_score_correction_bias") else v.to(dtype)) for k, v in fused_sd.items()}
    missing, unexpected = model.load_state_dict(sd, strict=False)
    missing = [k for k in missing if not k.endswith("rotary_emb.inv_freq")]
    if missing or unexpected:
        raise RuntimeError(f"load_state_dict: missing={missing} unexpected={unexpected}")
    model.eval()
    return model


# --------------------------------------------------------------------------------------
# NVFP4 (ModelOpt math, re-implemented; see README for the source lines)
# --------------------------------------------------------------------------------------
def weight_scale_2_of(weights):
    """ModelOpt: weight_quantizer._amax.float() / (E2M1_MAX * E4M3_MAX), amax max-unified over
    a fused group (preprocess_linear_fusion)."""
    amax = torch.stack([w.abs().amax().float() for w in weights]).max()
    return amax / (E2M1_MAX * E4M3_MAX)


def nvfp4_quantize(w, wsf2):
    """Bit-exact re-implementation of NVFP4QTensor.get_weights_scaling_factor + quantize.

    w: [out, in] bf16, wsf2: 0-dim fp32. Returns (packed u8 [out, in/2], fp8 [out, in/16]).
    """
    out_f, in_f = w.shape
    assert in_f % BLOCK == 0, (out_f, in_f)
    blocks = w.view(out_f, in_f // BLOCK, BLOCK)
    per_block_amax = blocks.abs().amax(dim=-1).float()
    per_block_scale = per_block_amax / (E2M1_MAX * wsf2)
    per_block_scale[per_block_scale == 0] = 1.0
    scale_fp8 = per_block_scale.clamp(min=2**-9, max=E4M3_MAX).to(torch.float8_e4m3fn)
    scaled = blocks / (scale_fp8.to(torch.float32) * wsf2).unsqueeze(-1)   # promotes to fp32
    scaled = scaled.reshape(out_f, in_f)
    sign = (scaled < 0).to(torch.uint8)
    a = scaled.abs()
    bounds = torch.tensor(E2M1_BOUNDS, dtype=torch.float32)
    ordv = torch.searchsorted(bounds, a, out_int32=True).to(torch.uint8)
    # ties at 0.75 / 1.75 / 3.5 round up (to the even code); ties at 0.25/1.25/2.5/5 round down
    tie_up = ((a == 0.75) | (a == 1.75) | (a == 3.5)).to(torch.uint8)
    q = (sign << 3) + ordv + tie_up
    packed = (q[:, 1::2] << 4) | q[:, 0::2]
    return packed.contiguous(), scale_fp8.contiguous()


def nvfp4_dequantize(packed, scale_fp8, wsf2):
    """w = E2M1[nib] * float(fp8 scale) * weight_scale_2 (fp32; the first product is exact)."""
    lut = torch.tensor(E2M1_VALUES, dtype=torch.float32)
    out_f = packed.shape[0]
    nib = torch.empty(out_f, packed.shape[1] * 2, dtype=torch.long)
    nib[:, 0::2] = (packed & 0x0F).long()
    nib[:, 1::2] = (packed >> 4).long()
    vals = lut[nib].view(out_f, -1, BLOCK)
    w = (vals * scale_fp8.to(torch.float32).unsqueeze(-1)) * wsf2.to(torch.float32)
    return w.reshape(out_f, -1)


def modelopt_crosscheck_tensor(w, wsf2, packed, scale_fp8):
    """Compare with modelopt's own NVFP4QTensor (if importable). Returns True/False/None."""
    try:
        from modelopt.torch.quantization.qtensor.nvfp4_tensor import NVFP4QTensor
    except Exception:
        return None
    ws, _ = NVFP4QTensor.get_weights_scaling_factor(w, BLOCK, wsf2)
    qt, ws2, _ = NVFP4QTensor.quantize(w, BLOCK, ws, wsf2)
    ok = torch.equal(ws.view(torch.uint8), scale_fp8.view(torch.uint8)) and torch.equal(
        qt._quantized_data, packed
    )
    # and modelopt's dequantize == ours
    deq_mo = qt.dequantize(dtype=torch.float32, scale=ws, double_scale=wsf2, block_sizes={-1: BLOCK})
    deq = nvfp4_dequantize(packed, scale_fp8, wsf2)
    ok_deq = torch.allclose(deq_mo, deq, rtol=2**-22, atol=0)
    return bool(ok and ok_deq)


# --------------------------------------------------------------------------------------
# Module inventory
# --------------------------------------------------------------------------------------
def linear_modules(sd_keys, num_layers, include_mtp=True):
    """Names of all nn.Linear-equivalent modules (on-disk naming), in a stable order."""
    mods = []
    for k in sd_keys:
        if not k.endswith(".weight"):
            continue
        mod = k[: -len(".weight")]
        leaf = mod.split(".")[-1]
        if leaf in ("q_a_proj", "q_b_proj", "kv_a_proj_with_mqa", "kv_b_proj", "o_proj",
                    "gate_proj", "up_proj", "down_proj"):
            mods.append(mod)
    return mods


def is_mtp(name, num_layers):
    return name.startswith(f"model.layers.{num_layers}.")


def fused_groups(quant_mods):
    """Groups that ModelOpt max-unifies (weight_scale_2 and input_scale)."""
    groups = []
    s = set(quant_mods)
    for mname in quant_mods:
        if mname.endswith(".q_a_proj"):
            other = mname[: -len("q_a_proj")] + "kv_a_proj_with_mqa"
            if other in s:
                groups.append([mname, other])
        elif mname.endswith(".gate_proj"):
            other = mname[: -len("gate_proj")] + "up_proj"
            if other in s:
                groups.append([mname, other])
    grouped = {n for g in groups for n in g}
    for mname in quant_mods:
        if mname not in grouped:
            groups.append([mname])
    return groups


# --------------------------------------------------------------------------------------
# Calibration (input amax per module, BF16 model, quantization disabled -- as ModelOpt's
# max calibration does)
# --------------------------------------------------------------------------------------
def calib_batches(fx):
    g = torch.Generator().manual_seed(fx["seed"] + 77)
    V = fx["model"]["vocab_size"]
    return [torch.randint(0, V, (1, CALIB_LEN), generator=g) for _ in range(CALIB_BATCHES)]


def calibrate(model, batches):
    """Returns {on-disk module name: input amax (fp32 0-dim)}.

    nn.Linear modules: amax of their input. Routed experts (transformers-5 fused module): like
    modelopt's _QuantFusedExperts, ONE input amax per projection type shared by all experts of a
    layer: gate/up see the hidden states of the tokens routed to any expert; down sees
    act(gate)*up of the routed tokens (before the routing weight is applied)."""
    amax = {}

    def upd(name, t):
        v = t.detach().abs().amax().float()
        amax[name] = torch.maximum(amax[name], v) if name in amax else v

    handles = []
    for name, mod in model.named_modules():
        if isinstance(mod, torch.nn.Linear) and name != "lm_head":
            handles.append(mod.register_forward_pre_hook(lambda m, args, name=name: upd(name, args[0])))

    orig_linear = torch.nn.functional.linear
    state = {"active": None, "down": False}

    def patched_linear(inp, weight, bias=None):
        if state["active"] is not None:
            pre = state["active"]
            if state["down"]:
                upd(pre + ".experts.down_proj", inp)
            else:
                upd(pre + ".experts.gate_up_proj", inp)
            state["down"] = not state["down"]
        return orig_linear(inp, weight, bias)

    for name, mod in model.named_modules():
        if type(mod).__name__ == "Glm4MoeLiteExperts":
            pre = name[: -len(".experts")]

            def pre_hook(m, args, pre=pre):
                state["active"], state["down"] = pre, False

            def post_hook(m, args, out):
                state["active"] = None

            handles.append(mod.register_forward_pre_hook(pre_hook))
            handles.append(mod.register_forward_hook(post_hook))

    torch.nn.functional.linear = patched_linear
    try:
        with torch.no_grad():
            for b in batches:
                model(b, use_cache=False)
    finally:
        torch.nn.functional.linear = orig_linear
        for h in handles:
            h.remove()

    # expand the shared expert-input amax to per-expert on-disk names
    out = {}
    for k, v in amax.items():
        if k.endswith(".experts.gate_up_proj") or k.endswith(".experts.down_proj"):
            continue
        out[k] = v
    for k, v in amax.items():
        if k.endswith(".experts.gate_up_proj"):
            out[k[: -len(".gate_up_proj")] + ".*.gate_proj"] = v
            out[k[: -len(".gate_up_proj")] + ".*.up_proj"] = v
        elif k.endswith(".experts.down_proj"):
            out[k[: -len(".down_proj")] + ".*.down_proj"] = v
    return out


def input_amax_for(calib, mname):
    if ".mlp.experts." in mname:
        pre, rest = mname.split(".mlp.experts.")
        key = pre + ".mlp.experts.*." + rest.split(".", 1)[1]
        return calib.get(key)
    return calib.get(mname)


# --------------------------------------------------------------------------------------
# Quantization of a whole checkpoint
# --------------------------------------------------------------------------------------
def quantize_checkpoint(fx, sd, calib, xcheck):
    m = fx["model"]
    L = m["num_hidden_layers"]
    all_lin = linear_modules(sd.keys(), L)
    quant_mods = [
        n for n in all_lin
        if not is_mtp(n, L) and n.split(".")[-1] not in fx["bf16_modules"]
    ]
    groups = fused_groups(quant_mods)
    out = OrderedDict()
    qset = set(quant_mods)
    for k, v in sd.items():
        mod = k[: -len(".weight")] if k.endswith(".weight") else None
        if mod in qset:
            continue
        out[k] = v
    stats = {"modules": 0, "modelopt_tensor_check": None, "never_routed_layers": []}
    xc_results = []
    for g in groups:
        wsf2 = weight_scale_2_of([sd[n + ".weight"] for n in g])
        amaxes = [input_amax_for(calib, n) for n in g]
        if any(a is None for a in amaxes):
            raise RuntimeError(f"no calibration amax for {g}")
        in_amax = torch.stack(amaxes).max()
        input_scale = (in_amax / (E2M1_MAX * E4M3_MAX)).to(torch.float32)
        for n in g:
            packed, sc = nvfp4_quantize(sd[n + ".weight"], wsf2)
            out[n + ".weight"] = packed
            out[n + ".weight_scale"] = sc
            out[n + ".weight_scale_2"] = wsf2.clone().reshape(())
            out[n + ".input_scale"] = input_scale.clone().reshape(())
            stats["modules"] += 1
            if xcheck:
                xc_results.append(modelopt_crosscheck_tensor(sd[n + ".weight"], wsf2, packed, sc))
    if xcheck and xc_results:
        if any(r is None for r in xc_results):
            stats["modelopt_tensor_check"] = None
        else:
            stats["modelopt_tensor_check"] = all(xc_results)
            if not all(xc_results):
                raise RuntimeError("NVFP4 re-implementation differs from modelopt NVFP4QTensor")
    # order like the on-disk checkpoint: sorted names
    out = OrderedDict(sorted(out.items()))
    return out, quant_mods


def scale_stats(qsd, quant_mods):
    sc = torch.cat([qsd[n + ".weight_scale"].to(torch.float32).flatten() for n in quant_mods])
    codes = torch.cat([qsd[n + ".weight"].flatten() for n in quant_mods])
    nib = torch.cat([codes & 0xF, codes >> 4])
    return OrderedDict(
        total=int(sc.numel()),
        equal_1_0=int((sc == 1.0).sum()),
        subnormal_not_clamped=int(((sc < 2**-6) & (sc > 2**-9)).sum()),
        clamped_2pow_minus_9=int((sc == 2**-9).sum()),
        min=float(sc.min()),
        max=float(sc.max()),
        negative_zero_codes=int((nib == 8).sum()),
    )


def dequantized_state_dict(qsd, quant_mods):
    """Per-expert on-disk names -> float32 tensors (NVFP4 dequantized exactly)."""
    out = OrderedDict()
    qset = set(quant_mods)
    for k, v in qsd.items():
        for suf in (".weight_scale_2", ".weight_scale", ".input_scale"):
            if k.endswith(suf) and k[: -len(suf)] in qset:
                break
        else:
            mod = k[: -len(".weight")] if k.endswith(".weight") else None
            if mod in qset:
                out[k] = nvfp4_dequantize(v, qsd[mod + ".weight_scale"], qsd[mod + ".weight_scale_2"])
            else:
                out[k] = v.to(torch.float32)
    return out


# --------------------------------------------------------------------------------------
# exclude_modules (ModelOpt quant_utils._prefix_wildcard_summarize_exclude_modules, ported)
# --------------------------------------------------------------------------------------
def prefix_wildcard_summarize(unquantized, quantized):
    def all_matching_prefix_wildcards(name):
        w = {name}
        for i in range(len(name) + 1):
            w.add(name[:i] + "*")
        return w

    def next_formatted(name):
        for i in range(len(name)):
            if name[i] == ".":
                yield [name[:i] + "*"]
                yield [name[:i], name[:i] + ".*"]
        yield [name]

    negative = set()
    for q in quantized:
        negative.update(all_matching_prefix_wildcards(q))
    res = set()
    for layer in unquantized:
        cand = []
        for wc in next_formatted(layer):
            if any(w in negative for w in wc):
                continue
            if all(w in res for w in wc):
                cand = []
                break
            cand = wc
            break
        res.update(cand)
    return res


def exclude_modules(fx, quant_mods):
    """The exclude list ModelOpt 0.47 writes: modules that carry a (disabled) quantizer or are
    MoE routers -- lm_head, model.embed_tokens, every model.layers.L.mlp.gate, explicitly
    disabled Linears -- summarized with prefix wildcards and sorted; then the MTP layer prefix
    'model.layers.{L}*' appended (unified_export_hf._add_mtp_exclusions)."""
    m = fx["model"]
    L = m["num_hidden_layers"]
    types = mlp_layer_types(m)
    unq = ["model.embed_tokens"]
    # ModelOpt sees the transformers module tree: fused experts are one module
    q_hf = sorted({(n.split(".mlp.experts.")[0] + ".mlp.experts") if ".mlp.experts." in n else n for n in quant_mods})
    for li in range(L):
        for leaf in fx["bf16_modules"]:
            unq.append(f"model.layers.{li}.self_attn.{leaf}")
    unq.append("lm_head")
    for li in range(L):
        if types[li] == "sparse":
            unq.append(f"model.layers.{li}.mlp.gate")
    ex = sorted(prefix_wildcard_summarize(unq, q_hf))
    if fx["mtp"]:
        ex.append(f"model.layers.{L}*")
    return ex


def hf_quant_config(excl):
    return {
        "producer": {"name": "modelopt", "version": MODELOPT_PRODUCER_VERSION},
        "quantization": {
            "quant_algo": "NVFP4",
            "kv_cache_quant_algo": None,
            "group_size": BLOCK,
            "exclude_modules": excl,
        },
    }


def config_quantization_config(excl):
    """modelopt convert_hf_quant_config_format() for NVFP4."""
    return {
        "config_groups": {
            "group_0": {
                "input_activations": {"dynamic": False, "num_bits": 4, "type": "float", "group_size": BLOCK},
                "weights": {"dynamic": False, "num_bits": 4, "type": "float", "group_size": BLOCK},
                "targets": ["Linear"],
            }
        },
        "ignore": excl,
        "quant_algo": "NVFP4",
        "producer": {"name": "modelopt", "version": MODELOPT_PRODUCER_VERSION},
        "quant_method": "modelopt",
    }


# --------------------------------------------------------------------------------------
# Reference run
# --------------------------------------------------------------------------------------
def prompt_candidate(fx, i):
    g = torch.Generator().manual_seed(fx["seed"] * 1000 + i)
    V = fx["model"]["vocab_size"]
    n = int(torch.randint(12, 21, (1,), generator=g))
    return torch.randint(0, V - 64, (n,), generator=g).tolist()


def greedy(model, prompt):
    gc = GenerationConfig(do_sample=False, max_new_tokens=N_GREEDY, min_new_tokens=0,
                          eos_token_id=None, pad_token_id=0, bos_token_id=None,
                          temperature=None, top_p=None, top_k=None, use_cache=True)
    ids = torch.tensor([prompt])
    with torch.no_grad():
        out = model.generate(ids, attention_mask=torch.ones_like(ids), generation_config=gc)
    return out[0, len(prompt):].tolist()


def one_pass_logits(model, seq):
    with torch.no_grad():
        return model(torch.tensor([seq]), use_cache=False).logits[0].to(torch.float32)


def margins(logits):
    top2 = torch.topk(logits, 2, dim=-1).values
    return top2[:, 0] - top2[:, 1]


def group_restriction_stats(model, seq):
    """For grouped routing: count (layer, token) pairs where the group mask changes top-k."""
    res = {"tokens": 0, "changed": 0}

    def hook(mod, args, out):
        h = args[0].reshape(-1, mod.hidden_dim).float()
        logits = F.linear(h, mod.weight.float())
        s = logits.sigmoid() + mod.e_score_correction_bias
        plain = torch.topk(s, mod.top_k, dim=-1).indices.sort(dim=-1).values
        grouped = out[2].sort(dim=-1).values
        res["tokens"] += h.shape[0]
        res["changed"] += int((plain != grouped).any(dim=-1).sum())

    hs = [mod.register_forward_hook(hook) for mod in model.modules() if type(mod).__name__ == "Glm4MoeLiteTopkRouter"]
    with torch.no_grad():
        model(torch.tensor([seq]), use_cache=False)
    for h in hs:
        h.remove()
    return res


# --------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------
def write_json(path, obj, indent=2):
    with open(path, "w") as f:
        json.dump(obj, f, indent=indent)
        f.write("\n")


def save_st(tensors, path):
    save_file({k: v.contiguous() for k, v in tensors.items()}, path, metadata={"format": "pt"})


def write_sharded(qsd, outdir, nshards):
    """HF-style shards + model.safetensors.index.json. The split is placed right after the
    '.weight' of a quantized module near the middle so that its weight_scale/weight_scale_2 land
    in the next shard (engines must resolve tensors through the index, not per module)."""
    assert nshards == 2
    keys = list(qsd.keys())  # sorted
    sizes = [qsd[k].numel() * qsd[k].element_size() for k in keys]
    total = sum(sizes)
    acc, cut = 0, None
    for i, k in enumerate(keys):
        acc += sizes[i]
        if acc >= total // 2 and k.endswith(".weight") and (k[:-7] + ".weight_scale") in qsd:
            cut = i + 1
            break
    assert cut is not None
    parts = [keys[:cut], keys[cut:]]
    weight_map = {}
    straddle = keys[cut - 1][:-7]
    for si, ks in enumerate(parts):
        fname = f"model-{si + 1:05d}-of-{nshards:05d}.safetensors"
        save_st(OrderedDict((k, qsd[k]) for k in ks), os.path.join(outdir, fname))
        for k in ks:
            weight_map[k] = fname
    index = {"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))}
    write_json(os.path.join(outdir, "model.safetensors.index.json"), index)
    return straddle


def file_sizes(d):
    res = {}
    for root, _, files in os.walk(d):
        for f in sorted(files):
            p = os.path.join(root, f)
            res[os.path.relpath(p, d)] = os.path.getsize(p)
    return res


# --------------------------------------------------------------------------------------
# Full ModelOpt pipeline cross-check (optional)
# --------------------------------------------------------------------------------------
def modelopt_pipeline_check(fx, bf16_dir, qsd, excl, batches):
    """Quantize bf16/ with the real `mtq.quantize(NVFP4_DEFAULT_CFG)` + `export_hf_checkpoint`
    using the same calibration batches and compare every exported tensor bit-for-bit."""
    try:
        import modelopt
        import modelopt.torch.quantization as mtq
        from modelopt.torch.export import export_hf_checkpoint
    except Exception as e:  # pragma: no cover
        return {"ran": False, "reason": f"modelopt not importable: {e!r}"}
    import contextlib
    import io

    L = fx["model"]["num_hidden_layers"]
    model = Glm4MoeLiteForCausalLM.from_pretrained(
        bf16_dir, dtype=torch.bfloat16, attn_implementation="eager", experts_implementation="eager"
    ).eval()
    cfg = copy.deepcopy(mtq.NVFP4_DEFAULT_CFG)
    for leaf in fx["bf16_modules"]:
        cfg["quant_cfg"].append({"quantizer_name": f"*{leaf}*", "enable": False})

    def loop(mdl):
        for b in batches:
            mdl(b, use_cache=False)

    sink = io.StringIO()
    with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
        model = mtq.quantize(model, cfg, loop)
        if fx["mtp"]:
            model._mtp_layer_prefixes = [f"model.layers.{L}"]
        tmp = tempfile.mkdtemp(prefix="glimmer_mo_")
        export_hf_checkpoint(model, export_dir=tmp)
    ref = {}
    for fn in sorted(os.listdir(tmp)):
        if fn.endswith(".safetensors"):
            with safe_open(os.path.join(tmp, fn), "pt") as f:
                for k in f.keys():
                    ref[k] = f.get_tensor(k)
    with open(os.path.join(tmp, "hf_quant_config.json")) as f:
        mo_hqc = json.load(f)
    shutil.rmtree(tmp)
    ours = {k: v for k, v in qsd.items() if not is_mtp(k, L)}
    res = {"ran": True, "modelopt_version": modelopt.__version__, "tensors_compared": 0,
           "mismatch": [], "only_in_modelopt": sorted(set(ref) - set(ours)),
           "only_in_ours": sorted(set(ours) - set(ref))}
    for k in sorted(set(ref) & set(ours)):
        a, b = ref[k], ours[k]
        same = a.dtype == b.dtype and a.shape == b.shape and torch.equal(
            a.view(torch.uint8) if a.dtype == torch.float8_e4m3fn else a,
            b.view(torch.uint8) if b.dtype == torch.float8_e4m3fn else b,
        )
        if not same:
            extra = f" values {a.flatten()[:1].tolist()} vs {b.flatten()[:1].tolist()}" if a.numel() == 1 and b.numel() == 1 else ""
            res["mismatch"].append(f"{k}: modelopt {a.dtype}{tuple(a.shape)} ours {b.dtype}{tuple(b.shape)}{extra}")
        res["tensors_compared"] += 1
    res["exclude_modules_modelopt"] = mo_hqc["quantization"].get("exclude_modules")
    res["exclude_modules_match"] = res["exclude_modules_modelopt"] == excl
    return res


# --------------------------------------------------------------------------------------
# One fixture
# --------------------------------------------------------------------------------------
def make_fixture(name, fx, outroot, do_modelopt):
    t0 = time.time()
    m = fx["model"]
    L, V = m["num_hidden_layers"], m["vocab_size"]
    outdir = os.path.join(outroot, name)
    if os.path.isdir(outdir):
        shutil.rmtree(outdir)
    bf16_dir = os.path.join(outdir, "bf16")
    os.makedirs(bf16_dir)

    cdict = make_config_dict(fx)
    cfg = hf_config_from_dict(cdict)

    # ---- 1/2: weights + BF16 checkpoint ---------------------------------------------------
    sd = make_weights(fx)
    write_json(os.path.join(bf16_dir, "config.json"), cdict)
    save_st(OrderedDict(sorted(sd.items())), os.path.join(bf16_dir, "model.safetensors"))

    fused_bf16 = fuse_for_hf(sd, L)
    model_bf16 = build_model(cfg, fused_bf16, torch.bfloat16)
    # self-check: from_pretrained (transformers' own conversion mapping) == our fusion
    loaded = Glm4MoeLiteForCausalLM.from_pretrained(
        bf16_dir, dtype=torch.bfloat16, attn_implementation="eager", experts_implementation="eager"
    ).eval()
    sd_a, sd_b = model_bf16.state_dict(), loaded.state_dict()
    sd_a.update({"buffer:" + n: b for n, b in model_bf16.named_buffers()})
    sd_b.update({"buffer:" + n: b for n, b in loaded.named_buffers()})
    if set(sd_a) != set(sd_b):
        raise RuntimeError(f"state dict keys differ: {set(sd_a) ^ set(sd_b)}")
    for k in sd_a:
        if sd_a[k].dtype != sd_b[k].dtype or not torch.equal(sd_a[k], sd_b[k]):
            raise RuntimeError(f"from_pretrained(bf16/) differs from direct build at {k}")
    if loaded.model.layers[0].mlp.__class__.__name__ != "Glm4MoeLiteMLP":
        raise RuntimeError("layer 0 should be dense")
    del loaded

    # ---- 3: calibration + quantization ---------------------------------------------------
    batches = calib_batches(fx)
    calib = calibrate(model_bf16, batches)
    qsd, quant_mods = quantize_checkpoint(fx, sd, calib, xcheck=do_modelopt)
    excl = exclude_modules(fx, quant_mods)

    # ---- 4: reference ---------------------------------------------------------------------
    deq = dequantized_state_dict(qsd, quant_mods)
    model = build_model(cfg, fuse_for_hf(deq, L), torch.float32)
    model_bf16_ref = build_model(cfg, fuse_for_hf({k: v.to(torch.float32) for k, v in sd.items()}, L), torch.float32)

    eos = set(cdict["eos_token_id"])
    chosen, best = None, None
    for ci in range(PROMPT_CANDIDATES):
        prompt = prompt_candidate(fx, ci)
        gre = greedy(model, prompt)
        seq = prompt + gre[:-1]
        logits = one_pass_logits(model, seq)
        if len(gre) == N_GREEDY and logits.argmax(-1)[len(prompt) - 1:].tolist() != gre:
            raise RuntimeError(f"{name}: one-pass argmax does not reproduce greedy for candidate {ci}")
        mg = margins(logits)
        gmin = float(mg[len(prompt) - 1:].min())
        distinct = len(set(gre))
        ok = len(gre) == N_GREEDY and distinct >= MIN_DISTINCT_GREEDY and not (set(gre) & eos)
        amin = float(mg.min())
        quality = min(gmin / MIN_GREEDY_MARGIN, amin / MIN_ALL_MARGIN)
        cand = (ci, prompt, gre, logits, mg, gmin, distinct, quality)
        if ok and (best is None or quality > best[7]):
            best = cand
        if ok and quality >= 1.0:
            chosen = cand
            break
    if chosen is None:
        if best is None:
            raise RuntimeError(f"{name}: no acceptable prompt (degenerate greedy)")
        chosen = best
    ci, prompt, gre, logits, mg, gmin, distinct, _ = chosen
    seq = prompt + gre[:-1]
    T = len(seq)
    assert logits.shape == (T, V)
    logits_bf16 = one_pass_logits(model_bf16_ref, seq)
    gstats = group_restriction_stats(model, seq) if m["n_group"] > 1 else None
    if gstats is not None and gstats["changed"] == 0:
        raise RuntimeError(f"{name}: grouped top-k never restricts the selection")

    # ---- 5: write -------------------------------------------------------------------------
    if fx["config_quantization_config"]:
        cq = dict(cdict)
        cq["quantization_config"] = config_quantization_config(excl)
        write_json(os.path.join(outdir, "config.json"), cq)
    else:
        write_json(os.path.join(outdir, "config.json"), cdict)
    if fx["hf_quant_config"]:
        write_json(os.path.join(outdir, "hf_quant_config.json"), hf_quant_config(excl), indent=4)
    straddle = None
    if fx["shards"] == 1:
        save_st(qsd, os.path.join(outdir, "model.safetensors"))
    else:
        straddle = write_sharded(qsd, outdir, fx["shards"])
    logits.numpy().astype("<f4").tofile(os.path.join(outdir, "logits.f32"))
    logits_bf16.numpy().astype("<f4").tofile(os.path.join(outdir, "logits_bf16.f32"))

    P = len(prompt)
    notes = [
        fx["description"],
        "logits: float32 little-endian row-major [n_rows x vocab_size]; row i = next-token logits "
        "after token i of prompt+greedy[:-1], computed in ONE forward pass (no KV cache) by "
        f"transformers {transformers.__version__} Glm4MoeLiteForCausalLM in float32, "
        "attn_implementation=eager, experts_implementation=eager, with the NVFP4 weights "
        "dequantized exactly (w = E2M1[nib] * float(weight_scale) * weight_scale_2, fp32) and "
        "the BF16 tensors (embeddings, lm_head, norms, routers, excluded modules) upcast; "
        "e_score_correction_bias fp32.",
        f"greedy: HF generate(do_sample=False, max_new_tokens={N_GREEDY}, KV cache, eos disabled); "
        f"argmax(logits[{P - 1}:]) == greedy was checked.",
        "logits_bf16.f32: same layout and token sequence, but from the unquantized BF16 "
        "checkpoint in bf16/ (upcast to float32) -- a reference for loading bf16/.",
        "input_scale: amax/(6*448) from a max-calibration forward of the BF16 model on "
        f"{CALIB_BATCHES}x{CALIB_LEN} random tokens; only used by W4A4 kernels.",
    ]
    if fx["mtp"]:
        notes.append(f"MTP layer model.layers.{L}.* is BF16, not used by transformers; no MTP reference.")
    ref = OrderedDict(
        prompt=prompt,
        greedy=gre,
        n_rows=T,
        vocab_size=V,
        logits="logits.f32",
        logits_bf16="logits_bf16.f32",
        prompt_len=P,
        greedy_first_row=P - 1,
        min_top2_margin=round(float(mg.min()), 6),
        min_top2_margin_greedy_rows=round(gmin, 6),
        bf16_min_top2_margin=round(float(margins(logits_bf16).min()), 6),
        bf16_argmax_agrees_rows=int((logits_bf16.argmax(-1) == logits.argmax(-1)).sum()),
        max_abs_logit=round(float(logits.abs().max()), 4),
        eos_token_id=cdict["eos_token_id"],
        nvfp4_modules=len(quant_mods),
        nvfp4_block_scales=scale_stats(qsd, quant_mods),
        exclude_modules=excl,
        transformers_version=transformers.__version__,
        torch_version=torch.__version__,
        quantizer=f"tools/reference/make_fixtures.py re-implementation of ModelOpt {MODELOPT_PRODUCER_VERSION} NVFP4",
        prompt_candidate=ci,
        notes=" ".join(notes),
    )
    if gstats is not None:
        ref["group_restricted_router_decisions"] = gstats
    if straddle:
        ref["shard_straddling_module"] = straddle
    write_json(os.path.join(outdir, "reference.json"), ref)

    # ---- optional: full modelopt pipeline cross-check ------------------------------------
    mo = None
    if do_modelopt:
        mo = modelopt_pipeline_check(fx, bf16_dir, qsd, excl, batches)
        if mo.get("ran"):
            bad = mo["mismatch"] or not mo["exclude_modules_match"]
            log(f"  modelopt {mo['modelopt_version']} pipeline: {mo['tensors_compared']} tensors compared, "
                f"{len(mo['mismatch'])} mismatches, exclude_modules match={mo['exclude_modules_match']}")
            if mo["only_in_modelopt"] or mo["only_in_ours"]:
                log(f"  only in modelopt: {mo['only_in_modelopt'][:8]}  only in ours: {mo['only_in_ours'][:8]}")
            for x in mo["mismatch"][:20]:
                log("   mismatch " + x)
            if not mo["exclude_modules_match"]:
                log(f"   modelopt exclude_modules={mo['exclude_modules_modelopt']} ours={excl}")
            if bad:
                raise RuntimeError(f"{name}: modelopt pipeline cross-check failed")
        else:
            log(f"  modelopt pipeline check skipped: {mo.get('reason')}")

    sizes = file_sizes(outdir)
    log(f"[{name}] prompt {P} tok (candidate {ci}), greedy {gre} ({distinct} distinct), "
        f"min margin all={float(mg.min()):.4f} greedy={gmin:.4f}, "
        f"{len(quant_mods)} NVFP4 modules, total {sum(sizes.values())} bytes, {time.time() - t0:.1f}s")
    if gstats:
        log(f"  grouped routing changed {gstats['changed']}/{gstats['tokens']} router decisions")
    return sizes, mo


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="tests/data")
    ap.add_argument("--only", action="append", help="fixture name (repeatable)")
    ap.add_argument("--no-modelopt-check", action="store_true",
                    help="skip the cross-checks against an installed nvidia-modelopt")
    ap.add_argument("--list", action="store_true")
    args = ap.parse_args()
    if args.list:
        for k, v in FIXTURES.items():
            print(k, "-", v["description"])
        return 0
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    names = args.only or list(FIXTURES)
    for n in names:
        if n not in FIXTURES:
            ap.error(f"unknown fixture {n}; known: {', '.join(FIXTURES)}")
    do_mo = not args.no_modelopt_check
    if do_mo:
        try:
            import modelopt  # noqa: F401
        except Exception:
            log("nvidia-modelopt not importable: skipping the modelopt cross-checks")
            do_mo = False
    os.makedirs(args.out, exist_ok=True)
    t0 = time.time()
    for n in names:
        make_fixture(n, FIXTURES[n], args.out, do_mo)
    log(f"done in {time.time() - t0:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
