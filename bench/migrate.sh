#!/usr/bin/env bash
# Side-by-side: mailkeep migrate vs mbsync configured IMAP-to-IMAP, copying
# the same account between two users of the same private Dovecot, in the
# same run; then no-op re-runs; peak RSS; message counts checked per folder.
# Needs root, dovecot, isync (mbsync) and the lab scripts (../shared/lab).
# Not run by CI.
#
#   bench/migrate.sh [RUNS]          (default 2 runs of each)
#
# Env: LAB (default ../shared/lab), DIR (lab instance, default
# /tmp/mkbench-migrate), PORT (IMAP port, default 15243), N (messages,
# default 20000), FSYNC (the instance's mail_fsync: optimized, the lab's
# default, or never), OUT (scratch dir, default /var/tmp/mkbench-migrate).
# Source user alice; mailkeep copies into bob, mbsync into dave (both
# emptied before each run).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-2}
LAB=${LAB:-../shared/lab}
DIR=${DIR:-/tmp/mkbench-migrate}
PORT=${PORT:-15243}
N=${N:-20000}
FSYNC=${FSYNC:-optimized}
OUT=${OUT:-/var/tmp/mkbench-migrate}

command -v mbsync >/dev/null || { echo "needs mbsync: apt-get install isync" >&2; exit 1; }
if ! [ -f "$DIR/run/master.pid" ] || ! kill -0 "$(cat "$DIR/run/master.pid")" 2>/dev/null; then
	IMAP_PORT=$PORT IMAPS_PORT=$((PORT + 850)) POP3_PORT=$((PORT - 2033)) POP3S_PORT=$((PORT - 1148)) \
		"$LAB/dovecot-up.sh" "$DIR" >/dev/null </dev/null
fi
CONF=$DIR/etc/dovecot.conf
if ! [ -f "$DIR/manifests/alice.manifest.tsv" ]; then
	"$LAB/seed.sh" alice "$N" 5 "$DIR" >/dev/null </dev/null
fi
sed -i "s/^mail_fsync = .*/mail_fsync = $FSYNC/" "$CONF"
doveadm -c "$CONF" reload
go build -o /tmp/mkbench-migrate-mailkeep ./cmd/mailkeep
MK=/tmp/mkbench-migrate-mailkeep
WIRE=$(doveadm -c "$CONF" mailbox status -u alice vsize '*' | awk -F= '{s+=$2} END {print s}')
COUNT=$(doveadm -c "$CONF" mailbox status -u alice messages '*' | awk -F= '{s+=$2} END {print s}')
echo "corpus: $COUNT messages, $WIRE bytes as served; Dovecot mail_fsync = $FSYNC; $(nproc) cores"

empty() { # $1 = user: an empty Maildir, as a new account has
	local home=$DIR/mail/$1 owner
	owner=$(stat -c %u:%g "$DIR/mail/alice")
	rm -rf "$home/Maildir" && mkdir -p "$home/Maildir"/{cur,new,tmp} && chown -R "$owner" "$home"
}
folders() { # $1 = user: "folder count" lines, sorted
	doveadm -c "$CONF" mailbox status -u "$1" messages '*' | awk '{n=$NF; sub(/^messages=/,"",n); $NF=""; print $0 n}' | sort
}
timeit() { # runs "$@", prints "seconds maxrss_kb"
	/usr/bin/time -f "%e %M" -o /tmp/mkbench-migrate-time "$@" >/tmp/mkbench-migrate-out 2>/tmp/mkbench-migrate-err ||
		{ cat /tmp/mkbench-migrate-out /tmp/mkbench-migrate-err >&2; return 1; }
	cat /tmp/mkbench-migrate-time
}
mbps() { awk -v b="$WIRE" -v s="$1" 'BEGIN { printf "%.1f", b / s / 1e6 }'; }

rm -rf "$OUT"; mkdir -p "$OUT"
cat >"$OUT/mbsyncrc" <<EOF
IMAPAccount src
Host 127.0.0.1
Port $PORT
User alice
Pass secret
SSLType None
AuthMechs LOGIN

IMAPStore src
Account src

IMAPAccount dst
Host 127.0.0.1
Port $PORT
User dave
Pass secret
SSLType None
AuthMechs LOGIN

IMAPStore dst
Account dst

Channel move
Far :src:
Near :dst:
Patterns *
Create Near
Sync Pull
Expunge None
CopyArrivalDate yes
SyncState $OUT/mbsync-state/
EOF
cat >"$OUT/mailkeep.yaml" <<EOF
archive: $OUT/archive
accounts:
  alice:
    imap: {host: 127.0.0.1, port: $PORT, security: none}
    username: alice
    password: secret
  bob:
    imap: {host: 127.0.0.1, port: $PORT, security: none}
    username: bob
    password: secret
EOF
chmod 600 "$OUT/mailkeep.yaml" "$OUT/mbsyncrc"
want=$(folders alice)

for i in $(seq 1 "$RUNS"); do
	empty bob; empty dave
	rm -rf "$OUT/archive" "$OUT/mbsync-state"; mkdir -p "$OUT/mbsync-state"
	sync; echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || true
	read -r mbt mbr < <(timeit mbsync -q -c "$OUT/mbsyncrc" -a)
	sync; echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || true
	read -r mkt mkr < <(timeit "$MK" --config "$OUT/mailkeep.yaml" -q migrate alice bob)
	read -r mbn mbnr < <(timeit mbsync -q -c "$OUT/mbsyncrc" -a)
	read -r mkn mknr < <(timeit "$MK" --config "$OUT/mailkeep.yaml" -q migrate alice bob)
	ok="counts per folder equal"
	[ "$(folders bob)" = "$want" ] || ok="MAILKEEP COUNTS DIFFER"
	[ "$(folders dave)" = "$want" ] || ok="$ok; MBSYNC COUNTS DIFFER"
	printf 'run %d: mbsync %6.2fs %5s MB/s (RSS %6d KB) | mailkeep %6.2fs %5s MB/s (RSS %6d KB) = %.2fx | no-op: mbsync %.2fs (RSS %d KB), mailkeep %.2fs (RSS %d KB) | %s\n' \
		"$i" "$mbt" "$(mbps "$mbt")" "$mbr" "$mkt" "$(mbps "$mkt")" "$mkr" "$(awk -v a="$mbt" -v b="$mkt" 'BEGIN{print a/b}')" \
		"$mbn" "$mbnr" "$mkn" "$mknr" "$ok"
done
