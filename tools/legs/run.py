#!/usr/bin/env python3
"""The legs: vdsotime built into a wheel, repaired, installed and tested on other ABIs and
Pythons, each in a Debian root on this x86-64 machine.

    sudo python3 tools/legs/run.py arm64                  # one leg, the whole suite
    sudo python3 tools/legs/run.py all --jobs 2           # every leg, two at a time
    sudo python3 tools/legs/run.py s390x -- tests/test_vdso.py -x   # pytest arguments
    python3 tools/legs/run.py --check arm64               # can it run here? (why not)

tools/legs/README.md says what each leg proves and what it costs. In short, a leg

1. has a Debian root (debootstrap; tools/legs/recipes.py says which suite, architecture
   and packages), cached under /var/cache/vdsotime-legs/<leg>-<hash of its recipe> and
   reused while the recipe is unchanged. A foreign root (arm64, s390x, armhf, ...) is made
   with ``debootstrap --foreign`` and finished inside a user namespace that mounts its own
   binfmt_misc with the static qemu-user of a Debian trixie root (cached beside it), so
   nothing of the host changes: debootstrap's second stage runs natively from outside
   the root, only dpkg and the maintainer scripts under qemu, without byte-compiling
   (done natively afterwards). A foreign root has no compiler: a native "cross root" of
   the same suite has the leg's cross gcc, and the build runs over both. A native root
   (i386, sid) is plain debootstrap;
2. builds the project's sdist on the host into dist/, with the C files that Cython makes
   from it (on the host: never under emulation), and in a throwaway overlay of the root
   builds a wheel from that, repairs it with auditwheel to the manylinux tag it meets and
   puts it in dist/;
3. installs the repaired wheel into a fresh venv in a second throwaway overlay of the root
   from which the compiler has been deleted, and runs the suite (an emulated leg: its ABI
   part, recipes.ABI_PART, unless --whole or VDSOTIME_LEGS_WHOLE=1) there as
   ``python -P -m pytest`` under VDSOTIME_REQUIRE_ALL=1, with the leg's declared lacks
   (tests/requires.py reads them) and deselections;
4. prints one summary line: ``<leg> leg: N passed, ... in S s (...)``.

Needs root, debootstrap and util-linux; foreign legs also Linux >= 6.7 (binfmt_misc in a
user namespace) and user namespaces. Mirrors and package indexes are the tools' defaults;
VDSOTIME_LEGS_MIRROR overrides debootstrap's, pip reads its own configuration and
environment (PIP_INDEX_URL, ...). The exit status is 0 when every leg passed. Stdlib only.
"""

import argparse
import ctypes
import fcntl
import hashlib
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import xml.etree.ElementTree as ElementTree
from pathlib import Path

HERE = Path(__file__).resolve().parent
CHECKOUT = HERE.parent.parent
sys.path.insert(0, str(HERE))
import recipes  # noqa: E402

CACHE = Path(os.environ.get("VDSOTIME_LEGS_CACHE", "/var/cache/vdsotime-legs"))
DIST = Path(os.environ.get("VDSOTIME_LEGS_DIST", CHECKOUT / "dist"))
MIRROR = os.environ.get("VDSOTIME_LEGS_MIRROR", "")  # empty: debootstrap's default
# Bumped when the way a root is made changes, so that old caches are not reused.
ROOT_FORMAT = 1
QEMU_SUITE = "trixie"  # the first Debian release whose qemu-user maps a vDSO (10.0)
MIN_KERNEL = (6, 7)    # binfmt_misc mountable in a user namespace


def log(leg, message):
    print(f"[{leg} leg] {message}", file=sys.stderr, flush=True)


def run(leg, command, quiet=False, **kwargs):
    log(leg, "$ " + " ".join(shlex.quote(str(part)) for part in command))
    if quiet:
        kwargs.setdefault("stdout", subprocess.DEVNULL)
    return subprocess.run([str(part) for part in command], check=True, **kwargs)


# ---------------------------------------------------------------- can the leg run here?

def problems(name):
    """What stops leg ``name`` on this machine, one line each (empty: it can run)."""
    for sbin in ("/usr/sbin", "/sbin"):  # (debootstrap and chroot live there)
        if sbin not in os.environ.get("PATH", "").split(os.pathsep):
            os.environ["PATH"] = os.environ.get("PATH", "") + os.pathsep + sbin
    if name not in recipes.LEGS:
        return [f"no leg {name!r} (the legs: {', '.join(recipes.LEGS)})"]
    leg, found = recipes.LEGS[name], []
    if os.uname().machine != "x86_64":
        found.append(f"the legs run on x86-64 machines (this is {os.uname().machine})")
    if os.geteuid() != 0:
        found.append("the legs need root (debootstrap, chroot, mounts)")
    for command, package in (("debootstrap", "debootstrap"), ("unshare", "util-linux"),
                             ("chroot", "coreutils")):
        if shutil.which(command) is None:
            found.append(f"needs {command}: apt-get install {package}")
    if leg.qemu:
        release = tuple(int(part) for part in
                        os.uname().release.split("-")[0].split(".")[:2])
        if release < MIN_KERNEL:
            found.append(f"an emulated leg needs Linux >= 6.7 (binfmt_misc in a user "
                         f"namespace); this kernel is {os.uname().release}")
        elif not found:
            problem = userns_problem()
            if problem:
                found.append(problem)
    if leg.setarch and not found:
        problem = ia32_problem()
        if problem:
            found.append(problem)
    return found


def userns_problem():
    """None when this process can make a user namespace with its own binfmt_misc."""
    script = "mount -t binfmt_misc binfmt_misc \"$1\" && test -e \"$1/register\""
    with tempfile.TemporaryDirectory() as folder:
        status, error = in_user_namespace(["/bin/sh", "-c", script, "probe", folder],
                                          capture=True)
    if status != 0:
        return f"cannot mount binfmt_misc in a user namespace: {error.strip() or status}"
    return None


