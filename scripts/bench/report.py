#!/usr/bin/env python3
"""Turns bench.sh's raw wrk results into a Markdown table and JSON.
Usage: report.py RESULTS_TSV RESOURCES IMPORT_SECONDS PATIENTS"""
import json, os, re, sys

tsv, resources, import_s, patients = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
rows = []
for line in open(tsv):
    name, c, result = line.rstrip("\n").split("\t")
    vals = dict(re.findall(r"(\w+)=([\d.]+)", result))
    rows.append({"name": name, "c": int(c), **{k: float(v) for k, v in vals.items()}})
floor = {r["c"]: r for r in rows if r["name"] == "floor-select1"}
out = ["| route | c | p50 ms | p99 ms | req/s | errors | p50 / SELECT 1 p50 | p99 / SELECT 1 p50 |", "|---|---|---|---|---|---|---|---|"]
for r in rows:
    f = floor.get(r["c"])
    ratio50 = r["p50_ms"] / f["p50_ms"] if f else 0
    ratio99 = r["p99_ms"] / f["p50_ms"] if f else 0
    out.append(f'| {r["name"]} | {r["c"]} | {r["p50_ms"]:.2f} | {r["p99_ms"]:.2f} | {r["rps"]:.0f} | {int(r["errors"])} | {ratio50:.2f} | {ratio99:.2f} |')
head = [f"Patients: {patients}; resources: {resources}"]
if import_s > 0:
    head.append(f"Import: {resources} resources in {import_s:.1f} s = {resources / import_s:.0f} resources/s (2 uploaders, POST /admin/import, ndjson chunks of 2,000)")
print("\n".join(head) + "\n\n" + "\n".join(out))
json.dump({"patients": patients, "resources": resources, "import_seconds": import_s, "rows": rows},
          open(os.path.join(os.path.dirname(tsv), "results.json"), "w"), indent=1)
