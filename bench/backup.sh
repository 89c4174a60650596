#!/usr/bin/env bash
# Side-by-side: mailkeep backup vs mbsync pulling the same account from the
# same private Dovecot, into the same disk and into tmpfs; no-op re-runs;
# peak RSS; archive size ratio. Needs root, dovecot, isync (mbsync) and the
# lab scripts (../shared/lab). Not run by CI.
#
#   bench/backup.sh [RUNS]          (default 3 runs of each)
#
# Env: LAB (default ../shared/lab), DIR (lab instance, default /tmp/mkbench),
# PORT (IMAP port, default 12143), N (messages, default 20000),
# DISK (scratch dir on disk, default /var/tmp/mkbench-out), SHM (default /dev/shm/mkbench-out),
# ENCRYPT=1 (mailkeep stores messages age-encrypted: the cost of encryption:).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-3}
LAB=${LAB:-../shared/lab}
DIR=${DIR:-/tmp/mkbench}
PORT=${PORT:-12143}
N=${N:-20000}
DISK=${DISK:-/var/tmp/mkbench-out}
SHM=${SHM:-/dev/shm/mkbench-out}

command -v mbsync >/dev/null || { echo "needs mbsync: apt-get install isync" >&2; exit 1; }
if ! [ -f "$DIR/run/master.pid" ] || ! kill -0 "$(cat "$DIR/run/master.pid")" 2>/dev/null; then
	IMAP_PORT=$PORT IMAPS_PORT=$((PORT + 850)) POP3_PORT=$((PORT - 2033)) POP3S_PORT=$((PORT - 1148)) \
		"$LAB/dovecot-up.sh" "$DIR" >/dev/null </dev/null
	"$LAB/seed.sh" alice "$N" 5 "$DIR" >/dev/null
fi
go build -o /tmp/mkbench-mailkeep ./cmd/mailkeep
MK=/tmp/mkbench-mailkeep
ENCRYPTION=""
if [ "${ENCRYPT:-0}" = 1 ]; then
	rm -f /tmp/mkbench-identity.txt
	ENCRYPTION="encryption: {recipients: [$("$MK" keygen --out /tmp/mkbench-identity.txt 2>/dev/null)], identity_file: /tmp/mkbench-identity.txt}"
	echo "mailkeep encrypts (age)"
fi
RAW=$(awk -F'\t' 'NR>1 {s+=$4} END {print s}' "$DIR/manifests/alice.manifest.tsv")
# The corpus is LF on disk; Dovecot serves CRLF. The bytes on the wire are what counts.
WIRE=$(doveadm -c "$DIR/etc/dovecot.conf" mailbox status -u alice vsize '*' | awk -F= '{s+=$2} END {print s}')
echo "corpus: $N messages, $WIRE bytes as served ($RAW on disk)"

mbsyncrc() { # $1 = output dir
	sed -e "s/^Port .*/Port $PORT/" -e "s#/tmp/peers/mbsync/Maildir#$1/Maildir#g" "$LAB/peers/mbsyncrc"
}
mkcfg() { # $1 = archive dir
	printf 'archive: %s\naccounts:\n  alice:\n    imap: {host: 127.0.0.1, port: %s, security: none}\n    username: alice\n    password: secret\n%s\n' "$1" "$PORT" "$ENCRYPTION"
}
timeit() { # runs "$@", prints "seconds maxrss_kb"
	/usr/bin/time -f "%e %M" -o /tmp/mkbench-time "$@" >/dev/null 2>/tmp/mkbench-err || { cat /tmp/mkbench-err >&2; return 1; }
	cat /tmp/mkbench-time
}
mbps() { awk -v b="$WIRE" -v s="$1" 'BEGIN { printf "%.0f", b / s / 1e6 }'; }

for where in disk tmpfs; do
	base=$DISK; [ "$where" = tmpfs ] && base=$SHM
	for i in $(seq 1 "$RUNS"); do
		rm -rf "$base"; mkdir -p "$base/mb/Maildir" "$base/mk"
		mbsyncrc "$base/mb" > "$base/mbsyncrc"; mkcfg "$base/mk/archive" > "$base/mk/cfg.yaml"; chmod 600 "$base/mk/cfg.yaml"
		sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true
		read -r mbt mbr < <(timeit mbsync -q -c "$base/mbsyncrc" -a; sync)
		sync
		read -r mkt mkr < <(timeit "$MK" --config "$base/mk/cfg.yaml" -q backup; sync)
		read -r mbn _ < <(timeit mbsync -q -c "$base/mbsyncrc" -a)
		read -r mkn mknr < <(timeit "$MK" --config "$base/mk/cfg.yaml" -q backup)
		size=$(du -sb "$base/mk/archive" | cut -f1)
		printf '%-5s run %d: mbsync %6.2fs %4s MB/s (RSS %5d KB) | mailkeep %6.2fs %4s MB/s (RSS %5d KB) = %.1fx | no-op: mbsync %.2fs, mailkeep %.2fs (RSS %d KB) | archive %.3f of wire bytes\n' \
			"$where" "$i" "$mbt" "$(mbps "$mbt")" "$mbr" "$mkt" "$(mbps "$mkt")" "$mkr" "$(awk -v a="$mbt" -v b="$mkt" 'BEGIN{print a/b}')" \
			"$mbn" "$mkn" "$mknr" "$(awk -v a="$size" -v b="$WIRE" 'BEGIN{print a/b}')"
	done
	rm -rf "$base"
done
