#!/usr/bin/env python3
"""Checks that Package.swift declares, as a direct dependency, every module each target imports, and
nothing it does not import (issue 15). SwiftPM's own explicit-import check accepts modules reached
transitively, so it misses both directions.

Reads `swift package describe --type json` (given as the first argument, or run here) and each
target's Swift/C sources. Exit 1 with one line per problem; exit 0 and a summary otherwise.
"""
import json, os, re, subprocess, sys

# Modules of the toolchain and the system: never declared in Package.swift.
SYSTEM = {
    "Foundation", "FoundationEssentials", "FoundationNetworking", "Glibc", "Musl", "Darwin", "Dispatch",
    "Synchronization", "Testing", "XCTest", "_Concurrency", "Swift", "os", "Observation", "SwiftShims",
    "Android", "WinSDK", "CryptoKit", "_StringProcessing", "RegexBuilder",
}
# One import per line: attributes (`@testable`, `@preconcurrency`, `@_spi(X)`) and an access level may
# precede it; only horizontal space separates the words, so an attribute never swallows a line break.
IMPORT = re.compile(r'^[ \t]*(?:@\w+(?:\([^)\n]*\))?[ \t]+)*(?:(?:public|internal|package|private|fileprivate)[ \t]+)?'
                    r'import[ \t]+(?:(?:class|struct|enum|protocol|func|var|let|typealias)[ \t]+)?([A-Za-z_]\w*)', re.M)
CONDITIONAL = re.compile(r'#if\s+canImport\(([A-Za-z_]\w*)\)')


def main() -> int:
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if len(sys.argv) > 1:
        desc = json.load(open(sys.argv[1]))
    else:
        out = subprocess.run(["swift", "package", "describe", "--type", "json"], cwd=root, check=True,
                             capture_output=True, text=True).stdout
        desc = json.loads(out)
    # A product's module name is the product's name in every package this project uses
    # (Logging, ArgumentParser, Yams, PropertyBased, GRPCCore, ...); a product made of several
    # targets would need a table here.
    problems = []
    checked = 0
    for t in desc["targets"]:
        if t.get("module_type") not in ("SwiftTarget",):
            continue
        declared = set(t.get("target_dependencies", [])) | set(t.get("product_dependencies", []))
        imported = set()
        conditional = set()
        for src in t.get("sources", []):
            p = os.path.join(root, t["path"], src)
            if not p.endswith(".swift"):
                continue
            text = open(p, encoding="utf-8").read()
            conditional |= set(CONDITIONAL.findall(text))
            imported |= set(IMPORT.findall(text))
        imported -= SYSTEM
        imported.discard(t["c99name"])
        for m in sorted(imported - declared):
            if m in conditional:
                continue
            problems.append(f"{t['name']}: imports {m} but Package.swift does not declare it")
        for m in sorted(declared - imported):
            problems.append(f"{t['name']}: declares {m} but imports it nowhere")
        checked += 1
    for p in problems:
        print(p)
    if problems:
        print(f"check-imports: {len(problems)} problem(s) in {checked} targets", file=sys.stderr)
        return 1
    print(f"check-imports: {checked} targets declare exactly what they import")
    return 0


if __name__ == "__main__":
    sys.exit(main())
