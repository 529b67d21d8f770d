#!/usr/bin/env python3
# make_tokenizer_fixtures.py: build small tokenizer.json files with GLM-4.7-Flash's pipeline and
# reference encodings of a varied corpus, using Hugging Face `tokenizers` as the reference.
# SPDX-License-Identifier: MIT
#
# Usage: tools/reference/make_tokenizer_fixtures.py [OUTDIR]   (default tests/data/tokenizer)
#
# The real tokenizer.json (20 MB) is not available, so we train byte-level BPE vocabularies of a
# few thousand tokens on text this script generates itself (deterministic: fixed seeds), and wrap
# them in exactly the pipeline of GLM-4.7-Flash (docs: chat-format.md §2.2):
#   pre_tokenizer Sequence[Split(GLM regex, Isolated), ByteLevel(no prefix space, no regex)],
#   post_processor/decoder ByteLevel with GLM's flags, no normalizer, ignore_merges true,
#   and the 36 added tokens of §2.4 (GLM's strings, special flag for the first 18) with ids
#   directly after the base vocabulary.
# Outputs:
#   glm-mini-pairs.json    vocab 4000, merges as ["a", "b"] pairs (new format), pretty-printed
#   glm-mini-strings.json  vocab 2500, merges as "a b" strings (legacy format), compact
#   variant.json           vocab 1200, ignore_merges false, one byte missing from the vocab, a
#                          token outside the byte alphabet, extra overlapping added tokens, some
#                          normalized=true (exercises what GLM's file does not: HF's second
#                          added-token pass, dropped bytes)
#   encodings.json         for each tokenizer: the ids HF gives for every corpus text, and
#                          decode results for id lists (skip_special_tokens false and true)
# Every ids list is produced by tokenizers.Tokenizer.encode(text, add_special_tokens=False);
# texts are stored as hex of their UTF-8 bytes (they contain NUL). Texts marked "lossy" hold
# invalid UTF-8: the reference ids are those of bytes.decode("utf-8", "replace"), which is what
# glim_tokenizer_encode() is documented to do with invalid input.

import json
import os
import random
import sys

import tokenizers
from tokenizers import Regex, Tokenizer, models, pre_tokenizers, trainers

GLM_REGEX = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|"
             r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")

GLM_ADDED = [
    "<|endoftext|>", "[MASK]", "[gMASK]", "[sMASK]", "<sop>", "<eop>", "<|system|>", "<|user|>",
    "<|assistant|>", "<|observation|>", "<|begin_of_image|>", "<|end_of_image|>",
    "<|begin_of_video|>", "<|end_of_video|>", "<|begin_of_audio|>", "<|end_of_audio|>",
    "<|begin_of_transcription|>", "<|end_of_transcription|>", "<|code_prefix|>",
    "<|code_middle|>", "<|code_suffix|>", "<think>", "</think>", "<tool_call>", "</tool_call>",
    "<tool_response>", "</tool_response>", "<arg_key>", "</arg_key>", "<arg_value>",
    "</arg_value>", "/nothink", "<|begin_of_box|>", "<|end_of_box|>", "<|image|>", "<|video|>",
]
N_SPECIAL = 18

# ---- text generation ----

WORDS = (
    "the of and to in is that it for was on are as with his they be at one have this from or had "
    "by hot word but what some we can out other were all there when up use your how said an each "
    "she which do their time if will way about many then them write would like so these her long "
    "make thing see him two has look more day could go come did number sound no most people my "
    "over know water than call first who may down side been now find any new work part take get "
    "place made live where after back little only round man year came show every good me give our "
    "under name very through just form sentence great think say help low line differ turn cause "
    "much mean before move right boy old too same tell does set three want air well also play "
    "small end put home read hand port large spell add even land here must big high such follow "
    "act why ask men change went light kind off need house picture try us again animal point "
    "mother world near build self earth father tokenizer encoder decoder inference kernel tensor "
    "attention expert router latent gradient Python Rust GLib function return struct const static "
    "Hello World Monday January London Paris ChatGPT GLM Flash NVIDIA CUDA JSON HTTP"
).split()

