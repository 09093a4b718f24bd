"""Paths, the benchmark's fixed inputs, and the targets the report checks."""

import os

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
RELEASE = os.path.join(ROOT, "target", "release")
SEEDREF = os.environ.get(
    "SEEDREF_DIR", os.path.join(os.path.dirname(ROOT), "shared", "bench", "seedref")
)

# High enough never to reject at this load, and two windows each, like the defaults, so the
# limiter script does its usual work.
NEVER_LIMIT = "10000000/s,600000000/min"
USER, PASSWORD = "bench", "bench-password-not-secret"
PUBLIC_CLIENT = "portcullis-cli"
JOB_CLIENT, JOB_SECRET = "bench-job", "bench-job-secret-not-secret"
ITEM_ID = "bench-item"
ITEM_DATA = {
    "title": "load benchmark item",
    "owner_note": "read through the cache on every request",
    "tags": ["alpha", "beta", "gamma"],
    "count": 42,
}

# Targets of issue 10.
TARGET_B_OVER_C = 50.0
TARGET_B_OVER_A = 0.40
TARGET_P99_MS = 5.0
TARGET_RSS_MB = 100.0
TARGET_REFRESH_PER_S = 2500.0

CONFIG_NAMES = {
    "A": "bare axum handler",
    "B": "data-api full read path",
    "C": "seed stack (FastAPI, 2 workers)",
}
