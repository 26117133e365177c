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

# start_bench_redis NAME: a temp folder in TMP and a throwaway redis-server
# on a free 127.0.0.1 port at URL, both removed on exit.
start_bench_redis() {
  TMP=$(mktemp -d "${TMPDIR:-/tmp}/seckill-bench-$1.XXXXXX")
  REDIS_PID=""
  trap 'stop_bench_redis' EXIT
  PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  redis-server --port "$PORT" --bind 127.0.0.1 --save '' --appendonly no --daemonize no >"$TMP/redis.log" 2>&1 &
  REDIS_PID=$!
  for _ in $(seq 100); do redis-cli -p "$PORT" PING >/dev/null 2>&1 && break; sleep 0.05; done
  URL=redis://127.0.0.1:$PORT/0
}

stop_bench_redis() {
  [ -n "$REDIS_PID" ] && kill "$REDIS_PID" 2>/dev/null && wait "$REDIS_PID" 2>/dev/null
  rm -rf "$TMP"
}

# baseline_bin ROOT: the earlier build to compare with, in BASE: BASELINE_BIN
# as given, or BASELINE_REV built here in a worktree of its own; empty when
# neither is set.
baseline_bin() {
  local root=$1 tree
  BASE=${BASELINE_BIN:-}
  if [ -z "$BASE" ] && [ -n "${BASELINE_REV:-}" ]; then
    tree=$root/target/bench-baseline
    rm -rf "$tree"; git worktree prune
    git worktree add -q --detach "$tree" "$BASELINE_REV"
    (cd "$tree" && CARGO_TARGET_DIR=$root/target/bench-baseline-target cargo build --release --locked -q)
    git worktree remove --force "$tree"
    BASE=$root/target/bench-baseline-target/release/seckill-bench
  fi
}
