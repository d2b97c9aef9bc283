"""Worker processes: a measurement's rounds run in a fresh interpreter (new address-space
layout, hash seed and allocator state each, as pyperf does), for ``bench(processes=)``
and ``compare(processes=)``.

The parent sends a job on the worker's stdin -- its import path as one line of JSON,
then the job, pickled -- and reads the answer, pickled, on its stdout; the worker's
stderr is the parent's, where what the candidates print goes. Both are plain data
(names, statements, counts, lists, the samples as bytes): only the candidates
themselves, when they are callables, travel by reference. The worker compiles the
statements once and runs its rounds through the engine (``engine.run_rounds``).
"""

from __future__ import annotations

import json
import pickle
import subprocess
import sys

import numpy as np

from vdsotime._bench import engine
from vdsotime._bench.latency import LatencyResult
from vdsotime._core import meta, validate

# Bumped when a job or an answer changes shape.
PROTOCOL = 1
# Pickle protocol 4 reads on every CPython this package runs on.
_PICKLE = 4

# The same interpreter gets this process's import path; another interpreter keeps its
# own, less the current folder that "-c" puts first: a source checkout there would
# shadow the build installed in that interpreter (and both sides would run the same).
_BOOT = ("import sys, json; path = json.loads(sys.stdin.buffer.readline()); "
         "sys.path[:] = path if path is not None else sys.path[1:]; "
         "from vdsotime._bench.workers import main; main()")


def check_importable(function, candidates, args, kwargs):
    """Fresh processes import the candidates: refuse what they cannot, now."""
    for name, fn, _ in candidates:
        if fn is None:
            continue
        module = getattr(fn, "__module__", None)
        if module == "__main__" or "<lambda>" in getattr(fn, "__qualname__", "") \
                or "<locals>" in getattr(fn, "__qualname__", ""):
            raise ValueError(f"{function}(): processes= runs the candidates in fresh "
                             f"processes, which import them: {name} is defined in "
                             f"{module if module == '__main__' else 'a function or lambda'}."
                             " Give functions of an importable module, or statements "
                             "(strings, with setup=)")
        try:
            pickle.dumps(fn, _PICKLE)
        except Exception as exc:
            raise ValueError(f"{function}(): processes= needs candidates that pickle by "
                             f"reference; {name} does not ({exc})") from None
    try:
        pickle.dumps((args, kwargs), _PICKLE)
    except Exception as exc:
        raise ValueError(f"{function}(): processes= sends the arguments to the workers, "
                         f"and they do not pickle ({exc})") from None


def job(candidates, setup, args, kwargs, counts, orders, timer, probe=None):
    """What a worker process runs: ``orders`` (a row of candidate indices per round) of
    ``candidates`` [(name, callable or None, statement or None)], each with its
    ``counts`` (n, warmup), timed with ``timer`` (an engine.Timer). With ``probe`` (a
    number of calls), the worker only times that many calls of each candidate and
    answers their median per-call times (``probe_ns``): to choose counts where this
    process cannot run the candidates, and to see that they run."""
    return {"protocol": PROTOCOL, "candidates": [tuple(c) for c in candidates],
            "setup": setup, "args": tuple(args), "kwargs": dict(kwargs),
            "counts": [tuple(c) for c in counts],
            "orders": [[int(index) for index in order] for order in orders],
            "timer": timer.name, "ns_per_tick": timer.ns_per_tick, "probe": probe}


def _plain_rows(rows):
    return [[(r.samples_ns.astype("<i8").tobytes(), r.overhead_ns, r.n, r.warmup,
              r.metadata) for r in row] for row in rows]


def _results(job, data):
    """[LatencyResult row per round] from a worker's answer."""
    names = [name for name, _, _ in job["candidates"]]
    return [[LatencyResult(name, np.frombuffer(samples, dtype="<i8").astype(np.int64),
                           overhead, n, warmup, metadata)
             for name, (samples, overhead, n, warmup, metadata) in zip(names, row)]
            for row in data]


