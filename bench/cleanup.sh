#!/bin/bash
# Benchmark for issue 6 (quota cleanup): with the backup current, cleaning
# up the older half of a 20,000-message account on a private Dovecot must
# take at most half the time of a full backup of those same messages.
#
#   usage: bench/cleanup.sh [DIR]     (as root; default DIR=/tmp/mailkeep-cleanup-bench)
#   env:   N (default 20000), LAB (default /work/shared/lab), KEEP=1 leaves Dovecot running,
#          CLEANUP_ARGS more arguments for the cleanup (e.g. --batch 1000)
#
# alice gets the lab corpus (N messages in 5 folders, dates 2005-2024).
# The cutoff is the median INTERNALDATE, so about N/2 messages are older.
# bob gets exactly alice's older messages (the same Maildir files, same
# folders and dates): "a full backup of those messages" is a backup of
# bob into an empty archive. Then:
#   1. backup alice (first, full: the archive is then current)
#   2. backup alice again (nothing new)
#   3. backup bob into an empty archive       <- the yardstick
#   4. raw STORE + EXPUNGE of all of bob's mail (python imaplib): the
#      server's own share of any cleanup, for reference
#   5. cleanup alice --before CUTOFF          <- must take at most half of 3
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
LAB=${LAB:-/work/shared/lab}
DIR=$(realpath -m "${1:-/tmp/mailkeep-cleanup-bench}")
N=${N:-20000}
export IMAP_PORT=${IMAP_PORT:-12143} IMAPS_PORT=${IMAPS_PORT:-12993} POP3_PORT=${POP3_PORT:-12110} POP3S_PORT=${POP3S_PORT:-12995}
export LAB_USERS="alice bob"
CONF="$DIR/etc/dovecot.conf"

"$LAB/dovecot-up.sh" "$DIR" >/dev/null
trap '[ "${KEEP:-0}" = 1 ] || "$LAB/dovecot-down.sh" "$DIR" >/dev/null 2>&1 || true' EXIT
"$LAB/seed.sh" alice "$N" 5 "$DIR" | grep 'seed timing'

