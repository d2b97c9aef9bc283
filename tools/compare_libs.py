#!/usr/bin/env python3
"""Compare vdsotime's ELF reader with pyelftools over the system's shared objects.

Finds every ELF shared object (e_type ET_DYN) under the library folders, reads each one
with ``vdsotime.ElfImage.from_file`` and with pyelftools, and compares

* the defined, named dynamic symbols as a multiset of
  (name, version, value, size, type, bind),
* the soname (DT_SONAME),
* the version definitions (non-base DT_VERDEF names).

Each file is read in a worker process (``--jobs`` of them, default 1). A worker answers
once after the vdsotime read and once after the pyelftools read, so a crash (the worker
dies) or a hang (no answer before the phase's timeout) is detected and pinned on the
reader that was running, with the file's path; the worker is then restarted.

Differences are grouped into categories. Categories this script knows (``KNOWN`` below)
carry a root cause and a verdict; those marked justified do not fail the run. Any other
difference, any crash and any hang make the exit status 1.

pyelftools reads the section headers (.dynsym, .gnu.version, .gnu.version_d and
.gnu.version_r, .dynamic); vdsotime reads the dynamic section only (DT_SYMTAB, counted by
DT_HASH or DT_GNU_HASH). The symbol's version on the pyelftools side is resolved as
readelf resolves it: the versym index (hidden bit masked) is looked up among the version
definitions for a defined symbol, then among the version needs (vna_other); 0 and 1 are
unversioned. pyelftools' types and binds are spelled as readelf spells them
(STT_LOOS = STT_GNU_IFUNC -> IFUNC, STB_LOOS = STB_GNU_UNIQUE -> UNIQUE).

Usage: python tools/compare_libs.py [--roots DIR ...] [--limit N --seed S] [--jobs N]
       [--json] [--save FILE] [--readelf] [--examples K]
"""

import argparse
import collections
import json
import os
import random
import re
import select
import signal
import subprocess
import sys
import tempfile
import time

DEFAULT_ROOTS = ["/lib", "/usr/lib", "/lib64", "/usr/lib64", "/usr/local/lib"]
ET_DYN = 3
VER_FLG_BASE = 1
DIFF_CAP = 200          # symbols kept per difference list of one file
TIMEOUT_VDSOTIME = 60.0  # seconds for one file's vdsotime read
TIMEOUT_PYELFTOOLS = 900.0  # seconds for one file's pyelftools read (huge libraries)


def python_lib_dirs():
    """The Python installation's lib folder (and the virtual environment's, if any)."""
    dirs = [os.path.join(sys.base_prefix, "lib")]
    if sys.prefix != sys.base_prefix:
        dirs.append(os.path.join(sys.prefix, "lib"))
    return dirs


# ---------------------------------------------------------------------------------------
# Discovery
# ---------------------------------------------------------------------------------------

def elf_type(path):
    """(is_elf, e_type) from the file's first 18 bytes; e_type is None if too short."""
    with open(path, "rb") as f:
        head = f.read(18)
    if head[:4] != b"\x7fELF":
        return False, None
    if len(head) < 18 or head[5] not in (1, 2):
        return True, None
    return True, int.from_bytes(head[16:18], "little" if head[5] == 1 else "big")


def discover(roots):
    """Every ET_DYN ELF file under ``roots``, deduplicated by realpath.

    Directory symlinks are not followed (a symlinked root is resolved once, and every
    directory is walked once by realpath); file symlinks are resolved and the target is
    taken once. Returns (sorted list of realpaths, counters)."""
    stats = collections.Counter()
    seen_dirs, seen_files, found = set(), set(), []
    stack = []
    for root in roots:
        if os.path.isdir(root):
            stack.append(os.path.realpath(root))
        else:
            stats["roots missing"] += 1
    stack.reverse()
    while stack:
        directory = stack.pop()
        if directory in seen_dirs:
            continue
        seen_dirs.add(directory)
        try:
            entries = list(os.scandir(directory))
        except OSError:
            stats["unreadable directories"] += 1
            continue
        subdirs = []
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    subdirs.append(entry.path)
                    continue
                real = os.path.realpath(entry.path) if entry.is_symlink() else entry.path
                if real in seen_files:
                    continue
                seen_files.add(real)
                if not os.path.isfile(real):  # dangling link, link to a directory, fifo...
                    continue
                stats["files examined"] += 1
                is_elf, etype = elf_type(real)
            except OSError:
                stats["unreadable files"] += 1
                continue
            if not is_elf:
                stats["not ELF"] += 1
            elif etype != ET_DYN:
                stats["ELF but not ET_DYN"] += 1
            else:
                found.append(real)
        stack.extend(sorted(subdirs, reverse=True))
    found.sort()
    stats["ET_DYN files"] = len(found)
    return found, stats


