#!/usr/bin/env bash
# Many small messages (issue 15): N messages of ~1 KB in 4 folders of user
# alice in a private Dovecot on loopback; in one run it prints one table:
# a raw IMAP reader's time (the speed the server allows), mailkeep backup's
# time, rate and ratio to the raw reader, index/search/pack bytes per
# message, the no-op re-run, and wall time and peak RSS of backup, verify,
# ls, status, search and export. Needs root, dovecot (dovecot-core,
# dovecot-imapd), python3, go (unless MK is given) and the lab scripts
# (../shared/lab: dovecot-up.sh, gen-small.py). Not run by CI.
#
#   bench/scale.sh [N]          (default N=200000; bench/scale.sh 1000000)
#
# The raw reader is python3 over a plain socket (like
# ../shared/lab/peers/imapdump.py --discard): ONE connection, the folders
# in sequence, EXAMINE then `UID FETCH 1:* (UID BODY.PEEK[])`, every
# literal read and discarded. Before it is timed, one untimed pass fetches
# what mailkeep fetches (FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[]), so
# neither side pays Dovecot's first indexing/caching or a cold page cache.
#
# The corpus and the Dovecot instance are kept and reused for the same N
# (generating a million files takes minutes); the archive and the export
# are made afresh each run. Peak RSS is /usr/bin/time's %M.
#
# Env: MK (mailkeep binary; default: built from this checkout), LAB (lab
# scripts; default ../shared/lab, else the main checkout's ../shared/lab),
# DIR (Dovecot instance and corpus, default /var/tmp/mkscale-N), PORT (IMAP
# port, default 13143; an instance of another N on it is stopped, its data
# kept), OUT (archive and export, default /var/tmp/mkscale-N-out),
# KEEP_EXPORT=1 (leave the export on disk).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-200000}
case $N in '' | *[!0-9]*) echo "usage: bench/scale.sh [N]" >&2; exit 2 ;; esac
LAB=${LAB:-../shared/lab}
[ -x "$LAB/dovecot-up.sh" ] || LAB="$(git rev-parse --path-format=absolute --git-common-dir)/../../shared/lab"
DIR=${DIR:-/var/tmp/mkscale-$N}
PORT=${PORT:-13143}
OUT=${OUT:-/var/tmp/mkscale-$N-out}
CONF=$DIR/etc/dovecot.conf
MAILDIR=$DIR/mail/alice/Maildir

[ "$(id -u)" = 0 ] || { echo "needs root (a private Dovecot)" >&2; exit 1; }
command -v dovecot >/dev/null || { echo "needs dovecot: apt-get install dovecot-core dovecot-imapd" >&2; exit 1; }
command -v python3 >/dev/null || { echo "needs python3" >&2; exit 1; }
[ -x "$LAB/dovecot-up.sh" ] && [ -f "$LAB/gen-small.py" ] || { echo "lab scripts not found (LAB=$LAB)" >&2; exit 1; }
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

if [ -z "${MK:-}" ]; then
	mkdir -p /var/tmp/mkscale-bin
	go build -o /var/tmp/mkscale-bin/mailkeep ./cmd/mailkeep
	MK=/var/tmp/mkscale-bin/mailkeep
fi
[ -x "$MK" ] || { echo "MK=$MK is not an executable" >&2; exit 1; }

running() { [ -f "$1/run/master.pid" ] && kill -0 "$(cat "$1/run/master.pid")" 2>/dev/null; }
# Another N's instance of this script on our port: stop it (its data stays).
for other in /var/tmp/mkscale-*/; do
	other=${other%/}
	[ "$other" != "$DIR" ] && [ -f "$other/etc/dovecot.conf" ] && running "$other" &&
		grep -q "port = $PORT\$" "$other/etc/dovecot.conf" && "$LAB/dovecot-down.sh" "$other" >/dev/null
done
if ! running "$DIR"; then
	# The daemon must not hold this script's stdout/stderr (a pipe to tee would never close).
	mkdir -p "$DIR"
	IMAP_PORT=$PORT IMAPS_PORT=$((PORT + 850)) POP3_PORT=$((PORT - 2033)) POP3S_PORT=$((PORT - 1148)) \
		"$LAB/dovecot-up.sh" "$DIR" >"$DIR/up.log" 2>&1 </dev/null || { cat "$DIR/up.log" >&2; exit 1; }
