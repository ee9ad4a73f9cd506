#!/usr/bin/env python3
"""Evaluates DeviceClass CEL selectors on DRA devices with a real CEL evaluator (cel-python), for
the DRA equivalence tests (Tests/DRATests).

stdin:  {"cases": [{"selectors": ["<cel>", ...], "devices": [{"driver": "automagic.dev",
          "attributes": {"automagic.dev": {"mtu": 9000, "driver": "ice", ...}}}, ...]}, ...]}
stdout: {"results": [[true, false, ...], ...]}  -- per case, per device: every selector holds.
        A compile error, a runtime error or a non-boolean result is reported as
        {"error": "..."} for that case (the compiled CEL must never produce one).

cel-python implements standard CEL; the Kubernetes CEL library functions the compiled selectors
use are registered below following their Kubernetes documentation
(k8s.io/apiserver/pkg/cel/library: ip.go, cidr.go; the cel-go strings extension for split):
  split(string, string) list(string)  -- strings.Split: every separator splits, empties kept
  isIP(string) bool, ip(string) ip    -- IPv4 dotted quad without leading zeros or IPv6; an IPv6
                                         zone or an IPv4-mapped IPv6 address is not an IP (ip() errors)
  isCIDR(string) bool, cidr(string) cidr -- address/prefix-length, same address rules, the length
                                         decimal without leading zeros and within the family
  <cidr>.containsIP(ip|string) bool   -- same family and the address lies in the masked prefix
  <cidr>.ip() ip                      -- the address as written (host bits kept)
"""
import ipaddress
import json
import sys

import celpy
from celpy import celtypes


class IP:
    def __init__(self, addr):
        self.addr = addr

    def __eq__(self, other):
        return isinstance(other, IP) and self.addr == other.addr

    def __hash__(self):
        return hash(self.addr)


class CIDR:
    def __init__(self, addr, length):
        self.addr = addr
        self.length = length
        self.network = ipaddress.ip_network((addr, length), strict=False)


def parse_ip(text):
    s = str(text)
    if "%" in s:
        return None  # zones are refused
    try:
        a = ipaddress.ip_address(s)
    except ValueError:
        return None
    if isinstance(a, ipaddress.IPv6Address) and a.ipv4_mapped is not None:
        return None  # IPv4-mapped IPv6 addresses are refused
    return a


def parse_cidr(text):
    s = str(text)
    if s.count("/") != 1:
        return None
    addr_text, length_text = s.split("/")
    if not length_text.isdigit() or not length_text.isascii() or (len(length_text) > 1 and length_text[0] == "0"):
        return None
    a = parse_ip(addr_text)
    if a is None:
        return None
    length = int(length_text)
    if length > a.max_prefixlen:
        return None
    return CIDR(a, length)


def fail(message):
    return celpy.CELEvalError(message)


def f_split(s, sep):
    if not isinstance(s, str) or not isinstance(sep, str):
        return fail("split: no such overload")
    if sep == "":
        return celtypes.ListType([celtypes.StringType(c) for c in s])
    return celtypes.ListType([celtypes.StringType(p) for p in s.split(sep)])


def f_is_ip(s):
    return celtypes.BoolType(parse_ip(s) is not None)


def f_ip(x):
    if isinstance(x, CIDR):  # <cidr>.ip()
        return IP(x.addr)
    a = parse_ip(x)
    return IP(a) if a is not None else fail(f"IP Address {x!r} parse error")


def f_is_cidr(s):
    return celtypes.BoolType(parse_cidr(s) is not None)


def f_cidr(s):
    c = parse_cidr(s)
    return c if c is not None else fail(f"network address {s!r} parse error")


def f_contains_ip(c, x):
    if not isinstance(c, CIDR):
        return fail("containsIP: no such overload")
    if isinstance(x, IP):
        a = x.addr
    else:
        a = parse_ip(x)
        if a is None:
            return fail(f"IP Address {x!r} parse error")
    if a.version != c.addr.version:
        return celtypes.BoolType(False)
    return celtypes.BoolType(a in c.network)


FUNCTIONS = {
    "split": f_split,
    "isIP": f_is_ip,
    "ip": f_ip,
    "isCIDR": f_is_cidr,
    "cidr": f_cidr,
    "containsIP": f_contains_ip,
}


def evaluate_case(env, case):
    programs = []
    for expression in case["selectors"]:
        try:
            programs.append(env.program(env.compile(expression), functions=FUNCTIONS))
        except Exception as e:  # a compile error is a finding, reported for the case
            return {"error": f"compile: {e}: {expression}"}
    results = []
    for device in case["devices"]:
        activation = {"device": celpy.json_to_cel(device)}
        ok = True
        for p, expression in zip(programs, case["selectors"]):
            try:
                r = p.evaluate(activation)
            except Exception as e:
                return {"error": f"runtime: {e}: {expression} on {json.dumps(device)}"}
            if not isinstance(r, celtypes.BoolType):
                return {"error": f"non-boolean result {r!r}: {expression} on {json.dumps(device)}"}
            if not r:
                ok = False
                break
        results.append(ok)
    return results


def main():
    request = json.load(sys.stdin)
    env = celpy.Environment()
    json.dump({"results": [evaluate_case(env, c) for c in request["cases"]]}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