# ---------------------------------------------------------------------------------------
# Worker: reads one file with both readers and compares
# ---------------------------------------------------------------------------------------

def _norm_name(name):
    """vdsotime decodes names as UTF-8 with surrogateescape, pyelftools with 'replace'."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def read_vdsotime(path):
    import vdsotime
    out = {"error": None}
    try:
        image = vdsotime.ElfImage.from_file(path)
        symbols = [(_norm_name(s.name), s.version, s.value, s.size, s.type, s.bind)
                   for s in image.symbols]
        out.update(soname=image.soname, versions=list(image.versions),
                   hash_styles=list(image.hash_styles), symbols=symbols,
                   kind=f"ELF{image.elf_class} {image.byteorder}-endian {image.machine}")
    except vdsotime.ElfError as e:
        out.update(error="ElfError", message=str(e))
    except OSError as e:
        out.update(error="OSError", message=str(e))
    except Exception as e:  # anything else is a bug in vdsotime: report it as such
        out.update(error=type(e).__name__, message=str(e))
    return out


_TYPES = {"STT_NOTYPE": "NOTYPE", "STT_OBJECT": "OBJECT", "STT_FUNC": "FUNC",
          "STT_SECTION": "SECTION", "STT_FILE": "FILE", "STT_COMMON": "COMMON",
          "STT_TLS": "TLS", "STT_RELC": "RELC", "STT_SRELC": "SRELC", "STT_LOOS": "IFUNC",
          "STT_NUM": "7", "STT_HIOS": "12", "STT_LOPROC": "13", "STT_HIPROC": "15"}
_BINDS = {"STB_LOCAL": "LOCAL", "STB_GLOBAL": "GLOBAL", "STB_WEAK": "WEAK",
          "STB_LOOS": "UNIQUE", "STB_NUM": "3", "STB_HIOS": "12", "STB_LOPROC": "13",
          "STB_HIPROC": "15"}
_VERSYM_NAMES = {"VER_NDX_LOCAL": 0, "VER_NDX_GLOBAL": 1, "VER_NDX_LORESERVE": 0xff00,
                 "VER_NDX_ELIMINATE": 0xff01}


def read_pyelftools(path):
    from elftools.common.utils import struct_parse
    from elftools.elf.elffile import ELFFile
    out = {"error": None}
    try:
        with open(path, "rb") as f:
            elf = ELFFile(f)
            dynsym = versym = verdef = verneed = dynamic = None
            for section in elf.iter_sections():
                kind = section["sh_type"]
                if kind == "SHT_DYNSYM" and dynsym is None:
                    dynsym = section
                elif kind == "SHT_GNU_versym" and versym is None:
                    versym = section
                elif kind == "SHT_GNU_verdef" and verdef is None:
                    verdef = section
                elif kind == "SHT_GNU_verneed" and verneed is None:
                    verneed = section
                elif kind == "SHT_DYNAMIC" and dynamic is None:
                    dynamic = section
            out["has_section_headers"] = elf.num_sections() > 0
            out["kind"] = (f"ELF{elf.elfclass} {'little' if elf.little_endian else 'big'}-endian "
                           f"{elf['e_machine']}")
            dyn_segments = [s for s in elf.iter_segments() if s["p_type"] == "PT_DYNAMIC"]
            out["pt_dynamic_filesz"] = dyn_segments[0]["p_filesz"] if dyn_segments else None
            out["has_pt_interp"] = any(s["p_type"] == "PT_INTERP" for s in elf.iter_segments())
            nobits = {s.name for s in elf.iter_sections() if s["sh_type"] == "SHT_NOBITS"}
            out["dynsym_nobits"] = ".dynsym" in nobits
            def_names, versions = {}, []
            if verdef is not None:
                for vd, auxs in verdef.iter_versions():
                    names = [aux.name for aux in auxs]
                    if not names:
                        continue
                    def_names[vd["vd_ndx"] & 0x7fff] = names[0]
                    if not vd["vd_flags"] & VER_FLG_BASE:
                        versions.append(names[0])
            need_names = {}
            if verneed is not None:
                for vn, auxs in verneed.iter_versions():
                    for aux in auxs:
                        need_names[aux["vna_other"] & 0x7fff] = aux.name
            out["versions"] = versions
            out["verneed_indexes"] = sorted(need_names)
            soname = None
            source = dynamic
            if source is None:
                source = next((s for s in elf.iter_segments() if s["p_type"] == "PT_DYNAMIC"),
                              None)
            out["soname_from"] = "none" if source is None else (
                ".dynamic section" if source is dynamic else "PT_DYNAMIC segment")
            if source is not None:
                for tag in source.iter_tags():
                    if tag["d_tag"] == "DT_SONAME":
                        soname = tag.soname
                        break
            out["soname"] = soname
            segment = next((s for s in elf.iter_segments() if s["p_type"] == "PT_DYNAMIC"),
                           None)
            if dynsym is not None:
                table, out["source"] = dynsym, ".dynsym section"
                out["table_entries"] = dynsym.num_symbols()
            elif segment is not None:
                table, out["source"] = segment, "PT_DYNAMIC segment (no .dynsym section)"
                out["table_entries"] = segment.num_symbols()
            else:
                table, out["source"] = None, "none"
                out["table_entries"] = 0
            symbols, from_verneed, unknown_index, verneed_in_nobits = [], [], [], 0
            if table is not None:
                entsize = (versym["sh_entsize"] or 2) if versym is not None else 2
                for i, sym in enumerate(table.iter_symbols()):
                    if i == 0 or sym["st_shndx"] == "SHN_UNDEF" or not sym.name:
                        continue
                    version = None
                    if versym is not None and table is dynsym:
                        ndx = struct_parse(versym.structs.Elf_Versym, versym.stream,
                                           stream_pos=versym["sh_offset"] + i * entsize)["ndx"]
                        ndx = _VERSYM_NAMES.get(ndx, ndx) & 0x7fff
                        if ndx > 1:
                            if ndx in def_names:
                                version = def_names[ndx]
                            elif ndx in need_names:
                                version = need_names[ndx]
                                from_verneed.append(sym.name)
                                shndx = sym["st_shndx"]
                                if isinstance(shndx, int) and shndx < elf.num_sections() \
                                        and elf.get_section(shndx)["sh_type"] == "SHT_NOBITS":
                                    verneed_in_nobits += 1
                            else:
                                version = f"<version index {ndx}>"
                                unknown_index.append(sym.name)
                    info = sym["st_info"]
                    symbols.append((sym.name, version, sym["st_value"], sym["st_size"],
                                    _TYPES.get(info["type"], str(info["type"])),
                                    _BINDS.get(info["bind"], str(info["bind"]))))
            out["symbols"] = symbols
            out["version_from_verneed"] = from_verneed[:DIFF_CAP]
            out["version_from_verneed_count"] = len(from_verneed)
            out["version_from_verneed_in_nobits"] = verneed_in_nobits
            out["version_index_unknown"] = unknown_index[:DIFF_CAP]
    except Exception as e:
        out.update(error=type(e).__name__, message=str(e))
    return out


def diff_symbols(v_syms, p_syms):
    """Multiset difference, then pair the leftovers by (name, value), then by name."""
    v_count = collections.Counter(v_syms)
    p_count = collections.Counter(p_syms)
    only_v = list((v_count - p_count).elements())
    only_p = list((p_count - v_count).elements())
    changed = []
    for key in (lambda s: (s[0], s[2]), lambda s: s[0]):
        by_key = collections.defaultdict(list)
        for s in only_p:
            by_key[key(s)].append(s)
        rest_v = []
        for s in only_v:
            candidates = by_key.get(key(s))
            if candidates:
                changed.append((s, candidates.pop(0)))
            else:
                rest_v.append(s)
        only_v = rest_v
        only_p = [s for group in by_key.values() for s in group]
    fields = ("name", "version", "value", "size", "type", "bind")
    changed_fields = collections.Counter()
    for v, p in changed:
        changed_fields["+".join(f for f, a, b in zip(fields, v, p) if a != b)] += 1
    return {"only_vdsotime": len(only_v), "only_pyelftools": len(only_p),
            "changed": len(changed), "changed_fields": dict(changed_fields),
            "only_vdsotime_list": only_v[:DIFF_CAP],
            "only_pyelftools_list": only_p[:DIFF_CAP],
            "changed_list": changed[:DIFF_CAP]}


def compare_file(path, v, p):
    result = {"path": path, "vdsotime": {k: x for k, x in v.items() if k != "symbols"},
              "pyelftools": {k: x for k, x in p.items() if k != "symbols"}}
    result["vdsotime"]["nsymbols"] = len(v.get("symbols") or ())
    result["pyelftools"]["nsymbols"] = len(p.get("symbols") or ())
    if v["error"] is None and p["error"] is None:
        result["symbols"] = diff_symbols(v["symbols"], p["symbols"])
        result["soname_equal"] = v["soname"] == p["soname"]
        result["versions_equal"] = v["versions"] == p["versions"]
    return result


def worker_main():
    """Read JSON paths from stdin; answer each with two JSON lines on stdout."""
    import faulthandler
    faulthandler.enable()
    faulthandler.register(signal.SIGUSR1, all_threads=True)  # the parent asks on a hang
    import vdsotime  # noqa: F401  (import once, before the first file)
    import elftools.elf.elffile  # noqa: F401
    out = sys.stdout
    # Self-test hook (--inject-fault): crash or hang in a phase for matching paths, to
    # check that the parent detects and reports it.
    fault = os.environ.get("COMPARE_LIBS_FAULT", "")
    fault_kind, _, fault_match = fault.partition(":")
    fault_phase, _, fault_kind = fault_kind.partition("-")

    def maybe_fault(phase, path):
        if fault and phase == fault_phase and fault_match in path:
            if fault_kind == "crash":
                os.kill(os.getpid(), signal.SIGSEGV)
            time.sleep(1e6)

    for line in sys.stdin:
        path = json.loads(line)
        maybe_fault("vdsotime", path)
        v = read_vdsotime(path)
        out.write(json.dumps({"phase": "vdsotime done"}) + "\n")
        out.flush()
        maybe_fault("pyelftools", path)
        p = read_pyelftools(path)
        out.write(json.dumps({"result": compare_file(path, v, p)}) + "\n")
        out.flush()


# ---------------------------------------------------------------------------------------
# Parent: drives the workers with timeouts
# ---------------------------------------------------------------------------------------

class Worker:
    timeouts = {"vdsotime": TIMEOUT_VDSOTIME, "pyelftools": TIMEOUT_PYELFTOOLS}

    def __init__(self, python):
        self.stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen([python, os.path.abspath(__file__), "--worker"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.stderr, bufsize=0)
        self.buffer = b""
        self.path = None
        self.phase = None
        self.deadline = None

    def send(self, path, now):
        self.path, self.phase = path, "vdsotime"
        self.deadline = now + self.timeouts["vdsotime"]
        self.proc.stdin.write((json.dumps(path) + "\n").encode())
        self.proc.stdin.flush()

    def stderr_tail(self):
        self.stderr.seek(0)
        return self.stderr.read().decode("utf-8", "replace")[-2000:]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.stderr.close()


def run_workers(paths, jobs, python, progress):
    """Yield one result dict per path (crash and hang results included)."""
    queue = list(reversed(paths))
    workers = [Worker(python) for _ in range(max(1, min(jobs, len(paths))))]
    done = 0
    try:
        for w in workers:
            if queue:
                w.send(queue.pop(), time.monotonic())
        while any(w.path is not None for w in workers):
            busy = [w for w in workers if w.path is not None]
            now = time.monotonic()
            wait = max(0.0, min(w.deadline for w in busy) - now)
            ready, _, _ = select.select([w.proc.stdout for w in busy], [], [], wait)
            now = time.monotonic()
            for i, w in enumerate(workers):
                if w.path is None:
                    continue
                failure = None
                if w.proc.stdout in ready:
                    chunk = os.read(w.proc.stdout.fileno(), 1 << 20)
                    if not chunk:
                        code = w.proc.wait()
                        how = (f"killed by signal {signal.Signals(-code).name}" if code < 0
                               else f"exited with status {code}")
                        failure = {"kind": "crash", "phase": w.phase, "how": how,
                                   "stderr": w.stderr_tail()}
                    else:
                        w.buffer += chunk
                        while b"\n" in w.buffer:
                            line, w.buffer = w.buffer.split(b"\n", 1)
                            message = json.loads(line)
                            if message.get("phase") == "vdsotime done":
                                w.phase = "pyelftools"
                                w.deadline = now + w.timeouts["pyelftools"]
                            else:
                                yield message["result"]
                                done += 1
                                progress(done, len(paths), w.path)
                                w.path = None
                                if queue:
                                    w.send(queue.pop(), now)
                if failure is None and w.path is not None and now >= w.deadline:
                    w.proc.send_signal(signal.SIGUSR1)  # faulthandler: where it hangs
                    time.sleep(1.0)
                    failure = {"kind": "hang", "phase": w.phase,
                               "how": f"no answer within {w.timeouts[w.phase]:g} s",
                               "stderr": w.stderr_tail()}
                if failure is not None:
                    path = w.path
                    w.stop()
                    yield {"path": path, "failure": failure}
                    done += 1
                    progress(done, len(paths), path)
                    workers[i] = Worker(python)
                    if queue:
                        workers[i].send(queue.pop(), time.monotonic())
    finally:
        for w in workers:
            w.stop()


# ---------------------------------------------------------------------------------------
# Classification
# ---------------------------------------------------------------------------------------

# Categories whose root cause has been investigated. "justified" ones do not fail the
# run. Keys are stable ids; classify() below decides which one a file belongs to.
KNOWN = {
    "vdsotime-crash": dict(
        title="vdsotime crashed the process",
        cause="The worker process died while vdsotime was reading the file.",
        verdict="vdsotime bug", justified=False),
    "vdsotime-hang": dict(
        title="vdsotime did not finish",
        cause="No answer from vdsotime within the timeout (the detail holds the worker's "
              "Python stack, dumped by faulthandler before it was killed).",
        verdict="vdsotime bug", justified=False),
    "debug-file-no-dynamic": dict(
        title="Separate debug-info file: no dynamic section in the file (both readers "
              "reject it)",
        cause="The file is an 'objcopy --only-keep-debug' companion (under /usr/lib/debug): "
              "it keeps the program headers of the library it describes, but every "
              "loadable section, .dynamic, .dynsym, .dynstr, .hash and .gnu.hash included, "
              "is SHT_NOBITS, and PT_DYNAMIC has p_filesz 0. vdsotime raises ElfError 'the "
              "image has no PT_DYNAMIC segment (or it is empty)'; pyelftools finds no "
              "usable .dynsym (SHT_NOBITS) and its PT_DYNAMIC fallback raises "
              "'Segment does not contain DT_SYMTAB.'; readelf -d says 'There is no dynamic "
              "section in this file.' All three agree that there is nothing to read.",
        verdict="both right", justified=True),
    "vdsotime-verneed-index": dict(
        title="vdsotime raises ElfError on a defined symbol whose version index is a "
              "DT_VERNEED entry (copy-relocated symbol in a PIE executable)",
        cause="PIE executables (ET_DYN with PT_INTERP, no DT_SONAME, no DT_VERDEF) that take "
              "a versioned data symbol from a library by copy relocation (R_X86_64_COPY: "
              "stdout@GLIBC_2.2.5, saved_argv@SD_SHARED, _ZSt4cerr@GLIBCXX_3.4, ...) define "
              "it in their own .bss (.data.rel.ro for read-only objects such as vtables), "
              "and its DT_VERSYM index names the DT_VERNEED entry (vna_other) of the "
              "library version; such a file has no DT_VERDEF at all. readelf (--dyn-syms, "
              "-D --dyn-syms and -V) reports stdout@GLIBC_2.2.5 (2), and glibc's ld.so builds "
              "its version table from DT_VERNEED as well as DT_VERDEF, so the file is valid. "
              "The reader once resolved version indexes against DT_VERDEF only and raised "
              "\"symbol 'stdout' has version index 2, which no version defines\" from "
              ".symbols and lookup(); it follows DT_VERNEED too since this comparison found "
              "that, so a file in this category now means a regression.",
        verdict="vdsotime wrong (pyelftools/readelf right)", justified=False),
    "pyelftools-crash": dict(
        title="pyelftools crashed the process",
        cause="The worker process died while pyelftools was reading the file.",
        verdict="pyelftools problem (the file could not be compared)", justified=False),
    "pyelftools-hang": dict(
        title="pyelftools did not finish",
        cause="No answer from pyelftools within the timeout.",
        verdict="pyelftools problem (the file could not be compared)", justified=False),
}


def _shape(message):
    """An error message with its file-specific parts (names, numbers) replaced."""
    message = re.sub(r"'[^']*'|\"[^\"]*\"", "'…'", message)
    message = re.sub(r"0x[0-9a-fA-F]+|\b\d+\b", "N", message)
    return message


def classify(r):
    """A list of (category id, one-line detail) for one file's result; [] = agrees."""
    if "failure" in r:
        f = r["failure"]
        lines = [line.strip() for line in f["stderr"].splitlines() if line.strip()]
        return [(f"{f['phase']}-{f['kind']}",
                 f"{f['how']}; worker stderr: {' | '.join(lines[:8]) or '(empty)'}")]
    v, p = r["vdsotime"], r["pyelftools"]
    out = []
    if v["error"] and p["error"]:
        cid = _known_both_error(r)
        if cid:
            return [(cid, f"vdsotime: {v['message']} | pyelftools: {p['error']}: "
                          f"{p['message']} | PT_DYNAMIC p_filesz {p.get('pt_dynamic_filesz')}, "
                          f".dynsym is SHT_NOBITS: {p.get('dynsym_nobits')}")]
        out.append((f"both-error: vdsotime {v['error']} '{_shape(v['message'])}' / "
                    f"pyelftools {p['error']} '{_shape(p['message'])}'",
                    f"vdsotime: {v['message']} | pyelftools: {p['error']}: {p['message']}"))
        return out
    if v["error"]:
        cid = _known_vdsotime_error(r)
        detail = (f"vdsotime: {v['message']}; pyelftools reads {p['nsymbols']} defined "
                  f"symbols, soname {p['soname']!r}")
        if p.get("version_from_verneed_count"):
            detail += (f"; {p['version_from_verneed_count']} defined symbol(s) carry a "
                       f"DT_VERNEED version index ({p['version_from_verneed_in_nobits']} of "
                       f"them in a SHT_NOBITS section), e.g. "
                       f"{', '.join(p['version_from_verneed'][:4])}; PT_INTERP "
                       f"{'present' if p.get('has_pt_interp') else 'absent'}")
        out.append((cid or f"vdsotime {v['error']}: {_shape(v['message'])}", detail))
        return out
    if p["error"]:
        cid = _known_pyelftools_error(r)
        out.append((cid or f"pyelftools {p['error']}: {_shape(p['message'])}",
                    f"pyelftools: {p['message']}; vdsotime reads {v['nsymbols']} symbols, "
                    f"soname {v['soname']!r}"))
        return out
    d = r["symbols"]
    if d["only_vdsotime"] or d["only_pyelftools"] or d["changed"]:
        cid = _known_symbol_difference(r)
        kinds = []
        if d["changed"]:
            kinds.append("changed " + ",".join(sorted(d["changed_fields"])))
        if d["only_vdsotime"]:
            kinds.append("only vdsotime lists some")
        if d["only_pyelftools"]:
            kinds.append("only pyelftools lists some")
        out.append((cid or "symbols differ: " + "; ".join(kinds), _symbol_detail(d)))
    if not r["soname_equal"]:
        out.append(("soname differs", f"vdsotime {v['soname']!r}, pyelftools {p['soname']!r}"))
    if not r["versions_equal"]:
        vs, ps = set(v["versions"]), set(p["versions"])
        detail = (f"only vdsotime: {sorted(vs - ps)}, only pyelftools: {sorted(ps - vs)}"
                  if vs != ps else f"same names, different order: {v['versions']} vs "
                  f"{p['versions']}")
        out.append(("version definitions differ", detail))
    return out


