#!/usr/bin/env python3
"""The 32-bit leg: vdsotime built and tested as an i386 program on an x86-64 machine.

    sudo python3 tools/i386/leg.py                      # the whole suite, less exclusions
    sudo python3 tools/i386/leg.py tests/test_i386.py   # a named subset (pytest ids)

Needs root (debootstrap, chroot, mounts), debootstrap, util-linux and a kernel with IA32
emulation. It

1. prepares a Debian bookworm i386 root with the packages of ``packages.txt`` (and
   PyPI's pure-Python Cython wheel, fetched by the host's pip), cached under
   ``/var/cache/vdsotime-i386/<hash of that list>`` and reused while the list is unchanged;
2. copies this checkout into a throwaway overlay of that root (the cache stays clean,
   and legs can run side by side), builds vdsotime there with the root's gcc and CPython
   -- a 32-bit ``time_t`` build, as Debian i386 and manylinux i686 are -- and
3. runs pytest there under ``setarch i686``, deselecting what ``exclusions.txt`` lists,
   and prints one summary line: ``i386 leg: ... passed, ... in S s (...)``.

The exit status is pytest's (3 when the build fails). Stdlib only.
"""

import argparse
import fcntl
import hashlib
import os
import shlex
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ElementTree
from pathlib import Path

HERE = Path(__file__).resolve().parent
CHECKOUT = HERE.parent.parent
PACKAGES = HERE / "packages.txt"
EXCLUSIONS = HERE / "exclusions.txt"

SUITE = "bookworm"
MIRROR = os.environ.get("VDSOTIME_I386_MIRROR", "http://deb.debian.org/debian")
CACHE = Path(os.environ.get("VDSOTIME_I386_CACHE", "/var/cache/vdsotime-i386"))
# The build requirements pyproject.toml names that bookworm's packages are too old for,
# as pure-Python wheels for the root's CPython 3.11: Cython >= 3.1 (bookworm has 0.29) and
# setuptools >= 77, the first to read an SPDX `license` (bookworm has 66), with the
# packaging >= 24.2 it reads licence expressions with (bookworm has 23.0).
BUILD_WHEELS = ("Cython>=3.1,<3.4", "setuptools>=77", "packaging>=24.2")
ROOT_PYTHON = "3.11"
# Bumped when the way a root is made changes, so that old caches are not reused.
ROOT_FORMAT = 2


def packages():
    lines = (line.split("#", 1)[0].strip() for line in PACKAGES.read_text().splitlines())
    return sorted(line for line in lines if line)


