#!/usr/bin/env python3
"""Checks that README.md's configuration tables agree with the binaries, or rewrites them so they do.

Each binary prints every setting it accepts with `config-schema` (environment variable, default,
help; generated from its command-line definition). The README's tables hold rows that start
with a backquoted variable; `*_NAME` rows stand for both services, `A / B` rows for both
settings. The check fails when a setting is missing from the README, a README row names a
setting no binary has, or a default differs.

`--write` makes the tables agree instead: it rewrites the default cells from the binaries,
drops variables no binary accepts, and adds a row for each new setting (after the setting the
binary lists before it, with the setting's `--help` text as its meaning). The meaning column of
existing rows is never touched: it stays hand-written. Review the diff, then reword the new
rows' meanings if `--help` is not how the README would say it.

Usage: check_config_docs.py [--bin-dir DIR] [--write]   (default target/debug; run after a build)
"""

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
BINARIES = {"auth-issuer": "ISSUER_", "data-api": "DATA_API_"}
# How the README says "no default".
NO_DEFAULT = {"unset", "required", "empty"}
NAME = re.compile(r"`([A-Z*][A-Z0-9_]*)`")


def schema(bin_dir: Path, binary: str) -> list[dict]:
    """The binary's settings in its own order: env, flag, default, help."""
    out = subprocess.run([str(bin_dir / binary), "config-schema"], capture_output=True,
                         text=True, check=True, timeout=60).stdout
    return json.loads(out)


def cells(line: str) -> list[str] | None:
    """A table row's cells, or None for a line that is not a setting row."""
    if not line.lstrip().startswith("|"):
        return None
    parts = [c.strip() for c in line.strip().strip("|").split("|")]
    if len(parts) < 3 or not parts[0].startswith("`"):
        return None
    return parts


def targets(name: str) -> list[str]:
    """The settings a README name stands for: `*_X` is X of both services."""
    if name.startswith("*_"):
        return [prefix + name[2:] for prefix in BINARIES.values()]
    return [name]


def readme_rows(lines: list[str]) -> dict[str, str]:
    """Variable -> default as the README writes it."""
    rows = {}
    for line in lines:
        parts = cells(line)
        if parts is None:
            continue
        names = NAME.findall(parts[0])
        defaults = [d.strip() for d in parts[1].split(" / ")]
        if len(defaults) != len(names):
            defaults = [parts[1]] * len(names)
        for name, default in zip(names, defaults):
            for target in targets(name):
                rows[target] = default
    return rows


def normalise(readme_default: str) -> str | None:
    text = readme_default.strip()
    if text.split(" ")[0] in NO_DEFAULT:
        return None
    return text.strip("`")


def check(settings: dict[str, str | None], lines: list[str]) -> list[str]:
    rows = readme_rows(lines)
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
    return problems


def default_cell(default: str | None, old: str | None) -> str:
    """A default as the README writes it; an old "no default" wording is kept."""
    if default:
        return f"`{default}`"
    if old is not None and normalise(old) is None:
        return old
    return "empty" if default == "" else "unset"


def meaning(help_text: str) -> str:
    text = help_text.strip().replace("|", "\\|")
    return text[:1].lower() + text[1:] if text[:2] != text[:2].upper() else text


def rewrite(schemas: dict[str, list[dict]], lines: list[str]) -> list[str]:
    settings = {s["env"]: s for schema_ in schemas.values() for s in schema_}
    out: list[str] = []
    listed: dict[str, int] = {}  # setting -> index of its row in `out`
    for line in lines:
        parts = cells(line)
        if parts is None:
            out.append(line)
            continue
        documented = NAME.findall(parts[0])
        if not documented:
            out.append(line)  # a row of another table (`GET /v1/items`, ...)
            continue
        names = [n for n in documented if any(t in settings for t in targets(n))]
        if not names:
            continue  # every variable of the row is gone
        old_defaults = [d.strip() for d in parts[1].split(" / ")]
        if len(old_defaults) != len(documented):
            old_defaults = [parts[1]] * len(documented)
        old_defaults = [d for n, d in zip(documented, old_defaults) if n in names]
        new_defaults = []
        for name, old in zip(names, old_defaults):
            present = [settings[t]["default"] for t in targets(name) if t in settings]
            new_defaults.append(default_cell(present[0], old))
        if names != documented:
            parts[0] = " / ".join(f"`{n}`" for n in names)
        parts[1] = (new_defaults[0] if len(set(new_defaults)) == 1 and " / " not in parts[1]
                    else " / ".join(new_defaults))
        out.append("| " + " | ".join(parts) + " |")
        for name in names:
            for target in targets(name):
                listed[target] = len(out) - 1
    # New settings: after the row of the setting the binary lists before them.
    for schema_ in schemas.values():
        previous = None
        for setting in schema_:
            env = setting["env"]
            if env not in listed:
                if previous is None:
                    raise SystemExit(f"config docs: cannot place {env}: add its row by hand")
                at = listed[previous] + 1
                row = (f"| `{env}` | {default_cell(setting['default'], None)} | "
                       f"{meaning(setting['help'])} |")
                out.insert(at, row)
                listed = {k: (i + 1 if i >= at else i) for k, i in listed.items()}
                listed[env] = at
                print(f"config docs: added a row for {env}")
            previous = env
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bin-dir", type=Path, default=ROOT / "target" / "debug")
    parser.add_argument("--write", action="store_true",
                        help="rewrite the README's variable and default cells from the binaries")
    args = parser.parse_args()
    schemas = {binary: schema(args.bin_dir, binary) for binary in BINARIES}
    settings = {s["env"]: s["default"] for schema_ in schemas.values() for s in schema_}
    if not settings:
        print("config docs: the binaries listed no settings", file=sys.stderr)
        return 1
    text = README.read_text()
    lines = text.splitlines()
    if args.write:
        lines = rewrite(schemas, lines)
        README.write_text("\n".join(lines) + ("\n" if text.endswith("\n") else ""))
    problems = check(settings, lines)
    for problem in problems:
        print(f"config docs: {problem}", file=sys.stderr)
    print(f"config docs: {len(settings)} settings, {len(problems)} problems")
    if problems and not args.write:
        print("config docs: `python3 scripts/check_config_docs.py --write` updates the tables",
              file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