CONTRACTIONS = ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "'T", "'RE", "'Ve", "'M",
                "'LL", "'lL", "'D", "n't", "N'T"]

CODE = [
    "int main (int argc, char **argv)\n{\n  return 0;\n}\n",
    "def f(x):\n    if x > 0:\n        return x * 2\n    return -x\n",
    "for (gsize i = 0; i < n; i++) {\n\tsum += a[i] * b[i];\n}\n",
    "{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", \"days\": 3}}",
    "const x = await fetch(`https://example.com/api?q=${q}&n=10`);\r\n",
    "SELECT id, name FROM users WHERE age >= 21 ORDER BY name DESC;",
    "#include <stdio.h>\n#define MAX(a, b) ((a) > (b) ? (a) : (b))\n",
    "    self.assertEqual(tok.encode('hi'), [1, 2, 3])  # comment\n",
    "fn main() -> Result<(), Box<dyn Error>> { println!(\"{:?}\", v); Ok(()) }",
    "x+=1;y-=2;z*=3;w/=4;a<<=1;b>>=2;c&&d||e!=f==g",
    "<div class=\"row\"><span>&amp;&lt;&gt;</span></div>",
    "$ ls -la /usr/lib | grep -E '^d' > out.txt 2>&1",
]

SCRIPTS = {
    "cjk": ("的一是不了人我在有他这为之大来以个中上们到说国和地也子时道出而要于就下得可你年生自"
            "会那后能对着事其里所去行过家十用发天如然作方成者多日都三小军二无同么经法当起与好看"
            "学进种将还分此心前面又定见只主没公从"),
    "kana": "あいうえおかきくけこさしすせそたちつてとなにぬねのはひふへほまみむめもやゆよらりるれろわをんアイウエオカキクケコ",
    "hangul": "가나다라마바사아자차카타파하한국어입니다습니까",
    "arabic": "ابتثجحخدذرزسشصضطظعغفقكلمنهوي",
    "hebrew": "אבגדהוזחטיכלמנסעפצקרשת",
    "cyrillic": "абвгдеёжзийклмнопрстуфхцчшщъыьэюяАБВГДЕЖЗИЙК",
    "greek": "αβγδεζηθικλμνξοπρστυφχψωΑΒΓΔΕΖΗΘ",
    "devanagari": "कखगघचछजझटठडढणतथदधनपफबभमयरलवशषसह",
}
MARKS = "\u0301\u0300\u0308\u0303\u0327\u093e\u093f\u0940\u094d\u064e\u064f\u0650\u05b8\u05bc"
EMOJI = ["😀", "🙂", "👍", "👍🏽", "❤️", "🎉", "🚀", "👨‍👩‍👧‍👦", "👩🏾‍💻", "🏳️‍🌈", "🇫🇷", "🇩🇪",
         "🇯🇵", "1️⃣", "#️⃣", "✈️", "🤖"]
DIGITS = "0123456789"
OTHER_DIGITS = "١٢٣٤٥٦٧٨٩٠۱۲۳१२३௧௨１２３²³½ⅫⅣ"
PUNCT = ".,;:!?-_()[]{}<>/\\|@#$%^&*+=~`'\"«»“”‘’…—–·•"
SPACES = [" ", "  ", "   ", "\t", "\t\t", "\n", "\n\n", "\r\n", "\r", " \n", "\n ", "  \n\n  ",
          "\u00a0", "\u3000", "\u2028", "\u0085", "\u000b", "\u000c", "\u2003"]
CONTROLS = "\x00\x01\x02\x07\x08\x1b\x1f\x7f\u200b\u200d\u200e\u200f\u2060\ufeff"
TAGS = ["<think>", "</think>", "<|user|>", "<|assistant|>", "<tool_call>", "</tool_call>",
        "<arg_key>", "</arg_value>", "<|endoftext|>", "[gMASK]", "<sop>", "/nothink", "<think",
        "think>", "<|user", "<tool_", "[MASK", "<|image|>", "<|observation|>"]


