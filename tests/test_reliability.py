"""Reliability: no memory growth, concurrency (first use from many threads, fork while
sampling), and the security rule checked over random hostile images."""

import os
import random
import struct
import textwrap
import threading

import numpy as np
import pytest

import vdsotime
from vdsotime._core import vdso

import kernel
from oracle import FIXTURE_SHAPES, fixture_path, run_python
from requires import require_path

MEMORY_CHILD = textwrap.dedent("""
    import gc, resource, sys, tracemalloc
    import numpy as np
    import vdsotime
    from vdsotime._core import vdso

    def rss_kb():
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])

    fixtures = [open(p, "rb").read() for p in sys.argv[1:]]

    def scalars(n):
        for _ in range(n):
            vdsotime.monotonic_ns(); vdsotime.clock_gettime_ns(0); vdsotime.time()
            vdsotime.getcpu(); vdsotime.gettimeofday(); vdsotime.clock_getres_ns(1)
            try:
                vdsotime.clock_gettime_ns(99)
            except OSError:
                pass

    def samplers(n):
        out = np.empty(1000, np.int64)
        for _ in range(n):
            vdsotime.sample(1000); vdsotime.sample(out=out); vdsotime.sample_tsc(1000)
            vdsotime.sample_cpu(1000); vdsotime.sample_every(1000, 10)
            try:
                vdsotime.sample(out=out.astype(np.float64))
            except TypeError:
                pass

    def parses(n):
        for k in range(n):
            data = fixtures[k % len(fixtures)]
            image = vdsotime.ElfImage.from_bytes(data)
            image.symbols; image.lookup("__vdso_clock_gettime"); vdso.resolve(data)
            try:
                vdsotime.ElfImage.from_bytes(data[:200])
            except vdsotime.ElfError:
                pass

    for work, count in ((scalars, 1_000_000),
                        (samplers, 1000), (parses, 10_000)):
        work(count // 10)  # warm up: caches, lazy imports, allocator pools
        gc.collect()
        tracemalloc.start()
        before_traced = tracemalloc.get_traced_memory()[0]
        before_rss = rss_kb()
        work(count)
        gc.collect()
        after_traced = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        after_rss = rss_kb()
        print(work.__name__, count, after_traced - before_traced, after_rss - before_rss)
""")


