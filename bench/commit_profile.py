#!/usr/bin/env python3
"""Where a status change's time goes on SQLite: the release server on a fresh
`synchronous=full` database in DIR, seeded with 10k orders, driven by wrk (status
change, closed loop) while `perf trace` records every fsync and fdatasync of the
`sqlite-writer` thread (and, with `--writes`, every pwrite). Prints the requests' latency beside the writer's cycle:
how many writes each commit carried, how long the log's sync took (p50 / p99 / max),
what the checkpoints cost, and how the writer's time splits between running SQLite,
waiting for the disk and waiting for work.

    bench/commit_profile.py [--dir DIR] [--seconds 10] [--connections 64] [--writes]

Run it twice, once on the disk (the default: a directory under /var/tmp) and once on a
tmpfs (`--dir /dev/shm`), to see what the same build does when a sync costs nothing.
Needs `perf` (Debian's linux-perf) and root, wrk, and the release server built
(`bench/run` builds it; `BENCH_SERVER` names another binary)."""

import argparse
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request

import bench

TRACE_LINE = re.compile(
    r"^\s*([\d.]+) \(\s*([\d.]+) ms\): sqlite-writer/(\d+) (\w+)\(fd: (\d+)")


def commits(base):
    """Transactions the writer committed and the requests' writes they carried, read
    from one scrape of `/metrics`, so the two figures are of the same moment."""
    with urllib.request.urlopen(f"{base}/metrics", timeout=10) as response:
        text = response.read().decode()
    return tuple(float(re.search(rf"^{name} (\S+)$", text, re.M).group(1))
                 for name in ("order_notify_write_batches_total", "order_notify_batched_writes_total"))


def writer_thread(pid):
    for tid in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{tid}/comm") as comm:
            if comm.read().strip() == "sqlite-writer":
                return int(tid)
    raise RuntimeError("no sqlite-writer thread")


