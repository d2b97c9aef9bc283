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
    except BrokenPipeError:
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
