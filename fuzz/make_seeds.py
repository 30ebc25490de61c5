#!/usr/bin/env python3
"""Writes the committed seed corpora (fuzz/seeds/<target>/) from the project's fixtures: the sops
conformance files (tests/fixtures/sops, copied from the reference fixtures made by the real tools), the examples, the
external crate's fixtures, the template engine's cases and the hostile corpus (tests/hostile).
Run from anywhere: python3 fuzz/make_seeds.py. Seeds are named by content hash, so a rerun adds
nothing twice."""

import base64
import hashlib
import json
import pathlib

ROOT = pathlib.Path(__file__).resolve().parent.parent
SEEDS = ROOT / "fuzz" / "seeds"
SOPS = ROOT / "tests" / "fixtures" / "sops"
HOSTILE = ROOT / "tests" / "hostile" / "files"
# The selector byte of the decrypt target: the index of the store.
FORMATS = {".yaml": 0, ".yml": 0, ".json": 1, ".env": 2, ".ini": 3, ".bin": 4}
# The selector byte of the classify target: an index into its PATHS.
CLASSIFY_JSON = 1
CLASSIFY_YAML = 0
MAX_SEED = 64 * 1024


def put(target, data):
    if isinstance(data, str):
        data = data.encode()
    if len(data) > MAX_SEED:
        return
    d = SEEDS / target
    d.mkdir(parents=True, exist_ok=True)
    (d / hashlib.sha1(data).hexdigest()[:16]).write_bytes(data)


def files(*dirs):
    for d in dirs:
        if d.is_dir():
            yield from sorted(p for p in d.rglob("*") if p.is_file())


sops_files = list(files(SOPS / "enc", SOPS / "plain", SOPS / "expected"))
hostile = list(files(HOSTILE))
for p in sops_files + hostile:
    data = p.read_bytes()
    suffix = p.suffix
    store = {".yaml": "store_yaml", ".yml": "store_yaml", ".json": "store_json",
             ".env": "store_dotenv", ".ini": "store_ini"}.get(suffix)
    if store:
        put(store, data)
    if suffix == ".bin" or p.parent.name == "plain":
        put("store_binary", data)
    if suffix == ".bin" and p.parent.name == "enc":
        put("store_json", data)
    if p.parent.name == "enc" or p in hostile:
        put("decrypt", bytes([FORMATS.get(suffix, 4)]) + data)
    if suffix in (".yaml", ".yml", ".json"):
        put("classify", bytes([CLASSIFY_JSON if suffix == ".json" else CLASSIFY_YAML]) + data)

for p in files(ROOT / "examples" / "apps", ROOT / "crates" / "external" / "tests" / "fixtures"):
    if p.suffix in (".yaml", ".yml"):
        put("classify", bytes([CLASSIFY_YAML]) + p.read_bytes())
        put("store_yaml", p.read_bytes())

cases = json.loads((ROOT / "crates" / "template" / "testdata" / "cases.json").read_text())
for case in cases["cases"]:
    put("template", case["template"])

for text in [
    "<path:secret/data/app#password>",
    "<path:secret/data/app#password#2>",
    "user=<path:kv/app#user> pass=<path:kv/app#pass | base64encode>",
    "<password>",
    "<password | jsonPath {.a.b[0]}>",
    "<path:secret/data/app#json | jsonParse | jsonPath {.items[*].name}>",
    "<path:secret/data/app#cert | base64decode | sha256sum>",
    "<path:secret/data/app",
    "{.a.b[1]}",
    "prefix {.a.b[*]} suffix {.e}",
    "base64encode",
    "indent 4",
]:
    put("avp", text)
