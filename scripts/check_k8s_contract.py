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
* Pod security is checkov's (validate-k8s.sh runs it first: privilege, host namespaces, users,
  capabilities, seccomp, resources, host ports, service-account tokens); this script adds only
  what checkov leaves out: the volume types the `restricted` profile admits, unique container
  names, and ServiceAccounts that exist.
* The contract of the two services, against the real binaries (`--bin-dir`, default
  target/debug):
  - every environment variable a container gets (env and envFrom) is one the binary accepts,
    as its hidden `config-schema` subcommand lists them. Also allowed: `OTEL_*`
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
The checks live in scripts/k8s_contract/, one module per concern, with tests of their own
(`cd scripts && python3 -m unittest discover -s . -p 'test_*.py'`).
Prints every problem found and exits 1 if there is any; it never skips a check."""

import sys

from k8s_contract.main import main

if __name__ == "__main__":
    sys.exit(main(__doc__))
