#!/usr/bin/env python3
"""Generate core/src/registry/generated.rs from ../shared/reference.

The search-parameter registry is the single source of what Flare can search:
the edge's search compiler, index extraction, CapabilityStatement and the SDK's
typed parameters are all derived from it. Sources:
  - US Core 6.1.0 server CapabilityStatement (types, profiles, params, combos,
    _include/_revinclude) and its SearchParameter resources,
  - FHIR R4 base SearchParameters for the types US Core does not profile,
  - the FHIR R4 Patient CompartmentDefinition,
  - the 4.0.0 / 6.1.0 required-combination tables.
Run: python3 scripts/gen-registry.py [--check] [REFERENCE_DIR]
  --check: write nothing; exit 1 if the committed file differs from what the
  references generate (scripts/test.sh runs this).
"""
import glob, json, os, re, sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ARGS = [a for a in sys.argv[1:] if a != "--check"]
CHECK = "--check" in sys.argv[1:]
REF = ARGS[0] if ARGS else os.path.join(ROOT, "..", "shared", "reference")
OUT = os.path.join(ROOT, "core", "src", "registry", "generated.rs")

# Types Flare serves beyond the US Core CapabilityStatement (the vendor lists them).
EXTRA_TYPES = ["Appointment", "MedicationAdministration", "MedicationStatement", "Group"]
# Types in the CapabilityStatement without US Core params that get the base R4 params.
BASE_PARAM_TYPES = set(EXTRA_TYPES + ["Provenance", "Medication", "Endpoint"])
# FHIR R4 choice elements ([x]) that the expressions use without a type.
CHOICE = {"effective", "onset", "abatement", "occurrence", "performed", "deceased",
          "medication", "value", "due", "item", "occurred", "timing", "multipleBirth"}
SUPPORTED_KINDS = {"token", "string", "date", "reference"}  # the only kinds US Core and the extra types use

def load(p):
    with open(p) as f:
        return json.load(f)

cs = load(os.path.join(REF, "us-core-6.1.0", "capabilitystatement-us-core-server.json"))
uscore = {}
for f in glob.glob(os.path.join(REF, "us-core-6.1.0", "searchparameter-*.json")):
    d = load(f)
    uscore[d["url"]] = d
base = {e["resource"]["url"]: e["resource"] for e in load(os.path.join(REF, "fhir-r4", "search-parameters.json"))["entry"]}
compdef = load(os.path.join(REF, "fhir-r4", "compartmentdefinition-patient.json"))
compartment = {r["code"]: r.get("param", []) for r in compdef["resource"]}

def base_param(rtype, code):
    for d in base.values():
        if rtype in d.get("base", []) and d["code"] == code:
            return d
    return None

def split_top(expr, sep="|"):
    parts, depth, cur = [], 0, ""
    for ch in expr:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == sep and depth == 0:
            parts.append(cur.strip()); cur = ""
        else:
            cur += ch
    parts.append(cur.strip())
    return parts

def upper_first(s):
    return s[0].upper() + s[1:]

def parse_term(term, rtype):
    """One union term -> list of steps (tuples), or raise ValueError."""
    t = term.strip()
    as_type = None
    m = re.fullmatch(r"\((.*) as (\w+)\)", t) or re.fullmatch(r"(.*) as (\w+)", t)
    if m:
        t, as_type = m.group(1).strip(), m.group(2)
    if not (t.startswith(rtype + ".") or t == rtype):
        return None  # belongs to another resource type
    rest = t[len(rtype):]
    steps = []
    tokens = re.findall(r"\.(where\([^()]*(?:\([^()]*\)[^()]*)*\)|as\(\w+\)|ofType\(\w+\)|\w+)", rest)
    if "".join("." + x for x in tokens) != rest:
        raise ValueError("unparsed: " + term)
    for tok in tokens:
        m = re.fullmatch(r"where\(resolve\(\) is (\w+)\)", tok)
        if m:
            steps.append(("ResolveIs", m.group(1))); continue
        m = re.fullmatch(r"where\(url\s*=\s*'([^']+)'\)", tok)
        if m:
            steps.append(("WhereUrl", m.group(1))); continue
        m = re.fullmatch(r"(?:as|ofType)\((\w+)\)", tok)
        if m:
            kind, name = steps[-1][0], steps[-1][1]
            if kind != "Choice":
                raise ValueError("as() on non-choice: " + term)
            steps[-1] = ("Choice", name, upper_first(m.group(1))); continue
        if tok.startswith("where("):
            raise ValueError("unsupported where: " + term)
        if tok in CHOICE:
            steps.append(("Choice", tok, None))
        else:
            steps.append(("Field", tok))
    if as_type:
        if steps and steps[-1][0] == "Choice":
            steps[-1] = ("Choice", steps[-1][1], upper_first(as_type))
        else:
            raise ValueError("as on non-choice: " + term)
    return steps

