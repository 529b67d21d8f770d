#!/usr/bin/env python3
# make_tokenizer.py: the demo model's tokenizer.json, a small byte-level BPE trained on the
# corpus with Hugging Face tokenizers, in exactly GLM-4.7-Flash's pipeline (Split regex,
# ByteLevel, decoder, ignore_merges, the 36 added tokens with GLM's strings and special flags,
# ids right after the base vocabulary; docs: chat-format.md §2.2, §2.4).
# SPDX-License-Identifier: MIT
#
# The pipeline definition and the trainer are tools/reference/make_tokenizer_fixtures.py's
# (glm_tokenizer_json, train_bpe). The added-token strings are cut out of the corpus texts
# before training so that no merge is spent on them.
#
# Usage: make_tokenizer.py --corpus corpus.jsonl --out tokenizer.json [--vocab 4000]
#                          [--check-cli build/src/glimmer-cli]
#        make_tokenizer.py --corpus corpus.jsonl --check-only tokenizer.json --check-cli CLI
# --vocab is the total size including the 36 added tokens. The BPE ends smaller when the corpus
# runs out of pairs seen twice: with make_corpus.py's defaults every corpus word and number
# becomes one token at about 2.6k. --check-cli compares glimmer-cli's encoding of corpus texts
# with HF's; --check-only does only that, for an existing tokenizer.json.

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tools", "reference"))
from make_tokenizer_fixtures import GLM_ADDED, glm_tokenizer_json, train_bpe  # noqa: E402
from tokenizers import Tokenizer  # noqa: E402

ADDED_RE = re.compile("|".join(re.escape(t) for t in sorted(GLM_ADDED, key=len, reverse=True)))


def read_texts(path):
    with open(path, encoding="utf-8") as f:
        for line in f:
            yield json.loads(line)["text"]


def pieces(path):
    """The corpus texts with the added-token strings cut out."""
    for text in read_texts(path):
        for p in ADDED_RE.split(text):
            if p:
                yield p


def check(tok_path, corpus, n, cli):
    hf = Tokenizer.from_file(tok_path)
    texts = []
    for i, t in enumerate(read_texts(corpus)):
        if i % 7 == 0:
            texts.append(t)
        if len(texts) >= n:
            break
    bad = 0
    for t in texts:
        ids = hf.encode(t, add_special_tokens=False).ids
        if hf.decode(ids, skip_special_tokens=False) != t:
            raise SystemExit("HF decode does not round-trip")
        if cli:
            with tempfile.NamedTemporaryFile("w", encoding="utf-8", suffix=".txt") as f:
                f.write(t)
                f.flush()
                out = subprocess.run([cli, "tokenize", "--tokenizer", tok_path, "--text-file",
                                      f.name], check=True, capture_output=True, text=True).stdout
            got = [int(x) for x in out.strip().split(",") if x]
            bad += got != ids
    if cli:
        print(f"check-cli: {len(texts)} corpus texts, {bad} differ between glimmer-cli and HF")
    return bad == 0


def main():
    ap = argparse.ArgumentParser(description="Train the demo model's GLM-style tokenizer.")
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--out")
    ap.add_argument("--check-only", metavar="TOKENIZER")
    ap.add_argument("--vocab", type=int, default=4000, help="total vocabulary (default 4000)")
    ap.add_argument("--check-cli", metavar="GLIMMER_CLI")
    ap.add_argument("--check-n", type=int, default=50)
    a = ap.parse_args()
    if a.check_only:
        sys.exit(0 if check(a.check_only, a.corpus, a.check_n, a.check_cli) else 1)
    if not a.out:
        ap.error("--out is required")
    t0 = time.time()
    vocab, merges = train_bpe(pieces(a.corpus), a.vocab - len(GLM_ADDED))
    tj = glm_tokenizer_json(vocab, merges)
    with open(a.out, "w", encoding="utf-8") as f:
        json.dump(tj, f, ensure_ascii=False, indent=1)
        f.write("\n")
    hf = Tokenizer.from_file(a.out)
    for entry in tj["added_tokens"]:
        assert hf.token_to_id(entry["content"]) == entry["id"], entry
    n_total = hf.get_vocab_size(with_added_tokens=True)
    ids = {t: hf.token_to_id(t) for t in ("<|endoftext|>", "<|user|>", "<|observation|>")}
    print(f"make_tokenizer: {len(vocab)} BPE tokens + {len(GLM_ADDED)} added = {n_total}, "
          f"{len(merges)} merges, eos {list(ids.values())} -> {a.out} in {time.time() - t0:.1f} s")
    if not check(a.out, a.corpus, a.check_n, a.check_cli):
        sys.exit(1)


if __name__ == "__main__":
    main()
