#!/usr/bin/env python3
"""The full-stack load benchmark (`bench/load.sh` installs what it needs, builds, then runs this).

In one run, on one machine, alternating rounds of `wrk -t2 -c64 --latency`:

  A  bench-bare: a bare axum handler answering the same JSON document as B (same body size);
  B  data-api: GET /v1/items/{id} with a real RS256 token from a release auth-issuer, the
     per-IP limit (in process) and the per-subject Redis sliding-window limit (both high enough
     never to reject), and the item read from the Redis cache (put beforehand, so every read is
     a cache hit);
  C  the seed stack (FastAPI + PyJWT + slowapi + redis-py, RS256, Redis limiter storage),
     started from ../shared/bench/seedref the way its run.sh starts it;

then issuance against the release auth-issuer: refresh-token grants per second (rotation: each
refresh token used once, see refresh.lua) and, briefly, client-credentials grants.

Everything runs on one local redis-server started on a free loopback port. Prints the table,
writes raw outputs under target/bench-load/<timestamp>/, the plot to bench/load.png, and with
--record appends the Markdown section to bench/RESULTS.md. --profile instead profiles the data
API's read path under load (perf, or callgrind where perf cannot sample).
"""

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
RELEASE = os.path.join(ROOT, "target", "release")
SEEDREF = os.environ.get(
    "SEEDREF_DIR", os.path.join(os.path.dirname(ROOT), "shared", "bench", "seedref")
)

# High enough never to reject at this load, and two windows each, like the defaults, so the
# limiter script does its usual work.
NEVER_LIMIT = "10000000/s,600000000/min"
USER, PASSWORD = "bench", "bench-password-not-secret"
PUBLIC_CLIENT = "portcullis-cli"
JOB_CLIENT, JOB_SECRET = "bench-job", "bench-job-secret-not-secret"
ITEM_ID = "bench-item"
ITEM_DATA = {
    "title": "load benchmark item",
    "owner_note": "read through the cache on every request",
    "tags": ["alpha", "beta", "gamma"],
    "count": 42,
}

# Targets of issue 10.
TARGET_B_OVER_C = 50.0
TARGET_B_OVER_A = 0.40
TARGET_P99_MS = 5.0
TARGET_RSS_MB = 100.0
TARGET_REFRESH_PER_S = 2500.0

CONFIG_NAMES = {
    "A": "bare axum handler",
    "B": "data-api full read path",
    "C": "seed stack (FastAPI, 2 workers)",
}


