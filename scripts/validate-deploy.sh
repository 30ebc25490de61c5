#!/usr/bin/env bash
# Validates the Kubernetes manifests under deploy/: builds every kustomization with `kubectl kustomize`,
# checks the output against the Kubernetes API schemas in strict mode (kubernetes-validate, pinned
# Kubernetes version), and checks the project's own rules: no ClusterRole names Secrets, no Secret is
# shipped, and every container runs restricted (read-only root, no privilege escalation, no
# capabilities, non-root, RuntimeDefault seccomp). Components cannot be built alone: each must be used
# by a kustomization under deploy/, which exercises it.
# Prints one line per kustomization, then "N passed, M failed"; exits non-zero on any failure.
# Needs kubectl (v1.27+, for its embedded kustomize v5) and python3; installs kubernetes-validate into
# .venv-validate on first use and reuses it afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."

K8S_VERSION="${K8S_VERSION:-1.32.0}"
VALIDATE_PKG="kubernetes-validate==1.37.0"
VENV=".venv-validate"
KUBECTL="${KUBECTL:-kubectl}"

# The validator in its own venv, installed once: the schemas ship inside the package, so validation
# itself needs no network.
if ! "$VENV/bin/kubernetes-validate" --version 2>/dev/null | grep -qx "${VALIDATE_PKG#*==}"; then
  echo "installing $VALIDATE_PKG into $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check "$VALIDATE_PKG"
fi
command -v "$KUBECTL" >/dev/null || { echo "kubectl not found (set KUBECTL)" >&2; exit 2; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

passed=0
failed=0
pass() { passed=$((passed + 1)); }
fail() { failed=$((failed + 1)); }

# The project's rules on one kustomize output (a multi-document YAML file). Prints each violation.
policy() {
  "$VENV/bin/python" - "$1" <<'PY'
import sys
import yaml

problems = []
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]

def where(d):
    m = d.get("metadata", {})
    ns = m.get("namespace")
    return f"{d.get('kind')}/{(ns + '/') if ns else ''}{m.get('name')}"

def pod_spec(d):
    kind, spec = d.get("kind"), d.get("spec") or {}
    if kind == "Pod":
        return spec
    if kind in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"):
        return (spec.get("template") or {}).get("spec")
    if kind == "CronJob":
        return (((spec.get("jobTemplate") or {}).get("spec") or {}).get("template") or {}).get("spec")
    return None

for d in docs:
    kind = d.get("kind")
    if kind == "ClusterRole":
        # A ClusterRole on Secrets (or on everything) would reach every namespace's Secrets.
        for rule in d.get("rules") or []:
            res = rule.get("resources") or []
            if "secrets" in res or "*" in res:
                problems.append(f"{where(d)}: a ClusterRole names secrets ({res})")
    if kind == "Secret":
        # Secrets (the age key above all) are created in the cluster by sealctl, never shipped.
        problems.append(f"{where(d)}: manifests must not ship a Secret")
    spec = pod_spec(d)
    if spec is None:
        continue
    psc = spec.get("securityContext") or {}
    for c in (spec.get("initContainers") or []) + (spec.get("containers") or []):
        sc = c.get("securityContext") or {}
        name = f"{where(d)} container {c.get('name')}"
        if sc.get("readOnlyRootFilesystem") is not True:
            problems.append(f"{name}: readOnlyRootFilesystem is not true")
        if sc.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{name}: allowPrivilegeEscalation is not false")
        if "ALL" not in ((sc.get("capabilities") or {}).get("drop") or []):
            problems.append(f"{name}: capabilities do not drop ALL")
        if (sc.get("capabilities") or {}).get("add"):
            problems.append(f"{name}: capabilities add {sc['capabilities']['add']}")
        if sc.get("privileged") is True:
            problems.append(f"{name}: privileged")
        # The container's setting wins over the pod's; either may carry it.
        if sc.get("runAsNonRoot", psc.get("runAsNonRoot")) is not True:
            problems.append(f"{name}: runAsNonRoot is not true")
        if sc.get("runAsUser", psc.get("runAsUser")) == 0:
            problems.append(f"{name}: runs as UID 0")
        seccomp = (sc.get("seccompProfile") or psc.get("seccompProfile") or {}).get("type")
        if seccomp not in ("RuntimeDefault", "Localhost"):
            problems.append(f"{name}: seccompProfile is not RuntimeDefault")

for p in problems:
    print(p)
sys.exit(1 if problems else 0)
PY
}

