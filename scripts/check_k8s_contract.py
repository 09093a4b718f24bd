#!/usr/bin/env python3
"""Checks rendered Kubernetes manifests against the Portcullis binaries and operator contract.

No cluster runs in CI, so this script catches statically what a cluster would otherwise catch
at apply time or at run time, and what the operator contract promises:

* Objects: every object is named and unique; every namespaced object is in the overlay's
  namespace, which enforces the `restricted` Pod Security Standard.
* References the API server or kubelet would trip over: selectors that match no pod, Services
  whose target ports no container has, probes on unknown ports, mounts of undeclared volumes,
  ConfigMaps, Secrets and keys that are not there (except the Secrets an overlay documents as
  created by the operator), ServiceAccounts, HPA targets, Ingress backends.
* Pod security: the `restricted` profile (which admission would enforce) plus this project's
  rules: read-only root file system, resource requests and limits, no service account token.
* The contract of the two services, against the real binaries (`--bin-dir`, default
  target/debug):
  - every environment variable a container gets (env and envFrom) is one the binary accepts:
    `[env: NAME=]` (or `[env: NAME]`, value hidden) in `auth-issuer serve --help` /
    `data-api --help`. Also allowed: `OTEL_*`
    (the standard OpenTelemetry SDK variables, read by the SDK rather than declared to clap)
    and RUST_LOG / PORTCULLIS_LOG_FORMAT (read by crates/telemetry before clap runs; checked
    to still be read there);
  - arguments of containers running a service image (the dev key generator) are accepted by
    that subcommand's `--help`;
  - container ports 8080 / 8081 named `http`, listen addresses 0.0.0.0 on them, startup and
    liveness probes GET /healthz, readiness GET /readyz, preStop is the native sleep action
    (the image has no shell), terminationGracePeriodSeconds > preStop + the server's drain
    deadline (*_SHUTDOWN_GRACE, from the manifest or the binary's default);
  - image names are portcullis/auth-issuer and portcullis/data-api at the workspace version,
    the same as docker-compose.yml and the Dockerfiles (when those files exist);
  - settings that must agree: DATA_API_ISSUER = ISSUER_URL and reaches the issuer Service,
    DATA_API_REPLICAS = the data-api minimum replica count, shared Redis and PostgreSQL
    whenever a service can run more than one replica, key and users paths on whole-directory
    Secret mounts (no subPath, or Secret updates would never reach the pod);
  - the settings' values: each render's environment is run for real on loopback (Secret-held
    URLs dropped, a throwaway key, SQLite instead of PostgreSQL): the issuer and the data API
    must start, answer /healthz and /readyz with 200 (the data API with the issuer's keys),
    and exit cleanly on SIGTERM within the termination grace period.
* Network policies: default deny, DNS egress, and every flow Portcullis needs allowed on both
  ends; no rule that allows everything.
* Overlay promises: dev runs one replica of everything with in-cluster Redis and PostgreSQL and
  a generated key; prod runs at least three data-api replicas, no in-cluster backends, trusted
  proxies set, memory requests equal to limits, and an Ingress.

Usage: check_k8s_contract.py [--bin-dir DIR] NAME=RENDERED.yaml ...   (NAME: base, dev, prod)
Prints every problem found and exits 1 if there is any; it never skips a check.
"""

from __future__ import annotations

import argparse
import base64
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import tomllib
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent

# The operator contract (ARCHITECTURE.md, README.md).
SERVICES = {
    "auth-issuer": {
        "image": "portcullis/auth-issuer",
        "port": 8080,
        "listen_var": "ISSUER_LISTEN",
        "grace_var": "ISSUER_SHUTDOWN_GRACE",
        "help": [["serve", "--help"], ["--help"]],
    },
    "data-api": {
        "image": "portcullis/data-api",
        "port": 8081,
        "listen_var": "DATA_API_LISTEN",
        "grace_var": "DATA_API_SHUTDOWN_GRACE",
        "help": [["serve", "--help"], ["--help"]],
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
    "base": {"auth-issuer-keys", "auth-issuer-users", "portcullis-backends"},
    "dev": set(),
    "prod": {"auth-issuer-keys", "auth-issuer-users", "portcullis-backends", "portcullis-tls"},
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


# ------------------------------------------------------------------------------------------
# Reading the binaries and the repository


def run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, **kw)


@dataclass
class Binary:
    name: str
    path: Path
    env_vars: set[str]
    defaults: dict[str, str]


def read_binary(name: str, bin_dir: Path, report: Report) -> Binary:
    path = bin_dir / name
    if not path.is_file():
        sys.exit(f"check_k8s_contract: {path} is missing: build it first "
                 f"(cargo build -p auth-issuer -p data-api)")
    env_vars: set[str] = set()
    defaults: dict[str, str] = {}
    helps = 0
    for args in SERVICES[name]["help"]:
        out = run([str(path), *args])
        if out.returncode != 0:
            continue
        helps += 1
        text = re.sub(r"\s+", " ", out.stdout)
        # `[env: NAME=value]`, or `[env: NAME]` for settings whose values --help hides.
        for m in re.finditer(r"\[env: ([A-Z0-9_]+)(?:=[^\]]*)?\](?: \[default: ([^\]]*)\])?", text):
            env_vars.add(m.group(1))
            if m.group(2) is not None:
                defaults[m.group(1)] = m.group(2)
    report.check(helps > 0 and bool(env_vars), name,
                 f"could not read any [env: ...] from {path} --help")
    return Binary(name, path, env_vars, defaults)


def telemetry_vars(report: Report) -> set[str]:
    source = "\n".join(p.read_text() for p in (ROOT / "crates/telemetry/src").rglob("*.rs"))
    allowed = set()
    for var, pattern in TELEMETRY_VARS.items():
        if report.check(bool(pattern.search(source)), "crates/telemetry",
                        f"{var} is no longer read there; drop it from the manifests"):
            allowed.add(var)
    return allowed


def workspace_version() -> str:
    cargo = tomllib.loads((ROOT / "Cargo.toml").read_text())
    return cargo["workspace"]["package"]["version"]


def compose_images(report: Report) -> dict[str, set[str]]:
    """Image names docker-compose.yml uses per service image (defaults of ${VAR:-default})."""
    path = ROOT / "docker-compose.yml"
    found: dict[str, set[str]] = {name: set() for name in SERVICES}
    if not path.exists():
        return found
    compose = yaml.safe_load(path.read_text())
    for svc_name, svc in (compose.get("services") or {}).items():
        build = svc.get("build") if isinstance(svc.get("build"), dict) else {}
        target = build.get("target") or svc_name
        image = str(svc.get("image", ""))
        m = re.fullmatch(r"\$\{[A-Z0-9_]+:?-([^}]+)\}", image)
        image = m.group(1) if m else image
        for name in SERVICES:
            if target == name or svc_name == name or svc_name.startswith(name + "-"):
                if image:
                    found[name].add(image)
    for name in SERVICES:
        report.check(bool(found[name]), "docker-compose.yml", f"no service runs {name}")
    return found


def script_images() -> dict[str, set[str]]:
    """Default image names in the script that builds the service images, if it exists."""
    found: dict[str, set[str]] = {name: set() for name in SERVICES}
    path = ROOT / "scripts/build-service-images.sh"
    if path.exists():
        text = path.read_text()
        for var, name in (("ISSUER", "auth-issuer"), ("DATA_API", "data-api")):
            for m in re.finditer(rf"\$\{{PORTCULLIS_{var}_IMAGE:-([^}}]+)\}}", text):
                found[name].add(m.group(1))
    return found


def dockerfile_facts(report: Report) -> dict[str, list[tuple[str, dict]]]:
    """EXPOSE / ENTRYPOINT of each service stage in the Dockerfiles that exist."""
    facts: dict[str, list[tuple[str, dict]]] = {name: [] for name in SERVICES}
    for path in sorted((ROOT / "docker").rglob("*Dockerfile*")):
        if path.name.endswith(".dockerignore"):
            continue
        stage = None
        for line in path.read_text().splitlines():
            m = re.match(r"FROM\s+\S+(?:\s+AS\s+(\S+))?", line.strip(), re.I)
            if m:
                stage = m.group(1)
                if stage in SERVICES:
                    facts[stage].append((str(path.relative_to(ROOT)), {}))
                continue
            if stage in SERVICES:
                m = re.match(r"(EXPOSE|ENTRYPOINT|USER)\s+(.*)", line.strip())
                if m:
                    facts[stage][-1][1][m.group(1)] = m.group(2).strip()
    return facts


# ------------------------------------------------------------------------------------------
# Small helpers


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


def http_status(url: str, timeout: float = 2.0) -> int | None:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=timeout) as response:
            return response.status
    except urllib.error.HTTPError as e:
        return e.code
    except (urllib.error.URLError, OSError):
        return None


