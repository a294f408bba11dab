#!/usr/bin/env python3
"""Run an eipsim replay as N shards on a Ray cluster and merge the shards' outputs.

Phases, one function each:
  0. stage_inputs: captures given as URLs (http://, https://, or any scheme fsspec knows: s3://,
     gs://, ...) are downloaded first, one Ray task per URL, into WORK/inputs/<index>-<name>; the
     run then goes on with those paths as if they had been given;
  1. plan: resolve paths, choose the mode, build the eipsim commands:
     - mode `split`: one `eipsim split --shards N` of the captures into WORK/split, then one
       `eipsim replay --shard K/N --split WORK/split` per shard (each reads only its frames);
     - mode `shard`: one `eipsim replay --shard K/N CAPTURE...` per shard (each reads every
       capture and keeps its own frames);
     - mode `auto` (the default): `split` for one capture file, `shard` for several;
  2. run_tasks: one Ray task per command (one CPU each; the split first, alone), retried when it
     crashes or its worker is lost, never when eipsim reports bad input (exit 1) or a usage
     error (exit 2);
  3. merge_shards: `eipsim merge` of the shard directories into --out.

The merged outputs are byte for byte those of a single-machine `eipsim replay` of the same
captures with the same options (the report names the captures by their absolute paths), in
either mode.

Exit codes are eipsim replay's: 0 done, 1 bad input (the split's, a shard's or the merge's),
2 usage. A split or shard that still crashes after its retries, or a cluster that cannot run it,
exits 3. A URL that cannot be fetched (404, connection refused, no such object) is bad input:
exit 1 naming the URL.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

EXIT_OK = 0
EXIT_BAD_INPUT = 1
EXIT_USAGE = 2
EXIT_CRASH = 3

# The options of `eipsim replay` that `eipsim split` takes too (they decide a frame's shard).
SPLIT_OPTIONS = ("--events", "--ingress", "--capture-point")

# A capture given as `scheme://...` is a URL to stage; http and https need only the standard
# library, any other scheme needs fsspec (and its backend for the scheme).
URL_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
URLLIB_SCHEMES = ("http", "https")
# Download: bytes per read (memory held is one chunk), seconds before a stalled connection
# fails, and attempts at a transient error (HTTP 5xx or 429, a timeout or a connection cut
# mid-transfer) within one task, with a pause of TRANSIENT_PAUSE * attempt seconds between.
CHUNK = 1 << 20
TIMEOUT = 60
TRANSIENT_ATTEMPTS = 3
TRANSIENT_PAUSE = 1.0
# fsspec backends worth naming when a scheme's package is missing.
FSSPEC_PACKAGES = {
    "s3": "s3fs",
    "s3a": "s3fs",
    "gs": "gcsfs",
    "gcs": "gcsfs",
    "az": "adlfs",
    "abfs": "adlfs",
    "abfss": "adlfs",
    "hf": "huggingface_hub",
}


class DriverError(Exception):
    """A failure that ends the run with `code`; `message` is printed on stderr."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message


class Job:
    """One eipsim command run as a Ray task: `label` names it in messages ("split", "shard K/N"),
    `out` is its output directory (removed before each attempt)."""

    def __init__(self, label, out, argv):
        self.label = label
        self.out = out
        self.argv = argv


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
        "(e.g. -- --events events.toml --alg ftp=translate); --events, --ingress and "
        "--capture-point go to `eipsim split` too.",
    )
    p.add_argument("--eipsim", default="eipsim", help="the eipsim binary (default: eipsim on PATH)")
    p.add_argument("--topology", required=True, help="the topology file")
    p.add_argument("--shards", type=int, required=True, help="number of shards N (>= 1)")
    p.add_argument("--out", required=True, help="directory of the merged outputs")
    p.add_argument(
        "--mode",
        choices=("auto", "split", "shard"),
        default="auto",
        help="split: one `eipsim split` task, then each shard reads only its frames; shard: each "
        "shard reads every capture; auto (default): split for one capture file, shard for several",
    )
    p.add_argument("--address", help="a Ray cluster's address (default: a local Ray instance)")
    p.add_argument("--num-cpus", type=int, help="CPUs of the local Ray instance (default: all)")
    p.add_argument(
        "--retries", type=int, default=2, help="retries of a crashed split or shard (default 2)"
    )
    p.add_argument(
        "--work-dir",
        help="where the split and the shard directories go (default: a new temporary directory "
        "next to --out); must be on a filesystem every Ray node shares",
    )
    p.add_argument("--keep-work", action="store_true", help="keep the split and shard directories")
    p.add_argument(
        "captures",
        nargs="+",
        help="capture files (pcap or pcapng): paths on a shared filesystem, or URLs (http://, "
        "https://, or s3://, gs://... with fsspec installed), downloaded into the work directory "
        "first",
    )
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