def ia32_problem():
    """None when this kernel runs i386 programs (IA32 emulation), else why not."""
    import struct
    code = b"\x31\xdb\xb8\x01\x00\x00\x00\xcd\x80"  # xor ebx,ebx; mov eax,1; int 0x80
    base, header_size = 0x08048000, 52 + 32
    elf = (b"\x7fELF\x01\x01\x01" + bytes(9)
           + struct.pack("<HHIIIIIHHHHHH", 2, 3, 1, base + header_size, 52, 0, 0, 52, 32,
                         1, 0, 0, 0))
    segment = struct.pack("<IIIIIIII", 1, 0, base, base, header_size + len(code),
                          header_size + len(code), 5, 0x1000)
    with tempfile.TemporaryDirectory() as folder:
        probe = Path(folder) / "probe32"
        probe.write_bytes(elf + segment + code)
        probe.chmod(0o755)
        try:
            status = subprocess.run([str(probe)], timeout=30).returncode
        except OSError as exc:
            return (f"the kernel does not run i386 programs ({exc.strerror}): IA32 "
                    "emulation is off (CONFIG_IA32_EMULATION, ia32_emulation=1)")
    return None if status == 0 else f"an i386 test program exited with status {status}"


# ------------------------------------------------------------------- namespaces

CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWPID = 0x00020000, 0x10000000, 0x20000000


def in_user_namespace(argv, env=None, capture=False):
    """Run ``argv`` as root of a new user namespace (uids and gids 0-65535 mapped onto
    themselves: dpkg chowns files to system users), in new mount and pid namespaces.
    Returns (exit status, stderr if captured)."""
    libc = ctypes.CDLL(None, use_errno=True)
    ready_r, ready_w = os.pipe()    # child -> parent: unshared
    mapped_r, mapped_w = os.pipe()  # parent -> child: maps written
    err_r, err_w = os.pipe() if capture else (None, None)
    pid = os.fork()
    if pid == 0:  # the child: unshare, wait for the maps, fork pid 1 of the namespace
        status = 127
        try:
            os.close(ready_r)
            os.close(mapped_w)
            if err_w is not None:
                os.dup2(err_w, 2)
            if libc.unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID) != 0:
                os.write(2, f"unshare: {os.strerror(ctypes.get_errno())}\n".encode())
                os._exit(126)
            os.write(ready_w, b"u")
            os.close(ready_w)
            if os.read(mapped_r, 1) != b"m":
                os._exit(125)
            child = os.fork()
            if child == 0:
                os.execvpe(argv[0], argv, env if env is not None else os.environ)
            status = os.waitstatus_to_exitcode(os.waitpid(child, 0)[1])
        except BaseException as exc:  # noqa: BLE001 (report, never return into the caller)
            os.write(2, f"in_user_namespace: {exc}\n".encode())
        finally:
            os._exit(status if status >= 0 else 128 - status)
    os.close(ready_w)
    os.close(mapped_r)
    if err_w is not None:
        os.close(err_w)
    try:
        if os.read(ready_r, 1) == b"u":
            for name in ("uid_map", "gid_map"):
                with open(f"/proc/{pid}/{name}", "w") as f:
                    f.write("0 0 65536\n")
            os.write(mapped_w, b"m")
    finally:
        os.close(ready_r)
        os.close(mapped_w)
    error = b""
    if err_r is not None:
        with os.fdopen(err_r, "rb") as f:
            error = f.read()
    status = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    return status, error.decode(errors="replace")


def binfmt_rule(leg):
    """The binfmt_misc registration of the leg's qemu: ELF magic of its class, byte order
    and machine, for executables and shared objects (e_type 2 or 3); flags F (the
    interpreter is opened now, so it need not exist in the root) and P (argv[0] kept)."""
    elf = leg.elf
    big = elf.byteorder == "big"
    ident = b"\x7fELF" + bytes([1 if elf.bits == 32 else 2, 2 if big else 1, 1])
    magic = (ident + bytes(9) + (2).to_bytes(2, elf.byteorder)  # e_type ET_EXEC
             + elf.machine.to_bytes(2, elf.byteorder))
    # OS ABI, ABI version and padding are not compared; e_type's low bit is not.
    mask = b"\xff" * 7 + bytes(9) + (b"\xff\xfe" if big else b"\xfe\xff") + b"\xff\xff"
    escape = lambda data: "".join(f"\\x{byte:02x}" for byte in data)  # noqa: E731
    return f":vdsotime-{leg.arch}:M::{escape(magic)}:{escape(mask)}:{{qemu}}:FP"


