#!/usr/bin/env bash
# How much an anonymous attacker can grow the issuer's memory with made-up usernames.
#
# Starts a real auth-issuer (in-process limiter and refresh store, the embedded default) with
# the per-IP limit lifted so every request gets through, then sends password logins with unique
# usernames and reports the issuer's RSS (VmRSS from /proc) before and after each phase (after a
# warm-up of the phase's own kind, so argon2's buffers are not counted as growth):
#
#   long   10,000 requests with unique ~15 kB usernames (what the review used: 3,000 of them
#          used to add 131 MiB that never went away)
#   valid  N requests with unique 255-byte usernames: the longest name a user can have, so
#          each one reaches the login limiter (and a dummy argon2 check) as an unknown user
#
# Usage: bench/issuer-memory.sh [--release] [--valid N]   (default: dev profile, N = 2000)
# Prints a Markdown table row per phase, with the RSS after each fifth of the requests: once
# argon2's buffers and the allocator's caches have settled (first fifth), what is left of the
# growth is state kept per request. Record it in bench/RESULTS.md with machine and date.
# This measures, it asserts nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

profile=dev dir=debug valid=2000
while [ $# -gt 0 ]; do
  case "$1" in
    --release) profile=release dir=release ;;
    --valid) valid=$2; shift ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done

target=${CARGO_TARGET_DIR:-target}
cargo build --profile "$profile" -p auth-issuer --bin auth-issuer >&2
bin="$target/$dir/auth-issuer"

state=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$state"' EXIT
mkdir "$state/keys"
"$bin" keys generate --out "$state/keys/a.pem" >/dev/null
hash=$(printf 'bench password' | "$bin" hash-password)
cat >"$state/users.toml" <<EOF
[[users]]
username = "alice"
password_hash = "$hash"
scopes = ["items:read"]

[[clients]]
client_id = "portcullis-cli"
grants = ["password", "refresh_token"]
scopes = ["items:read"]
audience = ["data-api"]
EOF

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
ISSUER_LISTEN=127.0.0.1:$port ISSUER_URL=http://127.0.0.1:$port ISSUER_KEYS_DIR="$state/keys" \
  ISSUER_USERS_FILE="$state/users.toml" ISSUER_IP_RATE_LIMIT=1000000/s RUST_LOG=warn \
  "$bin" >"$state/issuer.log" 2>&1 &
pid=$!

python3 - "$port" "$pid" "$valid" <<'EOF'
import http.client, os, sys, threading, time, urllib.parse

port, pid, valid = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])

def rss_kib():
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])

for _ in range(200):
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        c.request("GET", "/readyz")
        if c.getresponse().status == 200:
            break
    except OSError:
        pass
    time.sleep(0.05)
else:
    sys.exit("the issuer did not become ready")

def send(names, threads):
    statuses = {}
    lock = threading.Lock()
    def worker(part):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        for name in part:
            body = urllib.parse.urlencode({"grant_type": "password", "client_id": "portcullis-cli",
                                           "username": name, "password": "wrong"})
            c.request("POST", "/oauth2/token", body,
                      {"Content-Type": "application/x-www-form-urlencoded"})
            r = c.getresponse()
            r.read()
            with lock:
                statuses[r.status] = statuses.get(r.status, 0) + 1
    parts = [names[i::threads] for i in range(threads)]
    ts = [threading.Thread(target=worker, args=(p,)) for p in parts]
    for t in ts: t.start()
    for t in ts: t.join()
    return statuses

# Each phase first sends 200 requests of its own kind (argon2's buffers, the allocator's arenas
# and caches settle), then measures RSS around its N requests.
phases = [
    ("long", 10_000, lambda i: f"{i:08d}-" + "x" * 15_000),
    ("valid", valid, lambda i: f"{i:08d}-" + "v" * 246),
]
print("| phase | requests | name bytes | statuses | RSS before (MiB) | RSS at each fifth (MiB) | growth (MiB) | growth over the last four fifths (MiB) |")
print("|---|---:|---:|---|---:|---|---:|---:|")
for label, count, make in phases:
    send([f"warm-{label}-{i}" + make(i)[8:] for i in range(200)], 2)
    time.sleep(1)
    before = rss_kib()
    started = time.time()
    statuses, marks = {}, []
    fifth = count // 5
    for part in range(5):
        for status, n in send([make(i) for i in range(part * fifth, (part + 1) * fifth)], 2).items():
            statuses[status] = statuses.get(status, 0) + n
        marks.append(rss_kib())
    size = len(make(0))
    shown = ", ".join(f"{m/1024:.1f}" for m in marks)
    print(f"| {label} | {count:,} | {size:,} | {statuses} | {before/1024:.1f} | {shown} "
          f"| {(marks[-1]-before)/1024:+.1f} | {(marks[-1]-marks[0])/1024:+.1f} |", flush=True)
    print(f"  ({label}: {time.time()-started:.0f} s)", file=sys.stderr)
EOF