def choose_mode(mode, captures):
    """The mode to run and why. With several files, `--shard` readers stream them all in
    parallel with no extra write pass; with one file, a split pass reads it once instead of
    N times."""
    if mode != "auto":
        return mode, "--mode"
    if len(captures) == 1:
        return "split", "auto: one capture file, read once by the split instead of once per shard"
    return "shard", f"auto: {len(captures)} capture files, read by every shard in parallel"


def split_options(extra):
    """The options among `extra` that `eipsim split` takes too (as `--opt VALUE` or
    `--opt=VALUE`), in their order."""
    picked = []
    i = 0
    while i < len(extra):
        a = extra[i]
        if a in SPLIT_OPTIONS:
            picked += extra[i : i + 2]
            i += 2
            continue
        if a.split("=", 1)[0] in SPLIT_OPTIONS:
            picked.append(a)
        i += 1
    return picked


def resolve_binary(name):
    """The eipsim binary's absolute path (the same path must exist on every Ray node)."""
    if os.sep in name:
        found = name if os.path.isfile(name) and os.access(name, os.X_OK) else None
    else:
        found = shutil.which(name)
    if not found:
        raise DriverError(EXIT_USAGE, f"--eipsim {name}: not an executable file or not on PATH")
    return os.path.abspath(found)


def make_work_dir(opts):
    """The work directory: --work-dir, or a new one next to --out."""
    if opts.work_dir:
        work = os.path.abspath(opts.work_dir)
        os.makedirs(work, exist_ok=True)
        return work
    out = os.path.abspath(opts.out)
    parent = os.path.dirname(out.rstrip(os.sep)) or os.sep
    try:
        os.makedirs(parent, exist_ok=True)
        return tempfile.mkdtemp(prefix=".eipsim-ray-", dir=parent)
    except OSError as e:
        raise DriverError(EXIT_BAD_INPUT, f"--out {opts.out}: cannot create a work directory: {e}")


def url_scheme(capture):
    """The scheme of a capture given as a URL (lower case), or None for a path."""
    m = URL_RE.match(capture)
    return m.group(1).lower() if m else None


def check_url(url, scheme):
    """Refuse (exit 2) a URL the driver cannot fetch here: a scheme other than http and https
    needs fsspec and the fsspec backend of that scheme."""
    if scheme in URLLIB_SCHEMES:
        return
    package = FSSPEC_PACKAGES.get(scheme)
    extra = f" {package}" if package else ""
    try:
        import fsspec
    except ImportError:
        raise DriverError(
            EXIT_USAGE,
            f"{url}: {scheme}:// URLs need the fsspec package (pip install fsspec{extra}); "
            "http:// and https:// need nothing more",
        )
    try:
        fsspec.get_filesystem_class(scheme)
    except ImportError as e:
        raise DriverError(
            EXIT_USAGE,
            f"{url}: fsspec's {scheme}:// backend is not installed "
            f"(pip install {package or 'the package named here'}): {e}",
        )
    except ValueError as e:
        raise DriverError(EXIT_USAGE, f"{url}: fsspec knows no {scheme}:// scheme: {e}")


def staged_name(index, url):
    """The file name of a staged URL in WORK/inputs: `<index>-<last part of the URL's path>`."""
    path = urllib.parse.unquote(urllib.parse.urlsplit(url).path).rstrip("/")
    name = re.sub(r"[^A-Za-z0-9._+-]", "_", os.path.basename(path)) or "input"
    return f"{index}-{name}"


