#!/usr/bin/env python3
"""Where the SDK's wasm goes: the shipped module's sections, its top items and the code bytes per crate.

    python3 scripts/bench/sdk/wasm_sizes.py --shipped pkg/dist/flare_sdk_bg.wasm \\
        --names target/sdk-bench/names/flare_sdk_bg.wasm [--twiggy twiggy-top.json] [--top 20] [--json OUT]

--shipped is what an app loads (no name section). --names is the same build passed
through wasm-bindgen with --keep-debug (bench-sdk.sh makes it): the name section
gives every function its Rust path. The two must have the same code; that is checked
(every non-custom section byte-identical) and a mismatch is reported, not hidden.

--twiggy is `twiggy top -f json` of the names copy; its per-item shallow sizes are
used when given, else this script's own reading of the code and name sections (the
two agree on function bodies). Items of the name section itself and other custom
sections are left out: they are not shipped.

A function counts for the crate its path starts with; for `<T as Trait>::f` and
`<T>::f` that is T's crate, so generic `core`/`alloc` code instantiated for the SDK's
types (Vec growth, iterator adapters, sorting) counts as `core`/`alloc`. `core::fmt`
is its own line (formatting, pulled in by panics and Debug). Exports and wasm-bindgen
shims (plain names such as `call`, `__wbindgen_malloc`) count as `wasm_bindgen`;
memcpy/memcmp/fmin and friends as `compiler_builtins`.
"""
import argparse
import collections
import hashlib
import json
import re
import sys


def leb(b, i):
    result = shift = 0
    while True:
        x = b[i]
        i += 1
        result |= (x & 0x7F) << shift
        shift += 7
        if x < 0x80:
            return result, i


def sections(data):
    if data[:4] != b"\0asm":
        raise SystemExit("not a wasm module")
    i, out = 8, []
    while i < len(data):
        sid = data[i]
        size, j = leb(data, i + 1)
        name = None
        if sid == 0:
            length, k = leb(data, j)
            name = data[k : k + length].decode("utf8", "replace")
        out.append({"id": sid, "name": name, "start": j, "size": size, "total": j + size - i})
        i = j + size
    return out


SECTION_NAMES = {1: "type", 2: "import", 3: "function", 4: "table", 5: "memory", 6: "global", 7: "export",
                 8: "start", 9: "element", 10: "code", 11: "data", 12: "datacount", 13: "tag"}


def section_summary(data):
    """Bytes per section kind (with its header): code, data, custom:<name>, rest."""
    out = collections.Counter()
    for s in sections(data):
        if s["id"] == 0:
            out["custom:" + s["name"]] += s["total"]
        elif s["id"] in (10, 11):
            out[SECTION_NAMES[s["id"]]] += s["total"]
        else:
            out["types, imports, exports, tables, globals"] += s["total"]
    out["header"] = 8
    return dict(out)


def code_fingerprint(data):
    """SHA-256 of every non-custom section: equal for two builds with the same code and data."""
    h = hashlib.sha256()
    for s in sections(data):
        if s["id"] != 0:
            h.update(bytes([s["id"]]))
            h.update(data[s["start"] : s["start"] + s["size"]])
    return h.hexdigest()


def functions(data):
    """(body size, name) of every defined function, names from the name section ("?" without one)."""
    imported, names, bodies = 0, {}, []
    for s in sections(data):
        sid, start, size = s["id"], s["start"], s["size"]
        if sid == 2:  # imports: imported functions share the index space
            n, j = leb(data, start)
            for _ in range(n):
                for _ in range(2):
                    length, j = leb(data, j)
                    j += length
                kind = data[j]
                j += 1
                if kind == 0:
                    _, j = leb(data, j)
                    imported += 1
                elif kind == 1:
                    j += 1
                    flags, j = leb(data, j)
                    _, j = leb(data, j)
                    if flags & 1:
                        _, j = leb(data, j)
                elif kind == 2:
                    flags, j = leb(data, j)
                    _, j = leb(data, j)
                    if flags & 1:
                        _, j = leb(data, j)
                elif kind == 3:
                    j += 1
                    _, j = leb(data, j)
                elif kind == 4:
                    j += 1
                    _, j = leb(data, j)
        elif sid == 10:
            n, j = leb(data, start)
            for _ in range(n):
                length, j = leb(data, j)
                bodies.append(length)
                j += length
        elif sid == 0 and s["name"] == "name":
            length, j = leb(data, start)
            j += length
            end = start + size
            while j < end:
                sub = data[j]
                sub_size, j = leb(data, j + 1)
                if sub == 1:
                    k = j
                    n, k = leb(data, k)
                    for _ in range(n):
                        index, k = leb(data, k)
                        length, k = leb(data, k)
                        names[index] = data[k : k + length].decode("utf8", "replace")
                        k += length
                j += sub_size
    return [(size, names.get(index + imported, "?")) for index, size in enumerate(bodies)]