# ------------------------------------------------------------------------------------------
# One render


@dataclass
class Pod:
    """A workload's pod template, with what is needed to match it."""

    kind: str
    name: str
    where: str
    labels: dict
    spec: dict
    replicas: int | None
    annotations: dict


class Render:
    def __init__(self, name: str, path: Path, report: Report):
        self.name = name
        self.path = path
        self.report = report
        self.objects = [d for d in yaml.safe_load_all(path.read_text()) if d]
        report.check(bool(self.objects), name, f"{path} has no objects")
        self.by_kind: dict[str, list[dict]] = {}
        for obj in self.objects:
            self.by_kind.setdefault(obj.get("kind", ""), []).append(obj)
        self.namespace_objs = self.by_kind.get("Namespace", [])
        self.pods = [
            Pod(o["kind"], o["metadata"]["name"], self.where(o),
                o["spec"]["template"].get("metadata", {}).get("labels") or {},
                o["spec"]["template"]["spec"], o["spec"].get("replicas"),
                o["metadata"].get("annotations") or {})
            for o in self.objects if o.get("kind") in WORKLOAD_KINDS
        ]

    def where(self, obj: dict) -> str:
        return f"{self.name}: {obj.get('kind')}/{obj.get('metadata', {}).get('name')}"

    def get(self, kind: str, name: str) -> dict | None:
        for obj in self.by_kind.get(kind, []):
            if obj["metadata"]["name"] == name:
                return obj
        return None

    def secret_data(self, name: str) -> dict[str, str] | None:
        obj = self.get("Secret", name)
        if obj is None:
            return None
        data = {k: base64.b64decode(v).decode() for k, v in (obj.get("data") or {}).items()}
        data.update(obj.get("stringData") or {})
        return data

    def configmap_data(self, name: str) -> dict[str, str] | None:
        obj = self.get("ConfigMap", name)
        return None if obj is None else dict(obj.get("data") or {})

    def pods_matching(self, selector: dict | None) -> list[Pod]:
        return [p for p in self.pods if selector_matches(selector, p.labels)]

    def pod(self, name: str) -> Pod | None:
        return next((p for p in self.pods if p.name == name), None)

    def hpa_for(self, kind: str, name: str) -> dict | None:
        for hpa in self.by_kind.get("HorizontalPodAutoscaler", []):
            ref = hpa["spec"]["scaleTargetRef"]
            if ref.get("kind") == kind and ref.get("name") == name:
                return hpa
        return None

    def min_replicas(self, pod: Pod) -> int:
        hpa = self.hpa_for(pod.kind, pod.name)
        if hpa is not None:
            return hpa["spec"].get("minReplicas", 1)
        return pod.replicas if pod.replicas is not None else 1

    def max_replicas(self, pod: Pod) -> int:
        hpa = self.hpa_for(pod.kind, pod.name)
        if hpa is not None:
            return hpa["spec"]["maxReplicas"]
        return pod.replicas if pod.replicas is not None else 1

    def container_env(self, container: dict, where: str) -> dict[str, str | None]:
        """The environment a container gets: envFrom first, env overrides. Values read from
        Secrets or ConfigMaps that are not in the render are None."""
        report = self.report
        env: dict[str, str | None] = {}
        for source in container.get("envFrom") or []:
            prefix = source.get("prefix", "")
            if "configMapRef" in source:
                ref = source["configMapRef"]["name"]
                data = self.configmap_data(ref)
                if report.check(data is not None, where, f"envFrom ConfigMap {ref} is missing"):
                    env.update({prefix + k: v for k, v in data.items()})
            if "secretRef" in source:
                ref = source["secretRef"]["name"]
                data = self.secret_data(ref)
                if data is not None:
                    env.update({prefix + k: v for k, v in data.items()})
                else:
                    report.check(ref in EXTERNAL_SECRETS[self.name], where,
                                 f"envFrom Secret {ref} is missing")
        names = [e["name"] for e in container.get("env") or []]
        report.check(len(names) == len(set(names)), where, f"env names repeat: {names}")
        for item in container.get("env") or []:
            name = item["name"]
            report.check(name not in env, where,
                         f"{name} is set both by envFrom and env (ambiguous; keep one)")
            if "value" in item:
                env[name] = str(item["value"])
                continue
            ref = item.get("valueFrom") or {}
            if "secretKeyRef" in ref:
                sname, key = ref["secretKeyRef"]["name"], ref["secretKeyRef"]["key"]
                data = self.secret_data(sname)
                if data is None:
                    report.check(sname in EXTERNAL_SECRETS[self.name], where,
                                 f"{name}: Secret {sname} is missing")
                    env[name] = None
                elif report.check(key in data, where, f"{name}: Secret {sname} has no {key}"):
                    env[name] = data[key]
            elif "configMapKeyRef" in ref:
                cname, key = ref["configMapKeyRef"]["name"], ref["configMapKeyRef"]["key"]
                data = self.configmap_data(cname)
                ok = report.check(data is not None and key in data, where,
                                  f"{name}: ConfigMap {cname} has no {key}")
                env[name] = data[key] if ok else None
            else:
                report.check(False, where, f"{name}: unsupported valueFrom {ref}")
        return env


