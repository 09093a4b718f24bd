#!/usr/bin/env python3
"""The data API's memory under the list attack of issue 18 (`bench/list_attack.sh` builds first).

The review's attack: PUT ~120 items of 1 MiB, then `GET /v1/items?limit=1000`; the store loaded
every row and the handler copied each one, and one replica went from 196 MB to 1,099 MB, past the
prod pod limit of 384 MiB. This run reproduces it against the release `data-api` (SQLite store,
Redis cache and limiter, as the load benchmark sets them up) with 64 clients listing at once for
ATTACK_SECONDS, sampling the process's RSS every 20 ms, and prints (with --record, appends to
bench/RESULTS.md): RSS at start, after the writes, the peak during the attack (VmHWM), and how
the list requests were answered (200, or 503 when the body memory budget was exhausted).

With --baseline PATH (a `data-api` binary built from an older commit), the same attack runs
against it too, in the same run, and both columns are printed side by side.
"""

import argparse
import datetime
import json
import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "load"))
import run  # noqa: E402  (the load benchmark's process and stack helpers)

ITEMS = 120
DOCUMENT = json.dumps("a" * (1024 * 1024 - 16))  # just under the 1 MiB cap
CLIENTS = 64
ATTACK_SECONDS = 20
POD_LIMIT_MIB = 384


def rss_mib(pid, field="VmRSS"):
    return run.status_kib(pid, field) / 1024


def attack(stack, auth):
    """Lists with CLIENTS threads for ATTACK_SECONDS; answers by status, and RSS samples."""
    statuses, samples, stop = {}, [], threading.Event()
    lock = threading.Lock()
    url = stack.data_url + "/v1/items?limit=1000"

    def client():
        while not stop.is_set():
            status, _, body = run.http("GET", url, headers=auth, timeout=30)
            del body
            with lock:
                statuses[status] = statuses.get(status, 0) + 1

    def sampler():
        while not stop.is_set():
            samples.append(rss_mib(stack.data_api.pid))
            time.sleep(0.02)

    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    threads.append(threading.Thread(target=sampler))
    for thread in threads:
        thread.start()
    time.sleep(ATTACK_SECONDS)
    stop.set()
    for thread in threads:
        thread.join()
    return statuses, samples


def measure(out, data_api):
    """The attack against one `data-api` binary: RSS figures (MiB) and list answers by status."""
    os.makedirs(out, exist_ok=True)
    # run.Stack starts the binaries it finds in run.settings.RELEASE: point it at a folder
    # holding the release issuer and the data API under test.
    binaries = os.path.join(out, "bin")
    os.makedirs(binaries, exist_ok=True)
    os.symlink(os.path.join(run.ROOT, "target", "release", "auth-issuer"),
               os.path.join(binaries, "auth-issuer"))
    os.symlink(os.path.abspath(data_api), os.path.join(binaries, "data-api"))
    run.settings.RELEASE = binaries
    procs = run.Processes(out)
    try:
        stack = run.Stack(out, procs, with_seed=False, with_bare=False)
        pid = stack.data_api.pid
        auth = {"Authorization": f"Bearer {stack.access_token}"}
        start = rss_mib(pid)
        body = json.dumps({"data": json.loads(DOCUMENT)}).encode()
        for i in range(ITEMS):
            status, _, answer = run.http(
                "PUT", f"{stack.data_url}/v1/items/big-{i:03}", body,
                {**auth, "Content-Type": "application/json"}, timeout=30)
            if status != 200:
                raise SystemExit(f"PUT big-{i}: {status} {answer[:200]!r}")
        written = rss_mib(pid)
        statuses, samples = attack(stack, auth)
        figures = {
            "at start": start,
            "after the writes": written,
            "peak during the attack (VmHWM)": rss_mib(pid, "VmHWM"),
            "highest 20 ms sample": max(samples, default=0),
            "after the attack": rss_mib(pid),
        }
    finally:
        procs.stop_all()
    answers = ", ".join(f"{count} × {status}" for status, count in sorted(statuses.items()))
    return figures, answers


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--record", action="store_true", help="append the result to RESULTS.md")
    parser.add_argument("--baseline", help="a data-api binary of an older commit to run beside")
    args = parser.parse_args()
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    out = os.path.join(run.ROOT, "target", "bench-memory", stamp)
    runs = [("this tree", os.path.join(run.ROOT, "target", "release", "data-api"))]
    if args.baseline:
        runs.append(("baseline", args.baseline))
    results = [(name, *measure(os.path.join(out, name.replace(" ", "-")), binary))
               for name, binary in runs]
    machine = run.machine()
    lines = [
        f"\n### List attack, {datetime.date.today().isoformat()} "
        f"({machine.get('cpu', '?')}, {os.cpu_count()} vCPU)\n",
        f"{ITEMS} items of 1 MiB by one owner, then {CLIENTS} clients listing "
        f"`GET /v1/items?limit=1000` for {ATTACK_SECONDS} s (`bench/list_attack.sh`, release "
        "build, SQLite store, Redis cache and limiter, default page and body-memory budgets).\n",
        "| data-api RSS, MiB | " + " | ".join(name for name, _, _ in results) + " |",
        "|---|" + "---|" * len(results),
    ]
    for figure in results[0][1]:
        lines.append(f"| {figure} | " + " | ".join(f"{r[1][figure]:.0f}" for r in results) + " |")
    peak = results[0][1]["peak during the attack (VmHWM)"]
    lines += [
        "",
        *(f"List answers ({name}): {answers}." for name, _, answers in results),
        f"Peak of this tree against the prod pod limit ({POD_LIMIT_MIB} MiB): "
        f"{peak / POD_LIMIT_MIB:.0%}.",
    ]
    text = "\n".join(lines)
    print(text)
    if args.record:
        with open(os.path.join(run.ROOT, "bench", "RESULTS.md"), "a") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
