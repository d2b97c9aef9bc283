"""Dynamic POSIX clocks: a clock id for an open clock device (PTP hardware clocks,
/dev/ptpN), usable wherever vdsotime takes a clock id -- the scalars, the samplers,
``overhead()`` and ``jitter()``.

The id encodes the file descriptor as the kernel decodes it (include/linux/posix-timers.h:
``FD_TO_CLOCKID(fd) = (~fd << 3) | CLOCKFD``, CLOCKFD = 3): a negative number whose low
three bits are 3. The vDSO does not serve these clocks; every reading is a system call
into the device's driver.
"""

import os

from vdsotime._core import clocks, validate

CLOCKFD = 3


def clock_from_fd(fd):
    """The clock id of the dynamic POSIX clock open as ``fd`` (an int >= 0). The id is
    valid while ``fd`` stays open; after ``close`` it names whatever file reuses the
    number. Errors follow the kernel and the os module: a closed or invalid ``fd`` raises
    ``OSError`` EBADF, a file that is not a clock (a regular file, a pipe) ``OSError``
    EINVAL (what clock_gettime says of it), a negative ``fd`` ``ValueError``, a non-int
    ``TypeError``.
    """
    fd = validate.count("clock_from_fd", "fd", fd, 0)
    if fd >= 1 << 28:
        raise ValueError(f"clock_from_fd(): fd {fd} is too large for a clock id")
    try:
        os.fstat(fd)
    except OSError as exc:
        raise OSError(exc.errno, f"clock_from_fd(): fd {fd}: {exc.strerror}") from None
    clock_id = ((~fd) << 3) | CLOCKFD
    try:
        clocks.clock_getres_ns(clock_id)
    except OSError as exc:
        raise OSError(exc.errno, f"clock_from_fd(): fd {fd} is not a dynamic POSIX clock "
                                 f"(such as /dev/ptp0): {exc.strerror}") from None
    return clock_id


class open_clock:
    """``with open_clock("/dev/ptp0") as clock_id:``

    Open the dynamic POSIX clock device at ``path`` (a str, bytes or path-like; opened
    read-only, as reading its time needs no more) and give its clock id (``clock_from_fd``) for the ``with`` block; the device is closed on
    exit. ``.fd`` and ``.clock_id`` are there too, and ``.close()`` for use without
    ``with``. Errors: ``OSError`` from opening the path (ENOENT, EACCES, ...), or EINVAL
    when it is not a clock.
    """

    __slots__ = ("path", "fd", "clock_id")

    def __init__(self, path):
        if not isinstance(path, (str, bytes, os.PathLike)):
            hint = "; for an open file descriptor, clock_from_fd(fd)" if isinstance(
                path, int) else ""
            raise TypeError(f"open_clock(): path must be a str, bytes or os.PathLike (such "
                            f"as /dev/ptp0), got {type(path).__name__}{hint}")
        self.path = os.fspath(path)
        self.fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            self.clock_id = clock_from_fd(self.fd)
        except OSError as exc:
            os.close(self.fd)
            raise OSError(exc.errno, f"open_clock(): {self.path!s} is not a dynamic POSIX "
                                     f"clock: {os.strerror(exc.errno)}") from None

    def close(self):
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self):
        return self.clock_id

    def __exit__(self, *exc_info):
        self.close()
        return False

    def __repr__(self):
        state = f"fd {self.fd}" if self.fd >= 0 else "closed"
        return f"open_clock({self.path!r}, clock_id={self.clock_id}, {state})"
