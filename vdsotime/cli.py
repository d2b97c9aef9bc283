"""The ``vdsotime`` command (also ``python -m vdsotime``).

Errors print one line on stderr and exit nonzero, without a traceback.
"""

import argparse
import json
import sys

import vdsotime

CLOCKSOURCE = "/sys/devices/system/clocksource/clocksource0/current_clocksource"


class CommandError(Exception):
    """A problem to report in one line, with exit status 1."""


class ArgumentParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr (exit status 2)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _clocksource():
    try:
        with open(CLOCKSOURCE) as f:
            return f.read().strip()
    except OSError:
        return None


def _hex(value):
    return None if value is None else f"{value:#x}"


def cmd_info(args):
    info = vdsotime.info()
    data = info.to_dict()
    data["clocksource"] = _clocksource()
    if args.json:
        print(json.dumps(data, indent=2))
        return 0
    if info.present:
        print(f"vDSO:          {info.soname} at {info.base:#x}, {info.size} bytes, "
              f"ELF{info.elf_class} {info.machine}")
        print(f"versions:      {', '.join(info.versions) or '(none)'}")
    else:
        print("vDSO:          not found")
    print(f"clocksource:   {data['clocksource'] or 'unknown (cannot read ' + CLOCKSOURCE + ')'}")
    print("functions:")
    for name, binding in info.functions.items():
        where = (f"{binding.symbol}@{binding.version}" if binding.version
                 else binding.symbol)
        line = f"  {name:14s} {binding.backend:5s} {where} at {binding.address:#x}"
        if binding.reason:
            line += f" ({binding.reason})"
        print(line)
    if info.fallback_reason:
        print(f"fallback:      {info.fallback_reason}")
    if info.present:
        print(f"symbols ({len(info.symbols)}):")
        _print_symbols(info.symbols)
    return 0


def _print_symbols(symbols):
    for symbol in symbols:
        version = f"@{symbol.version}" if symbol.version else ""
        print(f"  {symbol.value:#010x} {symbol.size:6d} {symbol.type:7s} {symbol.bind:6s} "
              f"{symbol.name}{version}")


def cmd_dump(args):
    try:
        image = vdsotime.vdso_image()
    except RuntimeError as exc:
        raise CommandError(str(exc)) from None
    try:
        with open(args.file, "wb") as f:
            f.write(image)
    except OSError as exc:
        raise CommandError(f"cannot write {args.file}: {exc.strerror}") from None
    print(f"wrote {len(image)} bytes of the vDSO to {args.file}", file=sys.stderr)
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
    print(f"symbols ({len(symbols)}):")
    _print_symbols(symbols)
    return 0


SYSCALL_CLOCKSOURCES = {"xen", "hpet", "acpi_pm", "jiffies", "pit", "refined-jiffies"}


def _tsc_flags():
    flags = set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    break
    except OSError:
        pass
    return sorted(flags & {"tsc", "constant_tsc", "nonstop_tsc", "rdtscp", "rdpid",
                           "tsc_known_freq", "tsc_reliable"})


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


