#!/usr/bin/env python3
"""Gates between two builds: how often each CI gate raises a false alarm on unchanged
code, and how often it finds a known slowdown, measured in one sitting.

The code under test is a module ``work`` whose ``run()`` is ``sum(range(200))`` in the
old build (A); the new build is the same code (B0), or about 3 % (B3) or 10 % (B10) more
work. The true ratios are measured here first, with vdsotime.compare() in this process
(the four versions of ``work.run`` in many interleaved rounds). Then, pair after pair
(the kinds shuffled), every tool judges the same pair of builds in turn, in an order
drawn at random for the pair, so that all see the same noise:

- ``side-by-side``: ``vdsotime compare --python OLD --python NEW --fail-above 5%``,
  its defaults otherwise (exit status 1 = alarm);
- ``two-save``: ``vdsotime bench -p 10 --save`` in each interpreter, then
  ``vdsotime compare-runs OLD NEW --fail-above 5%``;
- ``pyperf`` (when installed): ``python -m pyperf timeit -o FILE`` in each interpreter,
  defaults otherwise, then ``python -m pyperf compare_to``; an alarm is a difference
  that compare_to calls significant with NEW's mean more than 5 % above OLD's;
- ``pytest-benchmark`` (when installed): a saved run in each interpreter, the second
  with ``--benchmark-compare-fail=median:5%``; an alarm is its "Performance has
  regressed" (it has no test of significance: its threshold is all it has).

The builds are real venvs by default (``--builds venv``): ``python -m venv`` and a
``pip install`` of this checkout (a wheel built once) into each, and each venv's
site-packages holding its own ``work.py``; made once and kept under ``--workdir``
(``--rebuild`` makes them again). ``--builds pythonpath`` instead runs this interpreter
through wrapper scripts that put a folder holding ``work.py`` first on PYTHONPATH
(cheaper, and what the tests use).

    python bench/gate.py                        # 20 null pairs, 20 at +10 %, 10 at +3 %
    python bench/gate.py --pairs 10 --b3-pairs 0 --tools side-by-side,pyperf
    python bench/gate.py --quick                # a smoke run: tiny counts, minutes
    python bench/gate.py --json                 # machine-readable

On the project's shared 2-core VM a pair takes about 80 s with all four tools on a
quiet machine (the side-by-side gate about 9 s of it, vdsotime's two saves 36 s,
pyperf's 32 s, pytest-benchmark's 4 s) and about 135 s at a load average near 10: the
full run of 50 pairs took 1 h 40 min (docs/benchmarks.md, "Gates between two builds"),
plus the venvs the first time (a few minutes) and the true ratios (a minute or two).
Progress goes to stderr, one line per pair; every pair is also appended to
``WORKDIR/pairs.jsonl``. Ctrl-C prints the table of the pairs finished so far.
"""

import argparse
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CHECKOUT = os.path.dirname(HERE)

# The builds: what work.run() does in each. B3 and B10 are about 3 % and 10 % more work
# than A on the project's VM (each element of the range costs about 4.8 ns of the
# 1.15 us of a call); the script measures the true ratios itself.
WORK = {"A": "sum(range(200))", "B0": "sum(range(200))", "B3": "sum(range(207))",
        "B10": "sum(range(224))"}
KINDS = ("B0", "B3", "B10")
STATEMENT = "work.run()"
SETUP = "import work"
FAIL_ABOVE = 5.0
TOOLS = ("side-by-side", "two-save", "pyperf", "pytest-benchmark")
LABELS = {
    "side-by-side": "vdsotime compare --python OLD --python NEW",
    "two-save": "vdsotime bench -p 10 --save x2 + compare-runs",
    "pyperf": "pyperf timeit -o x2 + compare_to",
    "pytest-benchmark": "pytest-benchmark save x2 + compare-fail=median:5%",
}
# What --quick passes to each tool on top of the commands above (the full run passes
# nothing: every tool runs with its defaults).
QUICK = {
    "side-by-side": ["-p", "2", "-r", "4", "-n", "300"],
    "two-save": ["-p", "2", "-n", "300"],
    "pyperf": ["-p", "2", "-n", "3", "-w", "1", "-l", "100"],
    "pytest-benchmark": ["--benchmark-max-time=0.02", "--benchmark-min-rounds=5",
                         "--benchmark-warmup=off"],
}
PYTEST_TEST = "import work\n\n\ndef test_work(benchmark):\n    benchmark(work.run)\n"