def rand_word(rng):
    kind = rng.random()
    if kind < 0.55:
        w = rng.choice(WORDS)
        if rng.random() < 0.15:
            w = w.capitalize() if rng.random() < 0.7 else w.upper()
        if rng.random() < 0.08:
            w += rng.choice(CONTRACTIONS)
        return w
    if kind < 0.75:
        s = rng.choice(list(SCRIPTS.values()))
        w = "".join(rng.choice(s) for _ in range(rng.randint(1, 8)))
        if rng.random() < 0.2:
            w += rng.choice(MARKS)
        return w
    if kind < 0.85:
        return "".join(rng.choice(DIGITS) for _ in range(rng.randint(1, 9)))
    if kind < 0.92:
        return rng.choice(EMOJI)
    return "".join(rng.choice(PUNCT) for _ in range(rng.randint(1, 3)))


def training_text(seed, n_chunks):
    rng = random.Random(seed)
    out = []
    for _ in range(n_chunks):
        r = rng.random()
        if r < 0.6:
            words = [rand_word(rng) for _ in range(rng.randint(3, 25))]
            out.append(" ".join(words) + rng.choice([".", "!", "?", "", ",", "\n"]))
        elif r < 0.85:
            out.append(rng.choice(CODE))
        else:
            out.append(rng.choice(SPACES).join(rand_word(rng) for _ in range(rng.randint(2, 8))))
    return out


def random_text(rng, max_parts=20):
    """A fresh test string mixing every character class the pre-tokenizer distinguishes."""
    parts = []
    for _ in range(rng.randint(0, max_parts)):
        r = rng.random()
        if r < 0.30:
            parts.append(rand_word(rng))
        elif r < 0.45:
            parts.append(rng.choice(SPACES))
        elif r < 0.52:
            parts.append(rng.choice(CONTRACTIONS))
        elif r < 0.58:
            parts.append(rng.choice(TAGS))
        elif r < 0.64:
            parts.append(rng.choice(CONTROLS))
        elif r < 0.70:
            parts.append(rng.choice(OTHER_DIGITS) * rng.randint(1, 4))
        elif r < 0.76:
            parts.append(rng.choice(MARKS))
        elif r < 0.82:
            parts.append(rng.choice(CODE)[: rng.randint(1, 30)])
        elif r < 0.88:
            parts.append(chr(rng.choice([rng.randint(0x20, 0x7e), rng.randint(0xa0, 0x2fff),
                                         rng.randint(0x3000, 0xd7ff), rng.randint(0xe000, 0xffff),
                                         rng.randint(0x10000, 0x10ffff)])))
        elif r < 0.94:
            parts.append(rng.choice(PUNCT) * rng.randint(1, 3))
        else:
            parts.append("'" + rng.choice("sStTrReEvVmMlLdDſxK"))
    return "".join(parts)


# ---- tokenizer construction ----

def glm_pipeline(vocab, merges, added, ignore_merges=True, merges_as_strings=False):
    if merges_as_strings:
        merges = [a + " " + b for a, b in merges]
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": None,
        "pre_tokenizer": {
            "type": "Sequence",
            "pretokenizers": [
                {"type": "Split", "pattern": {"Regex": GLM_REGEX}, "behavior": "Isolated",
                 "invert": False},
                {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True,
                 "use_regex": False},
            ],
        },
        "post_processor": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False,
                           "use_regex": True},
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True,
                    "use_regex": True},
        "model": {
            "type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
            "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False,
            "ignore_merges": ignore_merges, "vocab": vocab, "merges": merges,
        },
    }


def added_entry(i, content, special, normalized=False):
    return {"id": i, "content": content, "single_word": False, "lstrip": False, "rstrip": False,
            "normalized": normalized, "special": special}


