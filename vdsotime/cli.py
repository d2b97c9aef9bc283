"""The ``vdsotime`` command (also ``python -m vdsotime``).

Errors print one line on stderr and exit nonzero, without a traceback.
"""

import argparse
import json
import os
import signal
import sys

import vdsotime
from vdsotime._core.formatting import format_count, format_ns


class CommandError(Exception):
    """A problem to report in one line, with exit status ``status`` (1 by default)."""

    status = 1


class GateError(CommandError):
    """compare-runs could not compare: exit status 2, apart from a regression's 1."""

    status = 2


class ArgumentParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr (exit status 2)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


class VersionAction(argparse.Action):
    """--version: the installed distribution's version, looked up only when asked."""

    def __init__(self, option_strings, dest, **kwargs):
        super().__init__(option_strings, dest, nargs=0, help="print the version and exit")

    def __call__(self, parser, namespace, values, option_string=None):
        print(f"vdsotime {vdsotime.__version__}")
        parser.exit()


def _clocksource():
    from vdsotime._core import meta  # not at startup: meta imports platform
    return meta.clocksource()


def _unknown(path):
    """A fact whose source cannot be read (no /sys or /proc, as in a minimal container)."""
    return f"unknown (cannot read {path})"


def _hex(value):
    return None if value is None else f"{value:#x}"


def cmd_info(args):
    from vdsotime._core import info as info_module, meta

    info = vdsotime.info()
    data = info.to_dict()
    data["clocksource"] = _clocksource()
    if args.json:
        print(json.dumps(data, indent=2))
        return 0
    if info.present:
        print(f"vDSO:          {info.soname} at {info.base:#x}, "
              f"{format_count(info.size, 'byte')}, ELF{info.elf_class} {info.machine}")
        print(f"versions:      {', '.join(info.versions) or '(none)'}")
    elif info.base:
        # Mapped by the kernel but not used: disabled, or not an image vdsotime accepts.
        print(f"vDSO:          at {info.base:#x}, not used ({info.fallback_reason})")
    else:
        print("vDSO:          not found (the kernel mapped none into this process)")
    print(f"clocksource:   {data['clocksource'] or 'unknown (cannot read ' + meta.CLOCKSOURCE + ')'}")
    print("functions:")
    for name, binding in info.functions.items():
        where = info_module.bound_name(binding, info.symbols)
        line = f"  {name:14s} {binding.backend:5s} {where} at {binding.address:#x}"
        if binding.reason:
            line += f" ({binding.reason})"
        print(line)
    if info.fallback_reason:
        print(f"fallback:      {info.fallback_reason}")
    print(f"current CPU:   {info.cpu_source} (for sample_cpu and jitter)")
    if info.present:
        print(f"symbols ({len(info.symbols):,}):")
        _print_symbols(info.symbols)
    return 0


def _print_symbols(symbols):
    from vdsotime._core.info import versioned_name

    for symbol in symbols:
        print(f"  {symbol.value:#010x} {symbol.size:6d} {symbol.type:7s} {symbol.bind:6s} "
              f"{versioned_name(symbol.name, symbol.version, symbol.hidden)}")


def cmd_dump(args):
    to_stdout = args.file == "-"
    if to_stdout and sys.stdout.isatty():
        raise CommandError("refusing to write the binary vDSO image to a terminal: "
                           "redirect standard output, or give a FILE")
    try:
        image = vdsotime.vdso_image()
    except RuntimeError as exc:
        raise CommandError(str(exc)) from None
    if to_stdout:
        sys.stdout.flush()
        sys.stdout.buffer.write(image)
        sys.stdout.buffer.flush()
        where = "standard output"
    else:
        try:
            with open(args.file, "wb") as f:
                f.write(image)
        except OSError as exc:
            raise CommandError(f"cannot write {args.file}: {exc.strerror}") from None
        where = args.file
    _written(f"{format_count(len(image), 'byte')} of the vDSO written to", where)
    return 0