def export_names(data):
    """Names of the module's exports (wasm-bindgen's export shims carry them as function names)."""
    out = set()
    for s in sections(data):
        if s["id"] == 7:
            n, j = leb(data, s["start"])
            for _ in range(n):
                length, j = leb(data, j)
                out.add(data[j : j + length].decode("utf8", "replace"))
                j += length + 1
                _, j = leb(data, j)
    return out


# twiggy items that are not functions.
NOT_SHIPPED = re.compile(r'subsection$|^custom section |^"function names"')
STRUCTURE = re.compile(r"^(type\[|import |export |elem\[|global\[|table\[|memory\[|wasm magic bytes|.* section headers$)")
DATA = re.compile(r"^data segment ")
BUILTINS = {"memcpy", "memmove", "memset", "memcmp", "bcmp", "fmin", "fmax", "fminf", "fmaxf", "strlen"}
PRIMITIVES = {"char", "str", "bool", "u8", "u16", "u32", "u64", "u128", "usize", "i8", "i16", "i32", "i64", "i128",
              "isize", "f32", "f64"}


def clean(name):
    """Without crate disambiguators (`core[c5930c85a12de822]`), the symbol hash (`::h0123…`) and twiggy's `[1]`."""
    name = re.sub(r"\[[0-9a-f]{16}\]", "", name)
    name = re.sub(r"\[\d+\]$", "", name)
    return re.sub(r"::h[0-9a-f]{16}$", "", name)


def strip_prefixes(n):
    while True:
        stripped = re.sub(r"^(<|&|\*|\(|mut |dyn |const |impl |unsafe |extern \"C\" )", "", n)
        if stripped == n:
            return n
        n = stripped


PATH = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(?:::([A-Za-z_][A-Za-z0-9_]*))?")


def classify(name, exports=()):
    """(crate, module) a function's cost is counted for (see the module doc)."""
    n = clean(name)
    if n.startswith("__rustc::"):  # rustc's allocator shims and panic entry points
        n = n[len("__rustc::"):]
    if n in exports or n.startswith("__wbindgen") or n.startswith("__wbg_") or "multivalue shim" in n \
            or n.startswith("wasm_bindgen") or n.startswith("<wasm_bindgen") or n.startswith("__externref"):
        return "wasm_bindgen", "wasm_bindgen"
    if n in BUILTINS or n.startswith("compiler_builtins"):
        return "compiler_builtins", "compiler_builtins"
    if n in ("rust_begin_unwind", "rust_panic", "__rust_start_panic", "__rust_abort"):
        return "std", "std::panicking"
    if n.startswith("__rust_") or n.startswith("__rdl_") or n.startswith("__rg_"):
        return "alloc", "alloc::alloc"
    body = strip_prefixes(n)
    if body.startswith("["):  # <[T]>::sort_by: slice methods
        return "core", "core::slice"
    m = PATH.match(body)
    if not m:
        return ("(unnamed)", "(unnamed)") if name == "?" else ("(other)", "(other)")
    first, second = m.group(1), m.group(2)
    if "::" not in body[: m.end()] and " as " in body:
        # `<T as Trait>::f` with T a type parameter or a primitive: the trait's crate.
        trait = PATH.match(strip_prefixes(body.split(" as ", 1)[1]))
        if trait:
            first, second = trait.group(1), trait.group(2)
    elif first in PRIMITIVES:
        first, second = "core", None
    if first == "core" and (second == "fmt" or re.search(r" as core::fmt::", n)):
        return "core::fmt", "core::fmt"
    return first, f"{first}::{second}" if second else first