def _fmt(sym):
    name, version, value, size, stype, bind = sym
    return f"{name}{'@' + version if version else ''} {value:#x} size {size} {stype} {bind}"


def _symbol_detail(d):
    parts = []
    if d["changed"]:
        v, p = d["changed_list"][0]
        parts.append(f"{d['changed']} changed ({', '.join(f'{k}: {n}' for k, n in d['changed_fields'].items())}), "
                     f"e.g. vdsotime [{_fmt(v)}] vs pyelftools [{_fmt(p)}]")
    if d["only_vdsotime"]:
        parts.append(f"{d['only_vdsotime']} only in vdsotime, e.g. "
                     + "; ".join(_fmt(s) for s in d["only_vdsotime_list"][:3]))
    if d["only_pyelftools"]:
        parts.append(f"{d['only_pyelftools']} only in pyelftools, e.g. "
                     + "; ".join(_fmt(s) for s in d["only_pyelftools_list"][:3]))
    return " | ".join(parts)


def _known_both_error(r):
    v, p = r["vdsotime"], r["pyelftools"]
    if (v["error"] == "ElfError" and "no PT_DYNAMIC segment (or it is empty)" in v["message"]
            and p.get("pt_dynamic_filesz") == 0 and p.get("dynsym_nobits")):
        return "debug-file-no-dynamic"
    return None