def cmd_clocks(args):
    import time

    from vdsotime import _loops, measure

    n = args.n
    info = vdsotime.info()
    clocksource = _clocksource()
    rows = []
    for name in ("CLOCK_REALTIME", "CLOCK_MONOTONIC", "CLOCK_MONOTONIC_RAW",
                 "CLOCK_REALTIME_COARSE", "CLOCK_MONOTONIC_COARSE", "CLOCK_BOOTTIME",
                 "CLOCK_TAI", "CLOCK_PROCESS_CPUTIME_ID", "CLOCK_THREAD_CPUTIME_ID"):
        clock_id = getattr(vdsotime, name)
        clock_stats = measure.overhead(clock_id, n)
        python_ns = _per_call(vdsotime.clock_gettime_ns, clock_id, n)
        stdlib_ns = _per_call(time.clock_gettime_ns, clock_id, n)
        syscall_ns = _loops.syscall_loop(max(1, n // 10), clock_id) / max(1, n // 10)
        rows.append({
            "clock": name, "clock_id": clock_id,
            "vdsotime_c_ns": clock_stats.ns_per_call, "vdsotime_python_ns": python_ns,
            "stdlib_python_ns": stdlib_ns, "syscall_c_ns": syscall_ns,
            "resolution_ns": clock_stats.resolution_ns, "getres_ns": clock_stats.getres_ns,
        })
    warning = None
    if clocksource in SYSCALL_CLOCKSOURCES:
        warning = (f"clocksource {clocksource} cannot be read from user space: every clock "
                   "read is a system call (the vDSO falls back to the kernel)")
    data = {"clocksource": clocksource, "warning": warning, "tsc_flags": _tsc_flags(),
            "backend": info.functions["clock_gettime"].backend, "clocks": rows}
    if args.json:
        print(json.dumps(data, indent=2))
        return 0
    binding = info.functions["clock_gettime"]
    print(f"clock_gettime backend: {binding.backend} ({binding.symbol}); clocksource: "
          f"{clocksource or 'unknown'}; TSC flags: {' '.join(data['tsc_flags']) or 'none'}")
    if warning:
        print(f"warning: {warning}")
    print()
    print(f"{'clock':26s} {'vdsotime C':>11s} {'vdsotime py':>12s} {'time py':>9s} "
          f"{'syscall C':>10s} {'resolution':>11s} {'getres':>9s}")
    from vdsotime.stats import format_ns
    for row in rows:
        resolution = "-" if row["resolution_ns"] is None else format_ns(row["resolution_ns"])
        print(f"{row['clock']:26s} {row['vdsotime_c_ns']:8.1f} ns {row['vdsotime_python_ns']:9.1f} ns "
              f"{row['stdlib_python_ns']:6.1f} ns {row['syscall_c_ns']:7.1f} ns "
              f"{resolution:>11s} {format_ns(row['getres_ns']):>9s}")
    print()
    print("ns per call: 'C' columns in a C loop, 'py' columns from Python; resolution is "
          "the smallest nonzero step between back-to-back reads.")
    return 0


def _per_call(function, clock_id, n):
    import timeit
    number = max(1, n // 10)
    best = min(timeit.repeat("f(c)", globals={"f": function, "c": clock_id}, number=number,
                             repeat=3))
    return best / number * 1e9


def cmd_bench(args):
    from vdsotime import measure, stats

    statement = "\n".join(args.stmt) or "pass"
    setup = "\n".join(args.setup) or "pass"
    namespace = {}
    try:
        exec(compile(setup, "<setup>", "exec"), namespace)
        source = "def __vdsotime_statement():\n" + "".join(
            f"    {line}\n" for line in statement.splitlines())
        exec(compile(source, "<stmt>", "exec"), namespace)
    except SyntaxError as exc:
        line = exc.lineno - (exc.filename == "<stmt>")  # the wrapper's def line
        raise CommandError(f"syntax error in {exc.filename[1:-1]}: {exc.msg} "
                           f"(line {line})") from None
    except Exception as exc:  # the user's setup failed: say how, in one line
        raise CommandError(f"setup failed: {type(exc).__name__}: {exc}") from None
    progress = Progress("vdsotime bench")
    try:
        result = measure._bench(namespace["__vdsotime_statement"], (), {}, args.number,
                                args.warmup, progress)
    except (KeyboardInterrupt, CommandError):
        raise
    except Exception as exc:
        raise CommandError(f"the statement raised {type(exc).__name__}: {exc}") from None
    finally:
        progress.close()
    figures = result.summary()
    if args.json:
        data = result.to_dict()
        data["statement"] = statement
        data["setup"] = setup
        print(json.dumps(data, indent=2))
        return 0
    print(f"{result.n} calls of: {statement}")
    print(f"timer overhead {stats.format_ns(result.overhead_ns)} subtracted, "
          f"{result.warmup} warm-up calls")
    print()
    for key in ("min", "p50", "p90", "p99", "p99.9", "max", "mean", "stdev"):
        print(f"  {key:>6s}  {stats.format_ns(figures[key]):>10s}")
    print()
    print(stats.render_histogram(*result.histogram(2)))
    return 0


def cmd_jitter(args):
    from vdsotime import measure, stats

    clock_id = CLOCK_CHOICES[args.clock]
    progress = Progress("vdsotime jitter")
    interrupted = False
    try:
        result = measure._jitter(args.seconds, args.threshold_us * 1000, clock_id, progress)
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
    if args.plot:
        try:
            stats.plot_jitter(result, args.plot)
        except ImportError as exc:
            raise CommandError(str(exc)) from None
        except OSError as exc:
            raise CommandError(f"cannot write {args.plot}: {exc.strerror}") from None
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
        return 130 if interrupted else 0
    print(result)
    if len(result.gaps):
        print()
        print(stats.render_histogram(*result.histogram(2)))
    if args.plot:
        print(f"\nplot written to {args.plot}")
    return 130 if interrupted else 0


def cmd_doctor(args):
    from vdsotime import _health

    report = _health.health(skew=not args.no_skew)
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


def _whole_number(minimum):
    """An argparse type: a whole number >= minimum."""
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected a whole number >= {minimum}, got "
                                             f"{text!r}")
        return value
    return parse


def build_parser():
    parser = ArgumentParser(
        prog="vdsotime",
        description="The kernel's fastest clocks: inspect the vDSO and how vdsotime uses it.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    info = commands.add_parser("info", help="the vDSO, its symbols, and the backend of "
                                            "each function")
    info.add_argument("--json", action="store_true", help="print JSON")
    info.set_defaults(run=cmd_info)

    dump = commands.add_parser("dump", help="write the vDSO image of this process to FILE")
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
    clocks.add_argument("-n", type=_whole_number(1), default=100_000, metavar="N",
                        help="reads per clock (default 100000)")
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
                       help="untimed calls first (default n/100)")
    bench.add_argument("--json", action="store_true", help="print JSON")
    bench.set_defaults(run=cmd_bench)

    jitter = commands.add_parser("jitter", help="spin on a core and report every pause "
                                                "(interrupts, preemption, steal)")
    jitter.add_argument("--seconds", type=_positive_float, default=5.0, metavar="S",
                        help="how long to spin (default 5)")
    jitter.add_argument("--threshold-us", type=_positive_float, default=10.0, metavar="T",
                        help="report gaps of at least T microseconds (default 10)")
    jitter.add_argument("--clock", choices=sorted(CLOCK_CHOICES), default="monotonic",
                        help="the clock to read (default monotonic)")
    jitter.add_argument("--plot", metavar="FILE", help="write a PNG plot (needs matplotlib)")
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
        return args.run(args)
    except CommandError as exc:
        print(f"vdsotime: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("vdsotime: interrupted", file=sys.stderr)
        return 130
    except (OSError, ValueError, TypeError) as exc:
        print(f"vdsotime: error: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
