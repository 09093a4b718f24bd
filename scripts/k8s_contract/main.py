"""The command line: every check over every render, one report."""

from __future__ import annotations
import argparse
import sys
from pathlib import Path

from .common import EXTERNAL_SECRETS, ROOT, Report, SERVICES
from .contract import check_contract_settings, check_overlay_promises, check_service_container
from .dry_run import dry_run
from .network import check_network_policies
from .render import Render
from .repo import (
    compose_images, dockerfile_facts, read_binary, script_images, telemetry_vars,
    workspace_version,
)
from .workloads import (
    check_objects, check_pod_references, check_pod_rules, check_scaling, check_services,
)


def main(doc: str) -> int:
    """Runs every check on every render named on the command line; `doc` is the tool's help."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
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
            check_pod_rules(r, pod)
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
