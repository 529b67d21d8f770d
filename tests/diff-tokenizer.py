#!/usr/bin/env python3
# diff-tokenizer.py: differential test of glimmer-cli tokenize against HF tokenizers on fresh
# random text (every run draws new strings; the seed is printed for reproduction).
# SPDX-License-Identifier: MIT
#
# Usage: GLIMMER_CLI=build/src/glimmer-cli tests/diff-tokenizer.py [SEED] [N]
# Exits 77 (skip) when the tokenizers module or $GLIMMER_CLI is missing.
# GLIMMER_DIFF_TOKENIZERS=a.json:b.json compares on those files instead of the committed ones
# (e.g. the real GLM-4.7-Flash tokenizer.json when you have it).
# For each committed tokenizer under tests/data/tokenizer/ it checks:
#   - encode: ids of random strings mixing every class the pre-tokenizer distinguishes (letters of
#     many scripts, digits of several kinds, white space incl. CRLF/U+0085/U+3000, punctuation,
#     contractions, combining marks, emoji, control characters, NUL, GLM tags inside words),
#     random code points from all of Unicode, and random bytes (invalid UTF-8, compared with
#     HF's ids of the text decoded with errors="replace");
#   - decode: our text of HF's ids equals the original (round trip) and HF's decode, and random
#     id lists (incl. out-of-range ids and broken UTF-8) decode as HF does, with and without
#     skip_special_tokens;
#   - the exact one-text interface (--text-file F prints "id,id,...\n").

import os
import random
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tools", "reference"))

try:
    from tokenizers import Tokenizer
except ImportError:
    print("SKIP: the Python module tokenizers is not installed")
    sys.exit(77)

import make_tokenizer_fixtures as fx  # noqa: E402  (the fixture generator's text pools)

CLI = os.environ.get("GLIMMER_CLI")
DATA = os.path.join(os.environ.get("G_TEST_SRCDIR", HERE), "data", "tokenizer")
TOKENIZERS = ["glm-mini-pairs.json", "glm-mini-strings.json", "variant.json"]
# Code points the classes disagree on between Unicode tables, or that are special to the regex.
TRICKY = [0x85, 0xa0, 0x180e, 0x200b, 0x2028, 0x2029, 0x202f, 0x205f, 0x3000, 0x1c, 0x1f,
          0x17f, 0x212a, 0x2160, 0x2070, 0x00b2, 0xff10, 0x0660, 0x1f1e6, 0x1f3fb, 0xfe0f,
          0x200d, 0x0301, 0x0e31, 0x1885, 0x2e2f, 0x3007, 0x10fffd, 0xe000]


def random_code_point(rng):
    r = rng.random()
    if r < 0.3:
        return chr(rng.choice(TRICKY))
    while True:
        c = rng.randrange(0x110000) if r < 0.6 else rng.randrange(0x3400)
        if not 0xd800 <= c < 0xe000:
            return chr(c)


def random_string(rng):
    r = rng.random()
    if r < 0.6:
        return fx.random_text(rng, max_parts=rng.choice([4, 12, 30])).encode()
    if r < 0.8:
        parts = []
        for _ in range(rng.randint(1, 25)):
            k = rng.random()
            parts.append(random_code_point(rng) if k < 0.5 else
                         rng.choice([" ", "  ", "\n", "\r\n", "'", "a", "1", "!", "<think>"]) if
                         k < 0.8 else fx.rand_word(rng))
        return "".join(parts).encode()
    if r < 0.9:
        n = rng.randint(1, 40)
        pool = [rng.randrange(256) for _ in range(n)]
        base = fx.random_text(rng, 5).encode()
        cut = rng.randint(0, len(base))
        return base[:cut] + bytes(pool) + base[cut:]
    word = rng.choice([fx.rand_word(rng), "'s", " ", "\n", "9", "-", "🙂", "é"])
    return (word * rng.randint(50, 400)).encode()


