"""The runs: alternating read-path rounds, issuance, and the --profile mode."""

import json
import os
import shutil
import signal
import subprocess
import threading
import time

from measure import commandstats, metric, metrics, wrk
from processes import cpu_seconds, log, machine_busy_seconds, uvicorn_workers
from settings import HERE, JOB_CLIENT, JOB_SECRET, PUBLIC_CLIENT

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
