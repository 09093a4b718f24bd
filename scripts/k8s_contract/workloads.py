"""What the API server, admission or the kubelet would reject: object identity, references
between objects, Services, scaling. Pod security is checkov's (validate-k8s.sh runs it); only
what checkov does not check is here."""

from __future__ import annotations
import re

from .common import CLUSTER_SCOPED, EXTERNAL_SECRETS, RESTRICTED_VOLUME_TYPES, SKIP_ANNOTATION, selector_matches
from .render import Pod, Render


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


def check_pod_rules(r: Render, pod: Pod) -> None:
    """What checkov's pod-security checks leave out (validate-k8s.sh runs checkov on every
    render: privilege, host namespaces, users, capabilities, seccomp, resources, hostPort and
    service-account tokens are its CKV_K8S_* checks): the volume types the restricted Pod
    Security Standard admits, container names, and a ServiceAccount that exists."""
    report, spec, where = r.report, pod.spec, pod.where
    sa = spec.get("serviceAccountName")
    if sa and sa != "default":
        report.check(r.get("ServiceAccount", sa) is not None, where,
                     f"ServiceAccount {sa} is missing")
    for vol in spec.get("volumes") or []:
        vtype = next(k for k in vol if k != "name")
        report.check(vtype in RESTRICTED_VOLUME_TYPES, where,
                     f"volume {vol['name']}: type {vtype} is not allowed (restricted)")
    containers = (spec.get("initContainers") or []) + spec.get("containers", [])
    report.check(bool(spec.get("containers")), where, "no containers")
    names = [c["name"] for c in containers]
    report.check(len(names) == len(set(names)), where, f"container names repeat: {names}")


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