def cmd_inspect(args):
    try:
        image = vdsotime.ElfImage.from_file(args.file)
        symbols = image.symbols
    except OSError as exc:
        raise CommandError(f"cannot read {args.file}: {exc.strerror}") from None
    except vdsotime.ElfError as exc:
        raise CommandError(f"{args.file}: {exc}") from None
    if args.json:
        print(json.dumps({
            "file": args.file, "elf_class": image.elf_class, "byteorder": image.byteorder,
            "machine": image.machine, "soname": image.soname,
            "hash_styles": list(image.hash_styles), "versions": list(image.versions),
            "symbols": [symbol._asdict() for symbol in symbols],
        }, indent=2))
        return 0
    print(f"{args.file}: ELF{image.elf_class} {image.byteorder}-endian {image.machine}, "
          f"soname {image.soname or '(none)'}")
    print(f"hash tables:   {', '.join(image.hash_styles)}")
    print(f"versions:      {', '.join(image.versions) or '(none)'}")
    print(f"symbols ({len(symbols):,}):")
    _print_symbols(symbols)
    return 0


class Progress:
    """Progress on stderr for runs longer than a second, when stderr is a terminal."""

    def __init__(self, label):
        self.label = label
        self.enabled = sys.stderr.isatty()
        self.started = None
        self.shown = False

    def __call__(self, done, total):
        import time
        if not self.enabled:
            return
        now = time.monotonic()
        if self.started is None:
            self.started = now
        if now - self.started >= 1.0 and total:
            sys.stderr.write(f"\r{self.label}: {100 * done / total:3.0f}%")
            sys.stderr.flush()
            self.shown = True

    def close(self):
        if self.shown:
            sys.stderr.write("\r" + " " * (len(self.label) + 6) + "\r")
            sys.stderr.flush()


CLOCKS_SHOWN = ("CLOCK_REALTIME", "CLOCK_MONOTONIC", "CLOCK_MONOTONIC_RAW",
                "CLOCK_REALTIME_COARSE", "CLOCK_MONOTONIC_COARSE", "CLOCK_BOOTTIME",
                "CLOCK_TAI", "CLOCK_PROCESS_CPUTIME_ID", "CLOCK_THREAD_CPUTIME_ID")
# How long ``vdsotime clocks`` looks for a clock's step, at most.
STEP_SECONDS = 0.25


def _python_loop(function, clock_id, calls):
    """A measure: ns per ``function(clock_id)`` call from Python, in a timeit loop."""
    import timeit

    timer = timeit.Timer("f(c)", globals={"f": function, "c": clock_id})
    return lambda: timer.timeit(calls) / calls * 1e9


