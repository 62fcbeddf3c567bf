#!/usr/bin/env bash
# The proof under load and faults, on one machine: a database, a RabbitMQ
# vhost and a blob file system of its own; `intake serve` and the workers run
# (and are killed, and restarted) by `intake load`, which sends the mix,
# injects the faults and then audits its ledger against what intake recorded.
#
#   bench/proof.sh --ci                    # CI size: 300 inputs, one fault of each kind
#   COUNT=100000 RATE=60 bench/proof.sh    # the long run of the README
#   SERVES=2 WORKERS=2 BLOBS=s3 bench/proof.sh   # several hosts, one Garage bucket (bench/garage.sh)
#
# Environment: COUNT, RATE (inputs/s; empty: as fast as it goes), CONNECTIONS,
# FAULTS (comma-separated; default every kind), FAULT_EACH, FAULT_HOLD,
# SERVES, WORKERS, WORKER_NICE (default 10; 0 for none), PROFILE
# (debug|release), BLOB_FS_SIZE, KEEP=1 keeps the database and vhost. Needs
# root for the blob tmpfs and the PostgreSQL restart (without root, those
# two faults are left out and said so).
set -euo pipefail
cd "$(dirname "$0")/.."

COUNT=${COUNT:-1000}
RATE=${RATE:-}
CONNECTIONS=${CONNECTIONS:-8}
FAULTS=${FAULTS-kill_serve,kill_worker,broker,database,cut,blob_full}
FAULT_EACH=${FAULT_EACH:-1}
FAULT_HOLD=${FAULT_HOLD:-5}
SERVES=${SERVES:-1}
WORKERS=${WORKERS:-1}
PROFILE=${PROFILE:-release}
BLOBS=${BLOBS:-local}
WORKER_NICE=${WORKER_NICE:-10}
if [[ "${1:-}" == "--ci" ]]; then
  COUNT=${CI_COUNT:-300}
  RATE=${RATE:-20}
  PROFILE=debug
  BLOB_FS_SIZE=${BLOB_FS_SIZE:-512m}
fi
# The load's own log: its faults and progress; lapin's reconnection noise
# belongs to the processes it hurts (their logs are in the run's folder).
export RUST_LOG=${RUST_LOG:-warn,intake=info,lapin=off}

. bench/deployment.sh
need_services proof
build_binaries
deployment_up proof
# Faults this machine allows.
if [[ -z "$mounted" ]]; then
  echo "proof: not root, or no tmpfs: blob_full and database faults left out"
  FAULTS=$(echo "$FAULTS" | tr ',' '\n' | grep -v -e blob_full -e database | paste -sd, -)
fi
if [[ "$BLOBS" == s3 ]]; then
  FAULTS=$(echo "$FAULTS" | tr ',' '\n' | grep -v -e blob_full | paste -sd, -)
  # The environment wins over the file: without this the serves and the
  # workers would keep their blobs in the local folder, not the bucket.
  unset INTAKE_BLOB_DIR
  cat >>"$dir/intake.toml" <<EOF
[blobs]
kind = "s3"
bucket = "${S3_BUCKET:-intake}"
endpoint = "${S3_ENDPOINT:-http://127.0.0.1:3900}"
region = "garage"
access_key_id = "${S3_KEY_ID:?S3_KEY_ID}"
secret_access_key = "${S3_SECRET:?S3_SECRET}"
allow_http = true
EOF
fi
deployment_ready

# Each serve on its own ports: SMTP 26N5, LMTP 26N4, HTTP 81N0.
serve="INTAKE_SMTP_LISTEN=127.0.0.1:26{n}5 INTAKE_LMTP_LISTEN=127.0.0.1:26{n}4 INTAKE_LISTEN=127.0.0.1:81{n}0 $BIN serve"
# The workers share this host's two cores with serve: niced, they take what
# receiving leaves, as on their own hosts they would not need to. A backlog
# of jobs after a broker outage then delays findings, not the customers'
# SMTP sessions.
worker="INTAKE_WORKER_LISTEN=127.0.0.1:91{n}1 nice -n $WORKER_NICE $WORKER"

args=(--smtp 127.0.0.1:2605 --lmtp 127.0.0.1:2604 --portal http://127.0.0.1:8100
      --count "$COUNT" --connections "$CONNECTIONS"
      --serve "$serve" --serves "$SERVES" --worker "$worker" --workers "$WORKERS"
      --broker-proxy 127.0.0.1:5673 --sink 127.0.0.1:2626 --mailbox "$dir/mailbox"
      --logs "$dir" --ledger "$dir/ledger.jsonl" --fault-each "$FAULT_EACH" --fault-hold "$FAULT_HOLD"
      --audit)
[[ -n "$RATE" ]] && args+=(--rate "$RATE")
[[ -n "$FAULTS" ]] && args+=(--faults "$FAULTS")
[[ -n "$mounted" && "$BLOBS" != s3 ]] && args+=(--blob-fs "$blobs")
# With two serves, the second listens on 2615/2614/8110: half the
# connections go there.
if [[ "$SERVES" -gt 1 ]]; then
  args+=(--smtp 127.0.0.1:2615 --lmtp 127.0.0.1:2614)
fi
# From here through the load's proxy, so `cut` can sever intake from the broker.
export INTAKE_AMQP_URL="amqp://guest:guest@127.0.0.1:5673/$vhost"
echo "proof: $COUNT inputs, rate ${RATE:-max}, faults ${FAULTS:-none}, $SERVES serve(s), $WORKERS worker(s), blobs $BLOBS; in $dir"
$BIN load "${args[@]}"
