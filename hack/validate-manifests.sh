#!/usr/bin/env bash
# Validates Automagic's CRDs and manifests against a live API server with a
# server-side dry run of every file under crds/ and manifests/ (kustomization.yaml
# files excepted): `kubectl apply --dry-run=server -f FILE ...`.
# The server runs its full validation, defaulting and admission for every object
# and persists nothing.
#
# Usage:
#   KUBECONFIG=/path/to/kubeconfig hack/validate-manifests.sh [options] [PATH ...]
#
#   PATH ...               files or directories (recursive, kustomization.yaml files
#                          skipped); default: crds/ manifests/
#   --kubeconfig PATH      kubeconfig to use (default: $KUBECONFIG)
#   --context NAME         kubeconfig context to use
#   --prepare              before the dry run, really apply crds/ (and wait until they
#                          are Established) and create the namespaces the manifests
#                          define, so that custom resources and namespaced objects are
#                          validated too. Changes the server: use it on throwaway servers
#                          (the lab API server, a kind cluster), not on a production one.
#   --strict-kinds         treat kinds the server does not serve as errors
#   --validate MODE        kubectl's --validate: strict (default: unknown or duplicate
#                          fields are errors, checked by the server where it supports
#                          field validation, else against its OpenAPI schema), warn, or
#                          ignore (for servers that publish no OpenAPI document; the
#                          server still validates, but prunes unknown fields silently)
#   -h, --help             this text
#
# What it reports, separately:
#   errors            the server (or kubectl's schema validation) rejected an object:
#                     a real problem in our files. Exit status 1.
#   missing kinds     kinds the server does not serve (for example
#                     ValidatingAdmissionPolicy before Kubernetes 1.30, or Multus's
#                     NetworkAttachmentDefinition where Multus is not installed).
#                     Expected on some servers; exit status 0 unless --strict-kinds.
#   not validated     objects that could not be checked in a pure dry run because
#                     this same apply creates what they need: custom resources whose
#                     CRD is in crds/, objects in a namespace the manifests create.
#                     Use --prepare to check them. Exit status 0.
#
# Exit status: 0 valid (apart from the above), 1 errors found (or missing kinds
# with --strict-kinds), 2 usage or environment problem (no kubeconfig, server
# unreachable, kubectl missing).
set -euo pipefail

cd "$(dirname "$0")/.."

usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; }

kubeconfig="${KUBECONFIG:-}"
context=""
prepare=0
strict_kinds=0
validate_mode=strict
paths=()
while [ $# -gt 0 ]; do
  case "$1" in
    --kubeconfig) [ $# -ge 2 ] || { echo "validate-manifests: --kubeconfig needs a path" >&2; exit 2; }; kubeconfig="$2"; shift 2 ;;
    --kubeconfig=*) kubeconfig="${1#*=}"; shift ;;
    --context) [ $# -ge 2 ] || { echo "validate-manifests: --context needs a name" >&2; exit 2; }; context="$2"; shift 2 ;;
    --context=*) context="${1#*=}"; shift ;;
    --prepare) prepare=1; shift ;;
    --strict-kinds) strict_kinds=1; shift ;;
    --validate) [ $# -ge 2 ] || { echo "validate-manifests: --validate needs strict, warn or ignore" >&2; exit 2; }; validate_mode="$2"; shift 2 ;;
    --validate=*) validate_mode="${1#*=}"; shift ;;
    -h|--help) usage; exit 0 ;;
    -*) echo "validate-manifests: unknown option '$1' (see --help)" >&2; exit 2 ;;
    *) paths+=("$1"); shift ;;
  esac
done
[ "${#paths[@]}" -gt 0 ] || paths=(crds manifests)
case "$validate_mode" in
  strict|warn|ignore) ;;
  *) echo "validate-manifests: --validate must be strict, warn or ignore, not '$validate_mode'" >&2; exit 2 ;;
esac

command -v kubectl >/dev/null || { echo "validate-manifests: kubectl not found on PATH" >&2; exit 2; }
if [ -z "$kubeconfig" ]; then
  echo "validate-manifests: no kubeconfig: set KUBECONFIG or pass --kubeconfig PATH" >&2
  exit 2
