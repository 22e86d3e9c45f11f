"""Check every package pinned in the locks against OSV's database of known vulnerabilities.

    python scripts/audit.py                       # requirements.lock and requirements-dev.lock
    python scripts/audit.py requirements.lock     # only what the image runs
    python scripts/audit.py --ignore GHSA-xxxx-xxxx-xxxx    # a finding you have judged

Exit 0: none known; 1: some (listed, with the fix: `python scripts/lock.py --upgrade`, or a
higher lower bound in pyproject.toml); 2: OSV could not be asked, so nothing was checked.
OSV_API_URL points it at another OSV-compatible server (default https://api.osv.dev).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import urllib.error
import urllib.request
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
LOCKS = ("requirements.lock", "requirements-dev.lock")
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)", re.MULTILINE)
DEFAULT_API = "https://api.osv.dev"
BATCH = 1000  # the most queries OSV takes in one querybatch request
TIMEOUT = 30


class Unreachable(Exception):
    """OSV did not answer, or not with JSON."""


def pins(paths: list[Path]) -> list[tuple[str, str]]:
    """(name, version) of every `name==version` line, sorted, each once."""
    found = set()
    for path in paths:
        for name, version in PIN.findall(path.read_text(encoding="utf-8")):
            found.add((re.sub(r"[-_.]+", "-", name).lower(), version))
    return sorted(found)


def query(api: str, packages: list[tuple[str, str]]) -> list[list[str]]:
    """The ids of the vulnerabilities OSV knows for each package, in order."""
    found: list[list[str]] = []
    for start in range(0, len(packages), BATCH):
        queries = [
            {"package": {"name": name, "ecosystem": "PyPI"}, "version": version}
            for name, version in packages[start : start + BATCH]
        ]
        request = urllib.request.Request(
            f"{api}/v1/querybatch",
            data=json.dumps({"queries": queries}).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT) as answer:
                results = json.load(answer)["results"]
        except urllib.error.HTTPError as error:
            raise Unreachable(f"{api} answered {error.code}") from None
        except (urllib.error.URLError, OSError, ValueError, KeyError) as error:
            raise Unreachable(f"{api}: {getattr(error, 'reason', error)}") from None
        found += [[vuln["id"] for vuln in result.get("vulns", [])] for result in results]
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python scripts/audit.py", description=__doc__.split("\n")[0]
    )
    parser.add_argument("locks", nargs="*", type=Path, help="lock files (default: both locks)")
    parser.add_argument("--ignore", action="append", default=[], metavar="ID", help="skip this id")
    args = parser.parse_args(argv)
    paths = args.locks or [PROJECT / name for name in LOCKS if (PROJECT / name).exists()]
    packages = pins(paths)
    api = os.environ.get("OSV_API_URL", DEFAULT_API).rstrip("/")
    try:
        results = query(api, packages)
    except Unreachable as error:
        print(
            f"audit: cannot reach OSV ({error}); nothing was checked: retry online", file=sys.stderr
        )
        return 2
    vulnerable = 0
    for (name, version), ids in zip(packages, results, strict=True):
        if shown := [vuln for vuln in ids if vuln not in args.ignore]:
            vulnerable += 1
            link = f"https://osv.dev/vulnerability/{shown[0]}"
            print(f"audit: {name}=={version}: {', '.join(shown)} ({link})")
    if vulnerable:
        print(
            f"audit: {vulnerable} of {len(packages)} packages have known vulnerabilities; "
            "upgrade them with `python scripts/lock.py --upgrade` (or raise the lower bound "
            "in pyproject.toml), or --ignore an id you have judged harmless here",
            file=sys.stderr,
        )
        return 1
    print(f"audit: no known vulnerabilities in {len(packages)} packages ({api})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