def exclusions():
    """[(pytest node id or prefix, reason)] from exclusions.txt, where a "reason:" line
    gives the reason of the ids under it."""
    result, reason = [], None
    for number, line in enumerate(EXCLUSIONS.read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("reason:"):
            reason = line[len("reason:"):].strip()
        elif reason:
            result.append((line, reason))
        else:
            raise SystemExit(f"{EXCLUSIONS}:{number}: {line!r} has no reason above it")
    return result


def cache_key():
    text = "\n".join([f"format {ROOT_FORMAT}", SUITE, MIRROR, *BUILD_WHEELS, *packages()])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# A 32-bit ELF executable of 84 bytes that calls exit(0) with int 0x80: whether this
# kernel runs i386 programs (IA32 emulation), before anything is downloaded.
def _probe_program():
    code = b"\x31\xdb\xb8\x01\x00\x00\x00\xcd\x80"  # xor ebx,ebx; mov eax,1; int 0x80
    base, header_size = 0x08048000, 52 + 32
    elf = (b"\x7fELF\x01\x01\x01" + bytes(9)
           + struct.pack("<HHIIIIIHHHHHH", 2, 3, 1, base + header_size, 52, 0, 0, 52, 32,
                         1, 0, 0, 0))
    segment = struct.pack("<IIIIIIII", 1, 0, base, base, header_size + len(code),
                          header_size + len(code), 5, 0x1000)
    return elf + segment + code


def ia32_problem():
    """None when this kernel runs i386 programs, else why not."""
    with tempfile.TemporaryDirectory() as folder:
        probe = Path(folder) / "probe32"
        probe.write_bytes(_probe_program())
        probe.chmod(0o755)
        try:
            status = subprocess.run([str(probe)], timeout=30).returncode
        except OSError as exc:
            return (f"the kernel does not run i386 programs ({exc.strerror}): IA32 "
                    "emulation is off (CONFIG_IA32_EMULATION, ia32_emulation=1)")
    return None if status == 0 else f"an i386 test program exited with status {status}"


def problems():
    """What stops the leg on this machine, one line each (empty: it can run)."""
    found = []
    for sbin in ("/usr/sbin", "/sbin"):  # (debootstrap and chroot live there)
        if sbin not in os.environ.get("PATH", "").split(os.pathsep):
            os.environ["PATH"] = os.environ.get("PATH", "") + os.pathsep + sbin
    if os.uname().machine != "x86_64":
        found.append(f"the i386 leg runs on x86-64 machines (this is {os.uname().machine})")
    if os.geteuid() != 0:
        found.append("the i386 leg needs root (debootstrap, chroot, mounts)")
    for command, package in (("debootstrap", "debootstrap"), ("unshare", "util-linux"),
                             ("chroot", "coreutils")):
        if shutil.which(command) is None:
            found.append(f"needs {command}: apt-get install {package}")
    if not found:
        problem = ia32_problem()
        if problem:
            found.append(problem)
    return found


def log(message):
    print(f"[i386 leg] {message}", file=sys.stderr, flush=True)


def run(command, **kwargs):
    log("$ " + " ".join(shlex.quote(str(part)) for part in command))
    return subprocess.run([str(part) for part in command], check=True, **kwargs)


def build_root(final):
    """debootstrap the root into a folder beside ``final`` and move it there when done."""
    building = Path(tempfile.mkdtemp(prefix=final.name + ".building-", dir=final.parent))
    try:
        root = building / "root"
        run(["debootstrap", "--arch=i386", "--variant=minbase",
             "--include=" + ",".join(packages()), SUITE, root, MIRROR],
            stdout=subprocess.DEVNULL)
        wheels = root / "opt" / "wheels"
        wheels.mkdir(parents=True)
        run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
             "--only-binary=:all:", "--platform", "any", "--implementation", "py",
             "--python-version", ROOT_PYTHON, "--dest", wheels, *BUILD_WHEELS])
        # A venv that sees Debian's packages (numpy, pytest, ...) and holds the wheels.
        run(["chroot", root, "python3", "-m", "venv", "--system-site-packages",
             "/opt/venv"])
        run(["chroot", root, "/opt/venv/bin/pip", "install", "--quiet", "--no-index",
             "--no-deps", *(f"/opt/wheels/{w.name}" for w in wheels.glob("*.whl"))])
        # Cython imports pythran when it can (bookworm's scipy brings it), and pythran
        # imports numpy 1.24's numpy.distutils, which breaks the distutils of setuptools
        # >= 77. The build needs neither: the venv hides pythran.
        site = root / "opt" / "venv" / "lib" / f"python{ROOT_PYTHON}" / "site-packages"
        (site / "pythran.py").write_text(
            'raise ImportError("the i386 leg hides pythran from the build (tools/i386/leg.py)")\n')
        for cached in (root / "var" / "cache" / "apt" / "archives").glob("*.deb"):
            cached.unlink()
        (building / "ready").write_text(time.strftime("%Y-%m-%d %H:%M:%S\n"))
        building.rename(final)
    finally:
        if building.exists():
            shutil.rmtree(building, ignore_errors=True)


def prune(keep):
    """Remove roots of other package lists (not in use: their lock is free), and the
    folders of runs that were killed a day ago or more."""
    for path in CACHE.glob("run-*"):
        if time.time() - path.stat().st_mtime > 86400:
            shutil.rmtree(path, ignore_errors=True)
    for path in CACHE.iterdir():
        if path.is_dir() and path.name != keep and len(path.name) == 16:
            with open(CACHE / f"{path.name}.lock", "a") as lock:
                try:
                    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue
                log(f"removing the root of an older package list: {path}")
                shutil.rmtree(path, ignore_errors=True)