fi
if ! [ -f "$DIR/corpus-$N.done" ]; then
	echo "generating $N messages into $MAILDIR (once) ..." >&2
	t0=$(date +%s)
	rm -rf "$MAILDIR"
	python3 "$LAB/gen-small.py" "$MAILDIR" "$N"
	chown -R "$(stat -c %u:%g "$DIR/mail/alice")" "$MAILDIR"
	# Dovecot indexes each folder once, here, not in a timed step.
	doveadm -c "$CONF" index -u alice '*'
	got=$(doveadm -c "$CONF" mailbox status -u alice messages '*' | awk -F= '{s+=$2} END {print s}')
	[ "$got" = "$N" ] || { echo "Dovecot sees $got messages, not $N" >&2; exit 1; }
	touch "$DIR/corpus-$N.done"
	echo "generated and indexed in $(($(date +%s) - t0)) s" >&2
fi

# rawread ITEMS: one connection, every folder in sequence; prints "messages bytes seconds".
rawread() {
	python3 - 127.0.0.1 "$PORT" alice secret "$1" <<'EOF'
import re, socket, sys, time
host, port, user, pw, items = sys.argv[1:6]
s = socket.create_connection((host, int(port)))
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
r = s.makefile("rb", buffering=1 << 20)
n = 0
def cmd(c):
    global n
    n += 1
    t = b"a%d" % n
    s.sendall(t + b" " + c + b"\r\n")
    return t
lit = re.compile(rb"\{(\d+)\}\r\n$")
def until(t, on_line=None):
    while True:
        line = r.readline()
        if not line:
            raise SystemExit("rawread: connection closed")
        if line.startswith(t + b" "):
            if not line[len(t) + 1:].startswith(b"OK"):
                raise SystemExit("rawread: " + line.decode(errors="replace"))
            return
        if on_line:
            on_line(line)
r.readline()
t0 = time.time()
until(cmd(b'LOGIN "%s" "%s"' % (user.encode(), pw.encode())))
folders = []
def on_list(line):
    m = re.match(rb'\* LIST \(([^)]*)\) (?:"[^"]*"|NIL) (.*)\r\n$', line)
    if m and b"\\noselect" not in m.group(1).lower():
        folders.append(m.group(2))
until(cmd(b'LIST "" "*"'), on_list)
msgs = size = 0
for f in folders:
    until(cmd(b"EXAMINE " + f))
    t = cmd(b"UID FETCH 1:* (" + items.encode() + b")")
    while True:
        line = r.readline()
        if not line:
            raise SystemExit("rawread: connection closed")
        if line.startswith(t + b" "):
            if b" OK" not in line:
                raise SystemExit("rawread: FETCH in %r: %r" % (f, line))
            break
        while True:
            m = lit.search(line)
            if not m:
                break
            k = int(m.group(1))
            r.read(k)
            msgs += 1
            size += k
            line = r.readline()  # ")\r\n", or more items after the literal
cmd(b"LOGOUT")
print(msgs, size, "%.2f" % (time.time() - t0))
EOF
}
# timeit NAME CMD...: runs CMD (stdout discarded), sets T_NAME (s) and M_NAME (KB peak RSS).
timeit() {
	local name=$1 rc=0
	shift
	/usr/bin/time -f "%e %M" -o "$OUT/time" "$@" >"$OUT/stdout" 2>"$OUT/stderr" || rc=$?
	# Every step must succeed (search exits 1 when nothing matches: a failure here too).
	if [ "$rc" != 0 ]; then
		echo "$name failed (exit $rc): $*" >&2
		tail -5 "$OUT/stderr" >&2
		exit 1
	fi
	read -r "T_$name" "M_$name" < <(tail -1 "$OUT/time")
}

rm -rf "$OUT"
mkdir -p "$OUT"
printf 'archive: %s\naccounts:\n  alice:\n    imap: {host: 127.0.0.1, port: %s, security: none}\n    username: alice\n    password: secret\n' \
	"$OUT/archive" "$PORT" >"$OUT/cfg.yaml"
chmod 600 "$OUT/cfg.yaml"
mk=("$MK" --config "$OUT/cfg.yaml" -q)

read -r _ _ _ < <(rawread "UID FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[]") # warm-up, untimed
read -r RAW_N RAW_B RAW_T < <(rawread "UID BODY.PEEK[]")
[ "$RAW_N" = "$N" ] || { echo "raw reader got $RAW_N messages, not $N" >&2; exit 1; }