# ------------------------------------------------------------------------------------------
# Generic checks: what the API server, admission or the kubelet would reject


def check_objects(r: Render) -> str | None:
    report = r.report
    seen = set()
    for obj in r.objects:
        where = r.where(obj)
        meta = obj.get("metadata") or {}
        report.check(bool(obj.get("apiVersion")) and bool(obj.get("kind"))
                     and bool(meta.get("name")), where, "apiVersion, kind and name are required")
        key = (obj.get("kind"), meta.get("namespace"), meta.get("name"))
        report.check(key not in seen, where, "defined twice")
        seen.add(key)
        name = meta.get("name", "")
        if obj.get("kind") in {"Service", "Namespace"}:
            report.check(re.fullmatch(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?", name) is not None,
                         where, "not a DNS-1035 label (Service and Namespace names must be)")
        for k, v in (meta.get("annotations") or {}).items():
            if "checkov.io/skip" in k:
                report.check(SKIP_ANNOTATION.fullmatch(str(v)) is not None, where,
                             f"{k} must be CKV_K8S_<n>=<reason> with a real reason, no '='")

    report.check(len(r.namespace_objs) == 1, r.name, "expected exactly one Namespace object")
    if not r.namespace_objs:
        return None
    ns = r.namespace_objs[0]
    ns_name = ns["metadata"]["name"]
    labels = ns["metadata"].get("labels") or {}
    report.check(labels.get("pod-security.kubernetes.io/enforce") == "restricted", r.where(ns),
                 "must enforce the restricted Pod Security Standard")
    for obj in r.objects:
        if obj.get("kind") in CLUSTER_SCOPED:
            continue
        report.check(obj["metadata"].get("namespace") == ns_name, r.where(obj),
                     f"must be in namespace {ns_name} (got {obj['metadata'].get('namespace')})")
    return ns_name


def check_pod_security(r: Render, pod: Pod) -> None:
    report, spec, where = r.report, pod.spec, pod.where
    psc = spec.get("securityContext") or {}
    for host in ("hostNetwork", "hostPID", "hostIPC"):
        report.check(not spec.get(host), where, f"{host} is not allowed (restricted)")
    report.check(spec.get("automountServiceAccountToken") is False, where,
                 "automountServiceAccountToken must be false")
    sa = spec.get("serviceAccountName")
    if report.check(bool(sa) and sa != "default", where, "needs its own ServiceAccount"):
        account = r.get("ServiceAccount", sa)
        if report.check(account is not None, where, f"ServiceAccount {sa} is missing"):
            report.check(account.get("automountServiceAccountToken") is False,
                         r.where(account), "automountServiceAccountToken must be false")
    for vol in spec.get("volumes") or []:
        vtype = next(k for k in vol if k != "name")
        report.check(vtype in RESTRICTED_VOLUME_TYPES, where,
                     f"volume {vol['name']}: type {vtype} is not allowed (restricted)")
    containers = (spec.get("initContainers") or []) + spec.get("containers", [])
    report.check(bool(spec.get("containers")), where, "no containers")
    names = [c["name"] for c in containers]
    report.check(len(names) == len(set(names)), where, f"container names repeat: {names}")
    for c in containers:
        cw = f"{where} container {c['name']}"
        csc = c.get("securityContext") or {}

        def setting(key):
            return csc.get(key, psc.get(key))

        report.check(setting("runAsNonRoot") is True, cw, "runAsNonRoot must be true")
        uid = setting("runAsUser")
        report.check(isinstance(uid, int) and uid > 0, cw, "runAsUser must be a fixed non-root uid")
        report.check(csc.get("allowPrivilegeEscalation") is False, cw,
                     "allowPrivilegeEscalation must be false")
        report.check(not csc.get("privileged"), cw, "privileged is not allowed")
        report.check(csc.get("readOnlyRootFilesystem") is True, cw,
                     "readOnlyRootFilesystem must be true (emptyDir where writes are needed)")
        caps = csc.get("capabilities") or {}
        report.check("ALL" in (caps.get("drop") or []), cw, "capabilities must drop ALL")
        report.check(set(caps.get("add") or []) <= {"NET_BIND_SERVICE"}, cw,
                     "only NET_BIND_SERVICE may be added (restricted)")
        seccomp = (csc.get("seccompProfile") or psc.get("seccompProfile") or {}).get("type")
        report.check(seccomp in {"RuntimeDefault", "Localhost"}, cw,
                     "seccompProfile must be RuntimeDefault")
        res = c.get("resources") or {}
        for part in ("requests", "limits"):
            for kind in ("cpu", "memory"):
                report.check(kind in (res.get(part) or {}), cw, f"resources.{part}.{kind} unset")
        for port in c.get("ports") or []:
            report.check("hostPort" not in port, cw, "hostPort is not allowed")


def check_pod_references(r: Render, pod: Pod) -> None:
    report, spec, where = r.report, pod.spec, pod.where
    strategy = r.get(pod.kind, pod.name)["spec"].get("strategy") or {}
    report.check(not (strategy.get("type") == "Recreate" and "rollingUpdate" in strategy), where,
                 "strategy Recreate with rollingUpdate settings (the API server refuses it)")
    report.check(selector_matches(
        r.get(pod.kind, pod.name)["spec"].get("selector"), pod.labels), where,
        "spec.selector does not match the pod template's labels (the API server refuses it)")
    volumes = {v["name"]: v for v in spec.get("volumes") or []}
    claim_names = set()
    if pod.kind == "StatefulSet":
        claim_names = {t["metadata"]["name"]
                       for t in r.get(pod.kind, pod.name)["spec"].get("volumeClaimTemplates") or []}
    used = set()
    for vol in volumes.values():
        if "secret" in vol:
            sname = vol["secret"]["secretName"]
            data = r.secret_data(sname)
            report.check(data is not None or sname in EXTERNAL_SECRETS[r.name], where,
                         f"volume {vol['name']}: Secret {sname} is missing")
        if "configMap" in vol:
            report.check(r.configmap_data(vol["configMap"]["name"]) is not None, where,
                         f"volume {vol['name']}: ConfigMap {vol['configMap']['name']} is missing")
    for c in (spec.get("initContainers") or []) + spec.get("containers", []):
        cw = f"{where} container {c['name']}"
        ports = {p.get("name"): p["containerPort"] for p in c.get("ports") or []}
        port_names = [p.get("name") for p in c.get("ports") or [] if p.get("name")]
        report.check(len(port_names) == len(set(port_names)), cw, "port names repeat")
        for pname in port_names:
            report.check(len(pname) <= 15 and re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?",
                                                            pname) is not None,
                         cw, f"port name {pname} is not an IANA service name")
        for probe_kind in ("startupProbe", "livenessProbe", "readinessProbe"):
            probe = c.get(probe_kind)
            if not probe:
                continue
            handler = probe.get("httpGet") or probe.get("tcpSocket") or probe.get("grpc")
            if handler is not None and isinstance(handler.get("port"), str):
                report.check(handler["port"] in ports, cw,
                             f"{probe_kind} uses port {handler['port']}, which is not declared")
        mount_paths = []
        for m in c.get("volumeMounts") or []:
            used.add(m["name"])
            mount_paths.append(m["mountPath"])
            report.check(m["name"] in volumes or m["name"] in claim_names, cw,
                         f"mounts volume {m['name']}, which is not declared")
        report.check(len(mount_paths) == len(set(mount_paths)), cw, "two mounts at one path")
    for name in volumes:
        report.check(name in used, where, f"volume {name} is declared but never mounted")


