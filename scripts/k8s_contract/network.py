"""Network policies: default deny, DNS egress, and every flow Portcullis needs allowed on both
ends."""

from __future__ import annotations

from .common import selector_matches
from .render import Pod, Render


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
