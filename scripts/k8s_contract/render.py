"""One rendered overlay: its objects, indexed, and its pods."""

from __future__ import annotations
import base64
from dataclasses import dataclass
from pathlib import Path
import yaml

from .common import EXTERNAL_SECRETS, Report, WORKLOAD_KINDS, selector_matches


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
