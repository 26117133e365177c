# Sourced by the benchmark scripts: read a summary, measure a run.

# column NAME FILE: a field of a one-row CSV with a header (no quoted commas).
column() { awk -F, -v name="$1" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == name) c = i } NR == 2 && c { print $c }' "$2"; }

# measure BIN OUT ARGS...: runs `BIN run ARGS --out OUT --quiet` and prints
# "<cpu seconds> <peak RSS KiB> <exit code>": the CPU of the coordinator and
# the worker processes it waited for (utime, stime, cutime, cstime), over
# its whole life.
measure() {
  python3 - "$@" <<'PY'
import os, subprocess, sys, time
bin_, out, *args = sys.argv[1:]
p = subprocess.Popen([bin_, "run", *args, "--out", out, "--quiet"],
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
hz = os.sysconf("SC_CLK_TCK")
last, peak = None, 0
while True:
    try:
        fields = open(f"/proc/{p.pid}/stat").read().rsplit(")", 1)[1].split()
        for line in open(f"/proc/{p.pid}/status"):
            if line.startswith("VmHWM:"):
                peak = max(peak, int(line.split()[1]))
    except OSError:
        break
    last = fields
    if fields[0] == "Z":
        break
    time.sleep(0.02)
code = p.wait()
cpu = sum(int(last[i]) for i in (11, 12, 13, 14)) / hz
print(f"{cpu:.2f} {peak} {code}")
PY
}

# median: the median of the numbers on stdin, one per line.
median() { sort -n | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }'; }