def train_bpe(texts, vocab_size):
    """Byte-level BPE (vocab, merges) trained on `texts` with GLM's pre-tokenizer. Also used by
    tools/demo-model/make_tokenizer.py."""
    tok = Tokenizer(models.BPE(ignore_merges=True))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(GLM_REGEX), "isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=2, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(texts, trainer=trainer)
    model = json.loads(tok.to_str())["model"]
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in model["merges"]]
    return model["vocab"], merges


def train(seed, vocab_size, n_chunks):
    return train_bpe(training_text(seed, n_chunks), vocab_size)


def glm_tokenizer_json(vocab, merges, merges_as_strings=False):
    """The tokenizer.json dict of a trained BPE: GLM's pipeline and its 36 added tokens (ids right
    after the base vocabulary). Also used by tools/demo-model/make_tokenizer.py."""
    n = len(vocab)
    assert sorted(vocab.values()) == list(range(n))
    added = [added_entry(n + i, s, i < N_SPECIAL) for i, s in enumerate(GLM_ADDED)]
    return glm_pipeline(vocab, merges, added, merges_as_strings=merges_as_strings)


def glm_tokenizer(seed, vocab_size, n_chunks, merges_as_strings):
    vocab, merges = train(seed, vocab_size, n_chunks)
    return glm_tokenizer_json(vocab, merges, merges_as_strings)


def variant_tokenizer(seed):
    vocab, merges = train(seed, 1200, 1500)
    # Drop the byte 0x01 (U+0101 in the byte-level alphabet) and everything built from it:
    # HF then silently skips that byte when encoding (no unk token).
    gone = "\u0101"
    merges = [(a, b) for a, b in merges if gone not in a and gone not in b]
    kept = [t for t, _ in sorted(vocab.items(), key=lambda kv: kv[1]) if gone not in t]
    vocab = {t: i for i, t in enumerate(kept)}
    # A vocabulary string outside the byte-level alphabet: HF's decoder emits its UTF-8 as it is.
    vocab["\u20acuro"] = len(vocab)
    n = len(vocab)
    in_vocab = next(t for t in kept if t.isascii() and t.isalpha() and len(t) >= 3)
    extra = [("<x>", False, False), ("<x><y>", False, False), ("x><", False, True),
             ("<|user|>", True, False), ("think", False, True), ("<think>", False, False),
             (in_vocab, False, False), ("  ", False, True)]
    added = [added_entry(n + i, s, sp, norm) for i, (s, sp, norm) in enumerate(extra)]
    # `in_vocab` is in the vocabulary already: HF gives it the vocabulary id, and the next added
    # token takes the id after the highest one so far.
    out = glm_pipeline(vocab, merges, added, ignore_merges=False)
    hf = Tokenizer.from_str(json.dumps(out))
    for a in added:
        a["id"] = hf.token_to_id(a["content"])
    return out


# ---- reference corpus ----

