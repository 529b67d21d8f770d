#!/usr/bin/env python3
"""Independent consistency check of the fixtures written by make_fixtures.py.

Reads a fixture folder the way an engine would -- config.json, hf_quant_config.json /
quantization_config, model.safetensors or the sharded index, raw safetensors headers (own
parser: BF16, F32, U8, F8_E4M3 decoded by hand) -- and runs a from-scratch NumPy float64
forward pass written from docs/model.md (no torch, no transformers). The result is compared
with logits.f32 (NVFP4 folder) and logits_bf16.f32 (bf16/ folder).

Usage: python3 tools/reference/check_fixtures.py [tests/data] [--only NAME]
"""

import argparse
import json
import os
import struct
import sys

import numpy as np

E2M1 = np.array([0, 0.5, 1, 1.5, 2, 3, 4, 6, -0.0, -0.5, -1, -1.5, -2, -3, -4, -6], dtype=np.float64)


def fp8_e4m3_table():
    t = np.zeros(256, dtype=np.float64)
    for b in range(256):
        s = -1.0 if b & 0x80 else 1.0
        e = (b >> 3) & 0xF
        m = b & 0x7
        if e == 15 and m == 7:
            t[b] = np.nan
        elif e == 0:
            t[b] = s * (m / 8.0) * 2.0 ** -6
        else:
            t[b] = s * (1 + m / 8.0) * 2.0 ** (e - 7)
    return t


FP8 = fp8_e4m3_table()


def read_safetensors(path):
    out = {}
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    for k, v in header.items():
        if k == "__metadata__":
            continue
        a, b = v["data_offsets"]
        raw = data[a:b]
        shape = v["shape"]
        dt = v["dtype"]
        if dt == "BF16":
            x = (np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16).view(np.float32).astype(np.float64)
        elif dt == "F32":
            x = np.frombuffer(raw, dtype="<f4").astype(np.float64)
        elif dt == "U8":
            x = np.frombuffer(raw, dtype=np.uint8).copy()
        elif dt == "F8_E4M3":
            x = FP8[np.frombuffer(raw, dtype=np.uint8)]
        else:
            raise ValueError(f"{k}: unexpected dtype {dt}")
        out[k] = (dt, x.reshape(shape))
    return out


def load_folder(d):
    if os.path.exists(os.path.join(d, "model.safetensors.index.json")):
        idx = json.load(open(os.path.join(d, "model.safetensors.index.json")))
        t = {}
        for fn in sorted(set(idx["weight_map"].values())):
            t.update(read_safetensors(os.path.join(d, fn)))
        assert set(t) == set(idx["weight_map"]), "index does not match shard contents"
        total = sum(x.nbytes if dt != "F8_E4M3" else x.size for dt, x in t.values())
        # BF16 arrays are float64 here: recompute true sizes from dtype
        sizes = {"BF16": 2, "F32": 4, "U8": 1, "F8_E4M3": 1}
        total = sum(sizes[dt] * x.size for dt, x in t.values())
        assert total == idx["metadata"]["total_size"], (total, idx["metadata"]["total_size"])
        return t
    return read_safetensors(os.path.join(d, "model.safetensors"))


