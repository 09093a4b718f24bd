"""The Portcullis contract: each service container against its binary, settings that must
agree between the services, and what each overlay promises."""

from __future__ import annotations
import os
import re
import urllib.request

from .common import LIVENESS_PATH, OTEL_PREFIX, READINESS_PATH, SERVICES, duration_seconds, run
from .render import Pod, Render
from .repo import Binary


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
    # Probes GET the contract paths on the listener, over HTTPS when it serves TLS.
    tls_var = contract["listen_var"].replace("_LISTEN", "_TLS_CERT")
    scheme = "HTTPS" if tls_var in env else "HTTP"
    for kind, path in (("startupProbe", LIVENESS_PATH), ("livenessProbe", LIVENESS_PATH),
                       ("readinessProbe", READINESS_PATH)):
        get = (c.get(kind) or {}).get("httpGet") or {}
        report.check(get.get("path") == path and get.get("port") in ("http", contract["port"])
                     and get.get("scheme", "HTTP") == scheme, cw,
                     f"{kind} must GET {path} on port http with scheme {scheme} "
                     f"({tls_var} {'set' if scheme == 'HTTPS' else 'unset'})")
    if scheme == "HTTPS":
        # The certificate and key come from a Secret (cert-manager writes tls.crt / tls.key).
        key_var = tls_var.replace("_TLS_CERT", "_TLS_KEY")
        volumes_ = {v["name"]: v for v in pod.spec.get("volumes") or []}
        for var in (tls_var, key_var):
            path_ = env.get(var) or ""
            m = next((m for m in c.get("volumeMounts") or []
                      if path_.startswith(m["mountPath"].rstrip("/") + "/")), None)
            report.check(m is not None and "secret" in volumes_.get(m["name"], {}), cw,
                         f"{var} ({path_ or 'unset'}) must be a file of a mounted Secret")
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
        issuer_tls = ienv.get("ISSUER_TLS_CERT") is not None
        want = "https" if issuer_tls else "http"
        report.check(u.scheme == want and host_ok and port_ok and not issuer_url.endswith("/"),
                     r.name, f"ISSUER_URL {issuer_url} must be the auth-issuer Service "
                     f"({want}://auth-issuer:8080, {want} because ISSUER_TLS_CERT is "
                     f"{'set' if issuer_tls else 'unset'}), no trailing slash, so the data API "
                     "fetches keys in-cluster as the NetworkPolicies allow")
        if issuer_tls:
            report.check((aenv.get("DATA_API_ALLOW_INSECURE_ISSUER") or "false") == "false",
                         r.name, "DATA_API_ALLOW_INSECURE_ISSUER must not be set once the "
                         "issuer serves HTTPS")

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
    for var, schemes in (("ISSUER_REDIS_URL", ("redis://", "rediss://")),
                         ("DATA_API_REDIS_URL", ("redis://", "rediss://")),
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
    """Dev runs one replica of everything with in-cluster backends; prod runs at least three
    data-api replicas on external backends, with trusted proxies and an Ingress."""
    report = r.report
    apod = api["pod"]
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
        # No signing key in git: dev generates it in the pod. The one exception is TLS
        # (kubernetes.io/tls Secrets): the development CA's server keys are committed in
        # overlays/dev/tls/, published and marked development only, because a CA shared by
        # several pods cannot be generated inside one of them.
        for obj in r.by_kind.get("Secret", []):
            if obj.get("type") == "kubernetes.io/tls":
                continue
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
