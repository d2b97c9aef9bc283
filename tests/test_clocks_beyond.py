"""Clocks beyond the classic nine, in every API: the auxiliary clocks of Linux 6.17+,
dynamic POSIX clocks (clock_from_fd, open_clock) and other threads' and processes'
CPU-time clocks. The kernel is the oracle: its answer for each id, through the raw
system call."""

import errno
import glob
import os
import subprocess
import sys
import threading

import numpy as np
import pytest

import vdsotime

import kernel
from requires import require_path

AUX_CLOCKS = "/sys/kernel/time/aux_clocks"
AUX_IDS = range(vdsotime.CLOCK_AUX, vdsotime.CLOCK_AUX_LAST + 1)


def test_aux_clock_ids_are_the_uapi_headers():
    # include/uapi/linux/time.h: CLOCK_AUX = MAX_CLOCKS (16), MAX_AUX_CLOCKS = 8.
    assert (vdsotime.CLOCK_AUX, vdsotime.CLOCK_AUX_LAST) == (16, 23)
    assert {"CLOCK_AUX", "CLOCK_AUX_LAST"} <= set(vdsotime.__all__)
    from vdsotime._core import clocks
    assert [clocks.clock_name(i) for i in (16, 17, 23)] == [
        "CLOCK_AUX", "CLOCK_AUX+1", "CLOCK_AUX_LAST"]


def _outcome(call):
    try:
        call()
    except OSError as exc:
        return exc.errno
    return 0


@pytest.mark.parametrize("clock_id", AUX_IDS)
def test_aux_clocks_answer_as_the_kernel_does(clock_id):
    """Enabled or not, every API gives the kernel's answer for an aux clock id."""
    expected = kernel.clock_gettime_errno(clock_id)
    assert _outcome(lambda: vdsotime.clock_gettime_ns(clock_id)) == expected
    assert _outcome(lambda: vdsotime.sample(10, clock_id)) == expected
    assert _outcome(lambda: vdsotime.sample_cpu(10, clock_id)) == expected
    assert _outcome(lambda: vdsotime.sample_every(1000, 3, clock_id)) == expected
    assert _outcome(lambda: vdsotime.overhead(clock_id, 100)) == expected
    try:
        resolution = kernel.clock_getres_ns(clock_id)
    except OSError as exc:
        assert _outcome(lambda: vdsotime.clock_getres_ns(clock_id)) == exc.errno
    else:
        assert vdsotime.clock_getres_ns(clock_id) == resolution


@pytest.fixture
def enabled_aux_clock():
    """CLOCK_AUX enabled for the test (root, Linux 6.17+ with CONFIG_POSIX_AUX_CLOCKS),
    then put back as it was."""
    switch = f"{AUX_CLOCKS}/0/aux_clock_enable"
    require_path("/sys/kernel")  # else the kernel's answer is unknown, not "none"
    if not os.path.exists(switch):
        pytest.skip(f"this kernel has no auxiliary clocks ({AUX_CLOCKS}: Linux 6.17+ with "
                    "CONFIG_POSIX_AUX_CLOCKS)")
    with open(switch) as f:
        was = f.read().strip()
    try:
        with open(switch, "w") as f:
            f.write("1\n")
    except OSError as exc:
        pytest.skip(f"cannot enable {switch}: {exc.strerror} (needs root)")
    yield vdsotime.CLOCK_AUX
    with open(switch, "w") as f:
        f.write(was + "\n")


def test_an_enabled_aux_clock_works_everywhere(enabled_aux_clock):
    clock_id = enabled_aux_clock
    before = kernel.clock_gettime_ns(clock_id)
    value = vdsotime.clock_gettime_ns(clock_id)
    readings = vdsotime.sample(10_000, clock_id)
    paced = vdsotime.sample_every(10_000, 5, clock_id)
    after = kernel.clock_gettime_ns(clock_id)
    assert before <= value <= readings[0] and readings[-1] <= paced[0] and paced[-1] <= after
    assert np.all(np.diff(readings) >= 0)
    assert vdsotime.clock_getres_ns(clock_id) == kernel.clock_getres_ns(clock_id)
    assert vdsotime.jitter(0.01, 100_000, clock_id).loops > 0


# -- dynamic POSIX clocks ---------------------------------------------------------------

def test_clock_from_fd_encodes_the_fd_as_the_kernel_decodes_it(tmp_path):
    """A regular file is not a clock: EINVAL, as clock_gettime says of its id."""
    path = tmp_path / "plain"
    path.write_bytes(b"")
    fd = os.open(path, os.O_RDONLY)
    try:
        with pytest.raises(OSError) as error:
            vdsotime.clock_from_fd(fd)
        clock_id = ((~fd) << 3) | 3  # FD_TO_CLOCKID
        assert error.value.errno == kernel.clock_gettime_errno(clock_id) == errno.EINVAL
        assert f"fd {fd} is not a dynamic POSIX clock" in str(error.value)
        # The kernel's decoding: CLOCKID_TO_FD(id) = ~(id >> 3), CLOCKFD in the low bits.
        assert ~(clock_id >> 3) == fd and clock_id & 7 == 3
    finally:
        os.close(fd)