def _known_vdsotime_error(r):
    v, p = r["vdsotime"], r["pyelftools"]
    m = re.search(r"has version index (\d+), which no version defines", v.get("message", ""))
    if (v["error"] == "ElfError" and m and int(m.group(1)) in p.get("verneed_indexes", ())
            and p.get("version_from_verneed_count")):
        return "vdsotime-verneed-index"
    return None


def _known_pyelftools_error(r):
    return None


def _known_symbol_difference(r):
    return None


# ---------------------------------------------------------------------------------------
# readelf as a third opinion for the examples
# ---------------------------------------------------------------------------------------

def readelf_lines(path, names, limit=6):
    """readelf -W --dyn-syms lines (section headers) and readelf -D lines (dynamic
    section) that mention any of ``names``."""
    out = []
    for flags, label in ((["-W", "--dyn-syms"], "readelf --dyn-syms"),
                         (["-W", "-D", "--dyn-syms"], "readelf -D --dyn-syms")):
        try:
            text = subprocess.run(["readelf", *flags, path], capture_output=True, text=True,
                                  errors="replace", timeout=120).stdout
        except (OSError, subprocess.TimeoutExpired) as e:
            out.append(f"{label}: {e}")
            continue
        hits = [line.strip() for line in text.splitlines()
                if any(re.search(r"\s" + re.escape(n) + r"(@|\s|$)", line) for n in names)]
        out.extend(f"{label}: {h}" for h in hits[:limit])
    return out


