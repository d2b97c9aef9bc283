"""python -m vdsotime: the same as the vdsotime command."""

import sys

from vdsotime.cli import main

if __name__ == "__main__":  # imported (by mypy.stubtest, pydoc, ...), it runs nothing
    sys.exit(main())
