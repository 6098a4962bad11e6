#!/usr/bin/env python3
"""adjoint-index.py [--check]: keep docs/adjoints.md's index (function -> file:line -> test) current.

Each index row names functions in its first column ("a, b / _c through d (with e)": "/ _c" is short for the
first name's prefix + "_c") and gives "file:L1, L2 (L3)" in its second. The line numbers are matched, in order,
to the named functions that are defined in that file, and rewritten to where each one's `_vjp` twin (else the
function itself) is now defined.
--check: change nothing, exit 1 when a number is stale or a named function is missing from its file (run by
tests/test_docs.sh)."""
import re
import sys

DOC = "docs/adjoints.md"
IDENT = re.compile(r"\b[a-z][a-z0-9]*_[a-z0-9_]+\b|\b_[a-z0-9_]+\b")


def names_of(cell, lines):
    """the functions a first cell names, "/ _c" expanded with the longest prefix of the previous full name that
    makes a function defined in the file"""
    out, full = [], None
    for tok in IDENT.findall(cell):
        if tok.startswith("_"):
            if full is None:
                continue
            parts = full.split("_")
            cands = ["_".join(parts[:i]) + tok for i in range(len(parts) - 1, 0, -1)]
            tok = next((c for c in cands if definition_line(lines, c)), cands[0])
        else:
            full = tok
        out.append(tok)
    return out


def definition_line(lines, name):
    """where NAME's adjoint (NAME_vjp) is defined, else NAME itself"""
    return definition_of(lines, name + "_vjp") or definition_of(lines, name)


def definition_of(lines, name):
    pat = re.compile(r"^(?!\s*(return|if|for|while)\b)[A-Za-z_][\w\s\*]*\b" + re.escape(name) + r"\s*\(")
    for i, line in enumerate(lines):
        if pat.match(line) and not line.rstrip().endswith(";"):
            return i + 1
    return None


def main():
    check = "--check" in sys.argv
    text = open(DOC, encoding="utf-8").read().split("\n")
    stale = []
    for k, row in enumerate(text):
        if not row.startswith("| "):
            continue
        cells = row.split("|")
        if len(cells) < 4:
            continue
        m = re.match(r"\s*([\w/.]+\.(?:h|c|cu)):([\d, ()]+)\s*$", cells[2])
        if not m:
            continue
        path, nums = m.group(1), m.group(2)
        try:
            lines = open(path, encoding="utf-8").read().split("\n")
        except OSError:
            stale.append(f"{DOC}:{k + 1}: {path} does not exist")
            continue
        defined = [(n, definition_line(lines, n)) for n in names_of(cells[1], lines)]
        defined = [(n, l) for n, l in defined if l is not None]
        old = [int(x) for x in re.findall(r"\d+", nums)]
        if len(defined) != len(old):
            stale.append(f"{DOC}:{k + 1}: {len(old)} line numbers for {len(defined)} functions defined in {path} "
                         f"({', '.join(n for n, _ in defined) or 'none'})")
            continue
        it = iter(str(l) for _, l in defined)
        new_nums = re.sub(r"\d+", lambda _: next(it), nums)
        if new_nums != nums:
            stale.append(f"{DOC}:{k + 1}: {path}:{nums.strip()} is now {new_nums.strip()}")
            cells[2] = cells[2].replace(nums, new_nums)
            text[k] = "|".join(cells)
    for s in stale:
        print(s)
    if check:
        return 1 if stale else 0
    open(DOC, "w", encoding="utf-8").write("\n".join(text))
    return 0


if __name__ == "__main__":
    sys.exit(main())
