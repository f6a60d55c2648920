"""Measure what installing OmniHub costs: a fresh venv, its size on disk and the time it took.

Uses only the standard library (it must not import omnihub: it measures installing it).

    python scripts/install_size.py                       # the wheel, no extras
    python scripts/install_size.py --editable --extras dev,postgres,redis,servers,otlp
        # (what make install installs)
    python scripts/install_size.py --run scenario        # then run `omnihub scenario` from it

Prints one JSON object: venv size in MB (1 MB = 10**6 bytes), seconds to build and install,
whether torch is present, and the exit status of the command run, if any.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def tree_bytes(path: Path) -> int:
    """Bytes of every regular file under ``path`` (symlinks not followed, as ``du`` would)."""
    total = 0
    for folder, _, files in os.walk(path):
        for name in files:
            file = Path(folder) / name
            if not file.is_symlink():
                total += file.stat().st_size
    return total


def build_wheel(out: Path) -> Path:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(out), str(ROOT)],
        check=True,
    )
    (wheel,) = out.glob("omnihub-*.whl")
    return wheel


def measure(venv: Path, *, editable: bool, extras: str, run: list[str]) -> dict[str, object]:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    suffix = f"[{extras}]" if extras else ""
    if editable:
        target = ["-e", f"{ROOT}{suffix}"]
        built = 0.0
    else:
        wheel = build_wheel(venv.parent / "dist")
        built = time.perf_counter() - started
        target = [f"{wheel}{suffix}"]
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", *target], check=True)
    installed = time.perf_counter() - started
    site = next((venv / "lib").glob("python3*/site-packages"))
    result: dict[str, object] = {
        "install": "editable" if editable else "wheel",
        "extras": extras,
        "venv_mb": round(tree_bytes(venv) / 1e6, 1),
        "seconds": round(installed, 1),
        "wheel_build_seconds": round(built, 1),
        "torch": (site / "torch").exists(),
        "python": sys.version.split()[0],
    }
    if run:
        env = {**os.environ, "OMNIHUB_HOME": str(venv.parent / "home")}
        env.pop("PYTHONPATH", None)  # the installed package, never a source tree
        proc = subprocess.run(
            [str(venv / "bin" / "omnihub"), *run],
            env=env,
            cwd=venv.parent,
            capture_output=True,
            text=True,
            check=False,
        )
        result["run"] = run
        result["run_status"] = proc.returncode
        result["run_output"] = (proc.stdout + proc.stderr)[-4000:]
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--extras", default="", help="comma-separated extras, e.g. dev,redis")
    parser.add_argument("--editable", action="store_true", help="pip install -e (as make does)")
    parser.add_argument("--run", nargs="*", default=[], help="omnihub arguments to run after")
    parser.add_argument("--keep", type=Path, help="build the venv here and keep it")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="omnihub-install-"))
    try:
        result = measure(work / "venv", editable=args.editable, extras=args.extras, run=args.run)
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