def _plain_error(exc):
    """An exception as plain data: the exception itself pickled (when it pickles), and
    its type, message and calls_done, should the parent be unable to unpickle it."""
    try:
        pickled = pickle.dumps(exc, _PICKLE)
    except Exception:
        pickled = None
    return {"type": type(exc).__name__, "message": str(exc), "pickled": pickled,
            "calls_done": getattr(exc, "calls_done", None),
            "interrupt": isinstance(exc, KeyboardInterrupt)}


def _error(data):
    """The worker's exception, raised here as it was raised there: its own type where it
    unpickles, else a RuntimeError with its type and message."""
    if data["interrupt"]:
        return KeyboardInterrupt()
    error = None
    if data["pickled"] is not None:
        try:
            error = pickle.loads(data["pickled"])
        except Exception:
            error = None
    if not isinstance(error, BaseException):
        error = RuntimeError(f"{data['type']}: {data['message']}")
    if data["calls_done"] is not None:
        validate.attach(error, "calls_done", int, data["calls_done"])
    return error


def main():
    """A worker process: read a job (pickled, on stdin), run its rounds, write the
    outcome (pickled, on stdout). On Ctrl-C, the outcome holds the rounds finished."""
    import signal

    stdout = sys.stdout.buffer
    sys.stdout = sys.stderr  # the candidates' prints must not mix with the answer
    rows = []
    try:
        job = pickle.load(sys.stdin.buffer)
        if job.get("protocol") != PROTOCOL:
            raise RuntimeError(f"this worker's vdsotime speaks worker protocol {PROTOCOL}, "
                               f"the parent's {job.get('protocol')}: install the same "
                               "vdsotime version on both sides")
        candidates = job["candidates"]
        statements = engine.compile_statements(
            [statement for _, _, statement in candidates if statement is not None],
            job["setup"])
        compiled = iter(statements)
        callables = [fn if fn is not None else next(compiled) for _, fn, _ in candidates]
        timer = engine.Timer(job["timer"], job["ns_per_tick"])
        if job.get("probe"):
            outcome = {"probe_ns": [engine.probe_ns(fn, job["args"], job["kwargs"], timer,
                                                    job["probe"]) for fn in callables]}
        else:
            rows = engine.run_rounds([name for name, _, _ in candidates], callables,
                                     job["args"], job["kwargs"], job["counts"],
                                     job["orders"], timer)
            outcome = {"rows": _plain_rows(rows)}
    except BaseException as exc:  # report it; the parent raises it
        # The parent passes a SIGINT on when this process did not get one: neither that
        # nor a second Ctrl-C may cut the answer short.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        outcome = {"error": _plain_error(exc),
                   "rows": _plain_rows(getattr(exc, "rounds_done", []))}
    pickle.dump(outcome, stdout, _PICKLE)
    stdout.flush()


def _answer_after_interrupt(worker):
    """The worker's answer after Ctrl-C here, or b"". Ctrl-C at a terminal reaches the
    worker too (one process group), and it answers with the rounds it finished; a SIGINT
    sent to this process alone is passed on when no answer comes within a second."""
    import signal

    try:
        try:
            out, _ = worker.communicate(timeout=1.0)
        except subprocess.TimeoutExpired:
            worker.send_signal(signal.SIGINT)
            out, _ = worker.communicate(timeout=10.0)
        return out
    except BaseException:  # no answer, or Ctrl-C again: give up on this worker's rounds
        worker.kill()
        worker.wait()
        return b""


