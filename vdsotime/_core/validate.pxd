# Argument checks shared by every public entry point: one rule for clock ids, one for
# counts, one for errno. Inline, so the scalar clocks pay nothing for sharing them;
# vdsotime/validate.pyx offers the same rules to the Python modules.
#
# ``function`` names the public function in messages ("sample(): n must be >= 0, got -1");
# the scalar clocks pass None and get the time module's messages.

from cpython.exc cimport PyErr_Occurred
from cpython.long cimport PyLong_AsLongAndOverflow, PyLong_CheckExact
from cpython.number cimport PyIndex_Check, PyNumber_Index
from libc.limits cimport INT_MAX, INT_MIN

cdef extern from "Python.h":
    const Py_ssize_t PY_SSIZE_T_MAX
from libc.stdint cimport INT64_MAX, int64_t

from vdsotime cimport clock as c
from vdsotime._core.vdso cimport clockid_t, timespec

cdef extern from *:
    """
    #include <string.h>
    """
    char* strerror(int errnum)


cdef inline str _prefix(str function):
    return "" if function is None else function + "(): "


cdef inline clockid_t clock_id_arg(object value, str function) except? -1:
    """A clock id from an int (or anything with __index__, as the time module accepts;
    bool included, as there). Floats, strings and the like are a TypeError, ids outside
    a C int an OverflowError."""
    cdef long number
    cdef int overflow = 0
    if not PyLong_CheckExact(value):
        if isinstance(value, float) or not PyIndex_Check(value):
            raise TypeError(f"{_prefix(function)}clock_id must be an integer (a CLOCK_* "
                            f"constant), got {type(value).__name__}")
        value = PyNumber_Index(value)
    number = PyLong_AsLongAndOverflow(value, &overflow)
    if number == -1 and PyErr_Occurred():
        return -1
    if overflow or number < INT_MIN or number > INT_MAX:
        raise OverflowError(f"{_prefix(function)}clock_id must fit in a C int, got {value}")
    return <clockid_t>number


cdef inline int raise_errno(int error, str context=None) except -1:
    """Raise OSError for ``error`` (an errno, or a -errno result): the time module's
    OSError(errno, strerror), with ``context`` before the text when given."""
    if error < 0:
        error = -error
    text = strerror(error).decode("utf-8", "replace")
    raise OSError(error, text if context is None else f"{context}: {text}")


cdef inline clockid_t readable_clock(object value, str function) except? -1:
    """clock_id_arg(), then one reading, so that a clock the kernel refuses fails before
    any loop starts (OSError with the kernel's errno)."""
    cdef clockid_t clock_id = clock_id_arg(value, function)
    cdef timespec ts
    cdef int result = c.clock_gettime(clock_id, &ts)
    if result != 0:
        raise_errno(result, f"{function}(): clock_id {clock_id} "
                            + ("is not a clock this kernel knows" if result == -22
                               else "cannot be read"))
    return clock_id


cdef inline int64_t int64_arg(object value, str function, str name,
                              int64_t minimum) except? -1:
    """A whole number >= ``minimum`` that fits in 64 bits (nanoseconds, periods): an int
    or anything with __index__, never a bool or a float."""
    if not PyLong_CheckExact(value):
        if isinstance(value, (bool, float)) or not PyIndex_Check(value):
            raise TypeError(f"{_prefix(function)}{name} must be an integer, got "
                            f"{type(value).__name__}")
        value = PyNumber_Index(value)
    if value < minimum:
        raise ValueError(f"{_prefix(function)}{name} must be >= {minimum}, got {value}")
    if value > INT64_MAX:
        raise OverflowError(f"{_prefix(function)}{name} must fit in 64 bits, got {value}")
    return value


cdef inline Py_ssize_t count_arg(object value, str function, str name,
                                 Py_ssize_t minimum) except -1:
    """A count (of samples, calls...): int64_arg() that also fits in Py_ssize_t, the
    size of an array on this ABI."""
    cdef int64_t number = int64_arg(value, function, name, minimum)
    if number > PY_SSIZE_T_MAX:
        raise OverflowError(f"{_prefix(function)}{name} is too large for this "
                            f"{8 * sizeof(Py_ssize_t)}-bit build, got {number}")
    return <Py_ssize_t>number