def check_services(r: Render) -> None:
    report = r.report
    for svc in r.by_kind.get("Service", []):
        where = r.where(svc)
        pods = r.pods_matching({"matchLabels": svc["spec"].get("selector") or {}})
        if not report.check(bool(svc["spec"].get("selector")) and bool(pods), where,
                            "its selector matches no pod"):
            continue
        for port in svc["spec"]["ports"]:
            target = port.get("targetPort", port["port"])
            for pod in pods:
                cports = [p for c in pod.spec["containers"] for p in c.get("ports") or []]
                ok = any(p.get("name") == target or p["containerPort"] == target for p in cports)
                report.check(ok, where, f"targetPort {target} is not a port of {pod.name}")
    for ing in r.by_kind.get("Ingress", []):
        where = r.where(ing)
        for rule in ing["spec"].get("rules") or []:
            for path in (rule.get("http") or {}).get("paths") or []:
                backend = path["backend"]["service"]
                svc = r.get("Service", backend["name"])
                if report.check(svc is not None, where, f"backend {backend['name']} is missing"):
                    port = backend["port"]
                    ok = any(p.get("name") == port.get("name") or p["port"] == port.get("number")
                             for p in svc["spec"]["ports"])
                    report.check(ok, where, f"backend {backend['name']} has no port {port}")
        for tls in ing["spec"].get("tls") or []:
            sname = tls.get("secretName")
            report.check(r.get("Secret", sname) is not None or sname in EXTERNAL_SECRETS[r.name],
                         where, f"TLS Secret {sname} is neither here nor documented as external")


def check_scaling(r: Render) -> None:
    report = r.report
    for hpa in r.by_kind.get("HorizontalPodAutoscaler", []):
        where = r.where(hpa)
        spec = hpa["spec"]
        ref = spec["scaleTargetRef"]
        target = r.get(ref["kind"], ref["name"])
        report.check(target is not None, where, f"scales {ref['kind']}/{ref['name']}, missing")
        if target is not None:
            report.check("replicas" not in target["spec"], where,
                         "the target sets spec.replicas: every apply would fight the autoscaler")
        report.check(1 <= spec.get("minReplicas", 1) <= spec["maxReplicas"], where,
                     "needs 1 <= minReplicas <= maxReplicas")
        down = ((spec.get("behavior") or {}).get("scaleDown") or {})
        report.check(down.get("stabilizationWindowSeconds", 0) >= 60, where,
                     "needs a scale-down stabilisation window (>= 60 s)")
    for pdb in r.by_kind.get("PodDisruptionBudget", []):
        where = r.where(pdb)
        pods = r.pods_matching(pdb["spec"].get("selector"))
        report.check(len(pods) == 1, where, "its selector must match exactly one workload")
        for pod in pods:
            if "maxUnavailable" not in pdb["spec"]:
                report.check(pdb["spec"].get("minAvailable", 0) < r.min_replicas(pod), where,
                             "minAvailable >= replicas would block every node drain")
    for pod in r.pods:
        if pod.kind != "Deployment" or r.max_replicas(pod) < 2:
            continue
        report.check(any(selector_matches(p["spec"].get("selector"), pod.labels)
                         for p in r.by_kind.get("PodDisruptionBudget", [])), pod.where,
                     "runs several replicas without a PodDisruptionBudget")
        spread = pod.spec.get("topologySpreadConstraints") or []
        report.check(any(t["topologyKey"] == "kubernetes.io/hostname"
                         and selector_matches(t.get("labelSelector"), pod.labels)
                         for t in spread), pod.where, "no topology spread across nodes")