def plan_inputs(captures, work):
    """The captures as eipsim reads them (absolute paths; a URL's staged path) and one download
    job per URL."""
    paths, stages = [], []
    for i, c in enumerate(captures):
        if url_scheme(c):
            dest = os.path.join(work, "inputs", staged_name(i, c))
            stages.append(Job(f"download {c}", dest, c))
            paths.append(dest)
        else:
            paths.append(os.path.abspath(c))
    return paths, stages


def plan(opts, mode):
    """The commands to run, with absolute paths, and the work directory.

    Returns (work_dir, [download jobs], split job or None, [shard jobs]).
    """
    binary = resolve_binary(opts.eipsim)
    topology = os.path.abspath(opts.topology)
    for c in opts.captures:
        scheme = url_scheme(c)
        if scheme:
            check_url(c, scheme)
    work = make_work_dir(opts)
    captures, stages = plan_inputs(opts.captures, work)
    n = opts.shards
    split = None
    if mode == "split":
        split_dir = os.path.join(work, "split")
        argv = [binary, "split", "--topology", topology, "--shards", str(n), "--out", split_dir]
        argv += ["--no-progress"] + split_options(opts.extra) + captures
        split = Job("split", split_dir, argv)
    shards = []
    for k in range(n):
        part = os.path.join(work, f"part-{k}")
        argv = [binary, "replay", "--shard", f"{k}/{n}", "--topology", topology, "--out", part]
        if split:
            shards.append(Job(f"shard {k}/{n}", part, argv + ["--split", split.out] + opts.extra))
        else:
            shards.append(Job(f"shard {k}/{n}", part, argv + opts.extra + captures))
    return work, stages, split, shards


