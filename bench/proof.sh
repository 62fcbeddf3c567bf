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
# SERVES, WORKERS, PROFILE (debug|release), BLOB_FS_SIZE, KEEP=1 keeps the
# database and vhost. Needs root for the blob tmpfs and the PostgreSQL
# restart (without root, those two faults are left out and said so).
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
if [[ "${1:-}" == "--ci" ]]; then
  COUNT=${CI_COUNT:-300}
  RATE=${RATE:-20}
  PROFILE=debug
  BLOB_FS_SIZE=${BLOB_FS_SIZE:-512m}
fi
# The load's own log: its faults and progress; lapin's reconnection noise
# belongs to the processes it hurts (their logs are in the run's folder).
export RUST_LOG=${RUST_LOG:-warn,intake=info,lapin=off}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
port_open 5432 || { echo "proof: PostgreSQL is not running on 127.0.0.1:5432 (pg_ctlcluster --skip-systemctl-redirect \$(ls /etc/postgresql) main start)" >&2; exit 2; }
port_open 5672 || { echo "proof: RabbitMQ is not running on 127.0.0.1:5672 (rabbitmq-server -detached; rabbitmqctl await_startup)" >&2; exit 2; }

flag=""
[[ "$PROFILE" == release ]] && flag="--release"
cargo build $flag -p intake --bin intake --quiet
cargo build $flag -p intake-worker --quiet
BIN=target/$PROFILE/intake
WORKER=target/$PROFILE/intake-worker

id="proof_$(date +%s)_$$"
dir="target/proof/$id"
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
db="intake_$id"
vhost="$id"
blobs="$dir/blobs"
mkdir -p "$blobs"
mounted=""

cleanup() {
  set +e
  [[ -n "$mounted" ]] && umount "$blobs"
  if [[ -z "${KEEP:-}" ]]; then
    psql -q -h 127.0.0.1 -U postgres -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null 2>&1
    rabbitmqctl -q delete_vhost "$vhost" >/dev/null 2>&1
  fi
}
trap cleanup EXIT

# Faults this machine allows.
if [[ $(id -u) -eq 0 ]] && mount -t tmpfs -o "size=${BLOB_FS_SIZE:-2g},mode=0700" tmpfs "$blobs"; then
  mounted=1
else
  echo "proof: not root, or no tmpfs: blob_full and database faults left out"
  FAULTS=$(echo "$FAULTS" | tr ',' '\n' | grep -v -e blob_full -e database | paste -sd, -)
fi
if [[ "$BLOBS" == s3 ]]; then
  FAULTS=$(echo "$FAULTS" | tr ',' '\n' | grep -v -e blob_full | paste -sd, -)
fi

rabbitmqctl -q add_vhost "$vhost" >/dev/null
rabbitmqctl -q set_permissions -p "$vhost" guest ".*" ".*" ".*" >/dev/null

export INTAKE_DATABASE_URL="postgres://postgres@127.0.0.1:5432/$db?sslmode=disable"
export INTAKE_AMQP_URL="amqp://guest:guest@127.0.0.1:5672/$vhost"
export INTAKE_QUEUE_PREFIX=proof
export INTAKE_BLOB_DIR="$blobs"
export INTAKE_ANSWER_RELAY=127.0.0.1:2626
export INTAKE_RETRY_DELAY_MS=2000
export INTAKE_PUBLIC_URL=http://127.0.0.1:8100
cat >"$dir/intake.toml" <<EOF
[uploads.quota]
uploads_per_hour = 0
uploads_per_day = 0
bytes_per_hour = 0
bytes_per_day = 0
EOF
if [[ "$BLOBS" == s3 ]]; then
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
export INTAKE_CONFIG="$dir/intake.toml"

$BIN migrate >/dev/null
$BIN grants import samples/grants.csv >/dev/null

# Each serve on its own ports: SMTP 26N5, LMTP 26N4, HTTP 81N0.
serve="INTAKE_SMTP_LISTEN=127.0.0.1:26{n}5 INTAKE_LMTP_LISTEN=127.0.0.1:26{n}4 INTAKE_LISTEN=127.0.0.1:81{n}0 $BIN serve"
worker="INTAKE_WORKER_LISTEN=127.0.0.1:91{n}1 $WORKER"

args=(--smtp 127.0.0.1:2605 --lmtp 127.0.0.1:2604 --portal http://127.0.0.1:8100
      --count "$COUNT" --connections "$CONNECTIONS"
      --serve "$serve" --serves "$SERVES" --worker "$worker" --workers "$WORKERS"
      --broker-proxy 127.0.0.1:5673 --sink 127.0.0.1:2626 --mailbox "$dir/mailbox"
      --logs "$dir" --ledger "$dir/ledger.jsonl" --fault-each "$FAULT_EACH" --fault-hold "$FAULT_HOLD"
      --audit)
[[ -n "$RATE" ]] && args+=(--rate "$RATE")
[[ -n "$FAULTS" ]] && args+=(--faults "$FAULTS")
[[ -n "$mounted" ]] && args+=(--blob-fs "$blobs")
# With two serves, the second listens on 2615/2614/8110: half the
# connections go there.
if [[ "$SERVES" -gt 1 ]]; then
  args+=(--smtp 127.0.0.1:2615 --lmtp 127.0.0.1:2614)
fi
# From here through the load's proxy, so `cut` can sever intake from the broker.
export INTAKE_AMQP_URL="amqp://guest:guest@127.0.0.1:5673/$vhost"
echo "proof: $COUNT inputs, rate ${RATE:-max}, faults ${FAULTS:-none}, $SERVES serve(s), $WORKERS worker(s), blobs $BLOBS; in $dir"
$BIN load "${args[@]}"