def corpus():
    c = []

    def add(name, text):
        c.append((name, text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text))

    add("empty", "")
    add("hello", "Hello, world!")
    add("sentence", "The quick brown fox jumps over the lazy dog. It's 3:45pm; we're late!")
    for i, code in enumerate(CODE):
        add(f"code-{i}", code)
    for s in ["a  b", "a   \n  b", "   ", "\t\t", "\n\n\n", "  \n", " \r\n \r\n", "abc   ",
              "   abc", "a \t b", "x\n\n\ny", "  \n\t \n  z", " ", "\n", "\r", "\r\n\r\n",
              "line1\r\nline2\r\n", "\t\tindented\n\t\t\tmore", "a\u00a0b", "a\u3000\u3000b",
              "x\u2028y\u2029z", "p\u0085q", "tab\there", " \t\n\r\x0b\x0c", "word \n", "w  \n  "]:
        add("ws-" + s.encode("unicode_escape").decode()[:20], s)
    add("cjk-zh", "我们今天去北京，天气很好。价格是123元！")
    add("cjk-ja", "これは日本語のテキストです。カタカナもあります、漢字も。")
    add("cjk-ko", "안녕하세요, 만나서 반갑습니다. 한국어 텍스트입니다.")
    add("arabic", "مرحبا بالعالم! هذا نص عربي مع أرقام ١٢٣ و 456.")
    add("hebrew", "שלום עולם, זה טקסט בעברית עם ניקוד: שָׁלוֹם.")
    add("rtl-mixed", "The word \u202bשלום\u202c means peace; سلام too.")
    add("emoji-zwj", "family: 👨‍👩‍👧‍👦 coder: 👩🏾‍💻 rainbow: 🏳️‍🌈")
    add("emoji-flags", "🇫🇷🇩🇪🇯🇵🇺🇸 flags and keycaps 1️⃣#️⃣ and 👍🏽👍🏿")
    add("emoji-run", "🙂" * 40)
    add("combining", "e\u0301 a\u0308\u0301 n\u0303o Zalgo: "
        "Z\u0351\u0352\u0353a\u0354l\u0355g\u0356o")
    add("devanagari", "नमस्ते दुनिया, यह हिंदी है।")
    add("thai", "สวัสดีชาวโลก ภาษาไทย")
    add("digits", "1234567890 12 123 1234 12345 3.14159 1,000,000 0x1F 1e-9")
    add("digits-other", "١٢٣٤٥ ١٢ ۱۲۳ १२३४ １２３４ ²³ ½ Ⅻ Ⅳ ⅷ ① ௧௨")
    add("digits-long", "9" * 1000)
    for s in ["I'm", "don't", "we're", "they've", "he'll", "she'd", "it's", "IT'S", "DON'T",
              "We'Re", "THEY'VE", "HE'LL", "SHE'D", "I'M", "'ſ", "'S", "'LL", "'lL", "''s", "'s'",
              " 's", "'", "'x", "x'", "'st", "'ll've", "'s's", "ab's", "'re'", "'d'd",
              "rock 'n' roll", "'tis", "'K", "'\u212a", "' s", "'\u017fs"]:
        add("contraction-" + s.encode("unicode_escape").decode(), s)
    add("controls", "\x00\x01\x02\x1b[0m\x7f\x08")
    add("nul-mid", "a\x00b\x00\x00c")
    add("nul-only", "\x00")
    add("bidi-zw", "a\u200bb\u200dc\u200ed\u200ff\u2060g\ufeffh")
    for s in ["<think>", "</think>hi", "a<think>b", "<|user|>", "x</tool_call>y",
              "<tool_call>get<arg_key>k</arg_key><arg_value>v</arg_value></tool_call>",
              "<|endoftext|>", "[gMASK]<sop><|user|>hi<|assistant|><think>",
              "<think", "<<think>>", "</think></think>", "<|user|", "/nothink", "nothink/nothink",
              "word<think>word", "  <think>  ", "\n<think>\n", "<|user|><|user|>", "[MASK][gMASK]",
              "<tool_response>ok</tool_response>", "<thinking>", "</think >", "<THINK>",
              "<|begin_of_image|><|image|><|end_of_image|>", "<|code_prefix|>x<|code_suffix|>"]:
        add("tag-" + s[:24], s)
    add("chat", "[gMASK]<sop><|system|>\nYou are helpful.<|user|>What's 2+2?<|assistant|>"
        "<think>Simple: 4.</think>The answer is 4.<|user|>")
    add("long-word", "a" * 5000)
    add("long-repeat", "supercalifragilistic" * 200)
    rng = random.Random(7)
    b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    add("long-base64", "".join(rng.choice(b64) for _ in range(3000)))
    add("long-spaces", " " * 1000)
    add("long-newlines", "\n" * 500)
    add("long-punct", "-" * 800 + "\n")
    add("long-cjk", "".join(rng.choice(SCRIPTS["cjk"]) for _ in range(1500)))
    add("long-mixed-ws", " \t" * 300 + "x")
    # invalid UTF-8 (lossy: HF reference of the "replace"-decoded text)
    for i, b in enumerate([b"\xff", b"a\x80b", b"\xe2\x82", b"\xe2\x82x", b"\xed\xa0\x80",
                           b"\xf0\x9f\x98", b"\xf4\x90\x80\x80", b"\xc0\xaf", b"\xe0\x80\xaf",
                           b"caf\xe9 cr\xe8me", b"\xf0\x9f\x98\x80\x80\x80", b"<think\xff>",
                           b"\xc3", b"ok\xf5\xf8\xfc\xfe"]):
        c.append((f"invalid-{i}", b))
    rng = random.Random(12345)
    for i in range(120):
        add(f"random-{i}", random_text(rng))
    return c