class Weights:
    def __init__(self, t):
        self.t = t
        self.nvfp4 = set()

    def linear(self, mod):
        dt, w = self.t[mod + ".weight"]
        if dt == "U8" and (mod + ".weight_scale") in self.t:
            self.nvfp4.add(mod)
            _, sc = self.t[mod + ".weight_scale"]
            dt2, s2 = self.t[mod + ".weight_scale_2"]
            assert dt2 == "F32" and s2.shape == (), (mod, dt2, s2.shape)
            assert self.t[mod + ".input_scale"][1].shape == ()
            assert self.t[mod + ".weight_scale"][0] == "F8_E4M3"
            out_f, half = w.shape
            nib = np.empty((out_f, half * 2), dtype=np.uint8)
            nib[:, 0::2] = w & 0x0F
            nib[:, 1::2] = w >> 4
            assert sc.shape == (out_f, half * 2 // 16)
            return (E2M1[nib] * np.repeat(sc, 16, axis=1)) * float(s2)
        assert dt == "BF16", (mod, dt)
        return w

    def vec(self, name):
        return self.t[name][1]


def rms(x, w, eps):
    return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * w


def silu(x):
    return x / (1 + np.exp(-x))


def forward(cfg, W, ids):
    H = cfg["hidden_size"]
    nh = cfg["num_attention_heads"]
    dn, dr, dv = cfg["qk_nope_head_dim"], cfg["qk_rope_head_dim"], cfg["v_head_dim"]
    kvr = cfg["kv_lora_rank"]
    eps = cfg["rms_norm_eps"]
    eps_lora = 1e-6  # transformers: Glm4MoeLiteRMSNorm(q_lora_rank / kv_lora_rank) default eps
    if "rope_parameters" in cfg and cfg["rope_parameters"]:
        theta = cfg["rope_parameters"]["rope_theta"]
    else:
        theta = cfg.get("rope_theta", 10000.0)
    L = cfg["num_hidden_layers"]
    if "mlp_layer_types" in cfg:
        dense = [t == "dense" for t in cfg["mlp_layer_types"]]
    else:
        dense = [i < cfg["first_k_dense_replace"] for i in range(L)]
    T = len(ids)
    pos = np.arange(T, dtype=np.float64)
    inv = theta ** (-np.arange(0, dr, 2, dtype=np.float64) / dr)
    ang = pos[:, None] * inv[None, :]
    cos, sin = np.cos(ang), np.sin(ang)

    def rope(x):  # x [..., T, dr], interleaved pairs
        a, b = x[..., 0::2], x[..., 1::2]
        return np.concatenate([a * cos - b * sin, b * cos + a * sin], axis=-1)

    scale = (dn + dr) ** -0.5
    x = W.vec("model.embed_tokens.weight")[ids]
    mask = np.triu(np.full((T, T), -np.inf), 1)
    for l in range(L):
        p = f"model.layers.{l}."
        h = rms(x, W.vec(p + "input_layernorm.weight"), eps)
        a = p + "self_attn."
        qa = rms(h @ W.linear(a + "q_a_proj").T, W.vec(a + "q_a_layernorm.weight"), eps_lora)
        q = (qa @ W.linear(a + "q_b_proj").T).reshape(T, nh, dn + dr).transpose(1, 0, 2)
        kva = h @ W.linear(a + "kv_a_proj_with_mqa").T
        c = rms(kva[:, :kvr], W.vec(a + "kv_a_layernorm.weight"), eps_lora)
        kpe = rope(kva[:, kvr:])                                   # [T, dr] shared by heads
        qpe = rope(q[..., dn:])                                    # [nh, T, dr]
        kv = (c @ W.linear(a + "kv_b_proj").T).reshape(T, nh, dn + dv).transpose(1, 0, 2)
        knope, v = kv[..., :dn], kv[..., dn:]
        s = (q[..., :dn] @ knope.transpose(0, 2, 1) + qpe @ kpe.T[None]) * scale + mask
        s = np.exp(s - s.max(-1, keepdims=True))
        s /= s.sum(-1, keepdims=True)
        o = (s @ v).transpose(1, 0, 2).reshape(T, nh * dv)
        x = x + o @ W.linear(a + "o_proj").T
        h = rms(x, W.vec(p + "post_attention_layernorm.weight"), eps)
        m = p + "mlp."
        if dense[l]:
            y = (silu(h @ W.linear(m + "gate_proj").T) * (h @ W.linear(m + "up_proj").T)) @ W.linear(m + "down_proj").T
        else:
            E = cfg["n_routed_experts"]
            k = cfg["num_experts_per_tok"]
            ng, tg = cfg["n_group"], cfg["topk_group"]
            assert W.t[m + "gate.e_score_correction_bias"][0] == "F32"
            logits = h @ W.vec(m + "gate.weight").T
            sc = 1 / (1 + np.exp(-logits))
            sel = sc + W.vec(m + "gate.e_score_correction_bias")
            gs = np.sort(sel.reshape(T, ng, E // ng), axis=-1)[..., -2:].sum(-1)
            y = np.zeros_like(h)
            for t in range(T):
                keep_g = np.argsort(-gs[t], kind="stable")[:tg]
                masked = np.full(E, -np.inf)
                for g in keep_g:
                    masked[g * (E // ng):(g + 1) * (E // ng)] = sel[t, g * (E // ng):(g + 1) * (E // ng)]
                idx = np.argsort(-masked, kind="stable")[:k]
                w = sc[t, idx]
                if cfg["norm_topk_prob"]:
                    w = w / (w.sum() + 1e-20)
                w = w * cfg["routed_scaling_factor"]
                for e, we in zip(idx, w):
                    ep = m + f"experts.{e}."
                    he = silu(h[t] @ W.linear(ep + "gate_proj").T) * (h[t] @ W.linear(ep + "up_proj").T)
                    y[t] += we * (he @ W.linear(ep + "down_proj").T)
            sp = m + "shared_experts."
            y = y + (silu(h @ W.linear(sp + "gate_proj").T) * (h @ W.linear(sp + "up_proj").T)) @ W.linear(sp + "down_proj").T
        x = x + y
    x = rms(x, W.vec("model.norm.weight"), eps)
    return x @ W.vec("lm_head.weight").T


def check(d, name):
    cfg = json.load(open(os.path.join(d, "config.json")))
    ref = json.load(open(os.path.join(d, "reference.json")))
    qc = None
    if os.path.exists(os.path.join(d, "hf_quant_config.json")):
        qc = json.load(open(os.path.join(d, "hf_quant_config.json")))["quantization"]["exclude_modules"]
    if "quantization_config" in cfg:
        ign = cfg["quantization_config"]["ignore"]
        assert cfg["quantization_config"]["quant_method"] == "modelopt"
        assert qc is None or qc == ign
        qc = ign
    assert qc is not None, "no quantization metadata"
    ids = ref["prompt"] + ref["greedy"][:-1]
    T, V = ref["n_rows"], ref["vocab_size"]
    assert len(ids) == T and V == cfg["vocab_size"]
    res = []
    for sub, lf in (("", ref["logits"]), ("bf16", ref["logits_bf16"])):
        folder = os.path.join(d, sub) if sub else d
        fcfg = json.load(open(os.path.join(folder, "config.json")))
        W = Weights(load_folder(folder))
        got = forward(fcfg, W, ids)
        want = np.fromfile(os.path.join(d, lf), dtype="<f4").reshape(T, V).astype(np.float64)
        err = np.abs(got - want).max() / np.abs(want).max()
        am = (got.argmax(-1) == want.argmax(-1)).mean()
        if not sub:
            # NVFP4 modules must be exactly those not excluded
            import fnmatch
            for mod in W.nvfp4:
                assert not any(mod == e or fnmatch.fnmatch(mod, e) or mod.startswith(e + ".") for e in qc), mod
            P = ref["prompt_len"]
            assert got.argmax(-1)[P - 1:].tolist() == ref["greedy"], "greedy mismatch"
        res.append((sub or "nvfp4", err, am, len(W.nvfp4)))
        assert err < 1e-4, (name, sub, err)
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("root", nargs="?", default="tests/data")
    ap.add_argument("--only", action="append")
    a = ap.parse_args()
    names = a.only or sorted(n for n in os.listdir(a.root) if os.path.exists(os.path.join(a.root, n, "reference.json")))
    for n in names:
        for sub, err, am, nq in check(os.path.join(a.root, n), n):
            print(f"{n:12s} {sub:6s} max|err|/max|logit| = {err:.2e}  argmax agree {am:.3f}  nvfp4 modules {nq}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