def root(rebuild):
    """The cached root, built if needed; returns (root folder, lock held shared, how)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    key = cache_key()
    final = CACHE / key
    lock = open(CACHE / f"{key}.lock", "a")
    fcntl.flock(lock, fcntl.LOCK_EX)  # one builder; users wait for it
    how = "cached"
    if rebuild and final.exists():
        shutil.rmtree(final)
    if not (final / "ready").exists():
        started = time.monotonic()
        log(f"building the i386 root {final} (bookworm, {len(packages())} packages)")
        shutil.rmtree(final, ignore_errors=True)
        build_root(final)
        how = f"built in {time.monotonic() - started:.0f} s"
    prune(key)
    fcntl.flock(lock, fcntl.LOCK_SH)  # in use: not to be pruned or rebuilt under us
    return final / "root", lock, how


def copy_checkout(destination):
    """The checkout as it is: tracked and untracked files, not ignored ones (in a git
    checkout), or everything but build products (in an unpacked sdist)."""
    if (CHECKOUT / ".git").exists() and shutil.which("git"):
        listing = subprocess.run(["git", "ls-files", "-z", "--cached", "--others",
                                  "--exclude-standard"], cwd=CHECKOUT, check=True,
                                 capture_output=True).stdout
        for name in filter(None, listing.decode().split("\0")):
            source = CHECKOUT / name
            if source.is_file():  # (not a deleted file that git still tracks)
                (destination / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, destination / name)
    else:
        products = shutil.ignore_patterns("build", "dist", "*.egg-info", "__pycache__",
                                          ".pytest_cache", "_*.c", "_*.so")
        shutil.copytree(CHECKOUT, destination, ignore=products)


INNER = """\
set -u
cd /src
started=$(date +%s)
if ! /opt/venv/bin/pip install --no-build-isolation --no-deps --no-index . \\
        > /leg/build.log 2>&1; then
    tail -n 60 /leg/build.log
    exit 3
fi
echo $(( $(date +%s) - started )) > /leg/build-seconds
# -P: as the pytest command does, keep /src (whose vdsotime/ has no extensions) off
# sys.path, so that the tests import the installed package.
exec env PYTHONPATH=/leg /opt/venv/bin/python -P -m pytest -p no:cacheprovider \\
    -p leg_plugin --junitxml=/leg/junit.xml "$@"
"""

# Loaded into the root's pytest: which tests the exclusions deselected, for the summary.
PLUGIN = """\
def pytest_deselected(items):
    with open("/leg/deselected.txt", "a") as listing:
        listing.writelines(item.nodeid + "\\n" for item in items)
"""

# Mounted in a private mount namespace, so they go with the leg however it ends.
MOUNTS = """\
set -e
mount -t overlay overlay \\
    -o "lowerdir=$ROOT,upperdir=$RUN/upper,workdir=$RUN/work" "$RUN/merged"
mount -t proc proc "$RUN/merged/proc"
mount --rbind /dev "$RUN/merged/dev"
mount -t sysfs -o ro sysfs "$RUN/merged/sys"
mount -t tmpfs tmpfs "$RUN/merged/tmp"
exec chroot "$RUN/merged" /usr/bin/setarch i686 /usr/bin/env -i \\
    PATH=/opt/venv/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \\
    VDSOTIME_REQUIRE_ALL="$STRICT" /bin/sh /leg/inner.sh "$@"
