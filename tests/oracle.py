"""Helpers shared by the tests: the fixtures, and the outside oracles (readelf and
pyelftools). On sys.path through pytest's ``pythonpath`` setting."""

import os
import re
import subprocess
import sys
from pathlib import Path

from requires import require_command

FIXTURES = Path(__file__).parent / "fixtures"

# name: (class, byte order, machine, version, hash styles) -- what the issue asked each
# fixture to be; the oracle tests check the fixtures really are that.
FIXTURE_SHAPES = {
    "x86_64-vdso.so": (64, "little", "x86_64", "LINUX_2.6", {"gnu", "sysv"}),
    "i386-vdso.so": (32, "little", "i386", "LINUX_2.6", {"gnu", "sysv"}),
    "aarch64-vdso.so": (64, "little", "aarch64", "LINUX_2.6.39", {"gnu"}),
    "s390x-vdso.so": (64, "big", "s390x", "LINUX_2.6.29", {"gnu", "sysv"}),
    "ppc64-vdso.so": (64, "big", "ppc64", "LINUX_2.6.15", {"sysv"}),
    "riscv64-vdso.so": (64, "little", "riscv64", "LINUX_4.15", {"gnu", "sysv"}),
    "arm-vdso.so": (32, "little", "arm", "LINUX_2.6", {"sysv"}),
    "mips-vdso.so": (32, "big", "mips", "LINUX_2.6", {"sysv"}),
}

# Our machine names against pyelftools' e_machine names.
EM_NAMES = {
    "x86_64": "EM_X86_64", "i386": "EM_386", "aarch64": "EM_AARCH64", "s390x": "EM_S390",
    "ppc64": "EM_PPC64", "riscv64": "EM_RISCV", "arm": "EM_ARM", "mips": "EM_MIPS",
}


def fixture_path(name):
    path = FIXTURES / name
    assert path.exists(), f"missing fixture {path}: run tests/fixtures/make_fixtures.sh"
    return path


def readelf(path, *options):
    tool = require_command("readelf", "binutils")
    return subprocess.run([tool, "-W", *options, str(path)], check=True,
                          capture_output=True, text=True).stdout


def readelf_view(path):
    """What readelf says of an image: soname, versions, hash styles, defined symbols."""
    dynamic = readelf(path, "-d")
    soname = re.search(r"\(SONAME\)\s+Library soname: \[(.*)\]", dynamic)
    hash_styles = set()
    if re.search(r"\(HASH\)", dynamic):
        hash_styles.add("sysv")
    if re.search(r"\(GNU_HASH\)", dynamic):
        hash_styles.add("gnu")
    versions, versions_all = [], set()
    for line in readelf(path, "-V").splitlines():
        match = re.search(r"Flags: (\S+)\s+Index: \d+\s+Cnt: \d+\s+Name: (\S+)", line)
        if match:
            versions_all.add(match.group(2))
            if "BASE" not in match.group(1):
                versions.append(match.group(2))
    symbols = set()
    for line in readelf(path, "--dyn-syms").splitlines():
        fields = line.split()
        if (len(fields) < 8 or not fields[0][:-1].isdigit() or fields[6] == "UND"
                or fields[3] == "SECTION"):
            continue
        name, version = fields[7], None
        if "@" in name:
            name, _, version = name.partition("@")
            version = version.lstrip("@")
        if version and " (" in line:  # readelf may add "(2)" style index hints
            version = version.split(" ")[0]
        if version is None and name in versions_all:
            # readelf leaves the version off the symbol that names a version definition
            # (LINUX_2.6 rather than LINUX_2.6@@LINUX_2.6); the symbol does carry it.
            version = name
        symbols.add((name, version, int(fields[1], 16), int(fields[2], 0), fields[3],
                     fields[4]))
    return {"soname": soname.group(1) if soname else None, "versions": versions,
            "hash_styles": hash_styles, "symbols": symbols}


def pyelftools_view(path):
    """What pyelftools says of an image, from its section headers."""
    from elftools.elf.elffile import ELFFile

    with open(path, "rb") as f:
        elf = ELFFile(f)
        dynsym = elf.get_section_by_name(".dynsym")
        versym = elf.get_section_by_name(".gnu.version")
        verdef = elf.get_section_by_name(".gnu.version_d")
        verneed = elf.get_section_by_name(".gnu.version_r")
        version_names = {}
        base = set()
        if verdef is not None:
            for definition, aux in verdef.iter_versions():
                version_names[definition["vd_ndx"]] = next(iter(aux)).name
                if definition["vd_flags"] & 1:
                    base.add(definition["vd_ndx"])
        needed = {}
        if verneed is not None:  # versions needed from other files, as readelf shows them
            for _, auxiliaries in verneed.iter_versions():
                for aux in auxiliaries:
                    needed[aux["vna_other"]] = aux.name
        symbols = set()
        for index, symbol in enumerate(dynsym.iter_symbols()):
            if index == 0 or symbol["st_shndx"] == "SHN_UNDEF" or not symbol.name:
                continue
            version = None
            if versym is not None:
                ndx = versym.get_symbol(index)["ndx"]
                if isinstance(ndx, int) and ndx > 1:
                    version = version_names.get(ndx & 0x7FFF) or needed[ndx & 0x7FFF]
            stype = symbol["st_info"]["type"].replace("STT_", "")
            bind = symbol["st_info"]["bind"].replace("STB_", "")
            symbols.add((symbol.name, version, symbol["st_value"], symbol["st_size"],
                         {"LOOS": "IFUNC"}.get(stype, stype),
                         {"LOOS": "UNIQUE"}.get(bind, bind)))
        return {
            "elf_class": elf.elfclass,
            "byteorder": "little" if elf.little_endian else "big",
            "e_machine": elf.header["e_machine"],
            "versions": [name for ndx, name in sorted(version_names.items())
                         if ndx not in base],
            "symbols": symbols,
        }