def log(message):
    print(message, file=sys.stderr, flush=True)


def child_env(extra=None):
    """The environment of every child: ours, less PYTHONPATH (a venv imports its own
    code; a wrapper sets its own)."""
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    env.update(extra or {})
    return env


def run(command, cwd, timeout=1800):
    """Run ``command`` in ``cwd``: (exit status, stdout, stderr)."""
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True,
                          env=child_env(), timeout=timeout, stdin=subprocess.DEVNULL)
    return done.returncode, done.stdout, done.stderr


def tool_version(distribution):
    from importlib import metadata

    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


# -- the builds -----------------------------------------------------------------------

def write_code(folder):
    """workdir/code/<build>/work.py for every build; {build: folder}."""
    found = {}
    for build, body in WORK.items():
        code = os.path.join(folder, "code", build)
        os.makedirs(code, exist_ok=True)
        with open(os.path.join(code, "work.py"), "w") as f:
            f.write(f"def run():\n    return {body}\n")
        found[build] = code
    return found


def pythonpath_builds(workdir, code):
    """A wrapper script per build that runs this interpreter with the build's folder first
    on PYTHONPATH (as tests/test_pythons.py does)."""
    found = {}
    for build, folder in code.items():
        script = os.path.join(workdir, f"python-{build}")
        with open(script, "w") as f:
            f.write(f"#!/bin/sh\nPYTHONPATH={folder} exec {sys.executable} \"$@\"\n")
        os.chmod(script, 0o755)
        found[build] = script
    return found


def checkout_stamp():
    """What the venvs were built from: the package's committed files and their
    uncommitted changes (not the commit: a change to bench/ or docs/ keeps them)."""
    import hashlib

    built = ["vdsotime", "pyproject.toml", "setup.py"]
    try:
        committed = subprocess.run(["git", "ls-tree", "-r", "HEAD", "--", *built],
                                   cwd=CHECKOUT, capture_output=True, check=True).stdout
        dirty = subprocess.run(["git", "diff", "HEAD", "--", *built], cwd=CHECKOUT,
                               capture_output=True, check=True).stdout
        return hashlib.sha256(committed + b"\0" + dirty).hexdigest()[:16]
    except (OSError, subprocess.CalledProcessError):
        import vdsotime
        return f"vdsotime {vdsotime.__version__}"


def venv_builds(workdir, code, rebuild):
    """A venv per build under workdir/venvs, with this checkout (a wheel built once),
    the tools that run inside each build (pyperf, pytest-benchmark: the versions
    installed here), and the build's work.py in its site-packages. Kept, and reused
    while the checkout and the tools are unchanged."""
    # The tools installed here go into every venv, whichever --tools this run asks for:
    # the venvs then serve every later run.
    requirements = [f"{name}=={tool_version(name)}" for name in
                    ("pyperf", "pytest", "pytest-benchmark") if tool_version(name)]
    stamp = {"checkout": checkout_stamp(), "python": sys.version,
             "requirements": requirements, "work": WORK}
    venvs = os.path.join(workdir, "venvs")
    stamp_path = os.path.join(venvs, "stamp.json")
    pythons = {build: os.path.join(venvs, build, "bin", "python") for build in WORK}
    if not rebuild and os.path.exists(stamp_path):
        with open(stamp_path) as f:
            if json.load(f) == stamp and all(map(os.path.exists, pythons.values())):
                log(f"builds: the venvs in {venvs} (made before; --rebuild to make them "
                    "again)")
                return pythons
    shutil.rmtree(venvs, ignore_errors=True)
    wheels = os.path.join(venvs, "wheels")
    log(f"builds: a wheel of {CHECKOUT} and its requirements into {wheels} ...")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--wheel-dir", wheels,
                    CHECKOUT, *requirements], check=True, cwd=workdir, env=child_env())
    for build, python in pythons.items():
        folder = os.path.join(venvs, build)
        log(f"builds: venv {folder} ...")
        subprocess.run([sys.executable, "-m", "venv", folder], check=True, env=child_env())
        subprocess.run([python, "-m", "pip", "install", "-q", "--no-index", "--find-links",
                        wheels, "vdsotime", *requirements], check=True, cwd=workdir,
                       env=child_env())
        purelib = subprocess.run([python, "-c", "import sysconfig; "
                                  "print(sysconfig.get_path('purelib'))"], check=True,
                                 capture_output=True, text=True).stdout.strip()
        shutil.copy(os.path.join(code[build], "work.py"), purelib)
    with open(stamp_path, "w") as f:
        json.dump(stamp, f, indent=1)
    return pythons