# ---------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------

def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--roots", nargs="+", metavar="DIR",
                        help="folders to search (default: %s and the Python lib dir)"
                        % " ".join(DEFAULT_ROOTS))
    parser.add_argument("--limit", type=int, help="compare a random sample of N files")
    parser.add_argument("--seed", type=int, default=0, help="seed of the sample (default 0)")
    parser.add_argument("--jobs", type=int, default=1, help="worker processes (default 1)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--save", metavar="FILE", help="also write the full JSON report")
    parser.add_argument("--examples", type=int, default=3, help="example files per category")
    parser.add_argument("--readelf", action="store_true",
                        help="show readelf's lines for the differing symbols of examples")
    parser.add_argument("--python", default=sys.executable,
                        help="interpreter for the workers (default: this one)")
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")
    parser.add_argument("--timeout-vdsotime", type=float, default=TIMEOUT_VDSOTIME,
                        metavar="S", help="seconds allowed for one vdsotime read "
                        "(default %(default)g)")
    parser.add_argument("--timeout-pyelftools", type=float, default=TIMEOUT_PYELFTOOLS,
                        metavar="S", help="seconds allowed for one pyelftools read "
                        "(default %(default)g)")
    parser.add_argument("--inject-fault", metavar="PHASE-KIND:SUBSTRING",
                        help="self-test: make the worker crash (SIGSEGV) or hang in PHASE "
                        "(vdsotime or pyelftools) on paths containing SUBSTRING, e.g. "
                        "vdsotime-crash:libz.so")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker_main()
        return 0

    Worker.timeouts = {"vdsotime": args.timeout_vdsotime,
                       "pyelftools": args.timeout_pyelftools}
    if args.inject_fault:
        os.environ["COMPARE_LIBS_FAULT"] = args.inject_fault
    start = time.monotonic()
    roots = args.roots or DEFAULT_ROOTS + python_lib_dirs()
    paths, discovery = discover(roots)
    if args.limit is not None and args.limit < len(paths):
        paths = sorted(random.Random(args.seed).sample(paths, args.limit))

    def progress(done, total, path):
        if not args.quiet and (done % 50 == 0 or done == total):
            print(f"[{done}/{total}] {time.monotonic() - start:.0f}s {path}", file=sys.stderr)

    results = list(run_workers(paths, args.jobs, args.python, progress))
    categories = collections.OrderedDict()
    counts = collections.Counter()
    kinds = collections.Counter()
    symbols_compared = 0
    for r in results:
        found = classify(r)
        r["categories"] = [c for c, _ in found]
        if "failure" in r:
            counts[r["failure"]["phase"] + " " + r["failure"]["kind"]] += 1
        else:
            if r["vdsotime"]["error"] == "ElfError":
                counts["vdsotime ElfError"] += 1
            elif r["vdsotime"]["error"]:
                counts["vdsotime other error"] += 1
            if r["pyelftools"]["error"]:
                counts["pyelftools errors"] += 1
        counts["differ" if found else "agree"] += 1
        if found:
            justified = all(KNOWN.get(c, {}).get("justified") for c, _ in found)
            counts["differ, justified" if justified else "differ, not justified"] += 1
        if "failure" not in r and not r["vdsotime"]["error"]:
            kinds[r["vdsotime"]["kind"]] += 1
            symbols_compared += r["vdsotime"]["nsymbols"]
        for cid, detail in found:
            categories.setdefault(cid, []).append((r["path"], detail))
    elapsed = time.monotonic() - start

    report = {"roots": roots, "discovery": dict(discovery), "scanned": len(results),
              "agree": counts["agree"], "differ": counts["differ"],
              "differ_justified": counts["differ, justified"],
              "differ_not_justified": counts["differ, not justified"],
              "symbols_in_files_vdsotime_read": symbols_compared,
              "elf_kinds_vdsotime_read": dict(kinds.most_common()),
              "vdsotime_elferror": counts["vdsotime ElfError"],
              "vdsotime_other_error": counts["vdsotime other error"],
              "pyelftools_errors": counts["pyelftools errors"],
              "crashes": counts["vdsotime crash"] + counts["pyelftools crash"],
              "hangs": counts["vdsotime hang"] + counts["pyelftools hang"],
              "elapsed_seconds": round(elapsed, 1), "categories": []}
    failing = False
    for cid, members in sorted(categories.items(), key=lambda kv: -len(kv[1])):
        known = KNOWN.get(cid)
        justified = bool(known and known["justified"])
        failing |= not justified
        entry = {"id": cid, "files": len(members), "justified": justified,
                 "title": known["title"] if known else cid,
                 "cause": known["cause"] if known else "not investigated",
                 "verdict": known["verdict"] if known else "unknown",
                 "examples": [{"path": path, "detail": detail}
                              for path, detail in members[:args.examples]]}
        if args.readelf:
            by_path = {r["path"]: r for r in results}
            for example in entry["examples"]:
                r = by_path[example["path"]]
                names = set()
                d = r.get("symbols")
                if d:
                    names.update(s[0] for s in d["only_vdsotime_list"][:3])
                    names.update(s[0] for s in d["only_pyelftools_list"][:3])
                    names.update(v[0] for v, _ in d["changed_list"][:3])
                for name in r.get("pyelftools", {}).get("version_from_verneed", [])[:2]:
                    names.add(name)
                if names:
                    example["readelf"] = readelf_lines(example["path"], sorted(names))
        report["categories"].append(entry)
    report["exit_status"] = 1 if failing else 0

    if args.save:
        with open(args.save, "w") as f:
            json.dump({"report": report, "results": results}, f, indent=1, default=list)
    if args.json:
        json.dump(report, sys.stdout, indent=1, default=list)
        print()
    else:
        print_report(report)
    return report["exit_status"]