def run_eipsim(label, out, argv, cwd):
    """Body of one Ray task: run eipsim, return (label, exit code, stdout, stderr, seconds).

    Exit codes 0, 1 and 2 are eipsim's answer and are returned; anything else (a crash, a
    signal) raises, so Ray retries the task.
    """
    shutil.rmtree(out, ignore_errors=True)
    run_dir = cwd if os.path.isdir(cwd) else os.path.dirname(out)
    start = time.monotonic()
    try:
        proc = subprocess.run(
            argv, cwd=run_dir, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
    except OSError as e:
        raise RuntimeError(f"cannot run {argv[0]}: {e}") from e
    seconds = time.monotonic() - start
    if proc.returncode in (EXIT_OK, EXIT_BAD_INPUT, EXIT_USAGE):
        return label, proc.returncode, proc.stdout.strip(), proc.stderr.strip(), seconds
    how = f"killed by signal {-proc.returncode}" if proc.returncode < 0 else f"exit {proc.returncode}"
    tail = proc.stderr.strip()[-2000:]
    raise RuntimeError(f"eipsim crashed ({how})" + (f": {tail}" if tail else ""))


class Transient(Exception):
    """A download error worth another attempt: HTTP 5xx or 429, a timeout, a cut connection."""


class Refused(Exception):
    """A download error that another attempt would repeat: HTTP 4xx, connection refused, an
    unknown host, no such object."""


def copy_stream(read, part, expected, cut):
    """Copy `read(CHUNK)` into the file `part` chunk by chunk; return the bytes copied.

    A read raising one of the exception types `cut`, or ending before `expected` bytes, is
    Transient; a write error (the work directory) propagates.
    """
    size = 0
    with open(part, "wb") as out:
        while True:
            try:
                chunk = read(CHUNK)
            except cut as e:
                raise Transient(f"transfer cut after {size} bytes: {e!r}")
            if not chunk:
                break
            out.write(chunk)
            size += len(chunk)
    if expected is not None and size != expected:
        raise Transient(f"transfer ended after {size} of {expected} bytes")
    return size


def download_http(url, part):
    """Download an http:// or https:// URL with urllib into `part`."""
    import http.client

    try:
        src = urllib.request.urlopen(url, timeout=TIMEOUT)
    except urllib.error.HTTPError as e:
        what = f"HTTP {e.code} {e.reason}"
        raise (Transient if e.code >= 500 or e.code == 429 else Refused)(what)
    except urllib.error.URLError as e:
        if isinstance(e.reason, (TimeoutError, ConnectionResetError, ConnectionAbortedError)):
            raise Transient(f"{e.reason!r}")
        raise Refused(f"{e.reason}")
    except (TimeoutError, ConnectionResetError, http.client.HTTPException) as e:
        raise Transient(f"{e!r}")
    with src:
        length = src.headers.get("Content-Length")
        expected = int(length) if length and length.isdigit() else None
        cut = (http.client.HTTPException, ConnectionError, TimeoutError)
        return copy_stream(src.read, part, expected, cut)


def download_fsspec(url, part):
    """Download a URL of any other scheme with fsspec into `part`."""
    try:
        import fsspec
    except ImportError:
        raise Refused("fsspec is not installed on this Ray node (pip install fsspec)")
    try:
        src = fsspec.open(url, "rb").open()
    except (FileNotFoundError, PermissionError, IsADirectoryError, ImportError, ValueError) as e:
        raise Refused(f"{type(e).__name__}: {e}")
    except Exception as e:  # backends raise their own errors (botocore, aiohttp...)
        raise Transient(f"{type(e).__name__}: {e}")
    with src:
        return copy_stream(src.read, part, None, Exception)


def fetch(label, dest, url, cwd):
    """Body of one Ray task: download `url` into `dest` (through `dest.part`, renamed when
    complete); return (label, exit code, bytes, error, seconds) like run_eipsim.

    A transient error is tried again within the task, TRANSIENT_ATTEMPTS times in all; a refused
    URL, or a transient error on every attempt, returns exit 1 (bad input, not retried). Anything
    else (the work directory not writable, a crash) raises, so Ray retries the task.
    """
    del cwd
    start = time.monotonic()
    part = dest + ".part"
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    get = download_http if url_scheme(url) in URLLIB_SCHEMES else download_fsspec
    attempt = 1
    while True:
        for f in (dest, part):
            if os.path.exists(f):
                os.remove(f)
        try:
            size = get(url, part)
            os.replace(part, dest)
            return label, EXIT_OK, str(size), "", time.monotonic() - start
        except (Transient, Refused) as e:
            if os.path.exists(part):
                os.remove(part)
            if isinstance(e, Transient) and attempt < TRANSIENT_ATTEMPTS:
                time.sleep(TRANSIENT_PAUSE * attempt)
                attempt += 1
                continue
            tries = f" ({attempt} attempts)" if attempt > 1 else ""
            return label, EXIT_BAD_INPUT, "", f"{e}{tries}", time.monotonic() - start


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


def run_tasks(ray, opts, jobs, note=None, body=run_eipsim):
    """Run every job as a Ray task of `body` (run_eipsim, or fetch for a download); print a
    line per finished job (with `note(i, stdout)` if given); stop at the first refusal or
    exhausted retries."""
    task = ray.remote(num_cpus=1)(body)
    task = task.options(max_retries=opts.retries, retry_exceptions=True)
    n = len(jobs)
    cwd = os.getcwd()
    pending = {task.remote(j.label, j.out, j.argv, cwd): i for i, j in enumerate(jobs)}
    done = 0
    while pending:
        ready, _ = ray.wait(list(pending), num_returns=1)
        ref = ready[0]
        i = pending.pop(ref)
        label = jobs[i].label
        try:
            _, code, stdout, stderr, seconds = ray.get(ref)
        except Exception as e:  # retries exhausted, worker or node lost
            cancel(ray, pending)
            raise DriverError(
                EXIT_CRASH, f"{label} failed after {opts.retries} retries: {short(e)}"
            )
        if code != EXIT_OK:
            cancel(ray, pending)
            raise DriverError(code, f"{label}: {stderr}")
        done += 1
        extra = f", {note(i, stdout)}" if note else ""
        count = f" ({done}/{n})" if n > 1 else ""
        log(f"{label} done in {seconds:.2f} s{count}{extra}")


def cancel(ray, pending):
    """Cancel the tasks still running after one failed."""
    for ref in pending:
        try:
            ray.cancel(ref, force=True)
        except Exception:
            pass


def short(error):
    """What went wrong in a failed task: the task's own error, else the last lines of Ray's
    (its traceback is long)."""
    cause = getattr(error, "cause", None)
    if isinstance(cause, RuntimeError):
        return str(cause)
    lines = [line for line in str(error).strip().splitlines() if line.strip()]
    return " / ".join(lines[-3:])


def split_summary(_, stdout):
    """The split's first line without its directory: `N frames of M input(s) into S shard(s)`."""
    first = stdout.splitlines()[0] if stdout else ""
    if first.startswith("split "):
        first = first[len("split ") :]
    return first.split(" in /", 1)[0]


def split_frames(split_dir):
    """Frames per shard from the split's split.json (`shard_frames`), or None."""
    try:
        with open(os.path.join(split_dir, "split.json")) as f:
            frames = json.load(f).get("shard_frames")
        return frames if isinstance(frames, list) else None
    except (OSError, ValueError):
        return None


def merge_shards(opts, shards):
    """`eipsim merge --out OUT part-0 ... part-(N-1)` on the driver's machine."""
    argv = [shards[0].argv[0], "merge", "--out", os.path.abspath(opts.out)]
    argv += [j.out for j in shards]
    proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if proc.returncode != EXIT_OK:
        code = proc.returncode if proc.returncode in (EXIT_BAD_INPUT, EXIT_USAGE) else EXIT_CRASH
        raise DriverError(code, f"merge: {proc.stderr.strip()}")
    log(proc.stdout.strip())


def clean_up(work, n, created):
    """Remove the split and shard directories, and the work directory if the driver made it."""
    if created:
        shutil.rmtree(work, ignore_errors=True)
        return
    shutil.rmtree(os.path.join(work, "split"), ignore_errors=True)
    shutil.rmtree(os.path.join(work, "inputs"), ignore_errors=True)
    for k in range(n):
        shutil.rmtree(os.path.join(work, f"part-{k}"), ignore_errors=True)


def main(argv=None):
    """Plan, download the URLs, split if the mode says so, run the shards on Ray, merge; return
    the exit code."""
    opts = parse_args(sys.argv[1:] if argv is None else argv)
    work = None
    ray = None
    try:
        mode, why = choose_mode(opts.mode, opts.captures)
        work, stages, split, shards = plan(opts, mode)
        t_start = time.monotonic()
        ray = start_ray(opts)
        t0 = time.monotonic()
        cpus = int(ray.cluster_resources().get("CPU", 0))
        log(f"Ray ready in {t0 - t_start:.2f} s ({cpus} CPUs, {opts.shards} shards)")
        log(f"mode {mode} ({why})")
        times = []
        note = None
        if stages:
            log(f"download of {len(stages)} URL(s) into {os.path.join(work, 'inputs')} ...")
            got = lambda i, size: f"{size} bytes into {stages[i].out}"  # noqa: E731
            run_tasks(ray, opts, stages, got, body=fetch)
            t_down = time.monotonic()
            times.append(f"download in {t_down - t0:.2f} s")
            t0 = t_down
        if split:
            log(f"split of {len(opts.captures)} capture(s) into {opts.shards} shards ...")
            run_tasks(ray, opts, [split], split_summary)
            t_split = time.monotonic()
            times.append(f"split in {t_split - t0:.2f} s")
            t0 = t_split
            frames = split_frames(split.out)
            if frames and len(frames) == len(shards):
                note = lambda i, _: f"{frames[i]} frames"  # noqa: E731
        run_tasks(ray, opts, shards, note)
        t1 = time.monotonic()
        merge_shards(opts, shards)
        t2 = time.monotonic()
        times += [f"{opts.shards} shard(s) in {t1 - t0:.2f} s", f"merge in {t2 - t1:.2f} s"]
        log(", ".join(times))
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
