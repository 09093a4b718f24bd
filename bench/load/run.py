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

import settings
from measure import machine
from processes import Processes, http, log, status_kib  # http, status_kib: for bench/memory
from results import plot, report, summarise
from replicas import report_lines, two_replicas
from rounds import issuance, profile, read_path_rounds
from settings import ROOT
from stack import Stack

__all__ = ["settings", "ROOT", "Processes", "Stack", "http", "log", "status_kib", "main"]


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=int(os.environ.get("ROUNDS", 3)))
    parser.add_argument("--duration", type=int, default=int(os.environ.get("DURATION", 10)),
                        help="seconds per wrk run")
    parser.add_argument("--no-seed", action="store_true", help="skip the seed stack (C)")
    parser.add_argument("--no-issuance", action="store_true")
    parser.add_argument("--no-replicas", action="store_true",
                        help="skip the two-replica run and the limiter accuracy run")
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
        replicas = None if args.no_replicas else two_replicas(stack, out, args.rounds,
                                                              args.duration)
        issued = None if args.no_issuance else issuance(stack, out, args.duration)
        rss = stack.rss()
    finally:
        procs.stop_all()
    info = machine()
    summary = summarise(results, rss)
    text, ratios = report(summary, checks, rss, issued, info, started, args)
    if replicas:
        text += "\n" + "\n".join(report_lines(replicas, summary["B"]["rps"])) + "\n"
    plot(summary, issued, args.plot)
    with open(os.path.join(out, "report.md"), "w") as f:
        f.write(text)
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump({"started": started.isoformat(), "machine": info, "rounds": results,
                   "summary": summary, "checks": checks, "rss_mib": rss, "issuance": issued,
                   "replicas": replicas,
                   "ratios": ratios}, f, indent=2)
    if args.record:
        with open(os.path.join(ROOT, "bench", "RESULTS.md"), "a") as f:
            f.write("\n" + text)
        log("appended to bench/RESULTS.md")
    print(text)
    log(f"plot: {args.plot}; raw outputs: {out}")


if __name__ == "__main__":
    main()
