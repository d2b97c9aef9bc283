"""python -m vdsotime: describe the vDSO of this process."""

import sys

import vdsotime


def main(argv=None):
    try:
        image = vdsotime.ElfImage.from_bytes(vdsotime.vdso_image())
    except (RuntimeError, vdsotime.ElfError) as exc:
        print(f"vdsotime: {exc}", file=sys.stderr)
        return 1
    print(f"vDSO: {image.soname} ELF{image.elf_class} {image.byteorder}-endian "
          f"{image.machine}, {image.size} bytes, hash tables: {', '.join(image.hash_styles)}")
    print(f"versions: {', '.join(image.versions) or '(none)'}")
    for symbol in image.symbols:
        version = f"@{symbol.version}" if symbol.version else ""
        print(f"  {symbol.value:#08x} {symbol.size:6d} {symbol.type:7s} {symbol.bind:6s} "
              f"{symbol.name}{version}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