def crate(name, exports=()):
    return classify(name, exports)[0]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shipped", required=True)
    ap.add_argument("--names", required=True)
    ap.add_argument("--twiggy")
    ap.add_argument("--top", type=int, default=20)
    ap.add_argument("--json")
    a = ap.parse_args()
    shipped = open(a.shipped, "rb").read()
    named = open(a.names, "rb").read()
    same = code_fingerprint(shipped) == code_fingerprint(named)
    exports = set()
    if a.twiggy:
        items = json.load(open(a.twiggy))
        for it in items:
            m = re.match(r'^export "(.*)"$', it["name"])
            if m:
                exports.add(m.group(1))
        funcs = [(it["shallow_size"], it["name"]) for it in items
                 if not NOT_SHIPPED.search(it["name"]) and not STRUCTURE.match(it["name"]) and not DATA.match(it["name"])]
        shipped_items = [(it["shallow_size"], it["name"]) for it in items if not NOT_SHIPPED.search(it["name"])]
        source = "twiggy top (shallow bytes) over the names copy"
    else:
        funcs = functions(named)
        shipped_items = list(funcs)
        exports = export_names(named)
        source = "the name and code sections read by wasm_sizes.py (twiggy not available)"

    sec = section_summary(shipped)
    by_crate, count, by_module = collections.Counter(), collections.Counter(), collections.Counter()
    for size, name in funcs:
        c, module = classify(name, exports)
        by_crate[c] += size
        count[c] += 1
        by_module[module] += size
    code_total = sum(by_crate.values())

    print(f"\n== Where the wasm goes ({len(shipped):,} bytes shipped)")
    print("sections: " + ", ".join(f"{k} {v:,}" for k, v in sorted(sec.items(), key=lambda kv: -kv[1])))
    print(f"names copy ({len(named):,} bytes with its name section): "
          + ("same code and data as the shipped wasm (checked)" if same else
             "WARNING: its code or data differ from the shipped wasm (did scripts/build-sdk.sh change its build?); "
             "the crate figures below describe the names copy"))
    print(f"source: {source}")
    print(f"\ntop {a.top} items (bytes, excluding the names copy's name section):")
    for size, name in sorted(shipped_items, key=lambda x: -x[0])[: a.top]:
        print(f"{size:8,d}  {clean(name)[:110]}")
    print(f"\ncode bytes per crate (function bodies; {code_total:,} in all):")
    print(f"{'crate':28} {'functions':>9} {'bytes':>9} {'share':>6}")
    for c, size in by_crate.most_common():
        print(f"{c:28} {count[c]:9d} {size:9,d} {100 * size / code_total:5.1f}%")
    print("\nby module (the largest, >= 400 bytes):")
    big = [(m, s) for m, s in by_module.most_common() if s >= 400]
    line = ""
    for m, s in big:
        part = f"{m} {s:,}; "
        if len(line) + len(part) > 110:
            print("  " + line.rstrip("; "))
            line = ""
        line += part
    if line:
        print("  " + line.rstrip("; "))

    if a.json:
        json.dump({
            "shipped": {"file": a.shipped, "bytes": len(shipped), "sections": sec},
            "names_copy": {"file": a.names, "bytes": len(named), "same_code_as_shipped": same},
            "source": source,
            "top": [{"bytes": s, "name": clean(n)} for s, n in sorted(shipped_items, key=lambda x: -x[0])[: a.top]],
            "code_bytes": code_total,
            "crates": [{"crate": c, "functions": count[c], "bytes": s} for c, s in by_crate.most_common()],
            "modules": [{"module": m, "bytes": s} for m, s in by_module.most_common()],
        }, open(a.json, "w"), indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
