#!/bin/bash
# io_uring against epoll for the TCP target's socket pattern (bench/uring_eval.c):
# builds the program (Debian's liburing-dev, installed when missing), then runs
# both modes alternated over ROUNDS rounds at QD 1, 32 and 128 and prints the
# ratios uring/epoll of commands per second (both spin on one core, so this is
# also per CPU-second) and the system calls per command.
#   usage: bench/uring_eval.sh [BUILD_DIR] [ROUNDS] [SECS]
set -euo pipefail
B=${1:-build} ROUNDS=${2:-4} SECS=${3:-4}
HERE=$(cd "$(dirname "$0")" && pwd)
if ! dpkg-query -W -f='${Status}' liburing-dev 2>/dev/null | grep -q 'install ok installed'; then
	SUDO=; [ "$(id -u)" -eq 0 ] || SUDO=sudo
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends liburing-dev > /dev/null
fi
mkdir -p "$B"
gcc -std=gnu11 -O2 -Wall -Wextra -Werror -o "$B/uring_eval" "$HERE/uring_eval.c" -luring
[ "$(nproc)" -ge 2 ] || { echo "uring_eval: needs 2 CPUs (target and host pinned apart)" >&2; exit 1; }
for qd in 1 32 128; do
	for r in $(seq "$ROUNDS"); do
		if [ $((r % 2)) = 1 ]; then order="epoll uring"; else order="uring epoll"; fi
		for m in $order; do
			"$B/uring_eval" "$m" "$qd" "$SECS" 0 1
		done
	done
done | tee "$B/uring_eval.txt"
python3 - "$B/uring_eval.txt" <<'EOF'
import re, statistics, sys
runs = {}
for line in open(sys.argv[1]):
    m = re.match(r"(\w+) QD(\d+): (\d+) commands/s, .*?([\d.]+) us CPU/command, ([\d.]+) system calls/command", line)
    if m:
        runs.setdefault(int(m.group(2)), {}).setdefault(m.group(1), []).append(
            (float(m.group(3)), float(m.group(4)), float(m.group(5))))
print("\n| QD | epoll commands/s | io_uring commands/s | io_uring / epoll per round | syscalls per command epoll / io_uring |")
print("| --- | --- | --- | --- | --- |")
for qd in sorted(runs):
    e, u = runs[qd].get("epoll", []), runs[qd].get("uring", [])
    ratios = [b[0] / a[0] for a, b in zip(e, u)]
    print("| %d | %s | %s | %s (median %.2f) | %.2f / %.2f |" % (
        qd, ", ".join("%.0f" % x[0] for x in e), ", ".join("%.0f" % x[0] for x in u),
        ", ".join("%.2f" % x for x in ratios), statistics.median(ratios),
        sum(x[2] for x in e) / len(e), sum(x[2] for x in u) / len(u)))
EOF