# ------------------------------------------------------------------------------------------
# Network policies


def policies_for(r: Render, labels: dict, direction: str) -> list[dict]:
    kind = "Ingress" if direction == "ingress" else "Egress"
    return [np for np in r.by_kind.get("NetworkPolicy", [])
            if kind in (np["spec"].get("policyTypes") or ["Ingress"])
            and selector_matches(np["spec"]["podSelector"], labels)]


def rule_ports_allow(rule: dict, port: int, protocol: str) -> bool:
    ports = rule.get("ports")
    if not ports:
        return True
    return any(p.get("port") == port and p.get("protocol", "TCP") == protocol for p in ports)


def peer_matches(peer: dict, ns_labels: dict, labels: dict | None, ip_block: bool) -> bool:
    if ip_block:
        return "ipBlock" in peer
    if "ipBlock" in peer:
        return False
    ns_sel = peer.get("namespaceSelector")
    pod_sel = peer.get("podSelector")
    if ns_sel is not None and not selector_matches(ns_sel, ns_labels):
        return False
    if pod_sel is not None and not selector_matches(pod_sel, labels or {}):
        return False
    return True


def allowed(r: Render, src: dict | None, dst: dict | None, port: int, protocol: str = "TCP",
            dst_ns: dict | None = None, ip_block: bool = False) -> tuple[bool, bool]:
    """Whether egress from src and ingress to dst (pod label sets in this namespace; None for
    outside the namespace) allow the flow. Returns (egress ok, ingress ok)."""
    own_ns = {"kubernetes.io/metadata.name": r.namespace_objs[0]["metadata"]["name"]}
    egress_ok = True
    if src is not None:
        egress_ok = any(
            rule_ports_allow(rule, port, protocol)
            and any(peer_matches(p, dst_ns or own_ns, dst, ip_block) for p in rule.get("to", []))
            for np in policies_for(r, src, "egress") for rule in np["spec"].get("egress") or [])
    ingress_ok = True
    if dst is not None:
        ingress_ok = any(
            rule_ports_allow(rule, port, protocol)
            and any(peer_matches(p, own_ns, src, False) for p in rule.get("from", []))
            for np in policies_for(r, dst, "ingress") for rule in np["spec"].get("ingress") or [])
    return egress_ok, ingress_ok


def check_network_policies(r: Render, backends: str) -> None:
    report = r.report
    nps = r.by_kind.get("NetworkPolicy", [])
    report.check(any(np["spec"]["podSelector"] == {}
                     and set(np["spec"].get("policyTypes") or []) == {"Ingress", "Egress"}
                     and not np["spec"].get("ingress") and not np["spec"].get("egress")
                     for np in nps), r.name, "no default-deny NetworkPolicy (ingress and egress)")
    for np in nps:
        where = r.where(np)
        sel = np["spec"]["podSelector"]
        report.check(sel == {} or bool(r.pods_matching(sel)), where, "selects no pod")
        for direction, peers_key in (("ingress", "from"), ("egress", "to")):
            for rule in np["spec"].get(direction) or []:
                report.check(bool(rule.get(peers_key)), where,
                             f"an {direction} rule without peers allows everything")
                for peer in rule.get(peers_key) or []:
                    report.check(peer != {} and peer.get("namespaceSelector") != {}
                                 and (peer.get("ipBlock") or {}).get("cidr") != "0.0.0.0/0",
                                 where, f"an {direction} peer matches everything: {peer}")
    dns_ns = {"kubernetes.io/metadata.name": "kube-system"}
    for pod in r.pods:
        for proto in ("UDP", "TCP"):
            ok, _ = allowed(r, pod.labels, {"k8s-app": "kube-dns"}, 53, proto, dns_ns)
            report.check(ok, pod.where, f"no DNS egress ({proto} 53)")
    issuer = r.pod("auth-issuer")
    api = r.pod("data-api")
    if issuer is None or api is None:
        return
    ingress_ns = {"kubernetes.io/metadata.name": "ingress-nginx"}

    def flow(src: Pod | None, dst: Pod, port: int, label: str) -> None:
        e, i = allowed(r, src.labels if src else None, dst.labels, port)
        if src is None:  # from the ingress controller's namespace
            i = any(rule_ports_allow(rule, port, "TCP")
                    and any(peer_matches(p, ingress_ns, {}, False) for p in rule.get("from", []))
                    for np in policies_for(r, dst.labels, "ingress")
                    for rule in np["spec"].get("ingress") or [])
        report.check(e and i, r.name, f"NetworkPolicies do not allow {label} "
                     f"(egress {'ok' if e else 'denied'}, ingress {'ok' if i else 'denied'})")

    flow(None, issuer, 8080, "ingress controller -> auth-issuer:8080")
    flow(None, api, 8081, "ingress controller -> data-api:8081")
    flow(api, issuer, 8080, "data-api -> auth-issuer:8080")
    if backends == "in-cluster":
        redis, postgres = r.pod("redis"), r.pod("postgres")
        if report.check(redis is not None and postgres is not None, r.name,
                        "in-cluster Redis and PostgreSQL expected"):
            flow(issuer, redis, 6379, "auth-issuer -> redis:6379")
            flow(api, redis, 6379, "data-api -> redis:6379")
            flow(api, postgres, 5432, "data-api -> postgres:5432")
            e, i = allowed(r, issuer.labels, postgres.labels, 5432)
            report.check(not (e and i), r.name, "auth-issuer may reach PostgreSQL: not needed")
    elif backends == "external":
        for src, port, label in ((issuer, 6379, "auth-issuer -> Redis"),
                                 (api, 6379, "data-api -> Redis"),
                                 (api, 5432, "data-api -> PostgreSQL")):
            e, _ = allowed(r, src.labels, {}, port, ip_block=True)
            report.check(e, r.name, f"NetworkPolicies do not allow {label} :{port} (ipBlock)")


# ------------------------------------------------------------------------------------------
# The Portcullis contract