def test_clock_from_fd_bad_arguments():
    read_end, write_end = os.pipe()
    os.close(read_end)
    os.close(write_end)
    with pytest.raises(OSError) as error:
        vdsotime.clock_from_fd(read_end)  # closed: as os.fstat says
    assert error.value.errno == errno.EBADF and f"fd {read_end}" in str(error.value)
    with pytest.raises(ValueError, match="fd must be >= 0"):
        vdsotime.clock_from_fd(-1)
    with pytest.raises(TypeError, match="fd must be an integer"):
        vdsotime.clock_from_fd("3")
    with pytest.raises(TypeError, match="fd must be an integer"):
        vdsotime.clock_from_fd(3.0)


def test_open_clock_refuses_what_is_not_a_clock(tmp_path):
    path = tmp_path / "plain"
    path.write_bytes(b"")
    with pytest.raises(OSError) as error:
        vdsotime.open_clock(path)
    assert error.value.errno == errno.EINVAL
    assert "is not a dynamic POSIX clock" in str(error.value)
    with pytest.raises(FileNotFoundError):
        vdsotime.open_clock(tmp_path / "missing")
    with pytest.raises(TypeError, match=r"open_clock\(\): path must be a str, bytes or "
                                        r"os.PathLike .* got int; for an open file "
                                        r"descriptor, clock_from_fd\(fd\)"):
        vdsotime.open_clock(3)
    before = len(os.listdir(require_path("/proc/self/fd")))
    for _ in range(20):
        with pytest.raises(OSError):
            vdsotime.open_clock(path)
    assert len(os.listdir("/proc/self/fd")) == before  # no descriptor left open


PTP_DEVICES = sorted(glob.glob("/dev/ptp[0-9]*"))


@pytest.mark.skipif(not PTP_DEVICES, reason="no PTP hardware clock here (/dev/ptp*: a NIC "
                                            "with PTP, or the ptp_kvm module in a KVM guest)")
def test_a_ptp_clock_works_everywhere():
    with vdsotime.open_clock(PTP_DEVICES[0]) as clock_id:
        assert clock_id < 0 and clock_id & 7 == 3
        before = kernel.clock_gettime_ns(clock_id)
        value = vdsotime.clock_gettime_ns(clock_id)
        readings = vdsotime.sample(1000, clock_id)
        paced = vdsotime.sample_every(100_000, 3, clock_id)
        after = kernel.clock_gettime_ns(clock_id)
        assert before <= value <= readings[0] and readings[-1] <= paced[0]
        assert paced[-1] <= after
        assert vdsotime.clock_getres_ns(clock_id) == kernel.clock_getres_ns(clock_id)
        assert vdsotime.overhead(clock_id, 100).ns_per_call > 0
    with pytest.raises(OSError):
        vdsotime.clock_gettime_ns(clock_id)  # closed with the block


# -- other threads' and processes' CPU clocks -----------------------------------------------

@pytest.fixture
def busy_child():
    child = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        yield child
    finally:
        child.kill()
        child.wait()


def test_samplers_read_another_processes_cpu_clock(busy_child):
    clock_id = kernel.process_cpu_clock(busy_child.pid)
    before = kernel.clock_gettime_ns(clock_id)
    readings = vdsotime.sample(1000, clock_id)
    pairs = vdsotime.sample_cpu(100, clock_id)
    paced = vdsotime.sample_every(1_000_000, 3, clock_id)  # 1 ms of the child's CPU time
    after = kernel.clock_gettime_ns(clock_id)
    assert before <= readings[0] and np.all(np.diff(readings) >= 0)
    assert readings[-1] <= pairs["t_ns"][0] and pairs["t_ns"][-1] <= paced[0]
    assert paced[-1] <= after and paced[-1] - paced[0] >= 2_000_000
    assert vdsotime.overhead(clock_id, 100).ns_per_call > 0
    with pytest.raises(ValueError, match="counts CPU time"):
        vdsotime.jitter(0.01, clock_id=clock_id)


def test_samplers_read_another_threads_cpu_clock():
    stop = threading.Event()

    def spin():
        while not stop.is_set():
            pass

    thread = threading.Thread(target=spin)
    thread.start()
    try:
        import time
        clock_id = time.pthread_getcpuclockid(thread.ident)
        before = kernel.clock_gettime_ns(clock_id)
        readings = vdsotime.sample(1000, clock_id)
        after = kernel.clock_gettime_ns(clock_id)
        assert before <= readings[0] and readings[-1] <= after
        assert np.all(np.diff(readings) >= 0)
    finally:
        stop.set()
        thread.join()


def test_a_dead_processes_clock_fails_as_the_kernel_says():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    clock_id = kernel.process_cpu_clock(child.pid)
    child.wait()
    expected = kernel.clock_gettime_errno(clock_id)
    assert expected != 0
    assert _outcome(lambda: vdsotime.sample(10, clock_id)) == expected
    assert _outcome(lambda: vdsotime.clock_gettime_ns(clock_id)) == expected