# -- the true ratios ------------------------------------------------------------------

def true_ratios(code, rounds, n, seed):
    """Each build's work.run() against A's, interleaved in this process:
    {build: {"ratio", "ci"}} and the rounds."""
    import importlib.util

    import vdsotime

    functions = {}
    for build, folder in code.items():
        spec = importlib.util.spec_from_file_location(f"work_{build}",
                                                      os.path.join(folder, "work.py"))
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        functions[build] = module.run
    comparison = vdsotime.compare(functions, rounds=rounds, n=n, seed=seed)
    found = {build: {"ratio": c.ratio, "ci": list(c.ci)} for build in KINDS
             for c in [comparison.contrast(build)]}
    return {"rounds": comparison.rounds, "n": int(comparison.round_sizes["A"][0]),
            "ratios": found}


# -- the tools, one verdict each ------------------------------------------------------

class ToolError(RuntimeError):
    pass


def checked(command, cwd, allowed=(0,)):
    status, out, err = run(command, cwd)
    if status not in allowed:
        raise ToolError(f"{' '.join(command[:4])} ... exited with {status}: "
                        f"{(err.strip() or out.strip())[-600:]}")
    return status, out, err


def side_by_side(old, new, folder, quick, seed):
    status, out, _ = checked(
        [sys.executable, "-m", "vdsotime", "compare", "--python", old, "--python", new,
         "--name", "old", "--name", "new", "-s", SETUP, "--fail-above", f"{FAIL_ABOVE:g}%",
         "--seed", str(seed), "--json", *(QUICK["side-by-side"] if quick else []),
         STATEMENT], folder, allowed=(0, 1))
    document = json.loads(out)
    [contrast] = document["comparison"]["contrasts"]
    return {"alarm": status == 1, "ratio": contrast["ratio"], "ci": contrast["ci"],
            "p": contrast["p_value"], "significant": contrast["significant"],
            "warnings": document["comparison"]["warnings"]}


def two_save(old, new, folder, quick, seed):
    saves = []
    for side, python in (("old", old), ("new", new)):
        path = os.path.join(folder, f"vdsotime-{side}.json")
        checked([python, "-m", "vdsotime", "bench", "-p", "10", "--save", path, "--name",
                 "work", "-s", SETUP, *(QUICK["two-save"] if quick else []), STATEMENT],
                folder)
        saves.append(path)
    status, out, err = checked([sys.executable, "-m", "vdsotime", "compare-runs", *saves,
                                "--fail-above", f"{FAIL_ABOVE:g}%", "--json"], folder,
                               allowed=(0, 1))
    [change] = json.loads(out)["changes"]
    return {"alarm": status == 1, "ratio": change["ratio"], "ci": change["ci"],
            "p": change["p_value"], "significant": change["significant"],
            "warnings": [line for line in err.splitlines() if "warning" in line]}


def pyperf_mean(path):
    """The mean of a pyperf file's values, as compare_to computes it (its calibration
    and warm-up values are not values)."""
    with open(path) as f:
        document = json.load(f)
    [benchmark] = document["benchmarks"]
    values = [value for run in benchmark["runs"] for value in run.get("values", [])]
    return statistics.fmean(values)