def check_service_container(r: Render, name: str, binaries: dict[str, Binary],
                            allowed_extra: set[str], version: str,
                            compose: dict[str, set[str]],
                            dockerfiles: dict[str, list[tuple[str, dict]]]) -> dict | None:
    """Checks the Deployment of one service; returns its resolved environment."""
    report = r.report
    contract = SERVICES[name]
    pod = r.pod(name)
    if not report.check(pod is not None and pod.kind == "Deployment", r.name,
                        f"no Deployment {name}"):
        return None
    containers = {c["name"]: c for c in pod.spec["containers"]}
    if not report.check(list(containers) == [name], pod.where,
                        f"expected one container named {name}, got {list(containers)}"):
        return None
    c = containers[name]
    cw = f"{pod.where} container {name}"

    # Image: the shared name at the workspace version (or a digest), as compose and Docker.
    image = c["image"]
    repo = image.partition("@")[0]
    tag = ""
    if ":" in repo.rsplit("/", 1)[-1]:
        repo, _, tag = repo.rpartition(":")
    report.check(repo == contract["image"] or repo.endswith("/" + contract["image"]), cw,
                 f"image {image} is not {contract['image']}")
    report.check(tag == version or "@sha256:" in image, cw,
                 f"image {image}: tag must be the workspace version {version} (or a digest)")
    for compose_image in compose[name]:
        report.check(compose_image == f"{contract['image']}:{version}",
                     "docker-compose.yml / scripts/build-service-images.sh",
                     f"uses {compose_image} for {name}; the manifests use "
                     f"{contract['image']}:{version}")
    for path, facts in dockerfiles[name]:
        report.check(facts.get("EXPOSE", "").split("/")[0] == str(contract["port"]), path,
                     f"stage {name} must EXPOSE {contract['port']}")
        entry = facts.get("ENTRYPOINT", "")
        report.check(re.fullmatch(rf'\[\s*"[^"]*/{name}"\s*\]', entry) is not None, path,
                     f"stage {name}: ENTRYPOINT must be the binary alone (the manifests pass "
                     f"only subcommand arguments); got {entry!r}")

    # Ports and probes.
    ports = c.get("ports") or []
    report.check([(p.get("name"), p["containerPort"], p.get("protocol", "TCP")) for p in ports]
                 == [("http", contract["port"], "TCP")], cw,
                 f"must expose exactly containerPort {contract['port']} named http")
    for kind, path in (("startupProbe", LIVENESS_PATH), ("livenessProbe", LIVENESS_PATH),
                       ("readinessProbe", READINESS_PATH)):
        get = (c.get(kind) or {}).get("httpGet") or {}
        report.check(get.get("path") == path and get.get("port") in ("http", contract["port"])
                     and get.get("scheme", "HTTP") == "HTTP", cw,
                     f"{kind} must GET {path} on port http")
    for kind in ("startupProbe", "livenessProbe", "readinessProbe"):
        report.check("exec" not in (c.get(kind) or {}), cw,
                     f"{kind}: exec (the image has no shell)")
    prestop = (c.get("lifecycle") or {}).get("preStop") or {}
    sleep = (prestop.get("sleep") or {}).get("seconds")
    report.check(isinstance(sleep, int) and sleep > 0 and set(prestop) == {"sleep"}, cw,
                 "preStop must be the native sleep action (the image has no shell)")
    for init in pod.spec.get("initContainers") or []:
        if contract["image"] in init["image"]:
            report.check(not init.get("command"), f"{pod.where} init {init['name']}",
                         "must not override the image's ENTRYPOINT")
            check_args(r, f"{pod.where} init {init['name']}", binaries[name],
                       init.get("args") or [])
    report.check(not c.get("command") and not c.get("args"), cw,
                 "must run the image's ENTRYPOINT with no arguments (serve)")

    # Environment: names the binary accepts, contract values.
    env = r.container_env(c, cw)
    accepted = binaries[name].env_vars | allowed_extra
    for var in env:
        report.check(var in accepted or var.startswith(OTEL_PREFIX), cw,
                     f"{var} is not accepted by {name} (not in its --help)")
    listen = env.get(contract["listen_var"])
    report.check(listen == f"0.0.0.0:{contract['port']}", cw,
                 f"{contract['listen_var']} must be 0.0.0.0:{contract['port']} (got {listen})")
    grace_var = contract["grace_var"]
    grace_text = env.get(grace_var) or binaries[name].defaults.get(grace_var)
    report.check(grace_text is not None, cw,
                 f"{contract['grace_var']}: neither set nor a default in --help")
    grace = duration_seconds(grace_text) if grace_text else 20.0
    tgps = pod.spec.get("terminationGracePeriodSeconds", 30)
    if isinstance(sleep, int):
        report.check(tgps > sleep + grace, cw,
                     f"terminationGracePeriodSeconds {tgps} must exceed preStop {sleep} s + "
                     f"{contract['grace_var']} {grace:g} s, or the drain is cut off by SIGKILL")

    # Writes only where a volume is mounted; Secret mounts whole, never through subPath.
    volumes = {v["name"]: v for v in pod.spec.get("volumes") or []}
    for m in c.get("volumeMounts") or []:
        vol = volumes.get(m["name"], {})
        if "secret" in vol or "configMap" in vol:
            report.check(m.get("readOnly") is True and "subPath" not in m, cw,
                         f"mount {m['mountPath']}: Secrets mount read-only, without subPath "
                         "(a subPath mount never sees updates)")
    return {"env": env, "pod": pod, "container": c, "sleep": sleep, "tgps": tgps}


def check_args(r: Render, where: str, binary: Binary, args: list[str]) -> None:
    """Arguments for a service image are accepted by that subcommand's --help."""
    sub = []
    for a in args:
        if a.startswith("-"):
            break
        sub.append(a)
    out = run([str(binary.path), *sub, "--help"])
    if not r.report.check(out.returncode == 0, where,
                          f"`{binary.name} {' '.join(sub)}` is not a command"):
        return
    flags = set(re.findall(r"(--[a-z][a-z0-9-]*)", out.stdout))
    for a in args:
        if a.startswith("--"):
            r.report.check(a.split("=")[0] in flags, where,
                           f"{binary.name} {' '.join(sub)} does not accept {a}")