# The mounts of a leg's session, in its private mount namespace (they go with it however
# it ends). $M is the root the session sees: the root itself (second stage of a foreign
# debootstrap) or an overlay of it over $RUN/upper.
MOUNTS = r"""
set -e
mount --make-rprivate /
if [ -n "$OVERLAY" ]; then
    M="$RUN/merged"
    # (in a user namespace overlayfs keeps whiteouts and opaque folders in user.*
    # extended attributes: userxattr, else removing a folder of the root fails, EIO)
    # (CROSS: a native root under the leg's, whose cross compiler the build runs)
    mount -t overlay overlay -o \
        "lowerdir=$ROOT${CROSS:+:$CROSS},upperdir=$RUN/upper,workdir=$RUN/work$OVERLAY_OPTIONS" \
        "$M"
    if [ -n "$CROSS" ]; then
        # The cross toolchain's programs (/usr/bin/<triplet>-*) over the root's: the
        # root's own binutils have the same names (its ld, a foreign program, cannot
        # load the cross gcc's x86-64 LTO plugin), and the cross gcc finds its ld and as
        # through them (/usr/<triplet>/bin/ld -> ../../bin/<triplet>-ld).
        for tool in "$CROSS/usr/bin/$TRIPLET"-*; do
            target="$M/usr/bin/${tool##*/}"
            if [ -e "$target" ]; then mount --bind "$tool" "$target"; fi
        done
    fi
else
    M="$ROOT"
fi
if [ -n "$BINFMT" ]; then
    mkdir -p "$RUN/binfmt"
    mount -t binfmt_misc binfmt_misc "$RUN/binfmt"
    printf '%s' "$BINFMT" > "$RUN/binfmt/register"
fi
mount -t proc proc "$M/proc"
mount --rbind /dev "$M/dev"
mount --rbind /sys "$M/sys"
mount -t tmpfs tmpfs "$M/tmp"
if [ -n "$STRIP" ]; then
    # The test root has no compiler: the files of gcc and cpp go (whiteouts in the
    # overlay; the cached root keeps them).
    for pattern in $STRIP; do rm -rf "$M"$pattern; done
fi
if [ -n "$NATIVE" ]; then
    # (a native program that works on the root from outside: debootstrap's second
    # stage with --second-stage-target, whose chroot calls run the root's programs)
    exec /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        HOME=/root LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive $INNER_ENV "$@"
fi
exec chroot "$M" $SETARCH /usr/bin/env -i \
    PATH=/opt/test/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    HOME=/root LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive $INNER_ENV "$@"
"""

# What "no compiler" deletes from the test overlay (shell patterns, from the root).
COMPILER = ("/usr/bin/gcc* /usr/bin/cc /usr/bin/c89* /usr/bin/c99* /usr/bin/cpp* "
            "/usr/bin/*-linux-gnu*-gcc* /usr/bin/*-linux-gnu*-cpp* /usr/libexec/gcc "
            "/usr/lib/gcc /usr/bin/*-linux-gnu*-g++* /usr/bin/g++* /usr/bin/c++")


def session(name, root, argv, *, run_folder=None, strip=False, inner_env=(),
            capture=False, cross=None, native=False):
    """Run ``argv`` in the leg's root (an overlay of it when ``run_folder`` is given,
    over the root ``cross`` too when given), with /proc, /dev, /sys and /tmp mounted;
    foreign legs through qemu in a user namespace. Returns the exit status."""
    leg = recipes.LEGS[name]
    env = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
           "ROOT": str(root), "RUN": str(run_folder or ""), "CROSS": str(cross or ""),
           "TRIPLET": leg.triplet or "",
           "OVERLAY": "1" if run_folder else "", "STRIP": COMPILER if strip else "",
           "SETARCH": f"/usr/bin/setarch {leg.setarch}" if leg.setarch else "",
           "INNER_ENV": " ".join(inner_env), "BINFMT": "", "NATIVE": "1" if native else "",
           "OVERLAY_OPTIONS": ",userxattr" if leg.qemu else ""}
    command = ["/bin/sh", "-c", MOUNTS, "mounts", *map(str, argv)]
    if leg.qemu:
        qemu = qemu_root(name) / "usr" / "bin" / f"qemu-{leg.qemu}"
        env["BINFMT"] = binfmt_rule(leg).format(qemu=qemu)
        if not run_folder:
            env["RUN"] = tempfile.mkdtemp(prefix="binfmt-", dir=CACHE)
        try:
            status, _ = in_user_namespace(command, env=env)
        finally:
            if not run_folder:
                shutil.rmtree(env["RUN"], ignore_errors=True)
        return status
    command = ["unshare", "--mount", "--pid", "--fork", "--propagation", "private",
               *command]
    return subprocess.run(command, env=env).returncode


# ------------------------------------------------------------------------ roots

