#!/usr/bin/env bash
# mailkeep push and pull against a private Versity S3 Gateway on loopback
# (posix backend on the same disk), after a backup of the lab's Dovecot
# (as bench/backup.sh seeds it). Prints push and pull throughput. Needs
# versitygw (go install github.com/versity/versitygw/cmd/versitygw@v1.8.0),
# root, dovecot and the lab scripts (../shared/lab). Not run by CI.
#
#   bench/push.sh
#
# Env: LAB, DIR, PORT, N as in bench/backup.sh; OUT (scratch dir, default
# /var/tmp/mkpush), ENCRYPT=1 (an encrypted archive and index).
set -euo pipefail
cd "$(dirname "$0")/.."
LAB=${LAB:-../shared/lab}
DIR=${DIR:-/tmp/mkbench}
PORT=${PORT:-12143}
N=${N:-20000}
OUT=${OUT:-/var/tmp/mkpush}
VGW=$(command -v versitygw || echo "$(go env GOPATH)/bin/versitygw")
[ -x "$VGW" ] || { echo "needs versitygw: go install github.com/versity/versitygw/cmd/versitygw@v1.8.0" >&2; exit 1; }

if ! [ -f "$DIR/run/master.pid" ] || ! kill -0 "$(cat "$DIR/run/master.pid")" 2>/dev/null; then
	IMAP_PORT=$PORT IMAPS_PORT=$((PORT + 850)) POP3_PORT=$((PORT - 2033)) POP3S_PORT=$((PORT - 1148)) \
		"$LAB/dovecot-up.sh" "$DIR" >/dev/null </dev/null
	"$LAB/seed.sh" alice "$N" 5 "$DIR" >/dev/null
fi
go build -o /tmp/mkpush-mailkeep ./cmd/mailkeep
MK=/tmp/mkpush-mailkeep
rm -rf "$OUT"; mkdir -p "$OUT/s3/bench" "$OUT/meta"
S3PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export MKPUSH_KEY=bench MKPUSH_SECRET=bench-secret-0123456789
"$VGW" --access "$MKPUSH_KEY" --secret "$MKPUSH_SECRET" --port "127.0.0.1:$S3PORT" --quiet posix --sidecar "$OUT/meta" "$OUT/s3" >"$OUT/vgw.log" 2>&1 &
VPID=$!
trap 'kill $VPID 2>/dev/null; rm -rf "$OUT"' EXIT
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$S3PORT") 2>/dev/null && break; sleep 0.1; done

ENCRYPTION=""
if [ "${ENCRYPT:-0}" = 1 ]; then
	ENCRYPTION="encryption: {recipients: [$("$MK" keygen --out "$OUT/identity.txt" 2>/dev/null)], identity_file: $OUT/identity.txt}"
fi
cat > "$OUT/cfg.yaml" <<CFG
archive: $OUT/archive
accounts:
  alice: {imap: {host: 127.0.0.1, port: $PORT, security: none}, username: alice, password_env: MKPUSH_PW}
offsite:
  s3: {endpoint: "http://127.0.0.1:$S3PORT", bucket: bench, prefix: p, path_style: true, access_key_env: MKPUSH_KEY, secret_key_env: MKPUSH_SECRET}
$ENCRYPTION
CFG
export MKPUSH_PW=secret
"$MK" --config "$OUT/cfg.yaml" -q backup >/dev/null
echo "archive: $(du -sb "$OUT/archive" | cut -f1) bytes${ENCRYPT:+ (encrypted)}"
sync
"$MK" --config "$OUT/cfg.yaml" push
"$MK" --config "$OUT/cfg.yaml" push   # nothing new: the index only
/usr/bin/time -f "pull: %es, RSS %M KB" "$MK" --config "$OUT/cfg.yaml" pull --into "$OUT/pulled"
"$MK" --config "$OUT/cfg.yaml" verify --offsite
