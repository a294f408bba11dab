#!/usr/bin/env python3
"""Run an eipsim replay as N shards on a Ray cluster and merge the shards' outputs.

Phases, one function each:
  1. plan_shards: resolve paths, build one `eipsim replay --shard K/N` command per shard;
  2. run_shards:  one Ray task per shard (one CPU each), retried when it crashes or its
     worker is lost, never when eipsim reports bad input (exit 1) or a usage error (exit 2);
  3. merge_shards: `eipsim merge` of the shard directories into --out.

The merged outputs are byte for byte those of a single-machine `eipsim replay` of the same
captures with the same options (the report names the captures by their absolute paths).

Exit codes are eipsim replay's: 0 done, 1 bad input (a shard's or the merge's), 2 usage. A shard
that still crashes after its retries, or a cluster that cannot run it, exits 3.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

EXIT_OK = 0
EXIT_BAD_INPUT = 1
EXIT_USAGE = 2
EXIT_CRASH = 3


class DriverError(Exception):
    """A failure that ends the run with `code`; `message` is printed on stderr."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message


def log(message):
    """One progress or error line on stderr."""
    print(f"eipsim-ray: {message}", file=sys.stderr, flush=True)


def parse_args(argv):
    """The command line: driver options and captures, then `--` and the options passed to every
    shard's `eipsim replay` unchanged (captures go before `--`)."""
    if "--" in argv:
        at = argv.index("--")
        own, extra = argv[:at], argv[at + 1 :]
    else:
        own, extra = argv, []
    p = argparse.ArgumentParser(
        prog="eipsim_ray.py",
        description="Replay captures through eipsim as N shards on Ray, then merge them.",
        epilog="Options after `--` go to every shard's `eipsim replay` unchanged "
        "(e.g. -- --events events.toml --alg ftp=translate).",
    )
    p.add_argument("--eipsim", default="eipsim", help="the eipsim binary (default: eipsim on PATH)")
    p.add_argument("--topology", required=True, help="the topology file")
    p.add_argument("--shards", type=int, required=True, help="number of shards N (>= 1)")
    p.add_argument("--out", required=True, help="directory of the merged outputs")
    p.add_argument("--address", help="a Ray cluster's address (default: a local Ray instance)")
    p.add_argument("--num-cpus", type=int, help="CPUs of the local Ray instance (default: all)")
    p.add_argument("--retries", type=int, default=2, help="retries of a crashed shard (default 2)")
    p.add_argument(
        "--work-dir",
        help="where the shard directories go (default: a new temporary directory next to --out); "
        "must be on a filesystem every Ray node shares",
    )
    p.add_argument("--keep-work", action="store_true", help="keep the shard directories")
    p.add_argument("captures", nargs="+", help="capture files (pcap or pcapng), on a shared path")
    opts = p.parse_args(own)
    if opts.shards < 1:
        p.error(f"--shards {opts.shards}: must be at least 1")
    if opts.retries < 0:
        p.error(f"--retries {opts.retries}: must be 0 or more")
    if opts.num_cpus is not None and opts.num_cpus < 1:
        p.error(f"--num-cpus {opts.num_cpus}: must be at least 1")
    if opts.address and opts.num_cpus:
        p.error("--num-cpus applies to a local Ray instance only, not with --address")
    opts.extra = extra
    return opts


def resolve_binary(name):
    """The eipsim binary's absolute path (the same path must exist on every Ray node)."""
    if os.sep in name:
        found = name if os.path.isfile(name) and os.access(name, os.X_OK) else None
    else:
        found = shutil.which(name)
    if not found:
        raise DriverError(EXIT_USAGE, f"--eipsim {name}: not an executable file or not on PATH")
    return os.path.abspath(found)


def plan_shards(opts):
    """One replay command per shard, with absolute paths, and the work directory.

    Returns (work_dir, [(k, part_dir, argv)]).
    """
    binary = resolve_binary(opts.eipsim)
    topology = os.path.abspath(opts.topology)
    captures = [os.path.abspath(c) for c in opts.captures]
    out = os.path.abspath(opts.out)
    if opts.work_dir:
        work = os.path.abspath(opts.work_dir)
        os.makedirs(work, exist_ok=True)
    else:
        parent = os.path.dirname(out.rstrip(os.sep)) or os.sep
        try:
            os.makedirs(parent, exist_ok=True)
            work = tempfile.mkdtemp(prefix=".eipsim-ray-", dir=parent)
        except OSError as e:
            raise DriverError(
                EXIT_BAD_INPUT, f"--out {opts.out}: cannot create a work directory: {e}"
            )
    n = opts.shards
    plan = []
    for k in range(n):
        part = os.path.join(work, f"part-{k}")
        argv = [binary, "replay", "--shard", f"{k}/{n}", "--topology", topology, "--out", part]
        argv += opts.extra + captures
        plan.append((k, part, argv))
    return work, plan