def cached(kind, text, build, leg):
    """The folder CACHE/<kind>-<hash of text>, built by ``build(folder)`` if not ready;
    returns (folder, open lock file held shared, how it was had)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    key = hashlib.sha256(f"format {ROOT_FORMAT}\n{MIRROR}\n{text}".encode()).hexdigest()[:12]
    final = CACHE / f"{kind}-{key}"
    lock = open(CACHE / f"{kind}-{key}.lock", "a")
    fcntl.flock(lock, fcntl.LOCK_SH)  # in use: not to be pruned or rebuilt under us
    how = "cached"
    if not (final / "ready").exists():
        fcntl.flock(lock, fcntl.LOCK_UN)
        fcntl.flock(lock, fcntl.LOCK_EX)  # one builder; the others wait for it
    if not (final / "ready").exists():
        started = time.monotonic()
        shutil.rmtree(final, ignore_errors=True)
        building = Path(tempfile.mkdtemp(prefix=final.name + ".building-", dir=CACHE))
        try:
            (building / "recipe.txt").write_text(text + "\n")
            build(building)
            (building / "ready").write_text(time.strftime("%Y-%m-%d %H:%M:%S\n"))
            building.rename(final)
        finally:
            if building.exists():
                shutil.rmtree(building, ignore_errors=True)
        how = f"built in {time.monotonic() - started:.0f} s"
        log(leg, f"{final.name} {how}")
    fcntl.flock(lock, fcntl.LOCK_SH)
    prune(kind, final.name)
    return final, lock, how


def prune(kind, keep):
    """Remove the older folders of this kind (not in use: their lock is free), and the
    folders of runs and builds that were killed a day ago or more."""
    for path in CACHE.glob("*"):
        if path.is_dir() and (".building-" in path.name or path.name.startswith(
                ("run-", "binfmt-", "src-"))):
            if time.time() - path.stat().st_mtime > 86400:
                shutil.rmtree(path, ignore_errors=True)
    for path in CACHE.glob(f"{kind}-*"):
        if path.is_dir() and path.name != keep and ".building-" not in path.name:
            with open(CACHE / f"{path.name}.lock", "a") as lock:
                try:
                    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue
                shutil.rmtree(path, ignore_errors=True)


_QEMU = {}


def qemu_root(name):
    """A Debian trixie (amd64) root with qemu-user, whose static binaries map a vDSO for
    their guests (QEMU >= 8.1); cached, and shared by the emulated legs."""
    if "root" not in _QEMU:
        def build(folder):
            log(name, f"making the qemu-user root (Debian {QEMU_SUITE}, minbase)")
            debootstrap(name, ["--variant=minbase", "--include=qemu-user", QEMU_SUITE,
                               folder / "root"])
        folder, lock, _ = cached("qemu", f"qemu-user {QEMU_SUITE}", build, name)
        _QEMU["root"], _QEMU["lock"] = folder / "root", lock
    return _QEMU["root"]


def debootstrap(name, arguments):
    command = ["debootstrap", *arguments, *([MIRROR] if MIRROR else [])]
    log(name, "$ " + " ".join(shlex.quote(str(part)) for part in command))
    result = subprocess.run([str(part) for part in command], capture_output=True, text=True)
    if result.returncode != 0:
        target = Path(arguments[-1])
        detail = result.stdout.splitlines()[-3:] + result.stderr.splitlines()[-5:]
        log_file = target / "debootstrap" / "debootstrap.log"
        if log_file.exists():
            detail += [line for line in log_file.read_text(errors="replace").splitlines()
                       if "ERROR" in line or line.startswith("E:")][-5:]
        raise SystemExit(f"{name}: debootstrap failed ({result.returncode}): "
                         + " | ".join(detail))


def cross_root(name):
    """A native (amd64) Debian root of the leg's suite with the leg's cross compiler
    (gcc-<triplet>: x86-64 programs that make code for the leg's ABI, against the same
    glibc) and python3 (the leg's CPython version, natively: it byte-compiles the leg's
    Python files). The leg's build runs in an overlay of its root over this one: the
    Python build calls ``<triplet>-gcc`` (sysconfig's CC), which this root provides and
    the kernel runs without qemu. Cached."""
    leg = recipes.LEGS[name]
    packages = f"gcc-{leg.triplet},python3"
    def build(folder):
        log(name, f"making the cross-compiler root (Debian {leg.suite} amd64, "
                  f"{packages})")
        debootstrap(name, ["--variant=minbase", f"--include={packages}", leg.suite,
                           folder / "root"])
        (folder / "root" / "target").mkdir()
        for cached_deb in (folder / "root" / "var/cache/apt/archives").glob("*.deb"):
            cached_deb.unlink()
    folder, lock, how = cached(f"cross-{name}", f"cross {leg.suite} amd64 {packages}",
                               build, name)
    _CROSS.setdefault(name, lock)
    return folder / "root", how


_CROSS = {}

# Programs that Debian's maintainer scripts call and a leg's root can do without, which
# take minutes under qemu: diverted (as dpkg records it) to *.real during a foreign
# root's second stage, and no-ops meanwhile. Byte-compiling numpy or matplotlib: the
# native python3 of the cross root does it in seconds afterwards (native_pyc: .pyc
# files depend on the Python version only, not on the machine). update-ca-certificates
# runs a sed per certificate: its bundle is concatenated natively afterwards (ca_bundle;
# nothing in a root goes online, but pip's requests loads the bundle when imported).
SECOND_STAGE_NO_OPS = ("/usr/bin/py3compile", "/usr/bin/py3clean",
                       "/usr/sbin/update-ca-certificates")


def divert_second_stage_no_ops(root):
    with open(root / "var/lib/dpkg/diversions", "a") as diversions:
        for path in SECOND_STAGE_NO_OPS:
            diversions.write(f"{path}\n{path}.real\n:\n")
            shim = root / path.lstrip("/")
            shim.parent.mkdir(parents=True, exist_ok=True)
            shim.write_text("#!/bin/sh\n# vdsotime legs (tools/legs/run.py): a no-op "
                            "during the second stage\nexit 0\n")
            shim.chmod(0o755)
    # dpkg without an fsync per file: the root is rebuilt if the machine stops mid-way.
    config = root / "etc/dpkg/dpkg.cfg.d"
    config.mkdir(parents=True, exist_ok=True)
    (config / "vdsotime-legs-unsafe-io").write_text("force-unsafe-io\n")


def restore_second_stage_no_ops(root):
    diversions = root / "var/lib/dpkg/diversions"
    lines = diversions.read_text().splitlines()
    kept = []
    for index in range(0, len(lines) - 2, 3):
        if lines[index] not in SECOND_STAGE_NO_OPS:
            kept += lines[index:index + 3]
    diversions.write_text("".join(line + "\n" for line in kept))
    for path in SECOND_STAGE_NO_OPS:
        shim, real = root / path.lstrip("/"), root / (path.lstrip("/") + ".real")
        if real.exists() or real.is_symlink():
            os.replace(real, shim)
        else:
            shim.unlink()


def ca_bundle(root):
    """/etc/ssl/certs/ca-certificates.crt as update-ca-certificates makes it from the
    certificates ca-certificates installs (every one: the package's default), natively."""
    certificates = sorted((root / "usr/share/ca-certificates").rglob("*.crt"))
    bundle = root / "etc/ssl/certs/ca-certificates.crt"
    bundle.parent.mkdir(parents=True, exist_ok=True)
    bundle.write_bytes(b"".join(path.read_bytes().rstrip(b"\n") + b"\n"
                                for path in certificates))


def native_pyc(name, root, cross):
    """Byte-compile the root's Python files with the cross root's python3 (the same
    CPython version), natively, as the root's own python would have written them."""
    leg = recipes.LEGS[name]
    version = leg.python_versions[0]
    folders = [f"/target/usr/lib/python{version}", "/target/usr/lib/python3/dist-packages",
               f"/target/usr/local/lib/python{version}/dist-packages"]
    script = ('set -e; mount --make-rprivate /; mount --bind "$1" "$2/target"; '
              'mount -t proc proc "$2/proc"; mount --rbind /dev "$2/dev"; '
              'exec chroot "$2" /usr/bin/env -i PATH=/usr/bin:/bin LANG=C.UTF-8 '
              f'python{version} -m compileall -q -j 0 -s /target -p / '
              '-x "/(lib2to3/tests|test/bad|test/badsyntax|test/tokenizedata)" '
              + " ".join(folders) + " > /dev/null || true")
    started = time.monotonic()
    subprocess.run(["unshare", "--mount", "--fork", "/bin/sh", "-c", script, "pyc",
                    str(root), str(cross)], check=True)
    log(name, f"byte-compiled natively (python{version} of the cross root) in "
              f"{time.monotonic() - started:.0f} s")


# Appended to a foreign root's /debootstrap/functions for its second stage, in the user
# namespace: mknod is refused there, and /dev, /proc and /sys are already mounted.
SECOND_STAGE_OVERRIDES = """
# vdsotime legs (tools/legs/run.py): the second stage runs in a user namespace, where
# device nodes cannot be made; /dev, /proc and /sys are mounted from the host.
check_sane_mount () { return 0; }
setup_devices () { :; }
setup_proc () { :; }
"""


def pip_platforms(leg):
    """pip download's --platform tags for the leg's glibc and machine."""
    arch, (major, minor) = leg.wheel_arch, leg.glibc
    tags = [f"manylinux_{major}_{m}_{arch}" for m in range(minor, 4, -1)]
    tags += [f"manylinux2014_{arch}", f"manylinux2010_{arch}", f"manylinux1_{arch}",
             "any"]
    return tags


def download_wheels(name, destination):
    """The leg's PyPI wheels, fetched by the host's pip for the root's Pythons."""
    leg = recipes.LEGS[name]
    for version in leg.python_versions:
        folder = destination / version
        folder.mkdir(parents=True)
        abi = "cp" + version.replace(".", "")
        platforms = [item for tag in pip_platforms(leg) for item in ("--platform", tag)]
        for requirement in recipes.BUILD_WHEELS + leg.wheels:
            run(name, [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                       "--only-binary=:all:", *platforms, "--python-version", version,
                       "--implementation", "cp", "--abi", abi, "--abi", "abi3",
                       "--abi", "none", "--dest", folder, requirement])


def build_root(name, folder):
    leg = recipes.LEGS[name]
    root = folder / "root"
    packages = ",".join(sorted(set(recipes.COMMON_PACKAGES) | set(leg.packages)))
    started = time.monotonic()
    if leg.qemu:
        qemu_root(name)
        # (the cross root, native, is made meanwhile: it waits on the network and the
        # disk while the second stage waits on qemu)
        cross = threading.Thread(target=cross_root, args=(name,), daemon=True)
        cross.start()
        log(name, f"debootstrap, first stage: Debian {leg.suite} {leg.arch}")
        debootstrap(name, ["--foreign", f"--arch={leg.arch}", "--variant=minbase",
                           f"--include={packages}", leg.suite, root])
        with open(root / "debootstrap" / "functions", "a") as functions:
            functions.write(SECOND_STAGE_OVERRIDES)
        divert_second_stage_no_ops(root)
        # The second stage runs natively, from outside the root (--second-stage-target):
        # debootstrap's own shell and perl -- a perl run over the Packages file for every
        # package -- take most of its time under qemu. Only what it runs in the root
        # (dpkg, the maintainer scripts, ldconfig) goes through qemu.
        log(name, f"debootstrap, second stage, its dpkg under qemu-{leg.qemu} "
                  f"(first stage {time.monotonic() - started:.0f} s)")
        status = session(name, root, ["/bin/sh", root / "debootstrap" / "debootstrap",
                                      "--second-stage", f"--second-stage-target={root}"],
                         inner_env=[f"DEBOOTSTRAP_DIR={root / 'debootstrap'}"], native=True)
        log(name, f"second stage done in {time.monotonic() - started:.0f} s from the start")
        if status != 0:
            # (the folder goes: keep its log beside the cache, and say what failed)
            saved = CACHE / f"{name}-second-stage-failed.log"
            shutil.copy2(root / "debootstrap" / "debootstrap.log", saved)
            lines = saved.read_text(errors="replace").splitlines()
            errors = [line for line in lines if "error" in line.lower()][-6:]
            raise SystemExit(f"{name}: debootstrap's second stage failed ({status}); "
                             f"{saved}: " + " | ".join(errors or lines[-6:]))
        restore_second_stage_no_ops(root)
        ca_bundle(root)
    else:
        log(name, f"debootstrap: Debian {leg.suite} {leg.arch}")
        debootstrap(name, [f"--arch={leg.arch}", "--variant=minbase",
                           f"--include={packages}", leg.suite, root])
    log(name, f"debootstrap done in {time.monotonic() - started:.0f} s; PyPI wheels")
    wheels = root / "opt" / "wheels"
    download_wheels(name, wheels)
    # Into the system's site-packages (/usr/local), which every venv of the leg sees
    # (--system-site-packages): the build's and the tests' packages, installed once.
    script = "set -e\n" + "".join(
        f"{python} -m pip install --quiet --no-index --no-deps --break-system-packages "
        f"{'--no-compile ' if leg.triplet else ''}"
        f"--ignore-installed "
        f"--root-user-action=ignore /opt/wheels/{version}/*.whl\n"
        for python, version in zip(leg.pythons, leg.python_versions))
    status = session(name, root, ["/bin/sh", "-c", script])
    if status != 0:
        raise SystemExit(f"{name}: installing the PyPI wheels in the root failed ({status})")
    if leg.triplet:
        cross.join()
        native_pyc(name, root, cross_root(name)[0])
    for cached_deb in (root / "var" / "cache" / "apt" / "archives").glob("*.deb"):
        cached_deb.unlink()


def leg_root(name, rebuild):
    if rebuild:
        for path in CACHE.glob(f"{name}-*"):
            if path.is_dir() and (path / "ready").exists():
                (path / "ready").unlink()
    folder, lock, how = cached(name, recipes.recipe_text(name),
                               lambda building: build_root(name, building), name)
    return folder / "root", lock, how


# --------------------------------------------------------------- the source: sdist + C

def host_tools():
    """A venv on the host with the Cython the legs have (recipes.CYTHON), setuptools and
    build: it makes the sdist and the C files; cached."""
    def build(folder):
        subprocess.run([sys.executable, "-m", "venv", folder / "venv"], check=True)
        subprocess.run([folder / "venv" / "bin" / "pip", "install", "--quiet",
                        recipes.CYTHON, "setuptools>=77", "packaging>=24.2", "build",
                        "wheel"], check=True)
    text = f"host tools {recipes.CYTHON} {sys.version.split()[0]}"
    folder, lock, _ = cached("host", text, build, "host")
    return folder / "venv" / "bin" / "python", lock


def checkout_files():
    """The checkout as it is: tracked and untracked files, not ignored ones (in a git
    checkout), or everything but build products (in an unpacked sdist)."""
    if (CHECKOUT / ".git").exists() and shutil.which("git"):
        listing = subprocess.run(["git", "ls-files", "-z", "--cached", "--others",
                                  "--exclude-standard"], cwd=CHECKOUT, check=True,
                                 capture_output=True).stdout
        return [name for name in listing.decode().split("\0")
                if name and (CHECKOUT / name).is_file()]
    skip = ("build/", "dist/", ".pytest_cache/", ".git/")
    return [path.relative_to(CHECKOUT).as_posix() for path in CHECKOUT.rglob("*")
            if path.is_file() and not path.relative_to(CHECKOUT).as_posix().startswith(skip)
            and "__pycache__" not in path.parts and ".egg-info" not in str(path)
            and not (path.suffix in (".c", ".so") and path.parent.name == "vdsotime")]


def copy_checkout(destination):
    for name in checkout_files():
        (destination / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(CHECKOUT / name, destination / name)


def prepare_source(folder):
    """dist/<sdist>, and ``folder``/src: that sdist unpacked with its C files made by
    Cython on the host, and ``folder``/checkout: the checkout, for the tests."""
    python, lock = host_tools()
    started = time.monotonic()
    copy_checkout(folder / "checkout")
    built = subprocess.run([python, "-m", "build", "--sdist", "--no-isolation", "--outdir",
                            folder / "sdist", folder / "checkout"], cwd=folder,
                           capture_output=True, text=True)
    if built.returncode != 0:
        raise SystemExit(f"python -m build --sdist failed:\n{built.stdout[-3000:]}"
                         f"{built.stderr[-3000:]}")
    [sdist] = (folder / "sdist").glob("vdsotime-*.tar.gz")
    DIST.mkdir(parents=True, exist_ok=True)
    shutil.copy2(sdist, DIST / f".{sdist.name}.part")
    os.replace(DIST / f".{sdist.name}.part", DIST / sdist.name)
    with tarfile.open(sdist) as archive:
        archive.extractall(folder / "unpacked")
    [source] = (folder / "unpacked").iterdir()
    # setup.py cythonizes when its build_ext command is finalized, as egg_info does.
    subprocess.run([python, "setup.py", "-q", "egg_info"], cwd=source, check=True,
                   capture_output=True)
    shutil.rmtree(source / "vdsotime.egg-info", ignore_errors=True)
    source.rename(folder / "src")
    generated = len(list((folder / "src" / "vdsotime").rglob("*.c")))
    log("host", f"{sdist.name} in dist/, and {generated} C files from Cython "
                f"{recipes.CYTHON.split('==')[1]}, in {time.monotonic() - started:.0f} s")
    lock.close()
    return sdist


# --------------------------------------------------------------------- one leg

BUILD = r"""
set -eu
cd /leg/src
python=$1
version=$($python -c 'import sys; print("%d%d" % sys.version_info[:2])')
mkdir -p /leg/wheel-$version /leg/dist
echo "building the cp$version wheel"
# Cython would import pythran where one is installed (with it numpy.distutils, which
# setuptools >= 77 breaks); the build needs neither.
mkdir -p /leg/hide && echo 'raise ImportError("hidden by tools/legs")' > /leg/hide/pythran.py
PYTHONPATH=/leg/hide $python -m pip wheel --quiet --no-build-isolation --no-deps \
    --no-index -w /leg/wheel-$version . > /leg/build-$version.log 2>&1 \
    || { tail -n 60 /leg/build-$version.log; exit 3; }
echo "repairing it with auditwheel"
$python -m auditwheel repair --wheel-dir /leg/dist /leg/wheel-$version/*.whl \
    > /leg/repair-$version.log 2>&1 || { tail -n 40 /leg/repair-$version.log; exit 4; }
"""

TEST = r"""
set -u
python=$1; shift
version=$($python -c 'import sys; print("%d%d" % sys.version_info[:2])')
# A fresh venv that sees the root's packages (numpy, pytest, ...), with the wheel.
$python -m venv --without-pip --system-site-packages /opt/test
/opt/test/bin/python -m pip install --quiet --no-index --no-deps \
    --root-user-action=ignore /leg/dist/*-cp$version-*.whl || exit 5
cat > /opt/test/bin/pytest <<EOF
#!/opt/test/bin/python
import sys
from pytest import console_main
sys.exit(console_main())
EOF
chmod +x /opt/test/bin/pytest
cd /
/opt/test/bin/vdsotime info > /leg/info-$version.txt 2>&1
/opt/test/bin/python -P -c 'import vdsotime; b = vdsotime.info().functions["clock_gettime"]
print(b.symbol + "@" + str(b.version), "(" + b.backend + ")")' > /leg/binding-$version.txt 2>&1
cd /src
exec /opt/test/bin/python -P -m pytest -p no:cacheprovider -p leg_plugin \
    --junitxml=/leg/junit-$version.xml "$@"
"""

# Loaded into the leg's pytest: which tests the leg deselected, for the summary.
PLUGIN = """\
def pytest_deselected(items):
    with open("/leg/deselected.txt", "a") as listing:
        listing.writelines(item.nodeid + "\\n" for item in items)
"""


WHOLE = os.environ.get("VDSOTIME_LEGS_WHOLE", "") not in ("", "0")


def scope(name, extra, whole):
    """What the leg's pytest runs: ``extra``'s own selection (pytest arguments that are
    not options), else the whole suite -- or, on an emulated leg unless ``whole``, the
    ABI part (recipes.ABI_PART)."""
    if any(part.startswith("tests/") or "::" in part or part.endswith(".py")
           for part in extra):
        return " ".join(extra), []
    if recipes.LEGS[name].qemu and not whole:
        files = {node.split("::")[0] for node in recipes.ABI_PART}
        return (f"ABI part, {len(recipes.ABI_PART)} selections from {len(files)} files",
                list(recipes.ABI_PART))
    return "whole suite", []


def pytest_arguments(name, extra, whole):
    # (--durations: where an emulated leg's time goes, in its log)
    arguments = ["-q", "-ra", "--durations=20", "--durations-min=5"]
    for node in recipes.deselect(name):
        arguments.append(f"--deselect={node}")
    return arguments + list(extra) + scope(name, extra, whole)[1]


def overlay(parent, label):
    folder = Path(tempfile.mkdtemp(prefix=f"{label}-", dir=parent))
    for part in ("upper", "work", "merged"):
        (folder / part).mkdir()
    (folder / "upper" / "leg").mkdir()
    return folder


def run_leg(name, source, sdist, extra, rebuild, keep, whole=WHOLE):
    """Build, repair, install and test; returns (exit status, summary line)."""
    leg = recipes.LEGS[name]
    started = time.monotonic()
    root, lock, how = leg_root(name, rebuild)
    cross = cross_root(name)[0] if leg.triplet else None
    run_folder = Path(tempfile.mkdtemp(prefix=f"run-{name}-", dir=CACHE))
    lines, status = [], 0
    try:
        build = overlay(run_folder, "build")
        shutil.copytree(source / "src", build / "upper" / "leg" / "src", symlinks=True)
        (build / "upper" / "leg" / "build.sh").write_text(BUILD)
        build_started = time.monotonic()
        for python in leg.pythons:
            log(name, f"building and repairing the wheel ({python}) in an overlay of "
                      f"{root.parent.name}")
            status = session(name, root, ["/bin/sh", "/leg/build.sh", python],
                             run_folder=build, cross=cross)
            if status != 0:
                break
        build_seconds = time.monotonic() - build_started
        wheels = sorted((build / "upper" / "leg" / "dist").glob("*.whl")) if status == 0 \
            else []
        for wheel in wheels:
            shutil.copy2(wheel, DIST / wheel.name)
            log(name, f"dist/{wheel.name}")
        if status != 0:
            return status, (f"{name} leg: the build failed (exit status {status}) in "
                            f"{time.monotonic() - started:.0f} s (root {how})")
        lacks = "".join(f"{key}\t{reason}\n" for key, reason in recipes.lacks(name).items())
        for python, version in zip(leg.pythons, leg.python_versions):
            test = overlay(run_folder, "test")
            upper = test / "upper"
            copy_checkout_into = upper / "src"
            shutil.copytree(source / "checkout", copy_checkout_into, symlinks=True)
            (upper / "leg" / "dist").mkdir()
            for wheel in wheels:
                shutil.copy2(wheel, upper / "leg" / "dist" / wheel.name)
            (upper / "leg" / "test.sh").write_text(TEST)
            (upper / "leg" / "leg_plugin.py").write_text(PLUGIN)
            (upper / "leg" / "lacks.txt").write_text(lacks)
            log(name, f"testing the wheel with {python} (no compiler in this overlay)")
            test_started = time.monotonic()
            inner_env = ["VDSOTIME_REQUIRE_ALL=1", f"VDSOTIME_LEG={name}",
                         "VDSOTIME_LEG_LACKS=/leg/lacks.txt", "PYTHONPATH=/leg"]
            if leg.qemu:  # (tests/abi.py: timing claims are not checked there)
                inner_env.append(f"VDSOTIME_LEG_EMULATOR=qemu-{leg.qemu}")
            code = session(name, root, ["/bin/sh", "/leg/test.sh", python,
                                        *pytest_arguments(name, extra, whole)],
                           run_folder=test, strip=True, inner_env=inner_env)
            status = status or code
            lines.append(summarize(name, version, upper / "leg", code,
                                   time.monotonic() - test_started, build_seconds, how,
                                   wheels, scope(name, extra, whole)[0]))
            if keep:
                log(name, f"kept {test}")
        total = time.monotonic() - started
        return status, "\n".join(line.replace(" in @ s", f" in {total:.0f} s")
                                 for line in lines)
    finally:
        if keep:
            log(name, f"kept {run_folder}")
        else:
            shutil.rmtree(run_folder, ignore_errors=True)
        lock.close()


def summarize(name, version, leg_folder, status, test_seconds, build_seconds, how,
              wheels, selection):
    # (selection: "whole suite", "ABI part, N files", or the pytest arguments given)
    """The one line a leg ends with, per Python."""
    counts, skips, failed = {"passed": 0, "failed": 0, "errors": 0, "skipped": 0}, {}, []
    try:
        cases = ElementTree.parse(leg_folder / f"junit-{version.replace('.', '')}.xml"
                                  ).getroot().iter("testcase")
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
                else:
                    failed.append(f"{case.get('classname')}::{case.get('name')}")
                break
        counts[outcome] += 1
    deselected = []
    if (leg_folder / "deselected.txt").exists():
        deselected = (leg_folder / "deselected.txt").read_text().splitlines()
    parts = [f"{counts[key]} {key}" for key in ("passed", "failed", "errors", "skipped")
             if counts[key] or key == "passed"]
    parts.append(f"{len(deselected)} deselected")
    tag = version.replace(".", "")
    wheel = next((w.name for w in wheels if f"-cp{tag}-" in w.name), "no wheel")
    binding_file = leg_folder / f"binding-{tag}.txt"
    binding = (binding_file.read_text().strip().splitlines() or ["?"])[-1] \
        if binding_file.exists() else "?"
    line = (f"{name} leg: {', '.join(parts)} in @ s (Python {version}; {selection}; "
            f"{wheel}; clock_gettime {binding}; root {how}; build {build_seconds:.0f} s; "
            f"tests {test_seconds:.0f} s; exit status {status})")
    if skips:
        line += "; skipped: " + "; ".join(f"{reason} (x{count})" if count > 1 else reason
                                          for reason, count in skips.items())
    if failed:
        line += "; failed: " + ", ".join(failed)
    return line


# ----------------------------------------------------------------------- main

def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("legs", nargs="*", default=["all"],
                        help=f"legs to run: {', '.join(recipes.LEGS)}, or all "
                             f"({', '.join(recipes.ALL)})")
    parser.add_argument("--jobs", type=int, default=1, help="legs at a time (default 1)")
    parser.add_argument("--rebuild", action="store_true", help="build the roots anew")
    parser.add_argument("--keep", action="store_true",
                        help="keep the run folders (logs, junit reports, upper layers)")
    parser.add_argument("--summary-dir", type=Path,
                        help="also write each leg's summary to DIR/<leg>.txt")
    parser.add_argument("--whole", action="store_true", default=WHOLE,
                        help="the whole suite on the emulated legs too, not only their "
                             "ABI part (also: VDSOTIME_LEGS_WHOLE=1)")
    parser.add_argument("--check", action="store_true",
                        help="only say whether the legs can run here (exit 0) or why not")
    parser.add_argument("--source", type=Path, help=argparse.SUPPRESS)  # (from --jobs)
    argv = list(sys.argv[1:] if argv is None else argv)
    # pytest's arguments: everything after "--" (argparse would take paths for legs)
    own, extra = (argv[:argv.index("--")], argv[argv.index("--") + 1:]) if "--" in argv \
        else (argv, [])
    args, unknown = parser.parse_known_args(own)
    extra = unknown + extra
    names = []
    for item in args.legs:
        for name in item.split(","):
            names.extend(recipes.ALL if name == "all" else [name] if name else [])

    found = {name: problems(name) for name in names}
    if args.check or any(found.values()):
        for name, lines in found.items():
            for line in lines:
                print(f"{name}: {line}")
        return 2 if any(found.values()) else 0
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        # (started in the background of a script) The tests interrupt children with
        # SIGINT: let them inherit its default action, not "ignored".
        signal.signal(signal.SIGINT, signal.default_int_handler)

    CACHE.mkdir(parents=True, exist_ok=True)
    own_source = args.source is None
    source = args.source or Path(tempfile.mkdtemp(prefix="src-", dir=CACHE))
    try:
        sdist = prepare_source(source) if own_source else None
        if args.jobs > 1 and len(names) > 1:
            return run_parallel(names, args, source, extra)
        status = 0
        for name in names:
            try:
                code, line = run_leg(name, source, sdist, extra, args.rebuild, args.keep,
                                     args.whole)
            except (subprocess.CalledProcessError, SystemExit, OSError) as exc:
                code, line = 1, f"{name} leg: could not run: {exc}"
            status = status or code
            print(line, flush=True)
            if args.summary_dir:
                args.summary_dir.mkdir(parents=True, exist_ok=True)
                (args.summary_dir / f"{name}.txt").write_text(line + "\n")
        return status
    finally:
        if own_source:
            shutil.rmtree(source, ignore_errors=True)


def log_path(name):
    """Where a leg run in parallel keeps its pytest output (the last run's)."""
    (CACHE / "logs").mkdir(parents=True, exist_ok=True)
    return CACHE / "logs" / f"{name}.log"


def run_parallel(names, args, source, extra):
    """Each leg in a child runner, ``--jobs`` at a time, sharing one prepared source."""
    pending, running, status = list(names), {}, 0
    summary_dir = args.summary_dir or Path(tempfile.mkdtemp(prefix="summaries-", dir=CACHE))
    while pending or running:
        while pending and len(running) < args.jobs:
            name = pending.pop(0)
            command = [sys.executable, __file__, name, "--source", str(source),
                       "--summary-dir", str(summary_dir),
                       *(["--rebuild"] if args.rebuild else []),
                       *(["--keep"] if args.keep else []),
                       *(["--whole"] if args.whole else []), "--", *extra]
            # (the leg's pytest output, tracebacks and all: one file per leg, kept)
            with open(log_path(name), "w") as output:
                running[name] = subprocess.Popen(command, stdout=output)
        finished = [name for name, process in running.items() if process.poll() is not None]
        for name in finished:
            code = running.pop(name).returncode
            status = status or code
            summary = summary_dir / f"{name}.txt"
            print(summary.read_text().rstrip() if summary.exists()
                  else f"{name} leg: no summary (exit status {code})", flush=True)
            if code != 0:
                log(name, f"its pytest output: {log_path(name)}")
        time.sleep(0.5)
    return status


if __name__ == "__main__":
    sys.exit(main())
