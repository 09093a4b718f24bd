"""Each render's settings run for real on loopback: both services start, answer their probes and
stop cleanly."""

from __future__ import annotations
import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from .common import LIVENESS_PATH, READINESS_PATH, ROOT, free_port, http_status, run
from .contract import mount_of
from .render import Render
from .repo import Binary


def make_tls(tmpdir: Path) -> dict[str, str] | None:
    """A throwaway CA and a certificate for 127.0.0.1 signed by it (openssl), for services
    whose render serves HTTPS; None when openssl fails."""
    ca_key, ca, key, csr, crt = (str(tmpdir / n) for n in
                                 ("ca.key", "ca.pem", "tls.key", "tls.csr", "tls.crt"))
    ext = tmpdir / "leaf.ext"
    ext.write_text("basicConstraints = critical, CA:FALSE\nextendedKeyUsage = serverAuth\n"
                   "subjectAltName = IP:127.0.0.1, DNS:localhost\n")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    steps = [
        ["openssl", "req", "-x509", *ec, "-keyout", ca_key, "-out", ca, "-days", "1",
         "-subj", "/CN=k8s contract check CA"],
        ["openssl", "req", "-new", *ec, "-keyout", key, "-out", csr, "-subj", "/CN=127.0.0.1"],
        ["openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
         "-CAserial", str(tmpdir / "ca.srl"), "-days", "1", "-extfile", str(ext), "-out", crt],
    ]
    for step in steps:
        if run(step).returncode != 0:
            return None
    return {"ca": ca, "cert": crt, "key": key}


# Settings that name backends the dry run does not have: Redis (in-process adapters instead)
# and the PostgreSQL CA (SQLite instead).
DROPPED_SUFFIXES = ("REDIS_URL", "REDIS_CA", "REDIS_CLIENT_CERT", "REDIS_CLIENT_KEY",
                    "DATABASE_CA")


def dry_run(r: Render, issuer: dict, api: dict, binaries: dict[str, Binary]) -> None:
    """Starts both services on loopback with the render's environment. Replaced: listen
    addresses (free loopback ports), ISSUER_URL / DATA_API_ISSUER (that issuer), keys (a
    throwaway key), the users file (the render's Secret, else the dev file), the database
    (SQLite), TLS certificates and the CA the data API trusts for the issuer (a throwaway CA,
    where the render serves HTTPS); Redis settings and the database CA are dropped (in-process
    adapters, SQLite). Everything else is as deployed, and probes use HTTPS where it is set."""
    report = r.report
    with tempfile.TemporaryDirectory(prefix="k8s-contract-") as tmp:
        tmpdir = Path(tmp)
        keys = tmpdir / "keys"
        keys.mkdir()
        gen = run([str(binaries["auth-issuer"].path), "keys", "generate", "--out",
                   str(keys / "test.pem")])
        if not report.check(gen.returncode == 0, r.name, f"keys generate failed: {gen.stderr}"):
            return
        users_file = tmpdir / "users.toml"
        ipod = issuer["pod"]
        users_path = issuer["env"].get("ISSUER_USERS_FILE") or ""
        mount = mount_of(issuer["container"], ipod, os.path.dirname(users_path))
        data = None
        if mount and "secret" in mount[1]:
            data = r.secret_data(mount[1]["secret"]["secretName"])
        if data is not None and os.path.basename(users_path) in data:
            users_file.write_text(data[os.path.basename(users_path)])
        else:
            users_file.write_text((ROOT / "k8s/overlays/dev/users.dev.toml").read_text())
        iport = aport = free_port()
        while aport == iport:
            aport = free_port()
        issuer_tls = "ISSUER_TLS_CERT" in issuer["env"]
        api_tls = "DATA_API_TLS_CERT" in api["env"]
        tls = None
        if issuer_tls or api_tls:
            tls = make_tls(tmpdir)
            if not report.check(tls is not None, r.name, "openssl could not make a test CA"):
                return
        issuer_url = f"{'https' if issuer_tls else 'http'}://127.0.0.1:{iport}"
        base_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "NO_PROXY": "*"}

        def clean(env: dict) -> dict:
            return {k: v for k, v in env.items()
                    if v is not None and not k.endswith(DROPPED_SUFFIXES)}

        ienv = {**base_env, **clean(issuer["env"]), "ISSUER_LISTEN": f"127.0.0.1:{iport}",
                "ISSUER_URL": issuer_url, "ISSUER_KEYS_DIR": str(keys),
                "ISSUER_USERS_FILE": str(users_file)}
        aenv = {**base_env, **clean(api["env"]), "DATA_API_LISTEN": f"127.0.0.1:{aport}",
                "DATA_API_ISSUER": issuer_url,
                "DATA_API_DATABASE_URL": f"sqlite://{tmpdir / 'items.db'}"}
        if tls is not None:
            if issuer_tls:
                ienv.update(ISSUER_TLS_CERT=tls["cert"], ISSUER_TLS_KEY=tls["key"])
                aenv["DATA_API_ISSUER_CA"] = tls["ca"]
            if api_tls:
                aenv.update(DATA_API_TLS_CERT=tls["cert"], DATA_API_TLS_KEY=tls["key"])
        check = run([str(binaries["auth-issuer"].path), "check-config"], env=ienv)
        report.check(check.returncode == 0, r.name,
                     f"auth-issuer check-config refuses the settings: {check.stderr.strip()}")
        procs = []
        try:
            for name, env, port, https in (("auth-issuer", ienv, iport, issuer_tls),
                                           ("data-api", aenv, aport, api_tls)):
                scheme, cafile = ("https", tls["ca"]) if https and tls else ("http", None)
                log = open(tmpdir / f"{name}.log", "w")
                proc = subprocess.Popen([str(binaries[name].path)], env=env, stdout=log,
                                        stderr=subprocess.STDOUT, cwd=tmpdir)
                procs.append((name, proc, port, log))
                deadline = time.monotonic() + 30
                status = {}
                while time.monotonic() < deadline and proc.poll() is None:
                    status = {p: http_status(f"{scheme}://127.0.0.1:{port}{p}", cafile=cafile)
                              for p in (LIVENESS_PATH, READINESS_PATH)}
                    if all(s == 200 for s in status.values()):
                        break
                    time.sleep(0.2)
                ok = proc.poll() is None and all(s == 200 for s in status.values())
                if not report.check(ok, r.name,
                                    f"{name} with this render's settings did not become ready "
                                    f"(exit {proc.poll()}, {status}); log: "
                                    f"{(tmpdir / f'{name}.log').read_text()[-2000:]}"):
                    return
            for name, proc, _, _ in reversed(procs):
                svc = issuer if name == "auth-issuer" else api
                limit = svc["tgps"] - (svc["sleep"] or 0)
                started = time.monotonic()
                proc.send_signal(signal.SIGTERM)
                try:
                    code = proc.wait(timeout=limit)
                except subprocess.TimeoutExpired:
                    code = None
                report.check(code == 0, r.name,
                             f"{name} did not exit 0 within {limit} s of SIGTERM "
                             f"(exit {code}, {time.monotonic() - started:.1f} s)")
        finally:
            for _, proc, _, log in procs:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
                log.close()