def parse_expr(expr, rtype):
    paths = []
    for term in split_top(expr):
        p = parse_term(term, rtype)
        if p is not None:
            paths.append(p)
    return paths

def rs(s):
    return json.dumps(s)

def step_rs(st):
    if st[0] == "Field":
        return f"Step::Field({rs(st[1])})"
    if st[0] == "Choice":
        return f"Step::Choice({rs(st[1])}, {'Some(' + rs(st[2]) + ')' if st[2] else 'None'})"
    if st[0] == "ResolveIs":
        return f"Step::ResolveIs({rs(st[1])})"
    if st[0] == "WhereUrl":
        return f"Step::WhereUrl({rs(st[1])})"
    raise ValueError(st)

def paths_rs(paths):
    return "&[" + ", ".join("&[" + ", ".join(step_rs(s) for s in p) + "]" for p in paths) + "]"

def expectation(ext_list):
    for e in ext_list or []:
        if e.get("url", "").endswith("capabilitystatement-expectation"):
            return e["valueCode"]
    return None

def kind_rs(k):
    return "ParamKind::" + upper_first(k)

# Required combinations from the two tables (4.0.0 and 6.1.0), per resource type.
def read_combos(path, version):
    out = {}
    rtype = None
    for line in open(path):
        m = re.match(r"### (\w+) ", line)
        if m:
            rtype = m.group(1); continue
        m = re.match(r"\s+- (SHALL|SHOULD): ([\w+\-]+)\s*$", line)
        if m and rtype:
            out.setdefault(rtype, {}).setdefault(m.group(2), set()).add((m.group(1), version))
    return out

combos_by_version = [read_combos(os.path.join(REF, "us-core-6.1.0-search-requirements.txt"), "6.1.0"),
                     read_combos(os.path.join(REF, "us-core-4.0.0-search-requirements.txt"), "4.0.0")]