def log(message):
    print(f"[load] {message}", file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Processes:
    """Every process this run starts, stopped (by its own pid) when the run ends."""

    def __init__(self, out):
        self.out = out
        self.procs = []

    def start(self, name, argv, env=None, cwd=None):
        logfile = open(os.path.join(self.out, f"{name}.log"), "wb")
        full_env = dict(os.environ)
        full_env.update(env or {})
        proc = subprocess.Popen(
            argv, env=full_env, cwd=cwd, stdout=logfile, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        self.procs.append((name, proc))
        return proc

    def stop_all(self):
        for _, proc in reversed(self.procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for name, proc in reversed(self.procs):
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                log(f"{name} did not stop in 10 s; killing it")
                proc.kill()
                proc.wait()


def http(method, url, body=None, headers=None, timeout=10):
    """(status, headers, body bytes); never raises on HTTP errors."""
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def wait_until(what, check, timeout=60, proc=None):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            raise SystemExit(f"{what}: the process exited ({proc.returncode}); see its log")
        try:
            if check():
                return
        except (OSError, urllib.error.URLError, subprocess.CalledProcessError):
            pass
        time.sleep(0.2)
    raise SystemExit(f"{what}: not ready after {timeout} s")


def status_kib(pid, field):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids):
    """User plus system CPU time of the processes (all their threads), in seconds."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            pass
    return total / CLK_TCK


def machine_busy_seconds():
    """CPU time spent by the whole machine (every core, not idle or iowait), in seconds."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / CLK_TCK


def children(pid):
    """Direct children of `pid`, with their command lines."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
            ppid = int(stat[stat.rindex(")") + 2:].split()[1])
            if ppid != pid:
                continue
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode(errors="replace")
            found.append((int(entry), cmdline))
        except (OSError, ValueError):
            continue
    return found


def uvicorn_workers(master_pid):
    return [pid for pid, cmd in children(master_pid) if "resource_tracker" not in cmd]


def redis_cli(port, *args):
    return subprocess.run(
        ["redis-cli", "-p", str(port), *args], check=True, capture_output=True, text=True
    ).stdout


def commandstats(port):
    stats = {}
    for line in redis_cli(port, "INFO", "commandstats").splitlines():
        m = re.match(r"cmdstat_([^:]+):calls=(\d+)", line)
        if m:
            stats[m.group(1)] = int(m.group(2))
    return stats


def metrics(url):
    """Prometheus text -> {(name, labels): value}."""
    _, _, body = http("GET", url)
    values = {}
    for line in body.decode().splitlines():
        if line.startswith("#") or not line.strip():
            continue
        m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})?\s+(\S+)$", line)
        if m:
            values[(m.group(1), m.group(2) or "")] = float(m.group(3))
    return values


def metric(values, name, **labels):
    total = 0.0
    for (n, l), v in values.items():
        if n == name and all(f'{k}="{val}"' in l for k, val in labels.items()):
            total += v
    return total


UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def to_ms(text):
    m = re.match(r"([\d.]+)(us|ms|s|m)$", text)
    return float(m.group(1)) * UNITS[m.group(2)]


def parse_wrk(text):
    result = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))}
    result["requests"] = int(re.search(r"(\d+) requests in", text).group(1))
    for pct in ("50", "99"):
        m = re.search(rf"^\s+{pct}(?:\.000)?%\s+(\S+)", text, re.M)
        result[f"p{pct}_ms"] = to_ms(m.group(1)) if m else None
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    result["non_2xx"] = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    result["socket_errors"] = sum(int(x) for x in m.groups()) if m else 0
    return result


def wrk(out, label, url, args, duration, threads=2, connections=64, script=None, script_args=()):
    argv = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency", *args]
    if script:
        argv += ["-s", script]
    argv.append(url)
    if script_args:
        argv += ["--", *script_args]
    text = subprocess.run(argv, check=True, capture_output=True, text=True).stdout
    with open(os.path.join(out, f"wrk-{label}.txt"), "w") as f:
        f.write(" ".join(argv) + "\n" + text)
    return parse_wrk(text)


def machine():
    info = {}
    for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
        key, _, value = line.partition(":")
        info[key.strip()] = value.strip()
    versions = {}
    for name, argv in {
        "rustc": ["rustc", "--version"],
        "redis": ["redis-server", "--version"],
        "wrk": ["wrk", "--version"],
    }.items():
        try:
            proc = subprocess.run(argv, capture_output=True, text=True)
            versions[name] = (proc.stdout or proc.stderr).strip().splitlines()[0]
        except (OSError, IndexError):
            versions[name] = "?"
    versions["python"] = platform.python_version()
    return {
        "cpu": info.get("Model name", "?"),
        "cpus": info.get("CPU(s)", "?"),
        "kernel": platform.release(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30),
        "versions": versions,
    }


class Stack:
    """Redis, the issuer, the data API, the bare handler and the seed stack, set up for the run."""

    def __init__(self, out, procs, with_seed=True, with_bare=True):
        self.out, self.procs = out, procs
        self.redis_port = free_port()
        self.redis_url = f"redis://127.0.0.1:{self.redis_port}"
        self.redis = procs.start("redis", [
            "redis-server", "--port", str(self.redis_port), "--bind", "127.0.0.1",
            "--save", "", "--appendonly", "no",
        ])
        wait_until("redis", lambda: redis_cli(self.redis_port, "PING").strip() == "PONG",
                   proc=self.redis)
        redis_cli(self.redis_port, "FLUSHALL")
        self.start_issuer()
        self.start_data_api()
        self.bare = self.seed = None
        if with_bare:
            self.start_bare()
        if with_seed:
            self.start_seed()

    def start_issuer(self):
        issuer = os.path.join(RELEASE, "auth-issuer")
        keys = os.path.join(self.out, "keys")
        os.makedirs(keys, exist_ok=True)
        subprocess.run([issuer, "keys", "generate", "--out", os.path.join(keys, "bench.pem")],
                       check=True, capture_output=True)

        def hash_secret(secret):
            return subprocess.run([issuer, "hash-password"], input=secret, check=True,
                                  capture_output=True, text=True).stdout.strip()

        users = os.path.join(self.out, "users.toml")
        with open(users, "w") as f:
            f.write(f"""[[users]]
username = "{USER}"
password_hash = "{hash_secret(PASSWORD)}"
scopes = ["items:read", "items:write"]

[[clients]]
client_id = "{PUBLIC_CLIENT}"
grants = ["password", "refresh_token"]
scopes = ["items:read", "items:write"]
audience = ["data-api"]

[[clients]]
client_id = "{JOB_CLIENT}"
secret_hash = "{hash_secret(JOB_SECRET)}"
grants = ["client_credentials"]
scopes = ["items:read"]
audience = ["data-api"]
""")
        port = free_port()
        self.issuer_url = f"http://127.0.0.1:{port}"
        self.issuer = self.procs.start("auth-issuer", [issuer], env={
            "ISSUER_LISTEN": f"127.0.0.1:{port}",
            "ISSUER_URL": self.issuer_url,
            "ISSUER_KEYS_DIR": keys,
            "ISSUER_USERS_FILE": users,
            "ISSUER_REDIS_URL": self.redis_url,
            "ISSUER_IP_RATE_LIMIT": NEVER_LIMIT,
            "ISSUER_LOGIN_RATE_LIMIT": NEVER_LIMIT,
            "ISSUER_LOGIN_USER_RATE_LIMIT": NEVER_LIMIT,
            "ISSUER_MAX_CONCURRENT_REQUESTS_PER_CLIENT": "4096",
            "ISSUER_ACCESS_TOKEN_TTL": "30m",
        })
        wait_until("auth-issuer", lambda: http("GET", self.issuer_url + "/readyz")[0] == 200,
                   proc=self.issuer)

    def token(self, grant):
        status, _, body = http(
            "POST", self.issuer_url + "/oauth2/token",
            urllib.parse.urlencode(grant).encode(),
            {"Content-Type": "application/x-www-form-urlencoded"},
        )
        if status != 200:
            raise SystemExit(f"token request failed: {status} {body[:300]!r}")
        return json.loads(body)

    def password_grant(self):
        return self.token({"grant_type": "password", "client_id": PUBLIC_CLIENT,
                           "username": USER, "password": PASSWORD})

    def start_data_api(self):
        port = free_port()
        self.data_url = f"http://127.0.0.1:{port}"
        self.data_api = self.procs.start("data-api", [os.path.join(RELEASE, "data-api")], env={
            "DATA_API_LISTEN": f"127.0.0.1:{port}",
            "DATA_API_ISSUER": self.issuer_url,
            "DATA_API_REDIS_URL": self.redis_url,
            "DATA_API_RATE_LIMIT": NEVER_LIMIT,
            "DATA_API_IP_RATE_LIMIT": NEVER_LIMIT,
            "DATA_API_MAX_CONCURRENT_REQUESTS_PER_CLIENT": "4096",
            "DATA_API_DATABASE_URL": "sqlite://" + os.path.join(self.out, "items.db"),
            # Freshness longer than the run: every read is a plain hit, no stale refreshes.
            "DATA_API_CACHE_TTL": "30m",
        })
        wait_until("data-api", lambda: http("GET", self.data_url + "/readyz")[0] == 200,
                   proc=self.data_api)
        self.access_token = self.password_grant()["access_token"]
        self.item_url = f"{self.data_url}/v1/items/{ITEM_ID}"
        auth = {"Authorization": f"Bearer {self.access_token}"}
        status, _, body = http("PUT", self.item_url, json.dumps({"data": ITEM_DATA}, separators=(",", ":"),
                                                          sort_keys=True).encode(),
                               {**auth, "Content-Type": "application/json"})
        if status not in (200, 201):
            raise SystemExit(f"PUT {self.item_url}: {status} {body[:300]!r}")
        status, _, self.item_body = http("GET", self.item_url, headers=auth)
        if status != 200:
            raise SystemExit(f"GET {self.item_url}: {status}")

    def start_bare(self):
        port = free_port()
        self.bare_url = f"http://127.0.0.1:{port}/v1/items/{ITEM_ID}"
        self.bare = self.procs.start("bench-bare", [os.path.join(RELEASE, "bench-bare")], env={
            "BENCH_BARE_LISTEN": f"127.0.0.1:{port}",
            "BENCH_BARE_BODY": self.item_body.decode(),
        })
        wait_until("bench-bare", lambda: http("GET", self.bare_url)[0] == 200, proc=self.bare)
        body = http("GET", self.bare_url)[2]
        if len(body) != len(self.item_body):
            raise SystemExit(f"bench-bare answers {len(body)} bytes, data-api {len(self.item_body)}")

    def start_seed(self):
        if not os.path.isfile(os.path.join(SEEDREF, "app.py")):
            raise SystemExit(f"seed stack not found at {SEEDREF} (set SEEDREF_DIR, or --no-seed)")
        keys = os.path.join(self.out, "seed-keys")
        os.makedirs(keys, exist_ok=True)
        private, public = os.path.join(keys, "private.pem"), os.path.join(keys, "public.pem")
        subprocess.run(["openssl", "genrsa", "-out", private, "2048"], check=True,
                       capture_output=True)
        subprocess.run(["openssl", "rsa", "-in", private, "-pubout", "-out", public], check=True,
                       capture_output=True)
        env = {
            "PYTHONDONTWRITEBYTECODE": "1",
            "SEED_PRIVATE_KEY": private,
            "SEED_PUBLIC_KEY": public,
            "SEED_ALG": "RS256",
            "SEED_LIMIT_STORAGE": self.redis_url,
            "SEED_REDIS_PORT": str(self.redis_port),
        }
        self.seed_token = subprocess.run(
            [sys.executable, os.path.join(SEEDREF, "mktoken.py"), "RS256"], check=True,
            capture_output=True, text=True, env={**os.environ, **env},
        ).stdout.strip()
        port = free_port()
        self.seed_url = f"http://127.0.0.1:{port}/api/data/k1"
        # As run.sh starts it (two workers), but held here so rounds can alternate.
        self.seed = self.procs.start("seed", [
            sys.executable, "-m", "uvicorn", "app:app", "--host", "127.0.0.1", "--port",
            str(port), "--workers", "2", "--log-level", "warning",
        ], env=env, cwd=SEEDREF)
        auth = {"Authorization": f"Bearer {self.seed_token}"}
        wait_until("seed stack", lambda: http("GET", self.seed_url, headers=auth)[0] == 200,
                   proc=self.seed)

    def rss(self):
        """Peak RSS (VmHWM) in MiB of each server."""
        peak = {
            "A": status_kib(self.bare.pid, "VmHWM") if self.bare else 0,
            "B": status_kib(self.data_api.pid, "VmHWM"),
            "issuer": status_kib(self.issuer.pid, "VmHWM"),
            "redis": status_kib(self.redis.pid, "VmHWM"),
        }
        if self.seed:
            workers = uvicorn_workers(self.seed.pid)
            peak["C"] = sum(status_kib(pid, "VmHWM") for pid in workers)
            peak["C_workers"] = len(workers)
            peak["C_master"] = status_kib(self.seed.pid, "VmHWM")
        return {k: (v / 1024 if not k.endswith("_workers") else v) for k, v in peak.items()}


def read_path_rounds(stack, out, rounds, duration):
    targets = {
        "A": (stack.bare_url, f"Bearer {stack.access_token}"),
        "B": (stack.item_url, f"Bearer {stack.access_token}"),
    }
    servers = {"A": lambda: [stack.bare.pid], "B": lambda: [stack.data_api.pid]}
    if stack.seed:
        targets["C"] = (stack.seed_url, f"Bearer {stack.seed_token}")
        servers["C"] = lambda: uvicorn_workers(stack.seed.pid)
    for name, (url, auth) in targets.items():
        log(f"warm-up {name}")
        wrk(out, f"warmup-{name}", url, ["-H", f"Authorization: {auth}"], 3)
    results = {name: [] for name in targets}
    checks = {"requests": 0.0, "hits": 0.0, "allowed": 0.0, "evalsha": 0, "hget": 0,
              "other_commands": {}}
    for r in range(1, rounds + 1):
        for name, (url, auth) in targets.items():
            if name == "B":
                before_m, before_c = metrics(stack.data_url + "/metrics"), commandstats(stack.redis_port)
            pids = servers[name]()
            cpu_before = (cpu_seconds(pids), cpu_seconds([stack.redis.pid]), machine_busy_seconds())
            result = wrk(out, f"{name}-{r}", url, ["-H", f"Authorization: {auth}"], duration)
            cpu_after = (cpu_seconds(pids), cpu_seconds([stack.redis.pid]), machine_busy_seconds())
            for key, before, after in zip(("server", "redis", "machine"), cpu_before, cpu_after):
                result[f"cpu_us_{key}"] = (after - before) / max(result["requests"], 1) * 1e6
            if name == "B":
                after_m, after_c = metrics(stack.data_url + "/metrics"), commandstats(stack.redis_port)
                d = lambda n, **l: metric(after_m, n, **l) - metric(before_m, n, **l)
                checks["requests"] += d("portcullis_http_requests_total", route="/v1/items/{id}")
                checks["hits"] += d("portcullis_cache_requests_total", result="hit")
                checks["allowed"] += d("portcullis_ratelimit_decisions_total", decision="allowed")
                for cmd in set(after_c) | set(before_c):
                    delta = after_c.get(cmd, 0) - before_c.get(cmd, 0)
                    if cmd == "evalsha":
                        checks["evalsha"] += delta
                    elif cmd == "hget":
                        checks["hget"] += delta
                    elif delta and cmd not in ("info", "ping"):
                        checks["other_commands"][cmd] = checks["other_commands"].get(cmd, 0) + delta
            log(f"round {r} {name}: {result['rps']:.0f} req/s, p50 {result['p50_ms']:.2f} ms, "
                f"p99 {result['p99_ms']:.2f} ms, non-2xx {result['non_2xx']}")
            results[name].append(result)
    return results, checks


def issuance(stack, out, duration):
    connections, threads = 64, 2
    # One token per connection, plus spares: wrk calls request() once on the first thread's
    # script before the run to check it (spending one token there), and a spare per thread
    # keeps a lost request from leaving a connection without a token.
    count = connections + 2 * threads
    log(f"getting {count} refresh tokens by password grants (argon2id each)")
    tokens = [None] * count

    def fetch(i):
        tokens[i] = stack.password_grant()["refresh_token"]

    fetchers = [threading.Thread(target=fetch, args=(i,)) for i in range(count)]
    for t in fetchers:
        t.start()
    for t in fetchers:
        t.join()
    path = os.path.join(out, "refresh-tokens.txt")
    with open(path, "w") as f:
        f.write("\n".join(tokens) + "\n")
    before = metrics(stack.issuer_url + "/metrics")
    log("refresh grants")
    refresh = wrk(out, "refresh", stack.issuer_url + "/oauth2/token", [], duration,
                  threads=threads, connections=connections,
                  script=os.path.join(HERE, "refresh.lua"),
                  script_args=(path, str(threads), PUBLIC_CLIENT))
    after = metrics(stack.issuer_url + "/metrics")
    refresh["issued"] = (metric(after, "portcullis_audit_events_total", event="token_issued")
                         - metric(before, "portcullis_audit_events_total", event="token_issued"))
    refresh["ok_per_s"] = refresh["rps"] * (1 - refresh["non_2xx"] / max(refresh["requests"], 1))
    log(f"refresh: {refresh['ok_per_s']:.0f} grants/s, non-2xx {refresh['non_2xx']}")
    log("client-credentials grants (confidential client: argon2id secret check each)")
    cc = wrk(out, "client-credentials", stack.issuer_url + "/oauth2/token", [], 5,
             threads=1, connections=2, script=os.path.join(HERE, "client_credentials.lua"),
             script_args=(JOB_CLIENT, JOB_SECRET))
    cc["ok_per_s"] = cc["rps"] * (1 - cc["non_2xx"] / max(cc["requests"], 1))
    log(f"client credentials: {cc['ok_per_s']:.0f} grants/s, non-2xx {cc['non_2xx']}")
    return {"refresh": refresh, "client_credentials": cc}


def median(rows, key):
    return statistics.median(r[key] for r in rows)


def summarise(results, rss):
    summary = {}
    for name, rows in results.items():
        summary[name] = {
            "rps": median(rows, "rps"),
            "p50_ms": median(rows, "p50_ms"),
            "p99_ms": median(rows, "p99_ms"),
            "cpu_us_server": median(rows, "cpu_us_server"),
            "cpu_us_redis": median(rows, "cpu_us_redis"),
            "cpu_us_machine": median(rows, "cpu_us_machine"),
            "rounds_rps": [round(r["rps"]) for r in rows],
            "non_2xx": sum(r["non_2xx"] for r in rows),
            "socket_errors": sum(r["socket_errors"] for r in rows),
            "rss_mib": rss.get(name, 0.0),
        }
    return summary


def report(summary, checks, rss, issued, info, started, args):
    A, B, C = summary.get("A"), summary["B"], summary.get("C")
    b_over_c = B["rps"] / C["rps"] if C else None
    b_over_a = B["rps"] / A["rps"] if A else None
    lines = []
    w = lines.append
    w(f"## {started:%Y-%m-%d} — full-stack load (`bench/load.sh`)")
    w("")
    w(f"Machine: {info['cpus']} CPUs of \"{info['cpu']}\", {info['memory_gib']} GiB, kernel "
      f"{info['kernel']}; {info['versions']['rustc']}, {info['versions']['redis']}, "
      f"Python {info['versions']['python']}. Run started {started:%Y-%m-%d %H:%M %Z}. Load "
      f"generator (wrk), Redis and the servers share the cores.")
    w("")
    w(f"`wrk -t2 -c64 -d{args.duration}s --latency`, {args.rounds} alternating rounds "
      f"(A, B, C, A, B, C, ...); each cell is the median of the rounds; RSS is the peak "
      f"(VmHWM) of the server process over the whole run"
      + (f" (the seed stack: its {rss['C_workers']} uvicorn workers summed)" if C else "")
      + ". CPU µs/req is CPU time (user + "
      f"system, from /proc) over requests served in the round: of the server, of Redis, and "
      f"of the whole machine (wrk, the kernel and anything else running included).")
    w("")
    w("| configuration | requests/s | p50 ms | p99 ms | peak RSS MiB | CPU µs/req: server | Redis | whole machine | rounds (req/s) |")
    w("|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for name in ("A", "B", "C"):
        if name not in summary:
            continue
        s = summary[name]
        w(f"| {name}: {CONFIG_NAMES[name]} | {s['rps']:,.0f} | {s['p50_ms']:.2f} | "
          f"{s['p99_ms']:.2f} | {s['rss_mib']:.1f} | {s['cpu_us_server']:.0f} | "
          f"{s['cpu_us_redis']:.0f} | {s['cpu_us_machine']:.0f} | "
          f"{', '.join(f'{x:,}' for x in s['rounds_rps'])} |")
    w("")
    errors = {n: (s["non_2xx"], s["socket_errors"]) for n, s in summary.items()}
    w("Ratios: " + ", ".join(filter(None, [
        f"B/C = **{b_over_c:.1f}×**" if b_over_c else None,
        f"B/A = **{b_over_a:.0%}**" if b_over_a else None,
    ])) + ". Non-2xx / socket errors: " +
      ", ".join(f"{n} {e[0]}/{e[1]}" for n, e in errors.items()) + ".")
    w("")
    req = checks["requests"] or 1
    w(f"B read path, checked over its rounds ({checks['requests']:,.0f} requests): cache hits "
      f"{checks['hits'] / req:.3f} per request, limiter decisions `allowed` "
      f"{checks['allowed'] / req:.3f} per request; Redis commands per request (`INFO "
      f"commandstats` deltas): EVALSHA {checks['evalsha'] / req:.3f}, HGET "
      f"{checks['hget'] / req:.3f}" +
      "".join(f", {c.upper()} {n / req:.3f}" for c, n in sorted(checks["other_commands"].items()))
      + ".")
    w("")
    if issued:
        rf, cc = issued["refresh"], issued["client_credentials"]
        w("| issuance (release auth-issuer, Redis refresh-token store) | grants/s | p50 ms | p99 ms | non-2xx |")
        w("|---|---:|---:|---:|---:|")
        w(f"| refresh_token grants, 64 connections, each token used once | {rf['ok_per_s']:,.0f} | "
          f"{rf['p50_ms']:.2f} | {rf['p99_ms']:.2f} | {rf['non_2xx']} |")
        w(f"| client_credentials grants (confidential client), 2 connections | {cc['ok_per_s']:,.0f} | "
          f"{cc['p50_ms']:.2f} | {cc['p99_ms']:.2f} | {cc['non_2xx']} |")
        w("")
        w("Refresh grants are the issuance path the target names: public client, each refresh "
          "token used exactly once (see `bench/load/refresh.lua`), rotation on Redis, one RS256 "
          "signature each. Client-credentials grants sign the same way but first check the "
          "confidential client's secret with argon2id (19 MiB, at most "
          "`ISSUER_PASSWORD_CONCURRENCY` = 2 at once), so their rate is the argon2id rate, not "
          "the signing rate.")
        w("")
        w(f"Issuer peak RSS {rss['issuer']:.1f} MiB (over the whole run, password grants "
          f"included); Redis {rss['redis']:.1f} MiB.")
        w("")
    w("Targets (issue 10):")
    w("")
    def verdict(ok):
        return "**met**" if ok else "**not met**"
    if b_over_c:
        w(f"- B ≥ {TARGET_B_OVER_C:.0f}× C: {b_over_c:.1f}× — {verdict(b_over_c >= TARGET_B_OVER_C)}")
    if b_over_a:
        w(f"- B ≥ {TARGET_B_OVER_A:.0%} of A: {b_over_a:.0%} — {verdict(b_over_a >= TARGET_B_OVER_A)}")
    w(f"- B p99 ≤ {TARGET_P99_MS:.0f} ms at 64 connections: {B['p99_ms']:.2f} ms — "
      f"{verdict(B['p99_ms'] <= TARGET_P99_MS)}")
    w(f"- data-api RSS ≤ {TARGET_RSS_MB:.0f} MB: {B['rss_mib']:.1f} MiB — "
      f"{verdict(B['rss_mib'] * 1.048576 <= TARGET_RSS_MB)}")
    if issued:
        rf = issued["refresh"]["ok_per_s"]
        w(f"- issuance ≥ {TARGET_REFRESH_PER_S:,.0f} refresh grants/s: {rf:,.0f}/s — "
          f"{verdict(rf >= TARGET_REFRESH_PER_S)}")
    w("")
    w("![throughput and p99 per configuration](load.png)")
    return "\n".join(lines) + "\n", {"B_over_C": b_over_c, "B_over_A": b_over_a}


def plot(summary, issued, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [n for n in ("A", "B", "C") if n in summary]
    short = {"A": "A: bare axum\nhandler", "B": "B: data-api\nfull read path",
             "C": "C: seed stack\n(FastAPI)"}
    labels = [short[n] for n in names]
    colors = {"A": "#8c8c8c", "B": "#1f77b4", "C": "#d62728"}
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    rps = [summary[n]["rps"] for n in names]
    bars = ax1.bar(labels, rps, color=[colors[n] for n in names])
    ax1.set_yscale("log")
    ax1.set_ylabel("requests/s (log scale)")
    ax1.set_title("Throughput, wrk -t2 -c64 (higher is better)")
    for bar, value in zip(bars, rps):
        ax1.annotate(f"{value:,.0f}", (bar.get_x() + bar.get_width() / 2, value),
                     ha="center", va="bottom", fontsize=9)
    p99 = [summary[n]["p99_ms"] for n in names]
    bars = ax2.bar(labels, p99, color=[colors[n] for n in names])
    ax2.set_yscale("log")
    ax2.set_ylabel("p99 latency, ms (log scale)")
    ax2.set_title("p99 latency (lower is better)")
    ax2.axhline(TARGET_P99_MS, color="black", linestyle="--", linewidth=1)
    ax2.annotate(f"target for B: {TARGET_P99_MS:.0f} ms", (0.99, TARGET_P99_MS),
                 xycoords=("axes fraction", "data"), ha="right", va="bottom", fontsize=8)
    for bar, value in zip(bars, p99):
        ax2.annotate(f"{value:.2f}", (bar.get_x() + bar.get_width() / 2, value),
                     ha="center", va="bottom", fontsize=9)
    for ax in (ax1, ax2):
        ax.tick_params(axis="x", labelsize=9)
    subtitle = ""
    if issued:
        subtitle = f"   issuance: {issued['refresh']['ok_per_s']:,.0f} refresh grants/s"
    fig.suptitle(f"Portcullis full-stack load, medians of alternating rounds{subtitle}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def profile(stack, out, duration):
    """Samples the data API under B's load. perf where it can sample, else callgrind."""
    url, auth = stack.item_url, f"Bearer {stack.access_token}"
    wrk(out, "profile-warmup", url, ["-H", f"Authorization: {auth}"], 3)
    perf_ok = shutil.which("perf") and subprocess.run(
        ["perf", "record", "-e", "cpu-clock", "-o", os.devnull, "--", "true"],
        capture_output=True).returncode == 0
    before_c = commandstats(stack.redis_port)
    before_m = metrics(stack.data_url + "/metrics")
    if perf_ok:
        data = os.path.join(out, "perf.data")
        perf = subprocess.Popen(["perf", "record", "-e", "cpu-clock", "-F", "1999", "-g",
                                 "--call-graph", "dwarf,16384", "-p", str(stack.data_api.pid),
                                 "-o", data], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)
        result = wrk(out, "profile", url, ["-H", f"Authorization: {auth}"], duration)
        perf.send_signal(signal.SIGINT)
        perf.wait()
        for name, extra in {
            "perf-self.txt": ["--no-children", "--sort", "symbol"],
            "perf-children.txt": ["--children", "--sort", "symbol"],
            "perf-dso.txt": ["--no-children", "--sort", "dso"],
        }.items():
            with open(os.path.join(out, name), "w") as f:
                subprocess.run(["perf", "report", "-i", data, "--stdio", "-g", "none",
                                "--percent-limit", "0.3", *extra], stdout=f,
                               stderr=subprocess.DEVNULL)
        log(f"perf profile written to {out}/perf-*.txt ({result['rps']:.0f} req/s while sampled)")
    else:
        log("perf cannot sample here; use valgrind --tool=callgrind on a bounded run instead")
        result = None
    after_c = commandstats(stack.redis_port)
    after_m = metrics(stack.data_url + "/metrics")
    served = (metric(after_m, "portcullis_http_requests_total", route="/v1/items/{id}")
              - metric(before_m, "portcullis_http_requests_total", route="/v1/items/{id}"))
    deltas = {c: after_c.get(c, 0) - before_c.get(c, 0) for c in after_c}
    per_request = {c: round(n / served, 3) for c, n in deltas.items() if n and c != "info"}
    log(f"Redis commands per request while profiled: {per_request}")
    with open(os.path.join(out, "profile.json"), "w") as f:
        json.dump({"wrk": result, "requests": served, "redis_per_request": per_request}, f, indent=2)


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=int(os.environ.get("ROUNDS", 3)))
    parser.add_argument("--duration", type=int, default=int(os.environ.get("DURATION", 10)),
                        help="seconds per wrk run")
    parser.add_argument("--no-seed", action="store_true", help="skip the seed stack (C)")
    parser.add_argument("--no-issuance", action="store_true")
    parser.add_argument("--record", action="store_true",
                        help="append the Markdown section to bench/RESULTS.md")
    parser.add_argument("--profile", action="store_true",
                        help="profile the data API under load instead of benchmarking")
    parser.add_argument("--plot", default=os.path.join(ROOT, "bench", "load.png"))
    args = parser.parse_args()

    started = datetime.datetime.now().astimezone()
    out = os.path.join(ROOT, "target", "bench-load", started.strftime("%Y%m%d-%H%M%S"))
    os.makedirs(out, exist_ok=True)
    log(f"raw outputs in {out}")
    procs = Processes(out)
    try:
        if args.profile:
            stack = Stack(out, procs, with_seed=False, with_bare=False)
            profile(stack, out, args.duration)
            return
        stack = Stack(out, procs, with_seed=not args.no_seed)
        results, checks = read_path_rounds(stack, out, args.rounds, args.duration)
        issued = None if args.no_issuance else issuance(stack, out, args.duration)
        rss = stack.rss()
    finally:
        procs.stop_all()
    info = machine()
    summary = summarise(results, rss)
    text, ratios = report(summary, checks, rss, issued, info, started, args)
    plot(summary, issued, args.plot)
    with open(os.path.join(out, "report.md"), "w") as f:
        f.write(text)
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump({"started": started.isoformat(), "machine": info, "rounds": results,
                   "summary": summary, "checks": checks, "rss_mib": rss, "issuance": issued,
                   "ratios": ratios}, f, indent=2)
    if args.record:
        with open(os.path.join(ROOT, "bench", "RESULTS.md"), "a") as f:
            f.write("\n" + text)
        log("appended to bench/RESULTS.md")
    print(text)
    log(f"plot: {args.plot}; raw outputs: {out}")


if __name__ == "__main__":
    main()
