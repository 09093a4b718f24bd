"""Measuring: redis-cli, Prometheus metrics, wrk runs, and the machine's description."""

import os
import platform
import re
import subprocess

from processes import http

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
