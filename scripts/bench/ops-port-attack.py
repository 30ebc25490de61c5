#!/usr/bin/env python3
"""Attacks a sealsync agent's ports on 127.0.0.1 and prints what it cost the agent.

Usage: scripts/bench/ops-port-attack.py BINARY senders|idle yes|no
  senders: 150 connections each sending a 1 MiB webhook body with a bogus signature; prints the
           agent's VmRSS before and its peak (VmHWM) after, and whether /healthz answers.
  idle:    the agent under RLIMIT_NOFILE=256, then 400 idle connections to the webhook port; prints
           its open descriptors, whether /healthz answers and whether the git cache is still there.
  yes|no:  whether to pass --webhook-listen (an agent built before it existed needs "no").
"""
import os, socket, subprocess, sys, tempfile, threading, time, urllib.request
binary, mode, split = sys.argv[1], sys.argv[2], sys.argv[3] == "yes"
d = tempfile.mkdtemp()
subprocess.run(f"git init -q --bare {d}/r.git && git clone -q {d}/r.git {d}/w && cd {d}/w && echo 'kind: ConfigMap' > a.yaml && git add . && git -c user.name=t -c user.email=t@t commit -qm i && git push -q origin HEAD:main", shell=True, check=True)
open(f"{d}/secret", "w").write("hook-secret\n")
def free():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p
port, hport = free(), free()
args = [binary, "run", "--repo", f"file://{d}/r.git", "--sink", f"dir:{d}/out", "--cache-dir", f"{d}/cache",
        "--interval", "1h", "--listen", f"127.0.0.1:{port}", "--webhook-secret-file", f"{d}/secret"]
if split: args += ["--webhook-listen", f"127.0.0.1:{hport}"]
else: hport = port
pre = None
if mode == "idle":
    import resource
    pre = lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))
agent = subprocess.Popen(args, stderr=open(f"{d}/log", "w"), preexec_fn=pre)
def get(path):
    try: return urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=3).status
    except Exception as e: return getattr(e, "code", 0)
for _ in range(300):
    if get("/readyz") == 200: break
    time.sleep(0.1)
st = lambda f: int([l for l in open(f"/proc/{agent.pid}/status") if l.startswith(f+":")][0].split()[1])
print("RSS before (KiB):", st("VmRSS"))
if mode == "senders":
    body = b"a" * (1 << 20)
    def send():
        try:
            s = socket.create_connection(("127.0.0.1", hport), timeout=30)
            s.sendall(b"POST /hooks/git HTTP/1.1\r\nHost: x\r\nX-Hub-Signature-256: sha256=00\r\nContent-Length: %d\r\n\r\n" % len(body))
            s.sendall(body); s.recv(64); s.close()
        except Exception: pass
    ts = [threading.Thread(target=send) for _ in range(150)]
    [t.start() for t in ts]; [t.join() for t in ts]
    print("agent alive:", agent.poll() is None, " peak VmHWM (KiB):", st("VmHWM"), " /healthz:", get("/healthz"))
else:
    conns = []
    for _ in range(400):
        try: conns.append(socket.create_connection(("127.0.0.1", hport), timeout=2))
        except Exception: pass
    time.sleep(2)
    print("idle connections opened:", len(conns), " agent fds:", len(os.listdir(f"/proc/{agent.pid}/fd")), " /healthz:", get("/healthz"))
    print("cache present:", os.listdir(f"{d}/cache"))
agent.kill(); agent.wait()