def run_cli(args, stdin_file=None):
    out = subprocess.run([CLI, "tokenize"] + args, capture_output=True)
    if out.returncode != 0:
        sys.exit(f"FAIL: glimmer-cli tokenize {' '.join(args)}: exit {out.returncode}: "
                 f"{out.stderr.decode(errors='replace')}")
    return out.stdout.decode()


def batch(path, jobs, extra):
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
        f.write("".join(j + "\n" for j in jobs))
        name = f.name
    try:
        lines = run_cli(["--tokenizer", path, "--batch", "--text-file", name] + extra).split("\n")
    finally:
        os.unlink(name)
    assert lines[-1] == "" and len(lines) == len(jobs) + 1, (len(lines), len(jobs))
    return lines[:-1]


def main():
    if not CLI or not os.path.exists(CLI):
        print("SKIP: $GLIMMER_CLI is not set to a built glimmer-cli")
        sys.exit(77)
    seed = int(sys.argv[1]) if len(sys.argv) > 1 else int(time.time() * 1000) % 2**32
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 1500
    print(f"seed {seed} (rerun: tests/diff-tokenizer.py {seed} {n})")
    rng = random.Random(seed)
    texts = [random_string(rng) for _ in range(n)]
    failures = 0

    paths = [os.path.join(DATA, name) for name in TOKENIZERS]
    if os.environ.get("GLIMMER_DIFF_TOKENIZERS"):
        paths = os.environ["GLIMMER_DIFF_TOKENIZERS"].split(":")
    for path in paths:
        name = os.path.basename(path)
        lossless = name != "variant.json"   # the variant lacks byte 0x01 on purpose
        hf = Tokenizer.from_file(path)
        n_total = hf.get_vocab_size(with_added_tokens=True)
        strs = [t.decode("utf-8", "replace") for t in texts]
        want = [e.ids for e in hf.encode_batch(strs, add_special_tokens=False)]
        got = batch(path, [t.hex() for t in texts], [])
        for text, w, g in zip(texts, want, got):
            g = [int(x) for x in g.split(",")] if g else []
            if g != w:
                failures += 1
                if failures <= 10:
                    print(f"FAIL encode {name}: text {text!r}\n  ours {g}\n  HF   {w}")

        # decode: round trip of HF's ids, and HF's own decode
        id_lists = list(want)
        for _ in range(300):
            id_lists.append([rng.choice([rng.randrange(256), rng.randrange(n_total),
                                         rng.randrange(n_total - 40, n_total),
                                         n_total + rng.randrange(50)])
                             for _ in range(rng.randint(0, 20))])
        for skip in (False, True):
            got = batch(path, [",".join(map(str, ids)) for ids in id_lists],
                        ["--decode"] + (["--skip-special"] if skip else []))
            for i, (ids, g) in enumerate(zip(id_lists, got)):
                mine = bytes.fromhex(g).decode("utf-8")
                ref = hf.decode(ids, skip_special_tokens=skip)
                roundtrip = i < len(texts) and not skip and lossless
                if mine != ref or (roundtrip and mine != strs[i]):
                    failures += 1
                    if failures <= 10:
                        print(f"FAIL decode {name} skip={skip}: ids {ids}\n  ours {mine!r}\n"
                              f"  HF   {ref!r}")

        # the exact single-text interface
        for text in texts[:15] + [b""]:
            with tempfile.NamedTemporaryFile("wb", delete=False) as f:
                f.write(text)
            try:
                out = run_cli(["--tokenizer", path, "--text-file", f.name])
            finally:
                os.unlink(f.name)
            ids = hf.encode(text.decode("utf-8", "replace"), add_special_tokens=False).ids
            if out != ",".join(map(str, ids)) + "\n":
                failures += 1
                print(f"FAIL --text-file {name}: {text!r}: {out!r}")
        print(f"{name}: {len(texts)} encodings, {2 * len(id_lists)} decodes compared")

    if failures:
        print(f"{failures} mismatches (seed {seed})")
        sys.exit(1)
    print("all equal to HF tokenizers", tokenizers_version())


def tokenizers_version():
    import tokenizers
    return tokenizers.__version__


if __name__ == "__main__":
    main()