def decode_cases(n_vocab, n_total, seed):
    rng = random.Random(seed)
    cases = [[], [0], list(range(n_vocab, n_total)), [n_vocab, 5, n_total - 1],
             [n_total + 5, 1, n_total + 1000]]
    byte_ids = list(range(0, 256))
    for _ in range(40):
        n = rng.randint(1, 30)
        ids = []
        for _ in range(n):
            r = rng.random()
            if r < 0.4:
                ids.append(rng.choice(byte_ids))
            elif r < 0.8:
                ids.append(rng.randrange(n_vocab))
            elif r < 0.95:
                ids.append(rng.randrange(n_vocab, n_total))
            else:
                ids.append(n_total + rng.randrange(100))
        cases.append(ids)
    return cases


def main():
    outdir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "data", "tokenizer")
    os.makedirs(outdir, exist_ok=True)
    toks = {
        "glm-mini-pairs": (glm_tokenizer(1, 4000, 6000, merges_as_strings=False), 2),
        "glm-mini-strings": (glm_tokenizer(2, 2500, 4000, merges_as_strings=True), None),
        "variant": (variant_tokenizer(3), None),
    }
    texts = corpus()
    result = {"tokenizers_version": tokenizers.__version__, "tokenizers": {}}
    for name, (tj, indent) in toks.items():
        path = os.path.join(outdir, name + ".json")
        with open(path, "w", encoding="utf-8") as f:
            json.dump(tj, f, ensure_ascii=False, indent=indent,
                      separators=(",", ": ") if indent else (",", ":"))
            f.write("\n")
        hf = Tokenizer.from_file(path)
        n_total = hf.get_vocab_size(with_added_tokens=True)
        for a in tj["added_tokens"]:
            assert hf.token_to_id(a["content"]) == a["id"], a
        enc = []
        for tname, raw in texts:
            text = raw.decode("utf-8", "replace")
            ids = hf.encode(text, add_special_tokens=False).ids
            if name != "variant":   # the variant drops byte 0x01, so it does not round-trip
                assert hf.decode(ids, skip_special_tokens=False) == text, (name, tname)
            entry = {"name": tname, "hex": raw.hex(), "ids": ids}
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError:
                entry["lossy"] = True
            enc.append(entry)
        dec = []
        for ids in decode_cases(len(tj["model"]["vocab"]), n_total, 99):
            for skip in (False, True):
                dec.append({"ids": ids, "skip_special": skip,
                            "hex": hf.decode(ids, skip_special_tokens=skip).encode().hex()})
        result["tokenizers"][name] = {"file": name + ".json", "n_vocab": n_total,
                                      "encode": enc, "decode": dec}
        print(f"{name}: vocab {len(tj['model']['vocab'])}, merges {len(tj['model']['merges'])}, "
              f"{len(enc)} encodings, {len(dec)} decodes")
    with open(os.path.join(outdir, "encodings.json"), "w", encoding="utf-8") as f:
        json.dump(result, f, separators=(",", ":"))
        f.write("\n")


if __name__ == "__main__":
    main()