def _clock_row(name, calls, rounds, n):
    """One clock's figures for ``vdsotime clocks``: each cost the median of ``rounds``
    interleaved rounds (``doctor.interleaved_medians``) of ``calls`` reads (a tenth as
    many system calls); the step from at least ``n`` back-to-back reads."""
    import time
    from functools import partial

    from vdsotime._bench import measure
    from vdsotime._health import doctor

    clock_id = getattr(vdsotime, name)
    medians = doctor.interleaved_medians({
        "vdsotime_c_ns": partial(doctor.c_loop_ns, clock_id, calls),
        "vdsotime_python_ns": _python_loop(vdsotime.clock_gettime_ns, clock_id, calls),
        "stdlib_python_ns": _python_loop(time.clock_gettime_ns, clock_id, calls),
        "syscall_c_ns": partial(doctor.syscall_ns, clock_id, max(1, calls // 10)),
    }, rounds)
    step, reads, span = measure.clock_step(clock_id, n, STEP_SECONDS)
    return {"clock": name, "clock_id": clock_id, **medians,
            "getres_ns": vdsotime.clock_getres_ns(clock_id), "step_ns": step,
            "step_reads": reads, "step_span_ns": span}


def cmd_clocks(args):
    from vdsotime._core import info as info_module, meta
    from vdsotime._health import doctor

    n = args.n
    rounds = doctor.COST_ROUNDS
    calls = max(1, n // rounds)
    syscalls = max(1, calls // 10)
    info = vdsotime.info()
    clocksource = _clocksource()
    rows = []
    progress = Progress("vdsotime clocks")
    try:
        for done, name in enumerate(CLOCKS_SHOWN):
            progress(done, len(CLOCKS_SHOWN))
            rows.append(_clock_row(name, calls, rounds, n))
    finally:
        progress.close()
    warning = None
    if clocksource in meta.SYSCALL_CLOCKSOURCES:
        warning = (f"clocksource {clocksource} cannot be read from user space: every clock "
                   "read is a system call (the vDSO falls back to the kernel)")
    data = {"clocksource": clocksource, "warning": warning, "tsc_flags": meta.tsc_flags(),
            "backend": info.functions["clock_gettime"].backend, "rounds": rounds,
            "calls_per_round": calls, "syscalls_per_round": syscalls, "clocks": rows}
    if args.json:
        print(json.dumps(data, indent=2))
        return 0
    binding = info.functions["clock_gettime"]
    tsc_flags = data["tsc_flags"]
    print(f"clock_gettime backend: {binding.backend} "
          f"({info_module.bound_name(binding, info.symbols)}); clocksource: "
          f"{clocksource or _unknown(meta.CLOCKSOURCE)}; TSC flags: "
          f"{_unknown(meta.CPUINFO) if tsc_flags is None else ' '.join(tsc_flags) or 'none'}")
    if warning:
        print(f"warning: {warning}")
    print()
    print(f"{'clock':26s} {'vdsotime C':>11s} {'vdsotime py':>12s} {'time py':>9s} "
          f"{'syscall C':>10s} {'getres':>9s} {'step':>10s}")
    for row in rows:
        step = "none seen" if row["step_ns"] is None else format_ns(row["step_ns"])
        print(f"{row['clock']:26s} {row['vdsotime_c_ns']:8.1f} ns "
              f"{row['vdsotime_python_ns']:9.1f} ns {row['stdlib_python_ns']:6.1f} ns "
              f"{row['syscall_c_ns']:7.1f} ns {format_ns(row['getres_ns']):>9s} {step:>10s}")
    print()
    print(f"ns per call, each the median of {rounds} interleaved rounds: the C columns in C "
          f"loops of {format_count(calls, 'read')} ({format_count(syscalls, 'system call')})"
          f", as vdsotime doctor measures its costs; the py columns from Python, "
          f"{format_count(calls, 'call')} a round.")
    print("getres: what clock_getres says; step: the smallest nonzero step seen between "
          f"back-to-back reads (at least {format_count(n, 'read')}, until two steps were "
          f"seen, {STEP_SECONDS:g} s at most): for the fine clocks about the cost of a "
          "read, for the coarse ones a tick (getres), or more where ticks are skipped "
          "(an idle or virtual CPU).")
    for row in rows:
        if row["step_ns"] is None:
            print(f"{row['clock']}: no step seen in {format_count(row['step_reads'], 'read')}"
                  f" (spanning {format_ns(row['step_span_ns'])} of the clock)")
    return 0


def _write(what, path, write):
    try:
        write()
    except ImportError as exc:
        raise CommandError(str(exc)) from None
    except OSError as exc:
        raise CommandError(f"cannot write {what} {path}: {exc.strerror or exc}") from None


def _written(what, path):
    """Say on stderr that a file was written: stdout holds the results (and --json)."""
    print(f"vdsotime: {what} {path}", file=sys.stderr)


def _measured(run, label):
    """run(progress) with progress on stderr, turning every error into one line: the
    measured statement's exceptions (which carry ``calls_done``) as such, the rest --
    arguments refused before the first call, a statement or setup that does not compile,
    a worker process that died -- as they are."""
    progress = Progress(label)
    try:
        return run(progress)
    except (KeyboardInterrupt, CommandError):
        raise
    except Exception as exc:
        if getattr(exc, "calls_done", None) is not None:
            raise CommandError(f"the statement raised {type(exc).__name__}: {exc}") from None
        raise CommandError(str(exc)) from None
    finally:
        progress.close()


def cmd_bench(args):
    from vdsotime._bench import runs

    statement = "\n".join(args.stmt) or "pass"
    setup = "\n".join(args.setup) or "pass"
    _check_plot(args.plot)
    _check_output("--save", args.save)
    _check_output("--pyperf", args.pyperf)
    if args.save and os.path.exists(args.save):
        try:
            runs.load_run(args.save)  # refuse a file it would not add to, before measuring
        except (OSError, ValueError) as exc:
            raise CommandError(f"--save: {exc}") from None
    name = args.name or statement
    try:
        result = _measured(lambda progress: vdsotime.bench(
            statement, setup=setup, n=args.number, warmup=args.warmup, timer=args.timer,
            processes=args.processes, progress=progress), "vdsotime bench")
        interrupted = False
    except KeyboardInterrupt as exc:
        result = getattr(exc, "partial_result", None)
        if result is None:
            raise
        interrupted = True
        # What was measured, printed; files are for whole runs.
        done = (f"the {result.metadata['processes']} processes finished of "
                f"{args.processes}" if args.processes is not None
                else f"the {result.n:,} calls timed so far")
        print(f"vdsotime: interrupted; {done} (nothing saved):", file=sys.stderr)
    result = result._replace(name=name, metadata=dict(result.metadata, name=name,
                                                      statement=statement, setup=setup))
    # The results first, whatever becomes of the files.
    _print_bench(args, result, statement, setup)
    if interrupted:
        return 130
    if args.save:
        _write("the run", args.save,
               lambda: runs.save_run(args.save, {name: result}, merge=True))
        _written(f"saved as {name!r} in", args.save)
    if args.pyperf:
        _write("pyperf JSON", args.pyperf, lambda: result.to_pyperf(args.pyperf))
        _written("pyperf JSON written to", args.pyperf)
    if args.plot:
        from vdsotime import plot
        _write("the plot", args.plot, lambda: plot.plot_latency(result, args.plot))
        _written("plot written to", args.plot)
    return 0


def _print_bench(args, result, statement, setup):
    from vdsotime import stats

    figures = result.summary()
    if args.json:
        data = result.to_dict()
        data["statement"] = statement
        data["setup"] = setup
        print(json.dumps(data, indent=2))
        return
    processes = result.metadata.get("processes")
    print(f"{format_count(result.n, 'call')} of: {statement}"
          + (f" ({processes} processes of {format_count(result.metadata['n_per_process'], 'call')})"
             if processes else ""))
    print(f"{result.metadata['timer']} timer, overhead {format_ns(result.overhead_ns, 1)} "
          f"subtracted, {format_count(result.warmup, 'warm-up call')}")
    print()
    for key in ("min", "p50", "p90", "p99", "p99.9", "max", "mean", "stdev"):
        print(f"  {key:>6s}  {format_ns(figures[key]):>10s}")
    print()
    print(stats.render_histogram(*result.histogram(2)))
    if result.warnings:
        print()
        for text in result.warnings:
            print(f"warning: {text}")


def cmd_compare(args):
    from vdsotime._bench import engine

    pythons = args.python or []
    if pythons:
        if len(pythons) < 2:
            raise GateError("compare --python needs two or more interpreters (OLD and NEW)")
        if len(args.stmt) != 1:
            raise GateError(f"compare --python times one statement in each interpreter, "
                            f"got {len(args.stmt)}")
        if args.name and len(args.name) != len(pythons):
            raise GateError(f"--name: give one name per --python ({len(pythons)}), got "
                            f"{len(args.name)}")
    elif len(args.stmt) < 2:
        raise CommandError("compare needs at least two statements (or one, with --python "
                           "OLD --python NEW)")
    elif args.name:
        raise CommandError("--name names the --python interpreters; statements are named "
                           "after themselves")
    _check_plot(args.plot)
    setup = "\n".join(args.setup) or "pass"
    fail_above = args.fail_above if args.fail_above is not None or not pythons else 5.0
    interrupted = False
    try:
        if pythons:
            labelled = dict(zip(args.name, pythons)) if args.name else pythons
            comparison = _measured(lambda progress: vdsotime.compare(
                args.stmt[0], pythons=labelled, n=args.number, rounds=args.rounds,
                processes=args.processes, warmup=args.warmup, setup=setup,
                timer=args.timer, seed=args.seed, progress=progress), "vdsotime compare")
        else:
            candidates = [(engine.one_line(statement), statement)
                          for statement in args.stmt]
            comparison = _measured(lambda progress: vdsotime.compare(
                candidates, n=args.number, rounds=args.rounds, processes=args.processes,
                warmup=args.warmup, setup=setup, timer=args.timer, seed=args.seed,
                progress=progress), "vdsotime compare")
    except KeyboardInterrupt as exc:
        comparison = getattr(exc, "partial_result", None)
        if comparison is None:
            raise
        interrupted = True
        print("vdsotime: interrupted; the rounds so far:", file=sys.stderr)
    except CommandError as exc:
        if pythons:  # the gate could not compare: its status, as compare-runs
            raise GateError(str(exc)) from None
        raise
    regressions = [] if fail_above is None else comparison.regressions(fail_above)
    # The verdict first, whatever becomes of the plot.
    if args.json:
        document = comparison.to_dict()
        if pythons:  # both sides' samples, as a saved run: compare-runs reads the file
            from vdsotime._bench import runs
            document = dict(runs.run_document(comparison.results), comparison=document)
        if fail_above is not None:
            document["fail_above_percent"] = fail_above
            document["failed"] = bool(regressions)
        print(json.dumps(document, indent=2))
    else:
        print(comparison)
        if fail_above is not None:
            print(f"{'FAILED' if regressions else 'passed'}: "
                  + (", ".join(f"{c.name} is {100 * (c.ratio - 1):+.1f}% against {c.baseline}"
                               for c in regressions) + f", beyond +{fail_above:g}%"
                     if regressions else
                     f"no significant slowdown beyond +{fail_above:g}% at p50"))
    if args.plot:
        from vdsotime import plot
        _write("the plot", args.plot, lambda: plot.plot_comparison(comparison, args.plot))
        _written("plot written to", args.plot)
    if interrupted:
        return 130
    return 1 if regressions else 0


def _load_run(path):
    from vdsotime._bench import runs

    try:
        return runs.load_run(path)
    except OSError as exc:
        raise GateError(f"cannot read {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise GateError(str(exc)) from None


def cmd_compare_runs(args):
    from vdsotime._bench import runs

    if args.new is None:
        # One file of two benchmarks (what compare --python --json writes): the first is
        # OLD, the second NEW, compared under the name of the statement.
        run = _load_run(args.old)
        if len(run) != 2:
            raise GateError(f"{args.old} holds {len(run)} benchmarks: give two saved runs "
                            "(OLD NEW), or one file of exactly two (OLD then NEW)")
        (old_label, old), (new_label, new) = run.items()
        name = old.metadata.get("statement") or old_label
        loaded = [{name: old}, {name: new}]
        labels = (old_label, new_label)
    else:
        loaded = [_load_run(args.old), _load_run(args.new)]
        labels = (args.old, args.new)
    comparison = runs.compare_runs(*loaded, metric=args.metric, fail_above=args.fail_above)
    comparison = comparison._replace(old_label=labels[0], new_label=labels[1])
    if not comparison.changes:
        raise GateError(f"no benchmark is in both {args.old} and {args.new}")
    if args.json:
        print(json.dumps(comparison.to_dict(), indent=2))
    else:
        print(comparison)
    for text in comparison.warnings:
        print(f"vdsotime: warning: {text}", file=sys.stderr)
    return 1 if comparison.failed else 0


def cmd_jitter(args):
    import warnings

    from vdsotime import stats

    clock_id = CLOCK_CHOICES[args.clock]
    _check_plot(args.plot)  # before the run, not after it
    progress = Progress("vdsotime jitter")
    interrupted = False
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", vdsotime.JitterWarning)
            result = vdsotime.jitter(args.seconds, args.threshold_us * 1000, clock_id,
                                     keep=args.keep, progress=progress)
    except KeyboardInterrupt as exc:
        # Ctrl-C ends the run early: report what it recorded until then.
        result = getattr(exc, "partial_result", None)
        if result is None:
            raise
        interrupted = True
    finally:
        progress.close()
    if interrupted:
        print("vdsotime: interrupted; the run so far:", file=sys.stderr)
    else:
        for warning in caught:
            print(f"vdsotime: warning: {warning.message}", file=sys.stderr)
    # The results first, whatever becomes of the plot.
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        print(result)
        if result.gap_count:
            print()
            print(stats.render_histogram(*result.histogram(2)))
            print()
            print(_longest_gaps(result))
    if args.plot:
        from vdsotime import plot
        _write("the plot", args.plot, lambda: plot.plot_jitter(result, args.plot))
        _written("plot written to", args.plot)
    return 130 if interrupted else 0


def _longest_gaps(result, shown=5):
    """The ``shown`` longest gaps of a jitter run, a line each: length, time into the
    run, CPU."""
    longest = sorted(result.gaps, key=lambda gap: (-int(gap["length_ns"]), int(gap["start_ns"])))
    lines = ["the longest gaps:"]
    for gap in longest[:shown]:
        cpu = int(gap["cpu"])
        lines.append(f"  {format_ns(int(gap['length_ns'])):>10s} at "
                     f"{(int(gap['start_ns']) - result.start_ns) / 1e9:.6f} s into the run, "
                     f"CPU {cpu if cpu >= 0 else '?'}")
    return "\n".join(lines)


def _check_output(option, path):
    """Refuse a file that ``option`` could not write, before measuring (None: no file):
    a folder, or a path whose folder is missing or not writable (--save writes a
    temporary file beside it, then renames it)."""
    import errno

    if path is None:
        return
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        code, where = errno.EISDIR, path
    elif not os.path.isdir(folder):
        code, where = errno.ENOENT, folder
    elif not os.access(folder, os.W_OK | os.X_OK) or (
            os.path.exists(path) and not os.access(path, os.W_OK)):
        code, where = errno.EACCES, folder
    else:
        return
    raise CommandError(f"{option}: cannot write {path}: {os.strerror(code)} ({where})")


def _check_plot(path):
    """Refuse an unusable plot path before measuring anything (None: no plot)."""
    if path is None:
        return
    from vdsotime import plot
    try:
        plot.check_plot_path(path)
    except (ImportError, ValueError) as exc:
        raise CommandError(f"--plot: {exc}") from None
    except OSError as exc:
        raise CommandError(f"--plot: cannot write {path}: {exc.strerror} "
                           f"({exc.filename})") from None


def cmd_doctor(args):
    from vdsotime._health import doctor

    report = doctor.health(skew=not args.no_skew)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print(report)
    return 0


CLOCK_CHOICES = {name[6:].lower(): getattr(vdsotime, name) for name in dir(vdsotime)
                 if name.startswith("CLOCK_")}


def _positive_float(text):
    import math
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return value


def _whole_number(minimum, bits=None):
    """An argparse type: a whole number >= minimum (and, with ``bits``, one that fits in
    a signed integer of that many bits)."""
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected a whole number >= {minimum}, got "
                                             f"{text!r}")
        if bits is not None and value >= 2 ** (bits - 1):
            raise argparse.ArgumentTypeError(f"expected a whole number that fits in {bits} "
                                             f"bits, got {text!r}")
        return value
    return parse


def _percent(text):
    from vdsotime._bench import runs
    try:
        return runs.parse_percent(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def build_parser():
    from vdsotime._bench import defaults  # no numpy: the help quotes the rules

    parser = ArgumentParser(
        prog="vdsotime",
        description="The kernel's fastest clocks: inspect the vDSO and how vdsotime uses it.")
    parser.add_argument("--version", action=VersionAction)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    info = commands.add_parser("info", help="the vDSO, its symbols, and the backend of "
                                            "each function")
    info.add_argument("--json", action="store_true", help="print JSON")
    info.set_defaults(run=cmd_info)

    dump = commands.add_parser("dump", help="write the vDSO image of this process to FILE "
                                            "(- for standard output)")
    dump.add_argument("file", metavar="FILE")
    dump.set_defaults(run=cmd_dump)

    inspect = commands.add_parser("inspect", help="symbols, versions and hash tables of "
                                                  "any ELF shared object")
    inspect.add_argument("file", metavar="FILE")
    inspect.add_argument("--json", action="store_true", help="print JSON")
    inspect.set_defaults(run=cmd_inspect)

    clocks = commands.add_parser("clocks", help="cost and resolution of every clock, beside "
                                                "the time module and the raw system call")
    clocks.add_argument("--json", action="store_true", help="print JSON")
    # A count of C loop iterations: a Py_ssize_t, 32 bits on a 32-bit build.
    clocks.add_argument("-n", type=_whole_number(2, bits=sys.maxsize.bit_length() + 1),
                        default=100_000, metavar="N",
                        help="reads per clock and column, over the rounds; the step "
                             "is looked for in N reads at least (default 100000, at "
                             "least 2)")
    clocks.set_defaults(run=cmd_clocks)

    bench = commands.add_parser("bench", help="per-call latency distribution of a Python "
                                              "statement (timeit's habits)")
    bench.add_argument("stmt", nargs="*", metavar="STMT",
                       help="statement to time (several: one line each)")
    bench.add_argument("-s", "--setup", action="append", default=[], metavar="SETUP",
                       help="run once first (repeatable)")
    bench.add_argument("-n", "--number", type=_whole_number(1), default=None, metavar="N",
                       help="timed calls (default: about one second's worth)")
    bench.add_argument("-w", "--warmup", type=_whole_number(0), default=None, metavar="W",
                       help=f"untimed calls first (default {defaults.WARMUP_RULE})")
    bench.add_argument("--timer", choices=("monotonic", "tsc"), default=None,
                       help="the timer around each call (default: tsc where it is "
                            "invariant)")
    bench.add_argument("-p", "--processes", type=_whole_number(1), default=None,
                       metavar="P", help="measure in P fresh processes, one after another, "
                       "N calls each (what compare-runs needs to count the spread between "
                       "processes)")
    bench.add_argument("--save", metavar="FILE",
                       help="add the result to the saved run FILE (JSON; created if needed)")
    bench.add_argument("--name", metavar="NAME",
                       help="the benchmark's name in --save and --pyperf files (default: "
                            "the statement)")
    bench.add_argument("--pyperf", metavar="FILE", help="write pyperf's JSON format to FILE")
    bench.add_argument("--plot", metavar="FILE",
                       help="write the latency histogram (PNG, SVG, PDF...; needs "
                            "matplotlib)")
    bench.add_argument("--json", action="store_true", help="print JSON")
    bench.set_defaults(run=cmd_bench)

    compare = commands.add_parser(
        "compare", help="is B faster than A? statements timed in interleaved rounds of "
                        "random order, with a verdict (timeit's habits)")
    compare.add_argument("stmt", nargs="+", metavar="STMT",
                         help="two or more statements to compare, the first the baseline "
                              "(with --python: one statement)")
    compare.add_argument("-s", "--setup", action="append", default=[], metavar="SETUP",
                         help="run once first (repeatable)")
    compare.add_argument("-n", "--number", type=_whole_number(1), default=None,
                         metavar="N", help="calls per statement per round (default: about "
                                           "50 ms worth)")
    compare.add_argument("-w", "--warmup", type=_whole_number(0), default=None, metavar="W",
                         help=f"untimed calls before each (default "
                              f"{defaults.WARMUP_RULE})")
    compare.add_argument("-r", "--rounds", type=_whole_number(2), default=None, metavar="R",
                         help="rounds (default 20, or 2 per process)")
    compare.add_argument("-p", "--processes", type=_whole_number(1), default=None,
                         metavar="P", help="run the rounds in P fresh processes, one after "
                                           "another")
    compare.add_argument("--timer", choices=("monotonic", "tsc"), default=None,
                         help="the timer around each call (default: tsc where invariant)")
    compare.add_argument("--seed", type=_whole_number(0), default=None,
                         help="seed of the round orders and the bootstrap")
    compare.add_argument("--python", action="append", metavar="PYTHON",
                         help="two builds side by side: time STMT in each of these "
                              "interpreters (repeat: OLD first, then NEW), one fresh worker "
                              "process of each per round; each needs vdsotime and its own "
                              "build of the code under test installed. P (default 10) is "
                              "then the processes per interpreter. Exit status as "
                              "compare-runs: 1 on a significant slowdown beyond "
                              "--fail-above, 2 when it cannot compare")
    compare.add_argument("--name", action="append", metavar="NAME",
                         help="the name of each --python, in order (default: its path)")
    compare.add_argument("--fail-above", type=_percent, default=None, metavar="PCT",
                         help="exit 1 when a candidate is significantly slower than the "
                              "baseline at p50 by more than PCT percent (5 or 5%%; default "
                              "5 with --python, no gate without)")
    compare.add_argument("--plot", metavar="FILE", help="write the comparison plot")
    compare.add_argument("--json", action="store_true",
                         help="print JSON (with --python: a saved run of both sides' "
                              "samples, which compare-runs reads, and the comparison)")
    compare.set_defaults(run=cmd_compare)

    compare_runs = commands.add_parser(
        "compare-runs", help="the CI gate: compare two saved runs by benchmark name; exit "
                             "1 on a significant slowdown beyond the threshold")
    compare_runs.add_argument("old", metavar="OLD", help="the saved run to compare with")
    compare_runs.add_argument("new", metavar="NEW", nargs="?", default=None,
                              help="the saved run to judge (left out: OLD is one file of "
                                   "two benchmarks, old then new, as compare --python "
                                   "--json writes)")
    compare_runs.add_argument("--fail-above", type=_percent, default=5.0, metavar="PCT",
                              help="the slowdown allowed, in percent (5 or 5%%; default 5)")
    compare_runs.add_argument("--metric", choices=("p50", "p99", "mean"), default="p50",
                              help="the figure compared (default p50)")
    compare_runs.add_argument("--json", action="store_true", help="print JSON")
    compare_runs.set_defaults(run=cmd_compare_runs)

    jitter = commands.add_parser("jitter", help="spin on a core and report every pause "
                                                "(interrupts, preemption, steal)")
    jitter.add_argument("--seconds", type=_positive_float, default=5.0, metavar="S",
                        help="how long to spin (default 5)")
    jitter.add_argument("--threshold-us", type=_positive_float, default=10.0, metavar="T",
                        help="report gaps of at least T microseconds (default 10)")
    jitter.add_argument("--clock", choices=sorted(CLOCK_CHOICES), default="monotonic",
                        help="the clock to read (default monotonic)")
    jitter.add_argument("--keep", type=_whole_number(1), default=1000, metavar="N",
                        help="keep the N longest gaps with their start and CPU (default "
                             "1000); every gap is counted, and binned in a histogram")
    jitter.add_argument("--plot", metavar="FILE", help="also write a plot, PNG for FILE.png "
                                                       "(needs matplotlib)")
    jitter.add_argument("--json", action="store_true", help="print JSON")
    jitter.set_defaults(run=cmd_jitter)

    doctor = commands.add_parser("doctor", help="is my clock healthy? clocksource, user "
                                                "space or system call per clock, TSC "
                                                "flags and skew, NTP state, advice")
    doctor.add_argument("--json", action="store_true", help="print JSON")
    doctor.add_argument("--no-skew", action="store_true",
                        help="skip the TSC skew measurement between CPUs (half a second "
                             "at most)")
    doctor.set_defaults(run=cmd_doctor)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        args = parser.parse_args(["info"] + list(argv or []))
    try:
        status = args.run(args)
        sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
        return status
    except BrokenPipeError:
        # The reader went away (vdsotime info | head): stop quietly with the status of a
        # process killed by SIGPIPE, as other Unix tools do. Point stdout at /dev/null so
        # that the interpreter's last flush does not complain again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return 128 + signal.SIGPIPE
    except CommandError as exc:
        print(f"vdsotime: error: {exc}", file=sys.stderr)
        return exc.status
    except KeyboardInterrupt:
        print("vdsotime: interrupted", file=sys.stderr)
        return 130
    except (OSError, ValueError, TypeError, OverflowError) as exc:
        print(f"vdsotime: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