def as_tuples(image):
    return {(s.name, s.version, s.value, s.size, s.type, s.bind) for s in image.symbols}


# Children run from here, not from the source checkout, whose vdsotime/ folder (without
# compiled extensions) would shadow the installed package on `python -c` / `-m` paths.
NEUTRAL_CWD = "/"


def run_python(code, *args, timeout=300, env=None, **kwargs):
    """Run ``code`` in a child interpreter (so a crash there fails a test, not the run)."""
    kwargs.setdefault("cwd", NEUTRAL_CWD)
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})}, **kwargs)


SIGINT_DEFAULT = "import signal; signal.signal(signal.SIGINT, signal.default_int_handler)\n"


def interrupt_child(code, *args, after=0.3, timeout=30):
    """Start ``code`` in a child, wait for its "ready" line, send SIGINT ``after`` seconds
    later, and return the seconds between the signal and the time the child printed after
    "interrupted". The child prints "interrupted <time.monotonic()>" when it catches
    KeyboardInterrupt."""
    return interrupted_child(code, *args, after=after, timeout=timeout)[0]


def interrupted_child(code, *args, after=0.3, timeout=30):
    """interrupt_child(), returning (seconds, the words the child printed) so that a test
    can read what the child said after "interrupted <time>"."""
    import signal
    import time

    # A child inherits an ignored SIGINT (pytest under nohup, or from a background
    # shell), and Python then installs no KeyboardInterrupt handler: restore it before
    # anything else, so before the child says it is ready.
    code = SIGINT_DEFAULT + code
    child = subprocess.Popen([sys.executable, "-c", code, *args], cwd=NEUTRAL_CWD,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "ready", child.stderr.read()
        time.sleep(after)
        sent = time.monotonic()
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=timeout)
    finally:
        child.kill()
    words = out.split()
    assert words and words[0] == "interrupted", out + err
    return float(words[1]) - sent, words


def build_extension(folder, files, setup_py):
    """Write ``files`` ({name: text}) and setup.py into ``folder`` and build in place;
    returns the completed process (assert on its returncode). Without a C compiler (a
    leg's test root has none, by design) the test skips or fails: require_command."""
    require_command("gcc", "gcc")
    for name, text in files.items():
        (folder / name).write_text(text)
    (folder / "setup.py").write_text(setup_py)
    return subprocess.run([sys.executable, "setup.py", "build_ext", "--inplace"],
                          cwd=folder, capture_output=True, text=True, timeout=600)


# The start of a child for interrupt_once_counted(): ``statement`` (after ``setup``)
# appends a byte to the counter file per call and takes about a millisecond.
COUNTED_CALLS_CHILD = """\
import signal, sys, time, vdsotime
signal.signal(signal.SIGINT, signal.default_int_handler)
setup = f"import time; calls = open({sys.argv[1]!r}, 'ab', buffering=0)"
statement = "calls.write(b'x'); time.sleep(0.001)"
print("ready", flush=True)
"""


def interrupt_once_counted(code, counter, at_least, target, *args):
    """Start ``code`` in a child of its own session, wait for its "ready" line and for the
    file ``counter`` (passed as its argument) to hold ``at_least`` bytes -- the child's
    calls counted there, so the signal comes at the same point of the work whatever the
    machine's load -- then send SIGINT to the child alone (``target`` "process") or to
    its whole process group ("group", as Ctrl-C at a terminal does). ``args`` follow the
    counter's path on the child's command line. Returns (stdout, stderr, exit status)."""
    import signal
    import time

    counter.touch()
    child = subprocess.Popen([sys.executable, "-c", code, str(counter), *map(str, args)],
                             cwd=NEUTRAL_CWD,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             start_new_session=True)
    try:
        assert child.stdout.readline().strip() == "ready", child.stderr.read()
        deadline = time.monotonic() + 120
        while counter.stat().st_size < at_least and time.monotonic() < deadline:
            time.sleep(0.05)
        assert counter.stat().st_size >= at_least, "the child made too few calls"
        if target == "group":
            os.killpg(child.pid, signal.SIGINT)
        else:
            child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=120)
        return out, err, child.returncode
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()