"""


def pytest_arguments(selection):
    arguments = ["-q", "-ra"]
    for node, _ in exclusions():
        arguments.append(f"--deselect={node}")
    return arguments + list(selection)


def summarize(leg, status, seconds, how, selection):
    """The one line the leg ends with."""
    counts, skips = {"passed": 0, "failed": 0, "errors": 0, "skipped": 0}, {}
    try:
        cases = ElementTree.parse(leg / "junit.xml").getroot().iter("testcase")
    except (OSError, ElementTree.ParseError):
        cases = []
    for case in cases:
        outcome = "passed"
        for child in case:
            if child.tag in ("failure", "error", "skipped"):
                outcome = {"failure": "failed", "error": "errors"}.get(child.tag, "skipped")
                if outcome == "skipped":
                    reason = (child.get("message") or "").strip()
                    skips[reason] = skips.get(reason, 0) + 1
                break
        counts[outcome] += 1
    deselected = []
    if (leg / "deselected.txt").exists():
        deselected = (leg / "deselected.txt").read_text().splitlines()  # ids may hold spaces
    excluded, stale = {}, []  # {reason: number of tests it deselected}, [unmatched ids]
    for node, reason in exclusions():
        matched = sum(test.startswith(node) for test in deselected)
        excluded[reason] = excluded.get(reason, 0) + matched
        if not matched:
            stale.append(node)
    parts = [f"{counts[name]} {name}" for name in ("passed", "failed", "errors", "skipped")
             if counts[name] or name == "passed"]
    parts.append(f"{len(deselected)} excluded")
    build = (leg / "build-seconds").read_text().strip() + " s" if (
        leg / "build-seconds").exists() else "failed"
    scope = " ".join(selection) if selection else "whole suite"
    line = (f"i386 leg: {', '.join(parts)} in {seconds:.0f} s ({scope}; root {how}; "
            f"build {build}; exit status {status})")
    if skips:
        line += "; skipped: " + "; ".join(f"{reason} (x{count})" if count > 1 else reason
                                          for reason, count in skips.items())
    if deselected:
        line += "; excluded: " + "; ".join(f"{reason} (x{count})"
                                           for reason, count in excluded.items() if count)
    if stale and not selection:  # a renamed or removed test: update exclusions.txt
        line += "; exclusions that match no test: " + ", ".join(stale)
    return line


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("selection", nargs="*",
                        help="pytest ids to run (default: the whole suite)")
    parser.add_argument("--rebuild", action="store_true", help="build the root anew")
    parser.add_argument("--keep", action="store_true",
                        help="keep the run's folder (build log, junit report, upper layer)")
    parser.add_argument("--summary-file", type=Path,
                        help="also write the summary line to this file")
    parser.add_argument("--check", action="store_true",
                        help="only say whether the leg can run here (exit 0) or why not")
    args = parser.parse_args(argv)

    found = problems()
    if args.check or found:
        for problem in found:
            print(problem)
        return 2 if found else 0

    started = time.monotonic()
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        # (started in the background of a script) The tests interrupt children with
        # SIGINT: let them inherit its default action, not "ignored".
        signal.signal(signal.SIGINT, signal.default_int_handler)
    root_folder, lock, how = root(args.rebuild)
    run_folder = Path(tempfile.mkdtemp(prefix="run-", dir=CACHE))
    try:
        for name in ("upper", "work", "merged"):
            (run_folder / name).mkdir()
        copy_checkout(run_folder / "upper" / "src")
        (run_folder / "upper" / "leg").mkdir()
        (run_folder / "upper" / "leg" / "inner.sh").write_text(INNER)
        (run_folder / "upper" / "leg" / "leg_plugin.py").write_text(PLUGIN)
        strict = os.environ.get("VDSOTIME_REQUIRE_ALL", "")
        command = ["unshare", "--mount", "--propagation", "private", "--fork",
                   "/bin/sh", "-c", MOUNTS, "mounts", *pytest_arguments(args.selection)]
        log(f"building and testing in an overlay of {root_folder} (i686)")
        environment = {**os.environ, "ROOT": str(root_folder), "RUN": str(run_folder),
                       "STRICT": strict}
        status = subprocess.run(command, env=environment).returncode
        line = summarize(run_folder / "upper" / "leg", status, time.monotonic() - started,
                         how, args.selection)
    finally:
        if args.keep:
            log(f"kept {run_folder}")
        else:
            shutil.rmtree(run_folder, ignore_errors=True)
        lock.close()
    print(line, flush=True)
    if args.summary_file:
        args.summary_file.write_text(line + "\n")
    return status


if __name__ == "__main__":
    sys.exit(main())
