#!/usr/bin/env python3
"""Builds the benchmark's request paths from generated data.

For every SHALL search combination in US Core 6.1.0 (the table in
../shared/reference), and for reads, picks up to N random resources of the
practice's ndjson and writes one file of concrete request paths per shape,
with values taken from those resources, so every request hits real data.
Usage: queries.py NDJSON REQUIREMENTS_TXT OUT_DIR [N]
"""
import json, os, random, re, sys
from urllib.parse import quote

ndjson, requirements, out_dir = sys.argv[1:4]
per_shape = int(sys.argv[4]) if len(sys.argv) > 4 else 300
random.seed(7)

by_type = {}
with open(ndjson) as f:
    for line in f:
        r = json.loads(line)
        by_type.setdefault(r["resourceType"], []).append(r)

shapes = []
rtype = None
for line in open(requirements):
    m = re.match(r"### (\w+) ", line)
    if m:
        rtype = m.group(1)
        continue
    m = re.match(r"\s+- SHALL: ([\w+\-]+)\s*$", line)
    if m and (rtype, m.group(1)) not in shapes:
        shapes.append((rtype, m.group(1)))

def coding(cc):
    if isinstance(cc, list):
        cc = cc[0] if cc else None
    if not cc:
        return None
    c = (cc.get("coding") or [None])[0] if "coding" in cc else cc
    if not c or "code" not in c:
        return None
    return f'{c.get("system", "")}|{c["code"]}'

def ref_id(ref):
    return ref["reference"].split("/")[-1] if ref and "reference" in ref else None

def first_date(r):
    for k in ("effectiveDateTime", "authoredOn", "date", "performedDateTime", "occurrenceDateTime",
              "recordedDate", "onsetDateTime", "authored", "issued"):
        if k in r:
            return r[k][:10]
    for k in ("period", "effectivePeriod", "performedPeriod", "context"):
        p = r.get(k)
        if isinstance(p, dict):
            p = p.get("period", p)
            if "start" in p:
                return p["start"][:10]
    return None

def value(r, param):
    t = r["resourceType"]
    if param == "patient":
        for k in ("subject", "patient", "beneficiary"):
            if k in r:
                return ref_id(r[k])
        return None
    if param == "_id":
        return r["id"]
    if param in ("category", "code", "type", "specialty", "class"):
        v = r.get(param)
        return coding(v) if v else None
    if param in ("status", "intent", "gender"):
        return r.get(param)
    if param in ("date", "authored", "birthdate"):
        d = r.get("birthDate") if param == "birthdate" else first_date(r)
        return d
    if param == "identifier":
        i = (r.get("identifier") or [None])[0]
        return f'{i.get("system", "")}|{i["value"]}' if i and "value" in i else None
    if param == "name":
        n = r.get("name")
        if isinstance(n, str):
            return n[:4]
        n = (n or [None])[0]
        return n.get("family", "")[:4] if n else None
    if param == "address":
        a = (r.get("address") or [None])[0]
        return a.get("city") if a else None
    if param == "practitioner":
        return ref_id(r.get("practitioner"))
    return None

def render(param, v):
    if param in ("date", "authored"):
        return f"{param}=ge{v}"
    return f"{param}={quote(v, safe='|')}"

os.makedirs(out_dir, exist_ok=True)
made = []
def write(name, paths):
    if not paths:
        print(f"no data for {name}", file=sys.stderr)
        return
    with open(os.path.join(out_dir, name + ".txt"), "w") as f:
        f.write("\n".join(paths) + "\n")
    made.append(name)

pats = by_type.get("Patient", [])
write("read-Patient", [f"/fhir/Patient/{p['id']}" for p in random.sample(pats, min(per_shape, len(pats)))])
obs = by_type.get("Observation", [])
write("read-Observation", [f"/fhir/Observation/{o['id']}" for o in random.sample(obs, min(per_shape, len(obs)))])

extras = {("Observation", "patient+category"): "_revinclude=Provenance:target",
          ("MedicationRequest", "patient+intent"): "_include=MedicationRequest:medication",
          ("PractitionerRole", "specialty"): "_include=PractitionerRole:practitioner"}
for t, combo in shapes:
    params = combo.split("+")
    pool = by_type.get(t, [])
    random.shuffle(pool)
    paths = []
    for r in pool:
        vals = [value(r, p) for p in params]
        if all(vals):
            paths.append(f"/fhir/{t}?" + "&".join(render(p, v) for p, v in zip(params, vals)))
        if len(paths) >= per_shape:
            break
    write(f"search-{t}-{combo}", paths)
    if (t, combo) in extras:
        write(f"search-{t}-{combo}+{extras[(t, combo)].split('=')[0]}", [p + "&" + extras[(t, combo)] for p in paths])
print(f"{len(made)} shapes written to {out_dir}", file=sys.stderr)