def print_report(report):
    d = report["discovery"]
    print(f"roots: {' '.join(report['roots'])}")
    print(f"discovery: {d.get('files examined', 0)} files examined, {d.get('not ELF', 0)} not "
          f"ELF, {d.get('ELF but not ET_DYN', 0)} ELF but not ET_DYN, "
          f"{d.get('unreadable files', 0)} unreadable")
    print(f"files scanned: {report['scanned']}")
    print(f"agree: {report['agree']}")
    print(f"differ: {report['differ']} ({report['differ_justified']} only in justified "
          f"categories, {report['differ_not_justified']} not justified)")
    print(f"vdsotime ElfError: {report['vdsotime_elferror']}"
          + (f" (+{report['vdsotime_other_error']} other vdsotime errors)"
             if report["vdsotime_other_error"] else ""))
    print(f"pyelftools errors: {report['pyelftools_errors']}")
    print(f"crashes: {report['crashes']}, hangs: {report['hangs']}")
    print(f"elapsed: {report['elapsed_seconds']:.1f} s")
    print(f"symbols in the files vdsotime read: {report['symbols_in_files_vdsotime_read']}; "
          "ELF kinds: " + ", ".join(f"{k} {n}" for k, n in
                                    report["elf_kinds_vdsotime_read"].items()))
    for c in report["categories"]:
        mark = "justified" if c["justified"] else "NOT JUSTIFIED"
        print()
        print(f"== {c['title']}: {c['files']} file(s) [{mark}; {c['verdict']}]")
        if c["title"] != c["id"]:
            print(f"   id: {c['id']}")
        print(f"   cause: {c['cause']}")
        for e in c["examples"]:
            print(f"   - {e['path']}")
            print(f"     {e['detail']}")
            for line in e.get("readelf", []):
                print(f"       {line}")
    print()
    print(f"exit status: {report['exit_status']}")


if __name__ == "__main__":
    sys.exit(main())
