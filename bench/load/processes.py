"""Child processes, HTTP calls, waiting, and what /proc says about CPU and memory."""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

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
