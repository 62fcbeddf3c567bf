#!/usr/bin/env bash
# Receiving, measured against the server a lab would otherwise put in front:
# Postfix (queue on disk, `discard` transport) and `intake serve`, both
# driven by Postfix's own `smtp-source` in the same run: 200 KB messages,
# 1 and 16 sessions, each session sending its messages over one connection.
#
#   bench/postfix.sh                       # ROUNDS=3 MESSAGES=2000 SIZE=204800
#
# Both answer `250` only once the message is on disk: Postfix's cleanup
# fsyncs the queue file; intake fsyncs the blob and commits its inbound row
# (then decides, opens the SR and queues the answer in the background, which
# Postfix's queue manager does not have to do: its discard is the cheaper
# background work). Rounds alternate between the two servers; the median
# round is reported. Needs root: it installs Postfix when missing and sets
# the system instance to listen on loopback only and discard every message.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-3}
MESSAGES=${MESSAGES:-2000}
SIZE=${SIZE:-204800}
PROFILE=${PROFILE:-release}
SMTP_PORT=${SMTP_PORT:-2705}

. bench/deployment.sh
need_services "postfix bench"
[[ $(id -u) -eq 0 ]] || { echo "postfix bench: needs root (it installs and configures Postfix)" >&2; exit 2; }

if ! command -v smtp-source >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q postfix >/dev/null
fi
# The system instance, as a discarding relay for lab.example on loopback.
postconf -e "inet_interfaces = loopback-only" "inet_protocols = ipv4" "mydestination =" \
  "relay_domains = lab.example" "relay_transport = discard:" "default_transport = discard:" \
  "mynetworks = 127.0.0.0/8" "message_size_limit = 0" "smtpd_client_connection_count_limit = 0" \
  "smtpd_recipient_restrictions = permit_mynetworks, reject_unauth_destination"
postfix status >/dev/null 2>&1 && postfix reload >/dev/null 2>&1 || postfix start >/dev/null 2>&1
for _ in $(seq 100); do port_open 25 && break; sleep 0.1; done
port_open 25 || { echo "postfix bench: Postfix did not start listening on 127.0.0.1:25" >&2; exit 1; }

build_binaries
BLOB_FS=none deployment_up postfix
export INTAKE_SMTP_LISTEN=127.0.0.1:$SMTP_PORT
export INTAKE_LMTP_LISTEN=127.0.0.1:$((SMTP_PORT + 1))
export INTAKE_LISTEN=127.0.0.1:$((SMTP_PORT + 2))
export INTAKE_SMTP_ACCEPT=samples@lab.example
# Answers go to Postfix, which discards them.
export INTAKE_ANSWER_RELAY=127.0.0.1:25
export RUST_LOG=warn
deployment_ready
$BIN serve >"$dir/serve.log" 2>&1 &
owned_pids+=($!)
for _ in $(seq 300); do port_open "$SMTP_PORT" && break; sleep 0.1; done
port_open "$SMTP_PORT" || { echo "postfix bench: intake serve did not start (see $dir/serve.log)" >&2; exit 1; }

# Messages per second for one smtp-source run against 127.0.0.1:PORT.
rate() {
  local port=$1 sessions=$2 start end
  start=$(date +%s%N)
  smtp-source -d -s "$sessions" -m "$MESSAGES" -l "$SIZE" -M bench.example \
    -f customer@bench.example -t samples@lab.example "127.0.0.1:$port"
  end=$(date +%s%N)
  echo "$MESSAGES $start $end" | awk '{ printf "%.1f", $1 / (($3 - $2) / 1e9) }'
}
median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

echo "receiving ${SIZE}-byte messages, $MESSAGES per round, $ROUNDS rounds (median), smtp-source -d"
printf '%-9s %14s %14s %7s\n' sessions "postfix msg/s" "intake msg/s" ratio
for sessions in 1 16; do
  p="" i=""
  for _ in $(seq "$ROUNDS"); do
    p+="$(rate 25 "$sessions") "
    i+="$(rate "$SMTP_PORT" "$sessions") "
  done
  pm=$(echo "$p" | median)
  im=$(echo "$i" | median)
  printf '%-9s %14s %14s %6.2fx   (rounds: postfix %s; intake %s)\n' "$sessions" "$pm" "$im" \
    "$(awk -v a="$im" -v b="$pm" 'BEGIN { print a / b }')" "$p" "$i"
done
