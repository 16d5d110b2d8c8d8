#!/usr/bin/env python3
"""Where the SDK's wasm goes: code bytes per part, from a build with the name section.

    cargo build -p flare-sdk --lib --target wasm32-unknown-unknown --profile sdk
    wasm-bindgen --target web --keep-debug --out-dir target/sdk-names \
        target/wasm32-unknown-unknown/sdk/flare_sdk.wasm
    python3 scripts/bench/sdk/wasm_sizes.py target/sdk-names/flare_sdk_bg.wasm [TOP]

Reads the code section (body size of each function) and the name section
(function names), groups the functions as in BENCHMARKS.md, and prints the
largest TOP functions (default 25).
"""
import collections
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


def functions(path):
    data = open(path, "rb").read()
    i, sections = 8, []
    while i < len(data):
        sid = data[i]
        size, i = leb(data, i + 1)
        sections.append((sid, i, size))
        i += size
    imported, names, bodies = 0, {}, []
    for sid, start, size in sections:
        if sid == 2:  # imports: count imported functions (they share the index space)
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
                    j += 2
        elif sid == 10:  # code
            n, j = leb(data, start)
            for _ in range(n):
                length, j = leb(data, j)
                bodies.append(length)
                j += length
        elif sid == 0:  # custom: the name section
            length, j = leb(data, start)
            if data[j : j + length] == b"name":
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


def part(name):
    if "maybe_catch_unwind" in name or re.fullmatch(r"[A-Za-z0-9_]+", name):
        return "wasm-bindgen export shim and runtime"
    if "wasm_bindgen" in name or "__wbindgen" in name or "externref" in name:
        return "wasm-bindgen export shim and runtime"
    if "lol_alloc" in name or "__rdl" in name or "__rust_alloc" in name or "__rust_dealloc" in name or "__rust_realloc" in name:
        return "allocator (lol_alloc)"
    if name.startswith("flare_sdk::") or name.startswith("<flare_sdk::"):
        return "the SDK's own protocol code"
    if "flare_core" in name:
        return "flare-core"
    if "form_urlencoded" in name or "percent_encoding" in name:
        return "form_urlencoded + percent-encoding"
    if re.search(r"fmt|panic|Debug|Display|escape|printable|slice_error|count_chars|grapheme|std\[|std::|rust_begin|Location|index_fail|capacity_overflow|alloc_error", name):
        return "std panic machinery + core::fmt"
    if re.search(r"\[[0-9a-f]{16}\]", name):
        return "precompiled core/alloc string code"
    return "generic core/alloc code instantiated for the SDK"


def main():
    rows = functions(sys.argv[1])
    top = int(sys.argv[2]) if len(sys.argv) > 2 else 25
    total, count = collections.Counter(), collections.Counter()
    modules = collections.Counter()
    for size, name in rows:
        total[part(name)] += size
        count[part(name)] += 1
        m = re.match(r"<?flare_sdk::([a-z0-9_]+)", name)
        if m:
            modules[m.group(1)] += size
    for name, size in total.most_common():
        print(f"{size:8d} {count[name]:4d}  {name}")
    print(f"{sum(total.values()):8d}       code bytes")
    print("SDK modules:", ", ".join(f"{m} {s}" for m, s in modules.most_common()))
    for size, name in sorted(rows, reverse=True)[:top]:
        print(f"{size:8d}  {name[:120]}")


if __name__ == "__main__":
    main()
