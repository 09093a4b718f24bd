"""The operator contract's constants, the problem report, and small helpers every check uses."""

from __future__ import annotations
import re
import socket
import subprocess
import ssl
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path



ROOT = Path(__file__).resolve().parent.parent.parent


# The operator contract (ARCHITECTURE.md, README.md).
SERVICES = {
    "auth-issuer": {
        "image": "portcullis/auth-issuer",
        "port": 8080,
        "listen_var": "ISSUER_LISTEN",
        "grace_var": "ISSUER_SHUTDOWN_GRACE",
    },
    "data-api": {
        "image": "portcullis/data-api",
        "port": 8081,
        "listen_var": "DATA_API_LISTEN",
        "grace_var": "DATA_API_SHUTDOWN_GRACE",
    },
}


LIVENESS_PATH = "/healthz"


READINESS_PATH = "/readyz"


# Environment variables the binaries read outside clap (see the module doc).
OTEL_PREFIX = "OTEL_"


TELEMETRY_VARS = {
    "RUST_LOG": re.compile(r'from_default_env|"RUST_LOG"'),
    "PORTCULLIS_LOG_FORMAT": re.compile(r'"PORTCULLIS_LOG_FORMAT"'),
}


# Secrets each render may refer to without containing them: the operator creates them.
EXTERNAL_SECRETS = {
    "base": {"auth-issuer-keys", "auth-issuer-users", "portcullis-backends", "auth-issuer-tls",
             "data-api-tls", "portcullis-ca"},
    "dev": set(),
    "prod": {"auth-issuer-keys", "auth-issuer-users", "portcullis-backends", "portcullis-tls",
             "auth-issuer-tls", "data-api-tls", "portcullis-ca"},
}


# Pod Security Standards, restricted profile: the volume types it allows.
RESTRICTED_VOLUME_TYPES = {
    "configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim",
    "projected", "secret",
}


WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}


CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "PersistentVolume",
                  "StorageClass", "PriorityClass", "IngressClass"}


SKIP_ANNOTATION = re.compile(r"^CKV2?_K8S_\d+=[^=]{20,}$")


@dataclass
class Report:
    """Problems found, per render; every check counted so a run that checks nothing fails."""

    problems: list[str] = field(default_factory=list)
    checks: int = 0

    def check(self, ok: bool, where: str, message: str) -> bool:
        self.checks += 1
        if not ok:
            self.problems.append(f"{where}: {message}")
        return ok


def run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, **kw)


def duration_seconds(text: str) -> float:
    units = {"ms": 0.001, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600}
    total = 0.0
    parts = re.findall(r"(\d+(?:\.\d+)?)\s*([a-z]+)", text.strip())
    if not parts or "".join(n + u for n, u in parts) != re.sub(r"\s+", "", text.strip()):
        raise ValueError(f"not a duration: {text!r}")
    for number, unit in parts:
        if unit not in units:
            raise ValueError(f"unknown unit in {text!r}")
        total += float(number) * units[unit]
    return total


def selector_matches(selector: dict | None, labels: dict) -> bool:
    """A LabelSelector (matchLabels / matchExpressions) against a label set."""
    if selector is None:
        return False
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and labels.get(key) in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_status(url: str, timeout: float = 2.0, cafile: str | None = None) -> int | None:
    """The status `url` answers (None: no answer). `cafile`: the only root trusted for https."""
    handlers: list = [urllib.request.ProxyHandler({})]
    if cafile is not None:
        handlers.append(urllib.request.HTTPSHandler(
            context=ssl.create_default_context(cafile=cafile)))
    opener = urllib.request.build_opener(*handlers)
    try:
        with opener.open(url, timeout=timeout) as response:
            return response.status
    except urllib.error.HTTPError as e:
        return e.code
    except (urllib.error.URLError, OSError):
        return None