warnings = []
resources = []
cs_types = {r["type"]: r for r in cs["rest"][0]["resource"]}
for rtype in sorted(set(cs_types) | set(EXTRA_TYPES)):
    r = cs_types.get(rtype, {})
    params = []
    seen = set()
    for p in r.get("searchParam", []):
        d = uscore.get(p["definition"]) or base.get(p["definition"])
        if d is None:
            warnings.append(f"{rtype}.{p['name']}: no definition"); continue
        params.append((p["name"], d, "uscore" if p["definition"] in uscore else "base", expectation(p.get("extension"))))
        seen.add(p["name"])
    if rtype in BASE_PARAM_TYPES:
        for d in sorted(base.values(), key=lambda d: d["code"]):
            if rtype in d.get("base", []) and d["code"] not in seen and d["type"] in SUPPORTED_KINDS and not d["code"].startswith("_"):
                params.append((d["code"], d, "base", None)); seen.add(d["code"])
    # reference params that the CapabilityStatement's _include values name
    for inc in r.get("searchInclude", []):
        name = inc.split(":")[1]
        if name not in seen:
            d = base_param(rtype, name)
            if d:
                params.append((name, d, "base", None)); seen.add(name)
            else:
                warnings.append(f"{rtype}: _include {inc} has no definition")
    # params named in the combination tables but absent from the CapabilityStatement
    for table in combos_by_version:
        for combo in table.get(rtype, {}):
            for name in combo.split("+"):
                if name not in seen and name != "_id":
                    d = base_param(rtype, name)
                    if d:
                        params.append((name, d, "base", None)); seen.add(name)
                    else:
                        warnings.append(f"{rtype}.{name}: in combination table, no definition")
    prs = []
    for name, d, src, exp in params:
        if d["type"] not in SUPPORTED_KINDS:
            warnings.append(f"{rtype}.{name}: type {d['type']} not supported"); continue
        if name == "_id":
            paths = [[("Field", "id")]]
        else:
            try:
                paths = parse_expr(d.get("expression", ""), rtype)
            except ValueError as e:
                warnings.append(f"{rtype}.{name}: {e}"); continue
        if not paths:
            warnings.append(f"{rtype}.{name}: no path for type"); continue
        targets = d.get("target", [])
        chains = []
        for p in r.get("searchParam", []):
            if p["name"] == name:
                for e in p.get("extension", []):
                    pass
        multiple_or = True
        prs.append(f"""        SearchParamDef {{
            code: {rs(name)},
            kind: {kind_rs(d['type'])},
            definition: {rs(d['url'])},
            source: Source::{'UsCore' if src == 'uscore' else 'BaseR4'},
            expectation: {rs(exp or 'MAY')},
            paths: {paths_rs(paths)},
            targets: &[{', '.join(rs(t) for t in targets)}],
            comparators: &[{', '.join(rs(c) for c in d.get('comparator', []))}],
            modifiers: &[{', '.join(rs(c) for c in d.get('modifier', []))}],
            documentation: {rs((d.get('description') or '').split(chr(10))[0][:200])},
        }},""")
    # Compartment membership paths, from the base definitions of the compartment params.
    comp_paths = []
    for cp in compartment.get(rtype, []):
        if cp == "{def}":
            continue
        d = base_param(rtype, cp)
        if d is None:
            warnings.append(f"{rtype}: compartment param {cp} has no definition"); continue
        try:
            comp_paths += parse_expr(d.get("expression", ""), rtype)
        except ValueError as e:
            warnings.append(f"{rtype}: compartment {cp}: {e}")
    combos = []
    merged = {}
    for table in combos_by_version:
        for combo, exps in table.get(rtype, {}).items():
            merged.setdefault(combo, set()).update(exps)
    for e in r.get("extension", []):
        if e.get("url", "").endswith("capabilitystatement-search-parameter-combination"):
            names = [x["valueString"] for x in e["extension"] if x["url"] == "required"]
            merged.setdefault("+".join(names), set()).add((expectation(e["extension"]), "6.1.0"))
    for combo in sorted(merged):
        exps = merged[combo]
        exp = "SHALL" if any(x[0] == "SHALL" for x in exps) else "SHOULD"
        versions = sorted({x[1] for x in exps})
        combos.append(f"            Combination {{ expectation: {rs(exp)}, params: &[{', '.join(rs(n) for n in combo.split('+'))}], versions: &[{', '.join(rs(v) for v in versions)}] }},")
    resources.append(f"""    ResourceDef {{
        name: {rs(rtype)},
        us_core: {'true' if rtype in cs_types else 'false'},
        profiles: &[{', '.join(rs(p) for p in r.get('supportedProfile', []))}],
        params: &[
{chr(10).join(prs)}
        ],
        includes: &[{', '.join(rs(x) for x in r.get('searchInclude', []))}],
        revincludes: &[{', '.join(rs(x) for x in r.get('searchRevInclude', []))}],
        combinations: &[
{chr(10).join(combos)}
        ],
        compartment: {paths_rs(comp_paths)},
    }},""")

all_types = sorted({r["code"] for r in compdef["resource"]} | {b for d in base.values() for b in d.get("base", []) if b not in ("Resource", "DomainResource")})

import io
f = io.StringIO()
if True:
    f.write("// @generated by scripts/gen-registry.py from ../shared/reference. Do not edit.\n")
    f.write("// Regenerate with `python3 scripts/gen-registry.py`; `cargo test -p flare-core` checks it.\n\n")
    f.write("use super::{Combination, ParamKind, ResourceDef, SearchParamDef, Source, Step};\n\n")
    f.write("/// Every resource type Flare serves, sorted by name.\n")
    f.write("pub static RESOURCES: &[ResourceDef] = &[\n")
    f.write("\n".join(resources))
    f.write("\n];\n\n")
    f.write("/// Every FHIR R4 resource type name (stored and read even when not searchable), sorted.\n")
    f.write("pub static ALL_R4_TYPES: &[&str] = &[\n" + "".join(f"    {rs(t)},\n" for t in all_types) + "];\n")
text = f.getvalue()
if CHECK:
    current = open(OUT).read() if os.path.exists(OUT) else ""
    if current != text:
        print(f"{OUT} is out of date: run python3 scripts/gen-registry.py", file=sys.stderr)
        sys.exit(1)
    print("registry is up to date with the references", file=sys.stderr)
    sys.exit(0)
with open(OUT, "w") as out:
    out.write(text)
for w in warnings:
    print("note:", w, file=sys.stderr)
print(f"wrote {OUT}: {len(resources)} resource types", file=sys.stderr)