# The cutoff: local midnight of the median INTERNALDATE's day.
read -r CUTOFF CUTOFF_TS < <(python3 - "$DIR/manifests/alice.manifest.tsv" <<'EOF'
import sys, time
rows = open(sys.argv[1], encoding="utf-8").read().splitlines()[1:]
ts = sorted(int(r.split("\t")[5]) for r in rows)
day = time.strftime("%Y-%m-%d", time.localtime(ts[len(ts) // 2]))
print(day, int(time.mktime(time.strptime(day, "%Y-%m-%d"))))
EOF
)

# bob: alice's Maildir files from before the cutoff, nothing else.
HOME_A=$(awk -F: '$1=="alice"{print $6}' "$DIR/etc/users")
HOME_B=$(awk -F: '$1=="bob"{print $6}' "$DIR/etc/users")
OWNER=$(awk -F: '$1=="bob"{print $3":"$4}' "$DIR/etc/users")
rm -rf "$HOME_B/Maildir"
OLD=$(python3 - "$HOME_A/Maildir" "$HOME_B/Maildir" "$CUTOFF_TS" <<'EOF'
import os, shutil, sys
src, dst, cutoff = sys.argv[1], sys.argv[2], int(sys.argv[3])
n = 0
for folder in [""] + [d for d in os.listdir(src) if d.startswith(".") and os.path.isdir(os.path.join(src, d))]:
    for sub in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(dst, folder, sub), exist_ok=True)
    for sub in ("cur", "new"):
        d = os.path.join(src, folder, sub)
        for name in os.listdir(d):
            p = os.path.join(d, name)
            if os.stat(p).st_mtime < cutoff:
                shutil.copy2(p, os.path.join(dst, folder, sub, name))
                n += 1
print(n)
EOF
)
chown -R "$OWNER" "$HOME_B"
doveadm -c "$CONF" mailbox list -u bob >/dev/null
doveadm -c "$CONF" mailbox status -u bob -t "messages vsize" '*' >/dev/null
echo "corpus: $N messages; cutoff $CUTOFF; $OLD older (bob holds exactly those)"

(cd "$ROOT" && go build -o "$DIR/mailkeep" ./cmd/mailkeep)
for u in alice bob; do
  rm -rf "$DIR/archive-$u"
  cat > "$DIR/$u.yaml" <<EOF
archive: $DIR/archive-$u
accounts:
  $u:
    imap: {host: 127.0.0.1, port: $IMAP_PORT, security: none, timeout: 60s}
    username: $u
    password_env: LAB_PW
EOF
done
export LAB_PW=secret

timed() { # label, command...: runs it, prints and returns seconds in $T
  local label=$1; shift
  local t0 t1
  sync # no writeback of earlier steps' files during this one
  t0=$(date +%s.%N)
  "$@" > "$DIR/$label.out" 2> "$DIR/$label.err" || { echo "$label failed:"; cat "$DIR/$label.err"; exit 1; }
  t1=$(date +%s.%N)
  T=$(python3 -c "print('%.2f' % ($t1 - $t0))")
  printf '%-34s %7ss\n' "$label" "$T"
}
MK="$DIR/mailkeep"
timed "backup alice ($N, first)" "$MK" --config "$DIR/alice.yaml" -q backup alice
timed "backup alice (nothing new)" "$MK" --config "$DIR/alice.yaml" -q backup alice
timed "backup bob ($OLD, full)" "$MK" --config "$DIR/bob.yaml" -q backup bob; TB=$T
# The server's own share: the same STORE + EXPUNGE with nothing else
# (python imaplib, one command each per folder), on bob's copy of the
# messages. No cleanup can take less than this.
cat > "$DIR/raw-delete.py" <<'EOF'
import imaplib, sys
m = imaplib.IMAP4("127.0.0.1", int(sys.argv[1]))
m.login("bob", "secret")
for line in m.list()[1]:
    name = line.decode().split(' "/" ')[-1]
    if not name.startswith('"'):
        name = '"' + name + '"'
    if m.select(name)[0] != "OK":
        continue
    m.uid("STORE", "1:*", "+FLAGS.SILENT", "(\\Deleted)")
    m.uid("EXPUNGE", "1:*")
m.logout()
EOF
timed "raw STORE+EXPUNGE of bob ($OLD)" python3 "$DIR/raw-delete.py" "$IMAP_PORT"; TR=$T

OUT="$DIR/cleanup.json"
timed "cleanup alice --before $CUTOFF" "$MK" --config "$DIR/alice.yaml" -q --json cleanup alice --before "$CUTOFF" ${CLEANUP_ARGS:-}; TC=$T
mv "$DIR/cleanup alice --before $CUTOFF.out" "$OUT"
DELETED=$(python3 - "$OUT" <<'EOF'
import json, sys
for line in open(sys.argv[1], encoding="utf-8"):
    ev = json.loads(line)
    if ev.get("event") == "cleanup-folder":
        print("  %-20s candidates %5d  deleted %5d  %7.1f MiB  kept %s" % (ev["folder"], ev["candidates"],
              ev["deleted"], ev["bytes"] / 2**20, ev["kept"] or "-"), file=sys.stderr)
    if ev.get("event") == "summary":
        print(ev["deleted"])
EOF
)
LEFT=$(doveadm -c "$CONF" -f flow mailbox status -u alice messages '*' | awk -F'messages=' '{s+=$2} END {print s}')
echo "deleted $DELETED of $OLD older messages (the others were \\Deleted by someone else: left alone)"
echo "alice now holds $LEFT messages (want $((N - DELETED)))"
python3 -c "print('cleanup %.2fs / full backup of the same $OLD messages %.2fs = %.0f%% (limit 50%%); the server alone (raw STORE+EXPUNGE) %.2fs = %.0f%%' % ($TC, $TB, 100 * $TC / $TB, $TR, 100 * $TR / $TB))"
[ "$LEFT" = "$((N - DELETED))" ]
