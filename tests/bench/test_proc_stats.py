"""CPU and memory of a server's process tree, read from /proc, on a small tree of real processes."""

from __future__ import annotations

import subprocess
import sys
import time

from bench import proc_stats

# A parent that starts a child burning ~0.6 s of CPU and holding ~80 MB, reaps it, then sleeps;
# "hold" is printed once the child has allocated and is still alive.
TREE = """
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", '''
import sys, time
b = bytearray(80 * 1024 * 1024)
for i in range(0, len(b), 4096): b[i] = 1
print("hold", flush=True)
sys.stdin.readline()
t = time.process_time()
while time.process_time() - t < 0.6: pass
'''], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
assert child.stdout.readline().strip() == b"hold"
print(child.pid, flush=True)
sys.stdin.readline()
child.stdin.write(b"go\\n"); child.stdin.flush()
child.wait()
print("reaped", flush=True)
time.sleep(60)
"""


def test_tree_cpu_and_memory_count_children_even_after_they_exit():
    parent = subprocess.Popen([sys.executable, "-c", TREE], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        child = int(parent.stdout.readline())
        tree = proc_stats.descendants(parent.pid)
        assert tree[0] == parent.pid and child in tree
        rss = proc_stats.tree_rss_mb(parent.pid)
        assert len(rss) == 2 and rss[0] > 80 > rss[1] > 1  # the child's 80 MB first, then the parent
        cpu0 = proc_stats.tree_cpu(parent.pid)
        parent.stdin.write(b"go\n")
        parent.stdin.flush()
        assert parent.stdout.readline().strip() == b"reaped"
        time.sleep(0.05)
        assert proc_stats.descendants(parent.pid) == [parent.pid]  # the child is gone ...
        used = proc_stats.tree_cpu(parent.pid) - cpu0
        assert 0.55 < used < 1.5  # ... yet its 0.6 s of CPU is counted (in the parent's cutime)
    finally:
        parent.kill()
        parent.wait()
        parent.stdin.close()
        parent.stdout.close()


def test_a_process_that_is_gone_reads_as_none():
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    assert proc_stats.read_stat(p.pid) is None and proc_stats.rss_mb(p.pid) is None
    assert proc_stats.tree_cpu(p.pid) == 0.0 and proc_stats.tree_rss_mb(p.pid) == []


def test_a_name_with_spaces_and_parentheses_is_parsed(tmp_path):
    (tmp_path / "7").mkdir()
    # comm "(a b) c)" as the kernel writes it; fields 14-17 (utime stime cutime cstime) = 100 50 30 20 ticks
    (tmp_path / "7" / "stat").write_text("7 ((a b) c)) S 1 7 7 0 -1 4194304 10 0 0 0 100 50 30 20 20 0 1 0 5 0 0\n")
    st = proc_stats.read_stat(7, tmp_path)
    assert st is not None and st.ppid == 1
    assert abs(st.cpu_s - 200 / proc_stats._TICKS) < 1e-9