def cpu_seconds(pid, tid):
    with open(f"/proc/{pid}/task/{tid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values, p):
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


def files_of(pid):
    """The server's open files by descriptor."""
    names = {}
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            names[int(fd)] = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            pass
    return names


def profile(directory, seconds, connections, trace_writes):
    os.makedirs(directory, exist_ok=True)
    workdir = tempfile.mkdtemp(prefix="commit-profile-", dir=directory)
    database = bench.Database("sqlite-full", workdir)
    server = bench.Server(database, workdir)
    trace_file = os.path.join(workdir, "trace.txt")
    try:
        ids_file = bench.write_ids(bench.seed(server.base), workdir)
        time.sleep(1)
        pid = server.process.pid
        tid = writer_thread(pid)
        tracer = subprocess.Popen(["perf", "trace", "-a", "-e", "fdatasync,fsync" + (",pwrite64" if trace_writes else ""), "-o", trace_file],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1)  # perf trace takes a moment to attach everywhere
        batches, carried = commits(server.base)
        cpu, started = cpu_seconds(pid, tid), time.perf_counter()
        peak = bench.wrk("status-change", server.base, ids_file, workdir, connections, seconds)
        wall = time.perf_counter() - started
        cpu = cpu_seconds(pid, tid) - cpu
        batches_after, carried_after = commits(server.base)
        batches, carried = batches_after - batches, carried_after - carried
        tracer.send_signal(signal.SIGINT)
        tracer.wait(timeout=30)
        files = files_of(pid)
    finally:
        server.stop()
    calls = []
    with open(trace_file) as f:
        for line in f:
            if m := TRACE_LINE.match(line):
                at, took, thread, call, fd = m.groups()
                if int(thread) == tid:
                    calls.append((float(at), float(took), call, files.get(int(fd), f"fd {fd}")))
    shutil.rmtree(workdir, ignore_errors=True)
    # The trace began a second before the load and ended just after it: keep the calls
    # of the load's last `wall` seconds, counted back from the trace's last call.
    if calls:
        last = calls[-1][0]
        calls = [c for c in calls if c[0] >= last - wall * 1000]
    log_syncs = [c for c in calls if c[2] in ("fdatasync", "fsync") and c[3].endswith("-wal")]
    db_syncs = [c for c in calls if c[2] in ("fdatasync", "fsync") and c[3].endswith(".db")]
    log_writes = [c for c in calls if c[2] == "pwrite64" and c[3].endswith("-wal")]
    db_writes = [c for c in calls if c[2] == "pwrite64" and c[3].endswith(".db")]
    sync_ms = [c[1] for c in log_syncs]
    ends = [c[0] + c[1] for c in log_syncs]
    cycles = [b - a for a, b in zip(ends, ends[1:])]

    def share(of):
        return sum(c[1] for c in of) / (wall * 1000)

    return {
        "directory": directory, "connections": connections, "writes_traced": trace_writes,
        "rps": peak["rps"], "p50_ms": peak["p50_ms"], "p99_ms": peak["p99_ms"], "errors": peak["errors"],
        "commits_per_second": batches / wall, "writes_per_commit": carried / batches if batches else 0,
        "log_syncs": len(log_syncs),
        "log_sync_ms": (percentile(sync_ms, 0.5), percentile(sync_ms, 0.99), max(sync_ms, default=0)),
        "log_syncs_over_5ms": sum(1 for s in sync_ms if s > 5),
        "cycle_ms": (percentile(cycles, 0.5), percentile(cycles, 0.99), max(cycles, default=0)),
        "checkpoints": len(db_syncs),
        "checkpoint_sync_ms": (percentile([c[1] for c in db_syncs], 0.5), max((c[1] for c in db_syncs), default=0)),
        "cpu": cpu / wall, "log_sync_share": share(log_syncs), "checkpoint_sync_share": share(db_syncs),
        "log_write_share": share(log_writes), "checkpoint_write_share": share(db_writes),
    }


def report(r):
    lines = [f"## {r['directory']}",
             f"- status change, wrk c={r['connections']}: {r['rps']:,.0f} req/s, p50 {r['p50_ms']:.2f} ms, "
             f"p99 {r['p99_ms']:.2f} ms, errors {r['errors']}",
             f"- commits: {r['commits_per_second']:,.0f}/s carrying {r['writes_per_commit']:.1f} writes each; "
             f"writer's cycle (one log sync's end to the next) p50 {r['cycle_ms'][0]:.2f} ms, "
             f"p99 {r['cycle_ms'][1]:.2f} ms, max {r['cycle_ms'][2]:.2f} ms",
             f"- log syncs: {r['log_syncs']:,}, p50 {r['log_sync_ms'][0]:.2f} ms, p99 {r['log_sync_ms'][1]:.2f} ms, "
             f"max {r['log_sync_ms'][2]:.2f} ms; {r['log_syncs_over_5ms']} over 5 ms",
             f"- checkpoints: {r['checkpoints']}, their database sync p50 {r['checkpoint_sync_ms'][0]:.2f} ms, "
             f"max {r['checkpoint_sync_ms'][1]:.2f} ms",
             f"- the writer thread's time: on the CPU {r['cpu'] * 100:.0f} %"
             + (f" (of it in writing the log {r['log_write_share'] * 100:.0f} %, copying pages in checkpoints "
                f"{r['checkpoint_write_share'] * 100:.0f} %)" if r["writes_traced"] else "")
             + f", waiting for the log's sync {r['log_sync_share'] * 100:.0f} %, for checkpoints' syncs "
             f"{r['checkpoint_sync_share'] * 100:.0f} %, the rest (waiting for work or for a core) "
             f"{max(0.0, 1 - r['cpu'] - r['log_sync_share'] - r['checkpoint_sync_share']) * 100:.0f} %"]
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", default="/var/tmp", help="where the database goes (/dev/shm: a tmpfs)")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--writes", action="store_true",
                        help="also trace every write (costly: it slows the writer several times over)")
    options = parser.parse_args()
    for tool in ("perf", "wrk"):
        if not shutil.which(tool):
            parser.error(f"not installed: {tool}")
    print(report(profile(options.dir, options.seconds, options.connections, options.writes)))