def pyperf_gate(old, new, folder, quick, seed):
    saves = []
    for side, python in (("old", old), ("new", new)):
        path = os.path.join(folder, f"pyperf-{side}.json")
        # pyperf's workers get a bare environment: a wrapper's PYTHONPATH must be passed on.
        checked([python, "-m", "pyperf", "timeit", "--quiet", "--inherit-environ",
                 "PYTHONPATH", "-o", path, *(QUICK["pyperf"] if quick else []), "-s", SETUP,
                 STATEMENT], folder)
        saves.append(path)
    _, out, _ = checked([sys.executable, "-m", "pyperf", "compare_to", "-v", *saves],
                        folder)
    # -v: "Significant (t=...)" or "Not significant!" under the means' line. compare_to
    # prints the ratio of the means with two decimals ("1.05x slower"): the threshold is
    # applied to the means read from the files instead.
    if "Not significant!" in out:
        significant = False
    elif "Significant" in out:
        significant = True
    else:
        raise ToolError(f"pyperf compare_to said neither significant nor not: {out!r}")
    ratio = pyperf_mean(saves[1]) / pyperf_mean(saves[0])
    return {"alarm": significant and ratio > 1 + FAIL_ABOVE / 100, "ratio": ratio,
            "ci": None, "p": None, "significant": significant, "warnings": []}


def pytest_benchmark_gate(old, new, folder, quick, seed):
    with open(os.path.join(folder, "test_work.py"), "w") as f:
        f.write(PYTEST_TEST)
    with open(os.path.join(folder, "pytest.ini"), "w") as f:
        f.write("[pytest]\n")  # the folder is the rootdir: no configuration from above
    storage = os.path.join(folder, ".benchmarks")
    common = ["-m", "pytest", "-q", "-p", "no:cacheprovider", "test_work.py",
              f"--benchmark-storage={storage}",
              *(QUICK["pytest-benchmark"] if quick else [])]
    medians = []
    alarm = False
    for side, python in (("old", old), ("new", new)):
        path = os.path.join(folder, f"pytest-benchmark-{side}.json")
        extra = (["--benchmark-save=old"] if side == "old" else
                 ["--benchmark-compare=0001", f"--benchmark-compare-fail=median:"
                  f"{FAIL_ABOVE:g}%"])
        status, out, err = run([python, *common, f"--benchmark-json={path}", *extra],
                               folder)
        regressed = "Performance has regressed" in out + err
        if status != 0 and not (side == "new" and regressed):
            raise ToolError(f"pytest-benchmark ({side}) exited with {status}: "
                            f"{(out + err).strip()[-600:]}")
        alarm = alarm or regressed
        with open(path) as f:
            [benchmark] = json.load(f)["benchmarks"]
        medians.append(benchmark["stats"]["median"])
    ratio = medians[1] / medians[0]
    # No test of significance: a change is "reported" when it fails the threshold.
    return {"alarm": alarm, "ratio": ratio, "ci": None, "p": None, "significant": None,
            "warnings": []}


RUNNERS = {"side-by-side": side_by_side, "two-save": two_save, "pyperf": pyperf_gate,
           "pytest-benchmark": pytest_benchmark_gate}


def available_tools(asked):
    found = []
    for tool in asked:
        needs = {"pyperf": "pyperf", "pytest-benchmark": "pytest-benchmark"}.get(tool)
        if needs and tool_version(needs) is None:
            log(f"{tool}: not installed here, left out (pip install {needs})")
            continue
        found.append(tool)
    return found


# -- the experiment -------------------------------------------------------------------

def pair_line(index, total, pair):
    parts = []
    for tool, verdict in pair["tools"].items():
        if "error" in verdict:
            parts.append(f"{tool} ERROR")
            continue
        mark = "ALARM" if verdict["alarm"] else "sig" if verdict["significant"] else "pass"
        parts.append(f"{tool} {verdict['ratio']:.3f} {mark} {verdict['seconds']:.0f}s")
    return f"pair {index}/{total} {pair['kind']}: " + ", ".join(parts)


def machine():
    model = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        with open("/sys/devices/system/clocksource/clocksource0/current_clocksource") as f:
            clocksource = f.read().strip()
    except OSError:
        clocksource = "unknown"
    return {"cpu": model, "cores": os.cpu_count(), "kernel": platform.release(),
            "machine": platform.machine(), "clocksource": clocksource,
            "host": platform.node()}


