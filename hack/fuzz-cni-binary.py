#!/usr/bin/env python3
"""Fuzzes the real `automagic` CNI plugin binary through stdin and its CNI_* environment.

    python3 hack/fuzz-cni-binary.py BINARY [--seconds 30] [--seed 1] [--out DIR]

hack/test.sh runs it for FUZZ_SECONDS (30) with FUZZ_SEED (1) on the debug build.

Each call gets a mutated network configuration on stdin and a mutated CNI_* environment
(verbs, container IDs, interface names, netns paths, CNI_PATH, CNI_ARGS), with a mapping file,
a cache folder and fake delegates (macvlan, ipvlan, host-device answering quickly with a
result, an error object or garbage) in a scratch folder. A finding is a call that
  - takes more than 2 s (a hang: nothing here waits on anything slow),
  - is ended by a signal (a trap, a crash),
  - exits with a status other than 0 or 1,
  - fails without a CNI error object on stdout (JSON with an integer "code" and a "msg").
(A DEL ends by exec'ing its delegate, whose answer is then the plugin's: the fake delegates
answer DEL properly, and garble only ADD and CHECK, whose answers the plugin relays itself.)
Findings are saved under OUT (stdin, environment, what happened); the exit status is 1 if
there is any. With a fixed seed the same inputs are tried in the same order every run.

As root the binary runs as `nobody` (setpriv), so that a mutated mappingFile or cacheDir
cannot create or change files outside the scratch folder, and network namespaces named by
a mutated CNI_NETNS cannot be entered.
"""
import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

HANG_SECONDS = 2.0

VERBS = ["ADD", "DEL", "CHECK", "STATUS", "GC", "VERSION"]
ODD_VERBS = ["", "add", "ADD ", "BOGUS", "DEL\x01", "\u00e9", "A" * 300]
ODD_NAMES = ["", ".", "..", "a" * 15, "a" * 16, "a/b", "a:b", "a b", "net\t1", "\u00e9th0", "-x", "x" * 4096]
ODD_PATHS = ["", "/", "relative", "/dev/null", "/dev/zero", "/proc/self/ns/net", "/nonexistent/x",
             "/var/run/netns/", "/" + "a" * 5000, "/tmp/\u00e9"]
INTERESTING = [b"{", b"}", b"[", b"]", b"\"", b",", b":", b"null", b"true", b"1e400", b"-0", b"9223372036854775808",
               b"\"\\u0000\"", b"\"\\ud800\"", b"\xff\xfe", b"[" * 200, b"{\"a\":" * 50, b"\"cniVersion\"",
               b"\"prevResult\"", b"\"delegate\"", b"\"mappingFile\"", b"\"cacheDir\"", b"\"1.1.0\"", b"\"0.4.0\""]


def seed_configs(scratch):
    base = {"cniVersion": "1.1.0", "name": "storage", "type": "automagic", "network": "storage",
            "mappingFile": scratch + "/mapping.json", "cacheDir": scratch + "/cache",
            "ipam": {"type": "static", "addresses": [{"address": "192.168.60.5/24"}]}}
    prev = {"cniVersion": "1.1.0", "interfaces": [{"name": "net1", "sandbox": "/var/run/netns/x"}],
            "ips": [{"address": "192.168.60.5/24", "interface": 0}], "routes": [{"dst": "0.0.0.0/0"}], "dns": {}}
    confs = [base,
             dict(base, cniVersion="1.0.0"),
             dict(base, cniVersion="0.4.0", prevResult=dict(prev, cniVersion="0.4.0")),
             dict(base, prevResult=prev),
             dict(base, delegate={"type": "ipvlan", "mode": "l2"}),
             dict(base, delegate={"type": "host-device"}),
             dict(base, network="backup"),
             dict(base, **{"cni.dev/valid-attachments": [{"containerID": "c1", "ifname": "net1"}]}),
             dict(base, runtimeConfig={"mac": "02:00:00:00:00:01", "deviceID": "0000:05:00.0"})]
    return [json.dumps(c).encode() for c in confs]


def write_scratch(scratch):
    mapping = {"apiVersion": "automagic.dev/v1alpha1", "kind": "NodeNetworkMapping", "node": "w1", "generation": 1,
               "updatedAt": "2026-12-06T00:00:00Z",
               "networks": {"storage": {"device": "eth7", "map": "storage", "attachment": {"type": "macvlan", "mode": "bridge"}},
                            "backup": {"device": "", "map": "backup", "message": "no rule matched"}}}
    with open(scratch + "/mapping.json", "w") as f:
        json.dump(mapping, f)
    os.makedirs(scratch + "/bin", exist_ok=True)
    answers = {
        "macvlan": 'cat >/dev/null; case "$CNI_COMMAND" in VERSION) echo \'{"cniVersion":"1.1.0","supportedVersions":["0.4.0","1.0.0","1.1.0"]}\';; '
                   'ADD) echo \'{"cniVersion":"1.1.0","interfaces":[{"name":"net1"}],"ips":[{"address":"192.168.60.5/24","interface":0}]}\';; esac',
        "ipvlan": 'cat >/dev/null; case "$CNI_COMMAND" in VERSION) echo \'{"cniVersion":"1.0.0","supportedVersions":["1.0.0"]}\';; '
                  '*) echo \'{"code":7,"msg":"ipvlan says no"}\'; exit 1;; esac',
        "host-device": 'cat >/dev/null; case "$CNI_COMMAND" in VERSION) echo \'{"supportedVersions":["0.4.0","1.0.0","1.1.0"]}\';; '
                       'ADD|CHECK) echo \'not json {{\'; exit 3;; esac',
        "static": "cat >/dev/null; exit 0",
    }
    for name, body in answers.items():
        path = scratch + "/bin/" + name
        with open(path, "w") as f:
            f.write("#!/bin/sh\n" + body + "\n")
        os.chmod(path, 0o755)