timeit backup "${mk[@]}" backup
sz() { local s=0 f; for f in "$@"; do [ -e "$f" ] && s=$((s + $(du -sb "$f" | cut -f1))); done; echo "$s"; }
IDX=$(sz "$OUT/archive/index.db" "$OUT/archive/index.db-wal")
PACKS=$(sz "$OUT/archive/data")
timeit noop "${mk[@]}" backup
timeit verify "${mk[@]}" verify
timeit ls "${mk[@]}" ls alice
# The total line of `ls alice`'s folder table: the messages archived, N.
ARCH_N=$(awk '$NF == "total" {gsub(",", "", $1); print $1}' "$OUT/stdout")
timeit status "${mk[@]}" status
# Backup stores without the text; the first search builds the index
# (archive/searchindexer.go): timed on its own, and search.db sized after.
timeit searchbuild "${mk[@]}" search lorem --limit 1
SRCH=$(sz "$OUT/archive/search.db" "$OUT/archive/search.db-wal")
timeit search20 "${mk[@]}" search lorem --limit 20
timeit search0 "${mk[@]}" search lorem --limit 0
FOUND=$(wc -l <"$OUT/stdout")
timeit export "${mk[@]}" export alice --format maildir --out "$OUT/export"
EXP_N=$(find "$OUT/export" -type f -path '*/cur/*' | wc -l)
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

f() { awk -v a="$1" -v b="$2" "BEGIN { printf \"$3\", a / b }"; }
mb() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
rate() { f "$N" "$1" %.0f; }
row() { printf '| %-32s | %8s | %8s | %7s | %s\n' "$@"; }
echo
echo "bench/scale.sh: $N messages (~1 KB, 4 folders), $(f "$RAW_B" 1e6 %.0f) MB as served; mailkeep $MK ($("$MK" version 2>/dev/null | head -1))"
echo "load average at start: $LOAD_START; at end: $LOAD_END (2 cores, shared)"
echo
row step "time s" "msgs/s" "RSS MB" note
echo "|----------------------------------|----------|----------|---------|-----"
row "raw IMAP reader (python, 1 conn)" "$RAW_T" "$(rate "$RAW_T")" - "$RAW_N messages, $(f "$RAW_B" "$RAW_T" %.0f | awk '{printf "%.0f", $1 / 1e6}') MB/s, discarded"
row "mailkeep backup" "$T_backup" "$(rate "$T_backup")" "$(mb "$M_backup")" "$(f "$RAW_T" "$T_backup" %.2f) of the raw reader (goal >= 0.4)"
row "no-op re-run" "$T_noop" - "$(mb "$M_noop")" "goal < 0.5 s at 1M"
row "verify" "$T_verify" "$(rate "$T_verify")" "$(mb "$M_verify")" ""
row "ls alice" "$T_ls" - "$(mb "$M_ls")" "$ARCH_N archived; goal < 0.5 s"
row "status" "$T_status" - "$(mb "$M_status")" "goal < 0.5 s"
row "first search (builds the index)" "$T_searchbuild" "$(rate "$T_searchbuild")" "$(mb "$M_searchbuild")" "backup leaves the text for later; backup + this: $(awk -v a="$T_backup" -v b="$T_searchbuild" 'BEGIN { print a + b }') s"
row "search lorem --limit 20" "$T_search20" - "$(mb "$M_search20")" ""
row "search lorem --limit 0" "$T_search0" - "$(mb "$M_search0")" "$FOUND lines of output"
row "export alice (maildir, disk)" "$T_export" "$(rate "$T_export")" "$(mb "$M_export")" "$EXP_N files"
echo
echo "index.db $(f "$IDX" 1e6 %.1f) MB = $(f "$IDX" "$N" %.0f) B/msg (goal <= 150); search.db $(f "$SRCH" 1e6 %.1f) MB = $(f "$SRCH" "$N" %.0f) B/msg; data/ $(f "$PACKS" 1e6 %.1f) MB = $(f "$PACKS" "$N" %.0f) B/msg"
echo "peak RSS goal: < 64 MB for each step"
# After the table: deleting a million files takes minutes on a busy disk.
if [ "${KEEP_EXPORT:-0}" != 1 ]; then
	echo "removing the export ..." >&2
	rm -rf "$OUT/export"
fi
[ "$ARCH_N" = "$N" ] && [ "$EXP_N" = "$N" ] || { echo "WARNING: archived $ARCH_N, exported $EXP_N, of $N" >&2; exit 1; }