def run(job, index, function="compare", python=None):
    """Run ``job`` in a fresh interpreter -- this one, or the Python at ``python`` with
    its own import path -- and return its [LatencyResult row per round]. The worker's
    exceptions are raised here with their type; a KeyboardInterrupt carries the rounds
    the worker finished as ``rounds_done``."""
    # The same interpreter imports what this process would; another one, its own.
    path = list(sys.path) if python is None else None
    payload = json.dumps(path).encode() + b"\n" + pickle.dumps(job, _PICKLE)
    where = "" if python is None else f" ({python})"
    worker = subprocess.Popen([python or sys.executable, "-c", _BOOT],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        out, _ = worker.communicate(payload)
    except KeyboardInterrupt as exc:
        try:
            answer = pickle.loads(_answer_after_interrupt(worker))
            validate.attach(exc, "rounds_done", _results, job, answer["rows"])
        except Exception:
            pass
        raise
    except BaseException:
        worker.kill()
        worker.wait()
        raise
    try:
        outcome = pickle.loads(out)
    except Exception:
        raise WorkerError(f"{function}(): worker process {index + 1}{where} ended without "
                          f"an answer (exit status {worker.returncode}; its error, if "
                          "any, is above)") from None
    if "error" in outcome:
        error = _error(outcome["error"])
        if isinstance(error, KeyboardInterrupt):  # the worker alone was interrupted
            validate.attach(error, "rounds_done", _results, job, outcome.get("rows", []))
        raise error
    if job.get("probe"):
        return outcome["probe_ns"]
    return _results(job, outcome["rows"])


class WorkerError(RuntimeError):
    """A worker process that died or answered nothing, or an interpreter that cannot run
    one: the message says which and why."""


# What another interpreter says of itself before it runs a worker: whether it imports
# vdsotime's measuring side, and which protocol that speaks.
_DESCRIBE = """\
import json, sys
del sys.path[0]  # the current folder, as a worker does
try:
    import vdsotime
    from vdsotime._bench import workers
    found = {"protocol": workers.PROTOCOL, "vdsotime": vdsotime.__version__,
             "module": vdsotime.__file__}
except BaseException as exc:
    found = {"error": f"{type(exc).__name__}: {exc}"}
found.update(python=sys.version.split()[0], implementation=sys.implementation.name,
             executable=sys.executable)
print(json.dumps(found))
"""


def describe_python(function, python):
    """What the interpreter at ``python`` is -- {"python", "implementation",
    "executable", "vdsotime", "protocol", "module"} -- checked to run this vdsotime's
    workers: a WorkerError saying what is wrong and what to install otherwise. It never
    lends the interpreter this process's vdsotime: a worker measures with its own."""
    import os

    ours = meta.vdsotime_version() or "(this build)"
    path = os.fspath(python)
    try:
        answer = subprocess.run([path, "-c", _DESCRIBE], capture_output=True, text=True,
                                timeout=120, stdin=subprocess.DEVNULL)
    except OSError as exc:
        raise WorkerError(f"{function}(): cannot run {path} ({exc.strerror or exc}): give "
                          "the path of a Python interpreter (a venv's bin/python)") from None
    except subprocess.TimeoutExpired:
        raise WorkerError(f"{function}(): {path} did not answer within 120 s") from None
    try:
        found = json.loads(answer.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        said = (answer.stderr.strip().splitlines() or ["no output"])[-1]
        raise WorkerError(f"{function}(): {path} is not a Python interpreter vdsotime can "
                          f"use (exit status {answer.returncode}: {said})") from None
    if "error" in found:
        raise WorkerError(f"{function}(): {path} (Python {found['python']}) cannot import "
                          f"vdsotime's measuring side ({found['error']}): install vdsotime "
                          f"{ours} there ({path} -m pip install vdsotime=={ours}), beside "
                          "the code under test")
    if found.get("protocol") != PROTOCOL:
        raise WorkerError(f"{function}(): {path} has vdsotime {found.get('vdsotime')}, "
                          f"whose workers speak protocol {found.get('protocol')}; this "
                          f"vdsotime ({ours}) speaks {PROTOCOL}: install vdsotime {ours} "
                          f"there ({path} -m pip install vdsotime=={ours})")
    return found
