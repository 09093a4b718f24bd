"""What the checks compare manifests with: the service binaries' `--help`, the workspace version, and the image names in docker-compose.yml, the scripts and the Dockerfiles."""

from __future__ import annotations
import json
import re
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
import yaml

from .common import ROOT, Report, SERVICES, TELEMETRY_VARS, run


@dataclass
class Binary:
    name: str
    path: Path
    env_vars: set[str]
    defaults: dict[str, str]


def read_binary(name: str, bin_dir: Path, report: Report) -> Binary:
    """The settings a service binary accepts, from its hidden `config-schema` subcommand (the
    same list the README's configuration tables are checked against)."""
    path = bin_dir / name
    if not path.is_file():
        sys.exit(f"check_k8s_contract: {path} is missing: build it first "
                 f"(cargo build -p auth-issuer -p data-api)")
    out = run([str(path), "config-schema"])
    settings = json.loads(out.stdout) if out.returncode == 0 else []
    env_vars = {s["env"] for s in settings}
    defaults = {s["env"]: s["default"] for s in settings if s["default"] is not None}
    report.check(bool(env_vars), name, f"could not read any setting from {path} config-schema")
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
