#!/usr/bin/env python3
"""Checks that README.md's configuration tables agree with the binaries.

Each binary prints every setting it accepts with `config-schema` (environment variable, default,
help; generated from its command-line definition). This check reads the README's tables (rows
that start with a backquoted variable; `*_NAME` rows stand for both services, `A / B` rows for
both settings) and fails when a setting is missing from the README, a README row names a setting
no binary has, or a default differs. The meaning column stays hand-written.

Usage: check_config_docs.py [--bin-dir DIR]   (default target/debug; run after a build)
"""

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BINARIES = {"auth-issuer": "ISSUER_", "data-api": "DATA_API_"}
# How the README says "no default".
NO_DEFAULT = {"unset", "required", "empty"}


def schema(bin_dir: Path, binary: str) -> dict[str, str | None]:
    out = subprocess.run([str(bin_dir / binary), "config-schema"], capture_output=True,
                         text=True, check=True, timeout=60).stdout
    return {s["env"]: s["default"] for s in json.loads(out)}


def readme_rows() -> dict[str, str]:
    """Variable -> default as the README writes it."""
    rows = {}
    for line in (ROOT / "README.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 3 or not cells[0].startswith("`"):
            continue
        names = re.findall(r"`([A-Z*][A-Z0-9_]*)`", cells[0])
        defaults = [d.strip() for d in cells[1].split(" / ")]
        if len(defaults) != len(names):
            defaults = [cells[1]] * len(names)
        for name, default in zip(names, defaults):
            targets = ([p + name[2:] for p in BINARIES.values()] if name.startswith("*_")
                       else [name])
            for target in targets:
                rows[target] = default
    return rows


def normalise(readme_default: str) -> str | None:
    text = readme_default.strip()
    if text.split(" ")[0] in NO_DEFAULT:
        return None
    return text.strip("`")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bin-dir", type=Path, default=ROOT / "target" / "debug")
    args = parser.parse_args()
    settings: dict[str, str | None] = {}
    for binary in BINARIES:
        settings.update(schema(args.bin_dir, binary))
    rows = readme_rows()
    problems = []
    for env, default in sorted(settings.items()):
        if env not in rows:
            problems.append(f"{env} is a setting but the README's tables do not list it")
            continue
        documented = normalise(rows[env])
        if (default or None) != documented:
            problems.append(f"{env}: the binary's default is {default!r}, the README says "
                            f"{rows[env]!r}")
    for env in sorted(set(rows) - set(settings)):
        problems.append(f"{env} is in the README's tables but no binary accepts it")
    for problem in problems:
        print(f"config docs: {problem}", file=sys.stderr)
    if not settings:
        print("config docs: the binaries listed no settings", file=sys.stderr)
        return 1
    print(f"config docs: {len(settings)} settings, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