def mount_of(container: dict, pod: Pod, path: str) -> tuple[dict, dict] | None:
    for m in container.get("volumeMounts") or []:
        if m["mountPath"].rstrip("/") == path.rstrip("/"):
            vol = next(v for v in pod.spec.get("volumes") or [] if v["name"] == m["name"])
            return m, vol
    return None


def check_contract_settings(r: Render, issuer: dict, api: dict) -> None:
    report = r.report
    ienv, aenv = issuer["env"], api["env"]
    ipod, apod = issuer["pod"], api["pod"]

    # The data API reaches the issuer's Service and names it exactly as the issuer does.
    issuer_url = ienv.get("ISSUER_URL")
    report.check(issuer_url is not None and aenv.get("DATA_API_ISSUER") == issuer_url, r.name,
                 f"DATA_API_ISSUER ({aenv.get('DATA_API_ISSUER')}) must equal ISSUER_URL "
                 f"({issuer_url}): the data API compares every token's iss with it")
    if issuer_url:
        u = urllib.parse.urlsplit(issuer_url)
        ns = r.namespace_objs[0]["metadata"]["name"] if r.namespace_objs else ""
        host_ok = u.hostname in {"auth-issuer", f"auth-issuer.{ns}", f"auth-issuer.{ns}.svc",
                                 f"auth-issuer.{ns}.svc.cluster.local"}
        svc = r.get("Service", "auth-issuer")
        port_ok = svc is not None and any(p["port"] == (u.port or 80) for p in svc["spec"]["ports"])
        report.check(u.scheme == "http" and host_ok and port_ok and not issuer_url.endswith("/"),
                     r.name, f"ISSUER_URL {issuer_url} must be the auth-issuer Service "
                     "(http://auth-issuer:8080), no trailing slash, so the data API fetches "
                     "keys in-cluster as the NetworkPolicies allow")

    # Keys: a read-only whole-directory mount of the keys Secret (or the dev emptyDir that an
    # init container fills).
    keys_dir = ienv.get("ISSUER_KEYS_DIR")
    mount = mount_of(issuer["container"], ipod, keys_dir or "")
    if report.check(mount is not None, r.name, f"ISSUER_KEYS_DIR {keys_dir} is not a mount"):
        m, vol = mount
        report.check(m.get("readOnly") is True and "subPath" not in m, r.name,
                     "the keys directory must be mounted read-only, without subPath")
        if "emptyDir" in vol:
            writers = [i for i in ipod.spec.get("initContainers") or []
                       if any(x["name"] == vol["name"] for x in i.get("volumeMounts") or [])]
            report.check(len(writers) == 1 and r.max_replicas(ipod) == 1, r.name,
                         "a generated (emptyDir) key needs one init container writing it and "
                         "exactly one issuer replica, or replicas sign with unpublished keys")
            strategy = r.get("Deployment", "auth-issuer")["spec"].get("strategy") or {}
            report.check(strategy.get("type") == "Recreate", r.name,
                         "a generated (emptyDir) key needs strategy Recreate: during a rolling "
                         "update two pods would each publish only their own key")
        else:
            report.check("secret" in vol, r.name, "the keys volume must be a Secret")
            data = r.secret_data(vol.get("secret", {}).get("secretName", ""))
            if data is not None:
                report.check(any(k.endswith(".pem") for k in data), r.name,
                             "the keys Secret has no *.pem")
    users = ienv.get("ISSUER_USERS_FILE") or ""
    mount = mount_of(issuer["container"], ipod, os.path.dirname(users))
    if report.check(mount is not None, r.name,
                    f"ISSUER_USERS_FILE {users} is not in a mounted directory"):
        m, vol = mount
        report.check("secret" in vol and m.get("readOnly") is True, r.name,
                     "the users file must come from a Secret, mounted read-only")
        data = r.secret_data(vol.get("secret", {}).get("secretName", ""))
        if data is not None:
            report.check(os.path.basename(users) in data, r.name,
                         f"the users Secret has no key {os.path.basename(users)}")

    # Shared state whenever a service may run more than one replica.
    if r.max_replicas(ipod) > 1:
        report.check("ISSUER_REDIS_URL" in ienv, r.name,
                     "several issuer replicas need ISSUER_REDIS_URL (refresh tokens)")
    if r.max_replicas(apod) > 1:
        report.check("DATA_API_REDIS_URL" in aenv, r.name,
                     "several data-api replicas need DATA_API_REDIS_URL (limits, cache)")
        db = aenv.get("DATA_API_DATABASE_URL", "sqlite://")
        report.check("DATA_API_DATABASE_URL" in aenv and not (db or "").startswith("sqlite"),
                     r.name, "several data-api replicas need a shared PostgreSQL "
                     "(DATA_API_DATABASE_URL), not SQLite")
    for var, schemes in (("ISSUER_REDIS_URL", ("redis://",)), ("DATA_API_REDIS_URL", ("redis://",)),
                         ("DATA_API_DATABASE_URL", ("postgres://", "postgresql://"))):
        value = (ienv if var.startswith("ISSUER") else aenv).get(var)
        if value is not None:
            report.check(value.startswith(schemes), r.name, f"{var} must start with {schemes}")
    replicas = aenv.get("DATA_API_REPLICAS", "1")
    report.check(str(r.min_replicas(apod)) == replicas, r.name,
                 f"DATA_API_REPLICAS ({replicas}) must equal the data-api minimum replica "
                 f"count ({r.min_replicas(apod)}): each replica enforces limit / replicas "
                 "while Redis is down")