def summarize(pairs, tools):
    """Per tool: the counts of the table and the median seconds per verdict."""
    rows = {}
    for tool in tools:
        row = {}
        for kind in KINDS:
            verdicts = [p["tools"][tool] for p in pairs if p["kind"] == kind
                        and tool in p["tools"]]
            good = [v for v in verdicts if "error" not in v]
            row[kind] = {
                "pairs": len(good), "errors": len(verdicts) - len(good),
                "alarms": sum(v["alarm"] for v in good),
                # "found": a significant slowdown reported (pytest-benchmark, which has no
                # test, reports one only when it fails the threshold).
                "slower": sum(bool(v["significant"] if v["significant"] is not None
                                   else v["alarm"]) and v["ratio"] > 1 for v in good),
                "significant": sum(bool(v["significant"]) for v in good),
                "ratios": [v["ratio"] for v in good],
            }
        seconds = [p["tools"][tool]["seconds"] for p in pairs if tool in p["tools"]
                   and "error" not in p["tools"][tool]]
        row["seconds"] = statistics.median(seconds) if seconds else None
        rows[tool] = row
    return rows


def targets(rows):
    """The issue's targets for the side-by-side gate, where it and pyperf ran."""
    found = []
    row = rows.get("side-by-side")
    if row is None:
        return found
    null, slow = row["B0"], row["B10"]
    if null["pairs"]:
        found.append({"target": "no false alarm in the null pairs",
                      "value": f"{null['alarms']} / {null['pairs']}",
                      "met": null["alarms"] == 0})
    if slow["pairs"]:
        # 19 of 20: at most one miss in twenty, 95 % of the pairs.
        need = slow["pairs"] - slow["pairs"] // 20
        found.append({"target": f"the +10 % change caught in at least {need} of "
                                f"{slow['pairs']}",
                      "value": f"{slow['alarms']} / {slow['pairs']}",
                      "met": slow["alarms"] >= need})
    if "pyperf" in rows and rows["pyperf"]["seconds"] and row["seconds"]:
        found.append({"target": "less wall time per verdict than pyperf's two saves",
                      "value": f"{row['seconds']:.1f} s against "
                               f"{rows['pyperf']['seconds']:.1f} s",
                      "met": row["seconds"] < rows["pyperf"]["seconds"]})
    return found