fi
# KUBECONFIG may be a list (a:b); check each file exists.
IFS=':' read -r -a kc_files <<<"$kubeconfig"
for f in "${kc_files[@]}"; do
  [ -z "$f" ] || [ -r "$f" ] || { echo "validate-manifests: kubeconfig '$f' does not exist or is not readable" >&2; exit 2; }
done

kc=(kubectl --kubeconfig "$kubeconfig")
[ -z "$context" ] || kc+=(--context "$context")

# Directories are expanded here (recursively) rather than with kubectl's -R, so
# that kustomization.yaml files, which are kustomize's input and not objects,
# are left out.
file_args=()
for p in "${paths[@]}"; do
  [ -e "$p" ] || { echo "validate-manifests: '$p' does not exist" >&2; exit 2; }
  if [ -d "$p" ]; then
    while IFS= read -r f; do file_args+=(-f "$f"); done < <(
      find "$p" -type f \( -name '*.yaml' -o -name '*.yml' -o -name '*.json' \) \
        ! -name 'kustomization.yaml' ! -name 'kustomization.yml' ! -name 'Kustomization' | LC_ALL=C sort)
  else
    file_args+=(-f "$p")
  fi
done
[ "${#file_args[@]}" -gt 0 ] || { echo "validate-manifests: no manifest files in: ${paths[*]}" >&2; exit 2; }

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

if ! "${kc[@]}" version -o json >"$tmp/version.json" 2>"$tmp/version.err"; then
  echo "validate-manifests: cannot reach the API server with kubeconfig '$kubeconfig':" >&2
  sed 's/^/  /' "$tmp/version.err" >&2
  exit 2
