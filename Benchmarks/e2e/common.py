"""What the end-to-end scripts share (run.py, filter_place.py, bypass_cost.py,
tcpdump_pcap.py): CPU readings, a capture's readiness line, a veth testbed.
Standard library only."""
import contextlib
import json
import os
import subprocess
import time

TICK = os.sysconf("SC_CLK_TCK")


def machine_busy():
    """Whole-machine busy, steal and softirq CPU seconds from /proc/stat. Steal (time
    the hypervisor ran something else while this VM wanted the CPU) is not work done
    here and is not counted as busy; it is returned apart so the report can say how
    much of the run the VM lost."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    user, nice, system, idle, iowait, irq, softirq, steal = (v + [0] * 8)[:8]
    busy = user + nice + system + irq + softirq
    return busy / TICK, steal / TICK, softirq / TICK


def schedstat_cpu(pid, prefixes=None):
    """CPU seconds of a live process's threads, to the nanosecond: the sum of each
    thread's sum_exec_runtime (/proc/PID/task/TID/schedstat, field 1), of every
    thread or of those whose name starts with one of `prefixes`. Threads that
    already exited are not counted. None if the process is gone."""
    total = 0
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            try:
                if prefixes:
                    with open(f"/proc/{pid}/task/{tid}/comm") as f:
                        if not f.read().strip().startswith(prefixes):
                            continue
                with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                    total += int(f.read().split()[0])
            except (OSError, ValueError, IndexError):
                pass
    except OSError:
        return None
    return total / 1e9


def thread_table(pid):
    """Per thread of a live process: {"TID name": (CPU seconds, voluntary, involuntary
    context switches)}, from /proc/PID/task/TID/{comm,schedstat,status}; {} if gone.
    Two snapshots' difference (``thread_delta``) shows who spent the CPU and how often
    each thread was switched out."""
    table = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return table
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                name = f.read().strip()
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                cpu = int(f.read().split()[0]) / 1e9
            vol = invol = 0
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                for line in f:
                    if line.startswith("voluntary_ctxt_switches:"):
                        vol = int(line.split()[1])
                    elif line.startswith("nonvoluntary_ctxt_switches:"):
                        invol = int(line.split()[1])
            table[f"{tid} {name}"] = (cpu, vol, invol)
        except (OSError, ValueError, IndexError):
            pass
    return table


def thread_delta(before, after):
    """``thread_table`` snapshots' difference: {"TID name": {"cpu", "vcs", "ivcs"}}
    for the threads alive at both."""
    return {k: {"cpu": round(after[k][0] - before[k][0], 4), "vcs": after[k][1] - before[k][1],
                "ivcs": after[k][2] - before[k][2]}
            for k in after if k in before}


def proc_cpu(pid):
    """CPU seconds of a live process (all threads, schedstat), not the 10 ms clock
    ticks of /proc/PID/stat (a 1,000,000-packet run at x = 0 costs some tens of
    ticks, too few to compare engines by). Every consumer keeps its threads until it
    is stopped, after the window. Falls back to utime + stime when schedstat reads
    0 (a kernel without it); None if gone."""
    total = schedstat_cpu(pid)
    if total:
        return total
    try:
        with open(f"/proc/{pid}/stat") as f:
            s = f.read()
    except OSError:
        return None
    fields = s[s.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def wait_ready(p, seconds=30):
    """Reads a `wirecap capture --json` child's stdout until its readiness line
    (`{"event":"ready",…}`); kills it and raises if it never comes."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        line = p.stdout.readline()
        if not line:
            break
        if '"event":"ready"' in line.replace(" ", ""):
            return
    p.kill()
    raise RuntimeError("capture never became ready")


@contextlib.contextmanager
def testbed(wirecap, name, queues=2):
    """A veth testbed (`wirecap testbed up --json`) for the block, always taken down:
    yields its JSON (captureInterface, generatorInterface) with `namespace` set."""
    up = subprocess.run([wirecap, "testbed", "up", "--name", name, "--queues", str(queues), "--json"],
                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if up.returncode != 0:
        raise SystemExit("testbed up failed: " + up.stderr.strip())
    bed = json.loads(up.stdout)
    bed.setdefault("namespace", name)
    try:
        yield bed
    finally:
        subprocess.run([wirecap, "testbed", "down", "--name", name], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)


def capture_report(stdout):
    """The final report of `wirecap capture --json`: its stdout without the
    `{"event":…}` lines (readiness, statistics) that come first."""
    return json.loads("\n".join(l for l in stdout.splitlines() if not l.startswith('{"event":')))
