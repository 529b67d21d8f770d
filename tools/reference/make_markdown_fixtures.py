#!/usr/bin/env python3
"""make_markdown_fixtures.py: Markdown -> block-structure fixtures for tests/test-markdown.c.

The reference is markdown-it-py (CommonMark + GFM tables and strikethrough); GFM task items
follow the GFM spec rule (an item whose first paragraph starts with "[ ] " or "[x] ").
Writes tests/data/markdown/cases.json: [{"name", "markdown", "blocks"}], where "blocks" uses
the one-line form of glimmer_markdown_describe():
  heading:2 paragraph list:ordered:3[item[paragraph] item:task:1[paragraph]] code:python
Usage: tools/reference/make_markdown_fixtures.py [OUT.json]
"""
import json
import re
import sys

from markdown_it import MarkdownIt

CASES = [
    ("heading-paragraph", "# Title\n\nSome *text* with **bold** and `code`.\n"),
    ("headings-all-levels", "# a\n## b\n### c\n#### d\n##### e\n###### f\n"),
    ("setext-heading", "Title\n=====\n\nSub\n---\n"),
    ("bullet-list", "- one\n- two\n- three\n"),
    ("ordered-list-start", "3. three\n4. four\n"),
    ("nested-list", "1. first\n   - inner a\n   - inner b\n2. second\n"),
    ("task-list", "- [ ] open\n- [x] done\n- plain\n"),
    ("block-quote", "> quoted\n> text\n\nafter\n"),
    ("nested-quote", "> outer\n>\n> > inner\n"),
    ("fenced-code", "```python\nprint('hi')\n```\n"),
    ("fenced-code-no-lang", "```\nplain\n```\n"),
    ("tilde-fence", "~~~rust\nfn main() {}\n~~~\n"),
    ("indented-code", "text\n\n    indented code\n"),
    ("rule", "above\n\n---\n\nbelow\n"),
    ("table", "| a | b |\n|---|---|\n| 1 | 2 |\n| 3 | 4 |\n"),
    ("table-align", "| l | c | r | n |\n|:--|:-:|--:|---|\n| 1 | 2 | 3 | 4 |\n"),
    ("strikethrough", "this is ~~gone~~ here\n"),
    ("html-block", "<div>\nraw\n</div>\n"),
    ("unclosed-fence", "```c\nint x;\n"),
    ("mixed", "## Plan\n\n1. Read\n2. Write\n\n```sh\nmake\n```\n\n| k | v |\n|---|---|\n| x | y |\n\n> note\n\n---\n\nDone.\n"),
    ("list-with-code", "- item\n\n  ```js\n  let a = 1;\n  ```\n- next\n"),
    ("empty", ""),
]


def align_of(style):
    m = re.search(r"text-align:(\w+)", style or "")
    return {"left": "l", "center": "c", "right": "r"}.get(m.group(1) if m else "", "n")


def describe(tokens):
    """Token stream -> nested description, in glimmer_markdown_describe()'s syntax."""
    out = []          # stack of lists of node strings
    stack = [out]
    heads = []        # node heads matching stack levels > 0
    i = 0
    table_aligns = []

    def open_(head):
        heads.append(head)
        stack.append([])

    def close():
        head = heads.pop()
        children = stack.pop()
        node = head + ("[" + " ".join(children) + "]" if children else "")
        stack[-1].append(node)

    while i < len(tokens):
        t = tokens[i]
        ty = t.type
        if ty == "heading_open":
            stack[-1].append("heading:%d" % int(t.tag[1]))
            i += 3
            continue
        if ty == "paragraph_open":
            if not t.hidden or True:
                stack[-1].append("paragraph")
            i += 3
            continue
        if ty == "fence":
            info = t.info.strip().split()
            stack[-1].append("code:" + info[0] if info else "code")
        elif ty == "code_block":
            stack[-1].append("code")
        elif ty == "hr":
            stack[-1].append("rule")
        elif ty == "html_block":
            stack[-1].append("html")
        elif ty == "blockquote_open":
            open_("quote")
        elif ty == "bullet_list_open":
            open_("list:bullet")
        elif ty == "ordered_list_open":
            start = int(t.attrGet("start") or 1)
            open_("list:ordered" + (":%d" % start if start != 1 else ""))
        elif ty == "list_item_open":
            head = "item"
            # GFM task item: the first paragraph's text starts with "[ ] " or "[x] "
            j = i + 1
            if j + 1 < len(tokens) and tokens[j].type == "paragraph_open":
                m = re.match(r"\[([ xX])\](\s|$)", tokens[j + 1].content)
                if m:
                    head = "item:task:%d" % (0 if m.group(1) == " " else 1)
            open_(head)
        elif ty == "table_open":
            table_aligns = []
            open_("table")
        elif ty == "tr_open":
            header = any(s.type == "thead_open" for s in tokens[max(0, i - 1):i])
            open_("row:header" if header else "row")
        elif ty in ("th_open", "td_open"):
            if ty == "th_open":
                table_aligns.append(align_of(t.attrGet("style")))
            stack[-1].append("cell")
            i += 3
            continue
        elif ty == "table_close":
            heads[-1] = "table:" + "".join(table_aligns)
            close()
        elif ty in ("blockquote_close", "bullet_list_close", "ordered_list_close",
                    "list_item_close", "tr_close"):
            close()
        i += 1
    return " ".join(out)


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else "tests/data/markdown/cases.json"
    md = MarkdownIt("commonmark").enable("table").enable("strikethrough")
    cases = [{"name": n, "markdown": src, "blocks": describe(md.parse(src))} for n, src in CASES]
    with open(path, "w", encoding="utf-8") as f:
        json.dump(cases, f, indent=1, ensure_ascii=False)
        f.write("\n")
    print("wrote %d cases to %s" % (len(cases), path))


if __name__ == "__main__":
    main()