fi
server_version="$(sed -n 's/.*"gitVersion": *"\([^"]*\)".*/\1/p' "$tmp/version.json" | tail -n 1)"
echo "validate-manifests: server ${server_version:-unknown version}; validating: ${paths[*]}"

if [ "$prepare" = 1 ]; then
  crd_paths=()
  for p in "${paths[@]}"; do
    case "$p" in crds|crds/*|./crds|./crds/*) crd_paths+=(-f "$p") ;; esac
  done
  if [ "${#crd_paths[@]}" -gt 0 ]; then
    echo "validate-manifests: --prepare: applying CRDs for real"
    "${kc[@]}" apply -R "${crd_paths[@]}" -o name >"$tmp/crds.txt"
    if [ -s "$tmp/crds.txt" ]; then
      # shellcheck disable=SC2046
      "${kc[@]}" wait --for=condition=Established --timeout=60s $(cat "$tmp/crds.txt") >/dev/null
    fi
  fi
  # Namespaces defined by the inputs (client-side dry run only names them).
  "${kc[@]}" apply --dry-run=client "${file_args[@]}" -o name 2>/dev/null \
    | sed -n 's#^namespace/##p' | sort -u >"$tmp/namespaces.txt" || true
  while read -r ns; do
    [ -n "$ns" ] || continue
    if ! "${kc[@]}" get namespace "$ns" >/dev/null 2>&1; then
      echo "validate-manifests: --prepare: creating namespace $ns"
      "${kc[@]}" create namespace "$ns" >/dev/null
    fi
  done <"$tmp/namespaces.txt"
fi

set +e
"${kc[@]}" apply --dry-run=server --validate="$validate_mode" "${file_args[@]}" -o name >"$tmp/out.txt" 2>"$tmp/err.txt"
apply_status=$?
set -e

# Groups served by CRDs in this same apply: their kinds are "not validated", not missing.
sed -n 's#^customresourcedefinition\.apiextensions\.k8s\.io/[^.]*\.##p' "$tmp/out.txt" | sort -u >"$tmp/crd-groups.txt"
# Namespaces this same apply creates.
sed -n 's#^namespace/##p' "$tmp/out.txt" | sort -u >"$tmp/own-namespaces.txt"

# kubectl's stderr is a sequence of records; a record starts with "error:",
# "Error from server", "Warning:" or (kubectl >= 1.27, for a kind the server does
# not serve) "resource mapping not found", and continues on the following lines.
# Classify each record into one line: missing|<gv> <kind>|<file>,
# own|<what>|<file>, warn|<text>, error|<text> (continuation lines of <text>
# joined with the unit separator \037).
awk -v crdgroups="$tmp/crd-groups.txt" -v ownns="$tmp/own-namespaces.txt" '
  BEGIN {
    while ((getline g < crdgroups) > 0) crd[g] = 1
    while ((getline n < ownns) > 0) ns[n] = 1
  }
  function flush(   m, kind, gv, group, file, nsname) {
    if (rec == "") return
    file = ""
    if (match(rec, /from "[^"]*"/)) file = substr(rec, RSTART + 6, RLENGTH - 7)
    else if (match(rec, /error when [a-z]+ "[^"]*"/)) { file = substr(rec, RSTART, RLENGTH); sub(/^error when [a-z]+ "/, "", file); sub(/"$/, "", file) }
    if (rec ~ /^Warning:/) {
      print "warn|" rec
    } else if (match(rec, /no matches for kind "[^"]*" in version "[^"]*"/)) {
      m = substr(rec, RSTART, RLENGTH)
      kind = m; sub(/^no matches for kind "/, "", kind); sub(/".*/, "", kind)
      gv = m; sub(/.* in version "/, "", gv); sub(/"$/, "", gv)
      group = gv; if (group ~ /\//) sub(/\/[^\/]*$/, "", group); else group = ""
      if (group in crd) print "own|" kind " (" gv "): its CRD is created by this apply|" file
      else print "missing|" gv " " kind "|" file
    } else if (match(rec, /namespaces "[^"]*" not found/)) {
      nsname = substr(rec, RSTART + 12, RLENGTH - 12); sub(/".*/, "", nsname)
      if (nsname in ns) print "own|object in namespace " nsname ", which this apply creates|" file
      else print "error|" rec
    } else {
      print "error|" rec
    }
    rec = ""
  }
  /^(error:|Error from server|Warning:|resource mapping not found)/ { flush(); rec = $0; next }
  /^ensure CRDs are installed first/ { next }
  { rec = (rec == "" ? $0 : rec "\037" $0) }
  END { flush() }
' "$tmp/err.txt" >"$tmp/classified.txt"

count() { grep -c "^$1|" "$tmp/classified.txt" || true; }
n_ok="$(grep -c . "$tmp/out.txt" || true)"
n_err="$(count error)"
n_missing="$(count missing)"
n_own="$(count own)"

echo "validate-manifests: ${n_ok} object(s) accepted by the server (dry run)"
if [ "$(count warn)" -gt 0 ]; then
  echo "warnings:"
  sed -n 's/^warn|/  /p' "$tmp/classified.txt" | sed 's/\x1f/\n    /g'
fi
if [ "$n_missing" -gt 0 ]; then
  echo "missing kinds (the server does not serve them; these objects were not validated):"
  grep '^missing|' "$tmp/classified.txt" | awk -F'|' '
    { n[$2]++; if (!(($2, $3) in seen)) { seen[$2, $3] = 1; files[$2] = files[$2] (files[$2] == "" ? "" : ", ") $3 } }
    END { for (k in n) print "  " k ": " n[k] " object(s) in " files[k] }' | sort
fi
if [ "$n_own" -gt 0 ]; then
  echo "not validated (this apply creates what they need; run with --prepare to check them):"
  grep '^own|' "$tmp/classified.txt" | awk -F'|' '{ print "  " $3 ": " $2 }' | sort -u
fi
if [ "$n_err" -gt 0 ]; then
  echo "errors:"
  sed -n 's/^error|/  /p' "$tmp/classified.txt" | sed 's/\x1f/\n    /g'
fi
if grep -q '^error|.*failed to download openapi' "$tmp/classified.txt"; then
  echo "hint: the server publishes no OpenAPI document for kubectl's schema validation; rerun with --validate=ignore"
fi
if [ "$apply_status" -ne 0 ] && [ "$n_err" -eq 0 ] && [ "$n_missing" -eq 0 ] && [ "$n_own" -eq 0 ]; then
  echo "errors:"
  echo "  kubectl exited with status $apply_status without a recognizable message:"
  sed 's/^/    /' "$tmp/err.txt"
  n_err=1
fi

echo "validate-manifests: ${n_err} error(s), ${n_missing} object(s) of missing kinds, ${n_own} object(s) not validated"
if [ "$n_err" -gt 0 ]; then exit 1; fi
if [ "$strict_kinds" = 1 ] && [ "$n_missing" -gt 0 ]; then exit 1; fi
exit 0