def render(report):
    info = report["machine"]
    versions = report["versions"]
    lines = [
        f"Gates between two builds (bench/gate.py{' --quick' if report['quick'] else ''}), "
        f"{report['date']}, seed {report['seed']}",
        f"machine: {info['cpu']}, {info['cores']} cores, {info['machine']}, Linux "
        f"{info['kernel']}, clocksource {info['clocksource']}; load average "
        f"{report['load_start']} at the start, {report['load_end']} at the end",
        "versions: " + ", ".join(f"{name} {version}" for name, version in versions.items()
                                 if version),
        f"builds: {report['builds']}",
        "work.run(): " + "; ".join(f"{build} {body}" for build, body in WORK.items()),
    ]
    true = report["true_ratios"]
    lines.append(f"true ratios (vdsotime.compare in one process, {true['rounds']} "
                 f"interleaved rounds of {true['n']:,} calls, median over A's median): "
                 + ", ".join(f"{build} {found['ratio']:.3f} (95% CI {found['ci'][0]:.3f}-"
                             f"{found['ci'][1]:.3f})"
                             for build, found in true["ratios"].items()))
    lines.append(f"each pair: every tool in turn, in random order; alarm = the gate fails "
                 f"(NEW slower beyond +{FAIL_ABOVE:g}%); found = a significant slowdown "
                 "reported (pytest-benchmark has no test of significance: its alarm)")
    if report["quick"]:
        lines.append("--quick: tiny counts, the figures mean nothing; added to each tool: "
                     + "; ".join(f"{tool} {' '.join(extra)}" for tool, extra in
                                 report["quick_arguments"].items()))
    lines.append("")
    rows = report["rows"]
    header = ("| tool | false alarms, B0 | B0 significant | found B3 | alarms B3 | "
              "found B10 | alarms B10 | seconds per verdict |")
    lines += [header, "|---|---|---|---|---|---|---|---|"]

    def count(cell, field):
        if not cell["pairs"] and not cell["errors"]:
            return "-"
        text = f"{cell[field]} / {cell['pairs']}"
        return text + (f" ({cell['errors']} errors)" if cell["errors"] else "")

    for tool, row in rows.items():
        significant = "-" if tool == "pytest-benchmark" else count(row["B0"], "significant")
        seconds = "-" if row["seconds"] is None else f"{row['seconds']:.1f}"
        lines.append(f"| {LABELS[tool]} | {count(row['B0'], 'alarms')} | {significant} | "
                     f"{count(row['B3'], 'slower')} | {count(row['B3'], 'alarms')} | "
                     f"{count(row['B10'], 'slower')} | {count(row['B10'], 'alarms')} | "
                     f"{seconds} |")
    lines.append("")
    lines.append("ratios NEW/OLD by pair kind, median [min - max]:")
    for tool, row in rows.items():
        parts = []
        for kind in KINDS:
            ratios = row[kind]["ratios"]
            if ratios:
                parts.append(f"{kind} {statistics.median(ratios):.3f} "
                             f"[{min(ratios):.3f} - {max(ratios):.3f}]")
        lines.append(f"  {tool:18s} " + ", ".join(parts))
    misses = [(pair, tool, verdict) for pair in report["pairs"]
              for tool, verdict in pair["tools"].items() if "error" not in verdict
              and verdict["alarm"] != (pair["kind"] == "B10")]
    if misses:
        lines.append("")
        lines.append("false alarms (B0), alarms below the threshold (B3) and misses (B10):")
        for pair, tool, verdict in misses:
            interval = ("" if verdict["ci"] is None else
                        f", 95% CI {verdict['ci'][0]:.3f}-{verdict['ci'][1]:.3f}")
            p_value = "" if verdict["p"] is None else f", p={verdict['p']:.2g}"
            lines.append(f"  pair {pair['index']:3d} {pair['kind']:3s} {tool:18s} ratio "
                         f"{verdict['ratio']:.3f}{interval}{p_value}, "
                         f"{'alarm' if verdict['alarm'] else 'passed'}")
    if report["targets"]:
        lines.append("")
        lines.append("targets of the side-by-side gate (issue 20):")
        for target in report["targets"]:
            lines.append(f"  {target['target']}: {target['value']}: "
                         f"{'met' if target['met'] else 'MISSED'}")
    if report.get("interrupted"):
        lines.append("")
        lines.append(f"interrupted: {len(report['pairs'])} pairs of "
                     f"{report['planned_pairs']} done")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=None, metavar="N",
                        help="null pairs (B0) and pairs at +10 %% (B10), each (default 20; "
                             "--quick: 1)")
    parser.add_argument("--b3-pairs", type=int, default=None, metavar="M",
                        help="pairs at +3 %% (default: half of --pairs)")
    parser.add_argument("--tools", default=",".join(TOOLS),
                        help=f"comma-separated, of {', '.join(TOOLS)} (default: all; "
                             "pyperf and pytest-benchmark where installed)")
    parser.add_argument("--builds", choices=("venv", "pythonpath"), default="venv",
                        help="venv: a venv per build with this checkout installed (the "
                             "faithful setup, default); pythonpath: wrapper scripts")
    parser.add_argument("--workdir", default=None,
                        help="where the builds, the saves and pairs.jsonl go (default: "
                             "a gate-work folder in the system's temporary folder)")
    parser.add_argument("--rebuild", action="store_true", help="make the venvs again")
    parser.add_argument("--true-rounds", type=int, default=None, metavar="R",
                        help="interleaved rounds of the true ratios (default 250; "
                             "--quick: 10)")
    parser.add_argument("--seed", type=int, default=None,
                        help="the order of the pairs and of the tools, and the "
                             "side-by-side gate's seeds (default: random, printed)")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: one pair of each kind, tiny counts for every "
                             "tool (its figures mean nothing)")
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args(argv)

    asked = [tool.strip() for tool in args.tools.split(",") if tool.strip()]
    unknown = [tool for tool in asked if tool not in TOOLS]
    if unknown or not asked:
        parser.error(f"--tools: unknown {', '.join(unknown) or 'none given'}; choose from "
                     f"{', '.join(TOOLS)}")
    pairs_each = args.pairs if args.pairs is not None else (1 if args.quick else 20)
    b3_pairs = args.b3_pairs if args.b3_pairs is not None else (
        1 if args.quick else pairs_each // 2)
    if pairs_each < 0 or b3_pairs < 0:
        parser.error("--pairs and --b3-pairs count pairs: 0 or more")
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**31)
    rng = random.Random(seed)
    tools = available_tools(asked)
    if not tools:
        parser.error("no tool to run")

    import vdsotime

    workdir = os.path.abspath(args.workdir or os.path.join(
        os.environ.get("TMPDIR", "/tmp"), "gate-work"))
    os.makedirs(workdir, exist_ok=True)
    code = write_code(workdir)
    if args.builds == "venv":
        pythons = venv_builds(workdir, code, args.rebuild)
        builds = ("venvs (python -m venv, this checkout pip-installed from one wheel, "
                  "work.py in each site-packages)")
    else:
        pythons = pythonpath_builds(workdir, code)
        builds = "wrapper scripts: this interpreter with PYTHONPATH=<build's folder>"

    report = {
        "date": time.strftime("%Y-%m-%d %H:%M %Z"), "seed": seed, "quick": args.quick,
        "machine": machine(), "builds": builds, "work": WORK, "fail_above": FAIL_ABOVE,
        "versions": {"Python": platform.python_version(), "vdsotime": vdsotime.__version__,
                     "pyperf": tool_version("pyperf") if "pyperf" in tools else None,
                     "pytest": tool_version("pytest") if "pytest-benchmark" in tools
                     else None,
                     "pytest-benchmark": tool_version("pytest-benchmark")
                     if "pytest-benchmark" in tools else None},
        "tools": tools, "quick_arguments": {t: QUICK[t] for t in tools} if args.quick
        else None,
        "load_start": " ".join(f"{x:.1f}" for x in os.getloadavg()),
    }
    true_rounds = args.true_rounds or (10 if args.quick else 250)
    log(f"true ratios: {true_rounds} interleaved rounds in this process ...")
    report["true_ratios"] = true_ratios(code, true_rounds, 2000 if args.quick else None,
                                        seed)
    log("true ratios: " + ", ".join(f"{build} {found['ratio']:.3f}" for build, found in
                                    report["true_ratios"]["ratios"].items()))

    kinds = ["B0"] * pairs_each + ["B10"] * pairs_each + ["B3"] * b3_pairs
    rng.shuffle(kinds)
    report["planned_pairs"] = len(kinds)
    pairs = report["pairs"] = []
    journal = os.path.join(workdir, "pairs.jsonl")
    try:
        for index, kind in enumerate(kinds, 1):
            folder = os.path.join(workdir, "pairs", f"{index:03d}-{kind}")
            shutil.rmtree(folder, ignore_errors=True)
            os.makedirs(folder)
            order = list(tools)
            rng.shuffle(order)
            pair = {"index": index, "kind": kind, "order": order, "tools": {},
                    "load": os.getloadavg()[0]}
            for tool in order:
                start = time.perf_counter()
                try:
                    verdict = RUNNERS[tool](pythons["A"], pythons[kind], folder, args.quick,
                                            rng.randrange(2**31))
                except (ToolError, subprocess.TimeoutExpired, ValueError, KeyError,
                        OSError) as exc:
                    verdict = {"error": f"{type(exc).__name__}: {exc}"}
                    log(f"pair {index} {kind}: {tool}: {verdict['error']}")
                verdict["seconds"] = time.perf_counter() - start
                pair["tools"][tool] = verdict
            pairs.append(pair)
            with open(journal, "a") as f:
                f.write(json.dumps(dict(pair, seed=seed)) + "\n")
            log(pair_line(index, len(kinds), pair))
            shutil.rmtree(folder, ignore_errors=True)  # the saves: megabytes each
    except KeyboardInterrupt:
        report["interrupted"] = True
        log("interrupted: the table of the pairs so far")
    report["load_end"] = " ".join(f"{x:.1f}" for x in os.getloadavg())
    report["rows"] = summarize(pairs, tools)
    report["targets"] = targets(report["rows"])
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        print(render(report))
    return 130 if report.get("interrupted") else 0


if __name__ == "__main__":
    sys.exit(main())