@pytest.mark.slow
def test_no_memory_growth():
    """10**6 scalar calls, 10**3 rounds of every sampler, 10**4 parses: neither traced
    Python memory nor RSS grows (beyond allocator noise)."""
    require_path("/proc/self/status")  # the child's RSS
    paths = [str(fixture_path(name)) for name in sorted(FIXTURE_SHAPES)]
    result = run_python(MEMORY_CHILD, *paths, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    for line in result.stdout.splitlines():
        name, count, traced, rss_kb = line.split()
        assert int(traced) < 64 * 1024, line     # bytes still held after the run
        assert int(rss_kb) < 4 * 1024, line      # KiB of resident memory gained


FIRST_USE_CHILD = textwrap.dedent("""
    import sys, threading
    import vdsotime
    barrier = threading.Barrier(16)
    errors, results = [], []
    def first_use(k):
        try:
            barrier.wait()
            # Every lazily loaded name, first touched by 16 threads at once.
            name = ("sample", "sample_tsc", "sample_cpu", "bench", "jitter", "overhead",
                    "info", "calibrate_tsc")[k % 8]
            function = getattr(vdsotime, name)
            if name == "sample":
                results.append(len(function(10_000)))
            elif name == "info":
                results.append(len(function().functions))
            else:
                results.append(callable(function))
        except Exception as exc:
            errors.append(repr(exc))
    threads = [threading.Thread(target=first_use, args=(k,)) for k in range(16)]
    for t in threads: t.start()
    for t in threads: t.join()
    print(len(errors), len(results), errors[:3])
""")


def test_first_use_from_many_threads_at_once():
    result = run_python(FIRST_USE_CHILD)
    assert result.returncode == 0, result.stderr
    errors, results, _ = result.stdout.split(maxsplit=2)
    assert (int(errors), int(results)) == (0, 16), result.stdout


def test_fork_while_another_thread_samples():
    stop = threading.Event()
    failures = []

    def sampler():
        while not stop.is_set():
            readings = vdsotime.sample(200_000)
            if not np.all(np.diff(readings) >= 0):
                failures.append("non-monotonic")

    thread = threading.Thread(target=sampler)
    thread.start()
    try:
        for _ in range(5):
            pid = os.fork()
            if pid == 0:
                status = 1
                try:
                    before = kernel.clock_gettime_ns(1)
                    readings = vdsotime.sample(100_000)
                    ok = before <= readings[0] and np.all(np.diff(readings) >= 0)
                    ok = ok and readings[-1] <= kernel.clock_gettime_ns(1)
                    status = 0 if ok else 2
                finally:
                    os._exit(status)
            _, status = os.waitpid(pid, 0)
            assert os.waitstatus_to_exitcode(status) == 0
    finally:
        stop.set()
        thread.join()
    assert failures == []


def _mutants(data, rng, count):
    for _ in range(count):
        mutant = bytearray(data)
        for _ in range(rng.choice((1, 2, 4))):
            offset = rng.randrange(min(len(mutant), 2048))
            width = rng.choice((1, 2, 4, 8))
            mutant[offset:offset + width] = rng.getrandbits(8 * width).to_bytes(width, "little")
        yield bytes(mutant)


def executable_segments(data):
    """(p_offset, p_filesz) of every executable PT_LOAD, read with struct: an oracle
    independent of vdsotime's reader (pyelftools refuses most mutants: it insists on
    their section headers)."""
    is64 = data[4] == 2
    endian = "<" if data[5] == 1 else ">"
    if is64:
        phoff, = struct.unpack_from(endian + "Q", data, 32)
        phentsize, phnum = struct.unpack_from(endian + "HH", data, 54)
    else:
        phoff, = struct.unpack_from(endian + "I", data, 28)
        phentsize, phnum = struct.unpack_from(endian + "HH", data, 42)
    found = []
    for k in range(phnum):
        at = phoff + k * phentsize
        if is64:
            p_type, p_flags, p_offset = struct.unpack_from(endian + "IIQ", data, at)
            p_filesz, = struct.unpack_from(endian + "Q", data, at + 32)
        else:
            p_type, p_offset = struct.unpack_from(endian + "II", data, at)
            p_filesz, = struct.unpack_from(endian + "I", data, at + 16)
            p_flags, = struct.unpack_from(endian + "I", data, at + 24)
        if p_type == 1 and p_flags & 1:
            found.append((p_offset, p_filesz))
    return found


@pytest.mark.parametrize("name", ["x86_64-vdso.so", "aarch64-vdso.so", "ppc64-vdso.so",
                                  "mips-vdso.so"])
def test_every_binding_of_a_hostile_image_lies_in_an_executable_segment(name):
    """The security rule, checked by an outside reader: for thousands of mutated images,
    whatever resolve() -- the import's own code path -- would bind lies inside a PT_LOAD
    segment marked executable, and inside the file."""
    abi = {"x86_64-vdso.so": "x86_64", "aarch64-vdso.so": "aarch64",
           "ppc64-vdso.so": "ppc64", "mips-vdso.so": "mips"}[name]
    data = fixture_path(name).read_bytes()
    rng = random.Random(20261125)
    bound = checked = 0
    for mutant in _mutants(data, rng, 3000):
        try:
            result = vdso.resolve(mutant, abi)
        except vdsotime.ElfError:
            continue
        checked += 1
        segments = None
        for binding in result.values():
            if isinstance(binding, str):
                continue
            bound += 1
            segments = segments if segments is not None else executable_segments(mutant)
            assert any(offset <= binding.address < offset + filesz
                       for offset, filesz in segments), (binding, segments)
            assert binding.address < len(mutant)
    assert checked > 100 and bound > 100  # the check really ran on many bindings


def test_resolve_of_every_fixture_with_every_table_never_binds_outside():
    from oracle import FIXTURES  # noqa: F401

    for name in sorted(FIXTURE_SHAPES):
        data = fixture_path(name).read_bytes()
        image = vdsotime.ElfImage.from_bytes(data)
        for abi in vdso.KEY_TABLES:
            for binding in vdso.resolve(data, abi).values():
                if isinstance(binding, str):
                    continue
                assert any(flags & 1 and offset <= binding.address < offset + filesz
                           for offset, _, filesz, _, flags in image.load_segments)
