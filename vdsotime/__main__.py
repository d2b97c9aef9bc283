"""python -m vdsotime: the same as the vdsotime command."""

import sys

from vdsotime.cli import main

sys.exit(main())
