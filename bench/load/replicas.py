"""Two data API replicas on the one Redis: the load split between them, then the same pair under
a per-subject limit that binds, which measures how exactly the shared limit holds."""

import signal
import statistics
import threading

from measure import commandstats, redis_cli, wrk
from processes import cpu_seconds, log, machine_busy_seconds
from settings import ITEM_ID

# The limit of the accuracy run: two windows like the defaults, the burst one far below what
# two replicas serve on this machine, so it binds all the time.
BINDING_LIMIT = (2000, "2000/s,600000/min")
# The data API's limiter keys (services/data-api/src/adapters.rs).
LIMITER_KEYS = "portcullis:data:rl:*"


def _split_load(out, label, urls, token, duration):
    """One wrk per replica at once (-t1 -c32 each: 64 connections in all)."""
    results = [None] * len(urls)

    def run(i, url):
        results[i] = wrk(out, f"{label}-{i}", url, ["-H", f"Authorization: Bearer {token}"],
                         duration, threads=1, connections=32)

    threads = [threading.Thread(target=run, args=(i, u)) for i, u in enumerate(urls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def _commands(before, after):
    deltas = {c: after.get(c, 0) - before.get(c, 0) for c in set(after) | set(before)}
    return {c: d for c, d in deltas.items() if d and c not in ("info", "ping")}


def two_replicas(stack, out, rounds, duration):
    """Throughput of two replicas sharing the load, then the limit's accuracy."""
    second, second_url = stack.start_replica("data-api-2")
    urls = [stack.item_url, f"{second_url}/v1/items/{ITEM_ID}"]
    token = stack.access_token
    _split_load(out, "replicas-warmup", urls, token, 3)
    throughput = []
    for r in range(1, rounds + 1):
        pids = [stack.data_api.pid, second.pid]
        before_c = commandstats(stack.redis_port)
        cpu_before = (cpu_seconds(pids), cpu_seconds([stack.redis.pid]), machine_busy_seconds())
        parts = _split_load(out, f"replicas-{r}", urls, token, duration)
        cpu_after = (cpu_seconds(pids), cpu_seconds([stack.redis.pid]), machine_busy_seconds())
        commands = _commands(before_c, commandstats(stack.redis_port))
        requests = sum(p["requests"] for p in parts)
        row = {
            "rps": sum(p["rps"] for p in parts),
            "p99_ms": max(p["p99_ms"] for p in parts),
            "non_2xx": sum(p["non_2xx"] for p in parts),
            "requests": requests,
            "commands": commands,
            "commands_per_request": sum(commands.values()) / max(requests, 1),
        }
        for key, b, a in zip(("server", "redis", "machine"), cpu_before, cpu_after):
            row[f"cpu_us_{key}"] = (a - b) / max(requests, 1) * 1e6
        log(f"two replicas, round {r}: {row['rps']:.0f} req/s in all, "
            f"{row['commands_per_request']:.4f} Redis commands per request")
        throughput.append(row)
    second.send_signal(signal.SIGTERM)
    second.wait(timeout=10)
    accuracy = _accuracy(stack, out, duration)
    return {"throughput": throughput, "accuracy": accuracy}


def _accuracy(stack, out, duration):
    limit, policy = BINDING_LIMIT
    # The throughput runs spent the subject's minute window many times over (and their slices
    # were charged to it): start the limited pair from empty limiter state, or it refuses all.
    redis_cli(stack.redis_port, "EVAL",
              "for _, k in ipairs(redis.call('KEYS', ARGV[1])) do redis.call('DEL', k) end",
              "0", LIMITER_KEYS)
    pair = [stack.start_replica(f"data-api-limited-{i}", DATA_API_RATE_LIMIT=policy)
            for i in (1, 2)]
    urls = [f"{url}/v1/items/{ITEM_ID}" for _, url in pair]
    before_c = commandstats(stack.redis_port)
    parts = _split_load(out, "limited", urls, stack.access_token, duration)
    commands = _commands(before_c, commandstats(stack.redis_port))
    for proc, _ in pair:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
    requests = sum(p["requests"] for p in parts)
    admitted = requests - sum(p["non_2xx"] for p in parts)
    # The burst window admits at most `limit` per one-second slot, and a run of `duration`
    # seconds touches at most duration + 1 slots.
    ceiling = limit * (duration + 1)
    result = {"policy": policy, "duration_s": duration, "requests": requests,
              "admitted": admitted, "ceiling": ceiling, "ideal": limit * duration,
              "admitted_per_s": admitted / duration,
              "evalsha_per_admitted": commands.get("evalsha", 0) / max(admitted, 1)}
    log(f"limited pair: {admitted} admitted of {requests} ({admitted / duration:.0f}/s against "
        f"{limit}/s; ceiling {ceiling})")
    return result


def report_lines(replicas, single_rps):
    """The Markdown rows of the two-replica section."""
    rows = replicas["throughput"]
    med = {k: statistics.median(r[k] for r in rows)
           for k in ("rps", "p99_ms", "cpu_us_server", "cpu_us_redis", "cpu_us_machine",
                     "commands_per_request")}
    acc = replicas["accuracy"]
    per_round = ", ".join(f"{r['rps']:,.0f}" for r in rows)
    lines = [
        "### Two replicas on one Redis (`wrk -t1 -c32` against each at once)",
        "",
        "| run | requests/s (sum) | p99 ms (worse of the two) | CPU µs/req: both servers | "
        "Redis | whole machine | Redis commands/request | rounds (req/s) |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
        f"| two replicas, hot item | {med['rps']:,.0f} | {med['p99_ms']:.2f} | "
        f"{med['cpu_us_server']:.0f} | {med['cpu_us_redis']:.1f} | {med['cpu_us_machine']:.0f} | "
        f"{med['commands_per_request']:.4f} | {per_round} |",
        "",
        f"Aggregate against the single replica (B): {med['rps'] / single_rps:.2f}×. "
        f"Non-2xx: {sum(r['non_2xx'] for r in rows)}.",
        "",
        f"Limiter accuracy: the same pair under `{acc['policy']}` for {acc['duration_s']} s "
        f"admitted **{acc['admitted']:,}** of {acc['requests']:,} requests "
        f"({acc['admitted_per_s']:,.0f}/s; the policy allows at most {acc['ceiling']:,} in the "
        f"{acc['duration_s'] + 1} one-second slots the run touches, {acc['ideal']:,} in "
        f"{acc['duration_s']} whole seconds): "
        f"{acc['admitted'] / acc['ideal']:.1%} of the ideal, "
        f"{'within' if acc['admitted'] <= acc['ceiling'] else 'OVER'} the ceiling; "
        f"EVALSHA per admitted request {acc['evalsha_per_admitted']:.3f}.",
    ]
    return lines
