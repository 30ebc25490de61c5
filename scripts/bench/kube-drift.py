#!/usr/bin/env python3
"""Drift edits against the Kubernetes API test server, each timed until the agent has put it back.

Used by scripts/bench/kube-sink.sh:  kube-drift.py API_URL EDITS N TEAMS OUT_FILE

For each edit: GET the Secret (its values, labels and resourceVersion), open a watch on that one Secret
from that resourceVersion (fieldSelector metadata.name=NAME), make the edit straight over HTTP (a
value patched, the managed-by label removed, or the Secret deleted; in turn), take the time when the
edit request returns, then read watch events until one shows the Secret restored (same values, label
back). Latency = that event's arrival - the edit's return. One line per edit in OUT_FILE:
"KIND SECONDS". Loopback only; every wait is bounded.
"""

import base64
import http.client
import json
import sys
import time
import urllib.parse

LABEL = "app.kubernetes.io/managed-by"
KINDS = ("data", "label", "delete")
EDIT_TIMEOUT = 30.0  # seconds an edit may take to be reverted before the run fails


def main():
    url, edits, n, teams, out_path = sys.argv[1:6]
    edits, n, teams = int(edits), int(n), int(teams)
    parsed = urllib.parse.urlparse(url)
    host, port = parsed.hostname, parsed.port
    assert host == "127.0.0.1", "loopback only"

    def request(method, path, body=None, content_type="application/json"):
        conn = http.client.HTTPConnection(host, port, timeout=10)
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = content_type
            body = json.dumps(body).encode()
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        conn.close()
        return resp.status, (json.loads(data) if data else None)

    with open(out_path, "w") as out:
        for i in range(edits):
            # A stride coprime with N: a different Secret each time (up to N edits), all namespaces.
            idx = (i * 7919 + 11) % n
            name, ns = f"secret-{idx:05d}", f"team-{idx % teams:02d}"
            kind = KINDS[i % len(KINDS)]
            base = f"/api/v1/namespaces/{ns}/secrets"
            status, live = request("GET", f"{base}/{name}")
            if status != 200:
                sys.exit(f"GET {ns}/{name}: HTTP {status}")
            want = live.get("data") or {}
            rv = live["metadata"]["resourceVersion"]

            watch = http.client.HTTPConnection(host, port, timeout=EDIT_TIMEOUT)
            query = urllib.parse.urlencode({
                "watch": "true",
                "resourceVersion": rv,
                "fieldSelector": f"metadata.name={name}",
                "allowWatchBookmarks": "false",
            })
            watch.request("GET", f"{base}?{query}", headers={"Accept": "application/json"})
            stream = watch.getresponse()
            if stream.status != 200:
                sys.exit(f"watch {ns}/{name}: HTTP {stream.status}")

            manager = "?fieldManager=bench-hand-edit"
            if kind == "data":
                patch = {"data": {"password": base64.b64encode(f"by-hand-{i}".encode()).decode()}}
                status, _ = request("PATCH", f"{base}/{name}{manager}", patch, "application/merge-patch+json")
            elif kind == "label":
                patch = {"metadata": {"labels": {LABEL: None}}}
                status, _ = request("PATCH", f"{base}/{name}{manager}", patch, "application/merge-patch+json")
            else:
                status, _ = request("DELETE", f"{base}/{name}")
            edited = time.monotonic()
            if status >= 300:
                sys.exit(f"{kind} edit of {ns}/{name}: HTTP {status}")

            deadline = edited + EDIT_TIMEOUT
            restored = None
            while time.monotonic() < deadline:
                line = stream.readline()
                if not line:
                    break
                if not line.strip():
                    continue
                event = json.loads(line)
                obj = event.get("object") or {}
                if event.get("type") not in ("ADDED", "MODIFIED"):
                    continue
                labels = (obj.get("metadata") or {}).get("labels") or {}
                if (obj.get("data") or {}) == want and labels.get(LABEL) == "sealsync":
                    restored = time.monotonic()
                    break
            watch.close()
            if restored is None:
                sys.exit(f"{kind} edit of {ns}/{name} not reverted within {EDIT_TIMEOUT:.0f} s")
            out.write(f"{kind} {restored - edited:.6f}\n")
            out.flush()
            time.sleep(0.02)


if __name__ == "__main__":
    main()
