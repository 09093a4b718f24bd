"""The benchmarked stacks (A bare, B Portcullis, C the seed) on one local Redis.

The binaries come from `settings.RELEASE`, read when a Stack starts: a caller may point it at
another folder first (bench/memory/list_attack.py does).
"""

import json
import os
import subprocess
import sys
import urllib.parse

from measure import redis_cli
from processes import free_port, http, status_kib, uvicorn_workers, wait_until
import settings
from settings import (ITEM_DATA, ITEM_ID, JOB_CLIENT, JOB_SECRET, NEVER_LIMIT, PASSWORD,
                      PUBLIC_CLIENT, SEEDREF, USER)

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
        issuer = os.path.join(settings.RELEASE, "auth-issuer")
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

    def start_replica(self, name, **overrides):
        """One data API process on this stack's Redis and item database; returns it and its URL.
        Every replica of the run shares the database file (the hot path never reaches it)."""
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        env = {
            "DATA_API_LISTEN": f"127.0.0.1:{port}",
            "DATA_API_ISSUER": self.issuer_url,
            "DATA_API_REDIS_URL": self.redis_url,
            "DATA_API_RATE_LIMIT": NEVER_LIMIT,
            "DATA_API_IP_RATE_LIMIT": NEVER_LIMIT,
            "DATA_API_MAX_CONCURRENT_REQUESTS_PER_CLIENT": "4096",
            "DATA_API_DATABASE_URL": "sqlite://" + os.path.join(self.out, "items.db"),
            # Freshness longer than the run: every read is a plain hit, no stale refreshes.
            "DATA_API_CACHE_TTL": "30m",
            **overrides,
        }
        proc = self.procs.start(name, [os.path.join(settings.RELEASE, "data-api")], env=env)
        wait_until(name, lambda: http("GET", url + "/readyz")[0] == 200, proc=proc)
        return proc, url

    def start_data_api(self):
        self.data_api, self.data_url = self.start_replica("data-api")
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
        self.bare = self.procs.start("bench-bare", [os.path.join(settings.RELEASE, "bench-bare")], env={
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
