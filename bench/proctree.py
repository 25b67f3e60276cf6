"""What a process and the processes under it use, and what the whole machine did meanwhile.

Read from Linux's /proc, so a benchmark can say how much of the two cores went to the code being
measured, to its load generator, to anything else running, and to the hypervisor (stolen time):
a latency tail measured while something else held a core is a fact about the machine, not about
greenfin, and the report should show which it was.  Off Linux the readings are ``None``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _stat_fields(pid: int) -> list[bytes]:
    """The fields of /proc/PID/stat after the command name (which may hold spaces and brackets)."""
    with open(f"/proc/{pid}/stat", "rb") as stat:
        return stat.read().rsplit(b")", 1)[1].split()


def family(root: int) -> set[int]:
    """``root`` and every process under it."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                parents[int(entry)] = int(_stat_fields(int(entry))[1])
            except (OSError, IndexError, ValueError):
                continue
    members, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        for pid, ppid in parents.items():
            if ppid == parent and pid not in members:
                members.add(pid)
                frontier.append(pid)
    return members


def tree_rss(root: int) -> int:
    """Resident bytes of ``root`` and every process under it."""
    total = 0
    for pid in family(root):
        try:
            with open(f"/proc/{pid}/statm", "rb") as statm:
                total += int(statm.read().split()[1]) * PAGE
        except (OSError, IndexError, ValueError):
            continue
    return total


def tree_cpu_seconds(root: int) -> float:
    """CPU time (user + system) used so far by ``root`` and the live processes under it."""
    ticks = 0
    for pid in family(root):
        try:
            fields = _stat_fields(pid)
            ticks += int(fields[11]) + int(fields[12])  # utime, stime (proc(5) fields 14 and 15)
        except (OSError, IndexError, ValueError):
            continue
    return ticks / TICKS


@dataclass(frozen=True)
class MachineTime:
    """CPU seconds of the whole machine since boot, summed over its cores (/proc/stat ``cpu``)."""

    busy: float
    stolen: float
    total: float

    def __sub__(self, earlier: MachineTime) -> MachineTime:
        return MachineTime(self.busy - earlier.busy, self.stolen - earlier.stolen, self.total - earlier.total)


def machine_time() -> MachineTime | None:
    try:
        with open("/proc/stat", "rb") as stat:
            values = [int(v) for v in stat.readline().split()[1:9]]
    except (OSError, ValueError):
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = values
    busy = user + nice + system + irq + softirq
    return MachineTime(busy / TICKS, steal / TICKS, sum(values) / TICKS)