def replay_shard(k, part, argv, cwd):
    """Body of one shard's Ray task: run eipsim, return (k, exit code, stderr, seconds).

    Exit codes 0, 1 and 2 are eipsim's answer and are returned; anything else (a crash, a
    signal) raises, so Ray retries the task.
    """
    shutil.rmtree(part, ignore_errors=True)
    run_dir = cwd if os.path.isdir(cwd) else os.path.dirname(part)
    start = time.monotonic()
    try:
        proc = subprocess.run(
            argv, cwd=run_dir, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
    except OSError as e:
        raise RuntimeError(f"cannot run {argv[0]}: {e}") from e
    seconds = time.monotonic() - start
    if proc.returncode in (EXIT_OK, EXIT_BAD_INPUT, EXIT_USAGE):
        return k, proc.returncode, proc.stderr.strip(), seconds
    how = f"killed by signal {-proc.returncode}" if proc.returncode < 0 else f"exit {proc.returncode}"
    tail = proc.stderr.strip()[-2000:]
    raise RuntimeError(f"eipsim crashed ({how})" + (f": {tail}" if tail else ""))


def start_ray(opts):
    """Connect to the cluster given by --address, or start a local Ray instance."""
    try:
        import ray
    except ImportError:
        raise DriverError(
            EXIT_USAGE, "the `ray` Python package is not installed (pip install -r requirements.txt)"
        )
    kwargs = {"logging_level": "ERROR", "log_to_driver": False}
    try:
        if opts.address:
            ray.init(address=opts.address, **kwargs)
        else:
            # address="local": always a new instance, never a cluster found by RAY_ADDRESS or
            # Ray's record of the last cluster started on this machine.
            cpus = opts.num_cpus or os.cpu_count()
            ray.init(address="local", num_cpus=cpus, include_dashboard=False, **kwargs)
    except Exception as e:  # Ray raises ConnectionError, RuntimeError, ValueError...
        raise DriverError(EXIT_USAGE, f"cannot start or reach Ray ({opts.address or 'local'}): {e}")
    return ray


def run_shards(ray, opts, plan):
    """Run every shard as a Ray task; print a line per finished shard; stop at the first refusal."""
    task = ray.remote(num_cpus=1)(replay_shard)
    task = task.options(max_retries=opts.retries, retry_exceptions=True)
    n = len(plan)
    cwd = os.getcwd()
    pending = {task.remote(k, part, argv, cwd): k for k, part, argv in plan}
    done = 0
    while pending:
        ready, _ = ray.wait(list(pending), num_returns=1)
        ref = ready[0]
        k = pending.pop(ref)
        try:
            _, code, stderr, seconds = ray.get(ref)
        except Exception as e:  # retries exhausted, worker or node lost
            cancel(ray, pending)
            raise DriverError(
                EXIT_CRASH, f"shard {k}/{n} failed after {opts.retries} retries: {short(e)}"
            )
        if code != EXIT_OK:
            cancel(ray, pending)
            raise DriverError(code, f"shard {k}/{n}: {stderr}")
        done += 1
        log(f"shard {k}/{n} done in {seconds:.2f} s ({done}/{n})")


def cancel(ray, pending):
    """Cancel the shards still running after one failed."""
    for ref in pending:
        try:
            ray.cancel(ref, force=True)
        except Exception:
            pass


def short(error):
    """What went wrong in a failed task: the shard's own error, else the last lines of Ray's
    (its traceback is long)."""
    cause = getattr(error, "cause", None)
    if isinstance(cause, RuntimeError):
        return str(cause)
    lines = [line for line in str(error).strip().splitlines() if line.strip()]
    return " / ".join(lines[-3:])


def merge_shards(opts, plan):
    """`eipsim merge --out OUT part-0 ... part-(N-1)` on the driver's machine."""
    argv = [plan[0][2][0], "merge", "--out", os.path.abspath(opts.out)]
    argv += [part for _, part, _ in plan]
    proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if proc.returncode != EXIT_OK:
        code = proc.returncode if proc.returncode in (EXIT_BAD_INPUT, EXIT_USAGE) else EXIT_CRASH
        raise DriverError(code, f"merge: {proc.stderr.strip()}")
    log(proc.stdout.strip())


def clean_up(work, n, created):
    """Remove the shard directories, and the work directory if the driver made it."""
    if created:
        shutil.rmtree(work, ignore_errors=True)
        return
    for k in range(n):
        shutil.rmtree(os.path.join(work, f"part-{k}"), ignore_errors=True)


def main(argv=None):
    """Plan, run the shards on Ray, merge; return the exit code."""
    opts = parse_args(sys.argv[1:] if argv is None else argv)
    work = None
    ray = None
    try:
        work, plan = plan_shards(opts)
        t_start = time.monotonic()
        ray = start_ray(opts)
        t0 = time.monotonic()
        cpus = int(ray.cluster_resources().get("CPU", 0))
        log(f"Ray ready in {t0 - t_start:.2f} s ({cpus} CPUs, {opts.shards} shards)")
        run_shards(ray, opts, plan)
        t1 = time.monotonic()
        merge_shards(opts, plan)
        t2 = time.monotonic()
        log(f"{opts.shards} shard(s) in {t1 - t0:.2f} s, merge in {t2 - t1:.2f} s")
        return EXIT_OK
    except DriverError as e:
        log(e.message)
        return e.code
    finally:
        if ray is not None:
            ray.shutdown()
        if work and not opts.keep_work:
            clean_up(work, opts.shards, created=not opts.work_dir)


if __name__ == "__main__":
    sys.exit(main())