# The policy check must itself catch what it is for: a ClusterRole on Secrets, a shipped Secret and a
# container that is not restricted. Guards against a check that silently passes everything.
cat >"$work/known-bad.yaml" <<'EOF'
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: too-much
rules:
  - apiGroups: [""]
    resources: ["secrets"]
    verbs: ["get"]
---
apiVersion: v1
kind: Secret
metadata:
  name: key
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: loose
spec:
  selector: {matchLabels: {a: b}}
  template:
    metadata: {labels: {a: b}}
    spec:
      containers:
        - name: c
          image: x
EOF
bad_out=$(policy "$work/known-bad.yaml" || true)
if [ "$(grep -c . <<<"$bad_out")" -eq 7 ]; then
  echo "ok    policy self-test: a ClusterRole on secrets, a Secret and an unrestricted container are caught"
  pass
else
  echo "FAIL  policy self-test: expected 7 violations in a known-bad manifest, got:"
  printf '%s\n' "$bad_out" | sed 's/^/      /'
  fail
fi

# Every kustomization under deploy/, components aside (they are checked below, through their users).
mapfile -t dirs < <(find deploy -type f \( -name kustomization.yaml -o -name kustomization.yml \
  -o -name Kustomization \) -printf '%h\n' | LC_ALL=C sort)
components=()
for dir in "${dirs[@]}"; do
  for kfile in "$dir"/kustomization.yaml "$dir"/kustomization.yml "$dir"/Kustomization; do
    [ -f "$kfile" ] && break
  done
  if grep -qE '^kind:[[:space:]]*Component[[:space:]]*$' "$kfile"; then
    components+=("$dir")
    continue
  fi
  out="$work/$(tr / _ <<<"$dir").yaml"
  # Three checks per kustomization: it builds, it matches the schemas, it follows the rules.
  if ! "$KUBECTL" kustomize "$dir" >"$out" 2>"$out.err"; then
    echo "FAIL  $dir: kubectl kustomize failed"
    sed 's/^/      /' "$out.err"
    fail; fail; fail
    continue
  fi
  pass
  objects=$(grep -c '^kind:' "$out" || true)
  problems=""
  if "$VENV/bin/kubernetes-validate" --strict --quiet --no-warn -k "$K8S_VERSION" "$out" >"$out.schema" 2>&1; then
    pass
  else
    fail
    problems+="schema (Kubernetes $K8S_VERSION, strict):"$'\n'"$(sed "s|$out|output|" "$out.schema")"$'\n'
  fi
  if policy "$out" >"$out.policy"; then
    pass
  else
    fail
    problems+="policy:"$'\n'"$(cat "$out.policy")"$'\n'
  fi
  if [ -z "$problems" ]; then
    echo "ok    $dir: $objects objects; schema (Kubernetes $K8S_VERSION, strict) and policy pass"
  else
    echo "FAIL  $dir: $objects objects"
    sed '/^$/d; s/^/      /' <<<"$problems"
  fi
done

# Each component must be pulled in by some kustomization above, so that it was built and validated.
components_used() {
  "$VENV/bin/python" - "$@" <<'PY'
import os
import sys
import yaml

for kfile in sys.argv[1:]:
    k = yaml.safe_load(open(kfile)) or {}
    for ref in k.get("components") or []:
        print(os.path.realpath(os.path.join(os.path.dirname(kfile), ref)), os.path.dirname(kfile))
PY
}
kfiles=()
for dir in "${dirs[@]}"; do
  for kfile in "$dir"/kustomization.yaml "$dir"/kustomization.yml "$dir"/Kustomization; do
    [ -f "$kfile" ] && kfiles+=("$kfile")
  done
done
components_used "${kfiles[@]}" >"$work/components-used"
for comp in "${components[@]}"; do
  used_by=$(awk -v c="$(realpath "$comp")" '$1 == c { print $2; exit }' "$work/components-used")
  if [ -n "$used_by" ]; then
    echo "ok    $comp: component, validated through $used_by"
    pass
  else
    echo "FAIL  $comp: component used by no kustomization under deploy/, so never validated"
    fail
  fi
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