def mutate_bytes(rng, data, pool):
    data = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(7)
        if op == 0 and data:  # bit flip
            i = rng.randrange(len(data))
            data[i] ^= 1 << rng.randrange(8)
        elif op == 1 and data:  # truncate
            del data[rng.randrange(len(data)):]
        elif op == 2:  # insert an interesting token
            i = rng.randrange(len(data) + 1)
            data[i:i] = rng.choice(INTERESTING)
        elif op == 3 and data:  # delete a range
            i = rng.randrange(len(data))
            del data[i:i + rng.randint(1, 16)]
        elif op == 4 and data:  # duplicate a range
            i = rng.randrange(len(data))
            data[i:i] = data[i:i + rng.randint(1, 64)]
        elif op == 5:  # splice with another seed
            other = rng.choice(pool)
            i, j = rng.randrange(len(data) + 1), rng.randrange(len(other) + 1)
            data = data[:i] + other[j:]
        else:  # random byte
            i = rng.randrange(len(data) + 1)
            data[i:i] = bytes([rng.randrange(256)])
    return bytes(data[:65536])


def mutate_env(rng, scratch):
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "CNI_COMMAND": rng.choice(VERBS), "CNI_CONTAINERID": "c1",
           "CNI_IFNAME": "net1", "CNI_NETNS": "/var/run/netns/none", "CNI_PATH": scratch + "/bin"}
    for _ in range(rng.randint(0, 3)):
        key = rng.choice(["CNI_COMMAND", "CNI_CONTAINERID", "CNI_IFNAME", "CNI_NETNS", "CNI_PATH", "CNI_ARGS"])
        choice = rng.randrange(4)
        if choice == 0:
            env.pop(key, None)
        elif key == "CNI_COMMAND":
            env[key] = rng.choice(VERBS + ODD_VERBS)
        elif key in ("CNI_CONTAINERID", "CNI_IFNAME"):
            env[key] = rng.choice(ODD_NAMES)
        elif key == "CNI_NETNS":
            env[key] = rng.choice(ODD_PATHS)
        elif key == "CNI_PATH":
            env[key] = rng.choice(["", ":", "::" + scratch + "/bin", scratch + "/bin:" + scratch + "/bin", "/nonexistent",
                                   scratch + "/mapping.json", scratch])
        else:
            env[key] = rng.choice(["IgnoreUnknown=1", "K8S_POD_NAME=a;K8S_POD_NAMESPACE=b", "=x", ";;", "a", "a=b=c;" * 500])
    # Strings with NUL bytes cannot be in an environment: drop them.
    return {k: v.replace("\x00", "") for k, v in env.items()}


def check(proc_result, elapsed):
    """Why this call is a finding, or None."""
    code, out = proc_result
    if elapsed > HANG_SECONDS:
        return "hang: the call took %.2f s" % elapsed
    if code < 0:
        return "killed by signal %d" % -code
    if code not in (0, 1):
        return "exit status %d" % code
    if code == 1:
        try:
            obj = json.loads(out)
        except ValueError:
            return "failed without a JSON error object on stdout"
        if not isinstance(obj, dict) or not isinstance(obj.get("code"), int) or not isinstance(obj.get("msg"), str):
            return "failed with an output that is not a CNI error object"
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", default=".build/fuzz-cni-binary")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    if args.seed == 0:  # as with libFuzzer: 0 picks a fresh seed (printed, to replay a finding)
        args.seed = random.SystemRandom().randrange(1, 2 ** 31)
    rng = random.Random(args.seed)
    scratch = tempfile.mkdtemp(prefix="amfuzz")
    os.chmod(scratch, 0o755)
    prefix = []
    if os.geteuid() == 0:
        prefix = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--inh-caps=-all", "--"]
    try:
        write_scratch(scratch)
        # nobody writes the cache and reads the mapping; the delegates stay root's.
        for root, dirs, files in os.walk(scratch):
            if root.startswith(scratch + "/bin"):
                continue
            os.chown(root, 65534, 65534)
            for name in files:
                os.chown(os.path.join(root, name), 65534, 65534)
        pool = seed_configs(scratch)
        findings, calls, slowest = 0, 0, 0.0
        deadline = time.monotonic() + args.seconds
        while time.monotonic() < deadline:
            stdin = rng.choice(pool)
            if rng.random() < 0.9:
                stdin = mutate_bytes(rng, stdin, pool)
            env = mutate_env(rng, scratch)
            start = time.monotonic()
            try:
                p = subprocess.run(prefix + [args.binary], input=stdin, env=env, capture_output=True, timeout=HANG_SECONDS * 5)
                result = (p.returncode, p.stdout)
            except subprocess.TimeoutExpired:
                result = (0, b"")
            elapsed = time.monotonic() - start
            slowest = max(slowest, elapsed)
            calls += 1
            why = check(result, elapsed)
            if why:
                findings += 1
                base = os.path.join(args.out, "finding-%d" % findings)
                with open(base + ".stdin", "wb") as f:
                    f.write(stdin)
                with open(base + ".txt", "w") as f:
                    f.write("%s\nenvironment: %s\nstdout: %r\n" % (why, json.dumps(env), result[1][:2000]))
                print("finding %d: %s (%s.*)" % (findings, why, base), file=sys.stderr)
        print("fuzz-cni-binary: %d calls in %.0f s (seed %d), slowest %.3f s, %d findings"
              % (calls, args.seconds, args.seed, slowest, findings))
        return 1 if findings else 0
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