def check_overlay_promises(r: Render, issuer: dict, api: dict) -> None:
    report = r.report
    ipod, apod = issuer["pod"], api["pod"]
    if r.name == "dev":
        for name in ("auth-issuer", "data-api", "redis", "postgres"):
            pod = r.pod(name)
            if report.check(pod is not None, r.name, f"dev runs {name}"):
                report.check(r.min_replicas(pod) == r.max_replicas(pod) == 1, pod.where,
                             "dev runs exactly one replica")
        for name in ("redis", "postgres"):
            pod = r.pod(name)
            report.check(pod is not None and pod.kind == "StatefulSet", r.name,
                         f"dev runs {name} as a StatefulSet")
        report.check(not r.by_kind.get("HorizontalPodAutoscaler"), r.name, "dev autoscales")
        for obj in r.by_kind.get("Secret", []):
            for key, value in (r.secret_data(obj["metadata"]["name"]) or {}).items():
                report.check("PRIVATE KEY" not in value, r.where(obj),
                             f"{key} holds a private key: dev keys are generated in the pod")
    if r.name == "prod":
        report.check(r.min_replicas(apod) >= 3, apod.where, "prod runs at least 3 data-api")
        report.check(not r.by_kind.get("StatefulSet"), r.name,
                     "prod uses managed Redis and PostgreSQL: no StatefulSets")
        for var, env in (("ISSUER_TRUSTED_PROXIES", issuer["env"]),
                         ("DATA_API_TRUSTED_PROXIES", api["env"])):
            report.check(bool(env.get(var)), r.name,
                         f"{var} must be set behind the Ingress, or limits key on its address")
        for var, env in (("ISSUER_REDIS_URL", issuer["env"]), ("DATA_API_REDIS_URL", api["env"]),
                         ("DATA_API_DATABASE_URL", api["env"])):
            c = issuer["container"] if var.startswith("ISSUER") else api["container"]
            item = next((e for e in c.get("env") or [] if e["name"] == var), {})
            report.check("secretKeyRef" in (item.get("valueFrom") or {}), r.name,
                         f"{var} must come from a Secret (secretKeyRef)")
        for svc in (issuer, api):
            res = svc["container"]["resources"]
            report.check(res["requests"]["memory"] == res["limits"]["memory"],
                         f"{svc['pod'].where}", "prod: memory requests must equal limits")
        report.check(bool(r.by_kind.get("Ingress")), r.name, "prod has an Ingress example")


# ------------------------------------------------------------------------------------------
# Running the services with each render's settings


def dry_run(r: Render, issuer: dict, api: dict, binaries: dict[str, Binary]) -> None:
    """Starts both services on loopback with the render's environment. Replaced: listen
    addresses (free loopback ports), ISSUER_URL / DATA_API_ISSUER (that issuer), keys (a
    throwaway key), the users file (the render's Secret, else the dev file), the database
    (SQLite); Redis URLs are dropped (in-process adapters). Everything else is as deployed."""
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
        issuer_url = f"http://127.0.0.1:{iport}"
        base_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "NO_PROXY": "*"}

        def clean(env: dict) -> dict:
            return {k: v for k, v in env.items() if v is not None and not k.endswith("REDIS_URL")}

        ienv = {**base_env, **clean(issuer["env"]), "ISSUER_LISTEN": f"127.0.0.1:{iport}",
                "ISSUER_URL": issuer_url, "ISSUER_KEYS_DIR": str(keys),
                "ISSUER_USERS_FILE": str(users_file)}
        aenv = {**base_env, **clean(api["env"]), "DATA_API_LISTEN": f"127.0.0.1:{aport}",
                "DATA_API_ISSUER": issuer_url,
                "DATA_API_DATABASE_URL": f"sqlite://{tmpdir / 'items.db'}"}
        check = run([str(binaries["auth-issuer"].path), "check-config"], env=ienv)
        report.check(check.returncode == 0, r.name,
                     f"auth-issuer check-config refuses the settings: {check.stderr.strip()}")
        procs = []
        try:
            for name, env, port in (("auth-issuer", ienv, iport), ("data-api", aenv, aport)):
                log = open(tmpdir / f"{name}.log", "w")
                proc = subprocess.Popen([str(binaries[name].path)], env=env, stdout=log,
                                        stderr=subprocess.STDOUT, cwd=tmpdir)
                procs.append((name, proc, port, log))
                deadline = time.monotonic() + 30
                status = {}
                while time.monotonic() < deadline and proc.poll() is None:
                    status = {p: http_status(f"http://127.0.0.1:{port}{p}")
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


# ------------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bin-dir", type=Path, default=ROOT / "target" / "debug")
    parser.add_argument("renders", nargs="+", metavar="NAME=RENDERED.yaml")
    args = parser.parse_args()

    report = Report()
    binaries = {name: read_binary(name, args.bin_dir, report) for name in SERVICES}
    extra = telemetry_vars(report)
    version = workspace_version()
    compose = compose_images(report)
    for name, images in script_images().items():
        compose[name] |= images
    dockerfiles = dockerfile_facts(report)
    sources = ["docker-compose.yml" if (ROOT / "docker-compose.yml").exists() else
               "no docker-compose.yml yet: the names above"]
    if (ROOT / "scripts/build-service-images.sh").exists():
        sources.append("scripts/build-service-images.sh")
    sources += sorted({p for stages in dockerfiles.values() for p, _ in stages})
    print(f"contract: images portcullis/{{auth-issuer,data-api}}:{version}, "
          f"compared with {', '.join(sources)}")

    for item in args.renders:
        name, _, path = item.partition("=")
        if name not in EXTERNAL_SECRETS:
            sys.exit(f"unknown render name {name!r} (expected base, dev or prod)")
        before_problems, before_checks = len(report.problems), report.checks
        r = Render(name, Path(path), report)
        check_objects(r)
        for pod in r.pods:
            check_pod_security(r, pod)
            check_pod_references(r, pod)
        check_services(r)
        check_scaling(r)
        issuer = check_service_container(r, "auth-issuer", binaries, extra, version, compose,
                                         dockerfiles)
        api = check_service_container(r, "data-api", binaries, extra, version, compose,
                                      dockerfiles)
        backends = {"dev": "in-cluster", "prod": "external"}.get(name, "none")
        check_network_policies(r, backends)
        if issuer and api:
            check_contract_settings(r, issuer, api)
            check_overlay_promises(r, issuer, api)
            dry_run(r, issuer, api, binaries)
        print(f"contract: {name}: {len(r.objects)} objects, {report.checks - before_checks} "
              f"checks, {len(report.problems) - before_problems} problems")

    if report.problems:
        print(f"\ncontract: {len(report.problems)} problem(s):", file=sys.stderr)
        for p in report.problems:
            print(f"  - {p}", file=sys.stderr)
        return 1
    if report.checks == 0:
        print("contract: nothing was checked", file=sys.stderr)
        return 1
    print(f"contract: all {report.checks} checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
