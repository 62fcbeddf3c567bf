#!/usr/bin/env bash
# The S3 path of the blob store against a real S3-compatible server, Garage
# (a distributed object store; AGPL, run as a separate process only):
#   1. builds Garage once (`cargo install garage` into target/garage-bin,
#      about 30 minutes on 2 cores) unless GARAGE names a binary,
#   2. starts a one-node Garage in target/garage with a bucket and a key,
#   3. runs the blob store's S3 test (tests/blobs_s3.rs) against it,
#   4. runs the proof with two `intake serve`s and two workers sharing that
#      bucket (several hosts, simulated), audited as in bench/proof.sh.
# Not in .ci/run: Garage's build would eat CI's time. Run before each
# closing note:  bench/garage.sh        (COUNT=… for a longer proof; PROOF=0
# runs the S3 test only). A full blob store is a local file system's fault,
# so the proof here injects every other kind.
set -euo pipefail
cd "$(dirname "$0")/.."

GARAGE=${GARAGE:-}
if [[ -z "$GARAGE" ]]; then
  if command -v garage >/dev/null; then
    GARAGE=$(command -v garage)
  elif [[ -x target/garage-bin/bin/garage ]]; then
    GARAGE=$PWD/target/garage-bin/bin/garage
  else
    cargo install garage --locked --root target/garage-bin
    GARAGE=$PWD/target/garage-bin/bin/garage
  fi
fi

. bench/deployment.sh
for port in 3900 3901; do
  if port_open "$port"; then
    echo "garage: something already listens on 127.0.0.1:$port (another Garage?); stop it first" >&2
    exit 2
  fi
done

dir="$PWD/target/garage"
rm -rf "$dir"
mkdir -p "$dir/meta" "$dir/data"
chmod 700 "$dir"
cat >"$dir/garage.toml" <<EOF
metadata_dir = "$dir/meta"
data_dir = "$dir/data"
db_engine = "sqlite"
replication_factor = 1
rpc_bind_addr = "127.0.0.1:3901"
rpc_public_addr = "127.0.0.1:3901"
rpc_secret = "$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"

[s3_api]
s3_region = "garage"
api_bind_addr = "127.0.0.1:3900"
root_domain = ".s3.garage.localhost"
EOF
chmod 600 "$dir/garage.toml"
g() { "$GARAGE" -c "$dir/garage.toml" "$@"; }

# Not through g(): $! must be Garage itself, not a subshell, for the trap.
"$GARAGE" -c "$dir/garage.toml" server >"$dir/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null' EXIT
for _ in $(seq 100); do g status >/dev/null 2>&1 && break; sleep 0.2; done
node=$(g node id -q | cut -d@ -f1)
g layout assign -z lab -c 20G "$node" >/dev/null
g layout apply --version 1 >/dev/null
g bucket create intake >/dev/null
keyinfo=$(g key create intake-key)
key_id=$(echo "$keyinfo" | awk '/Key ID/ {print $NF}')
secret=$(echo "$keyinfo" | awk '/Secret key/ {print $NF}')
g bucket allow --read --write --owner intake --key intake-key >/dev/null
echo "garage: bucket intake on http://127.0.0.1:3900 (key $key_id)"

export INTAKE_TEST_S3_BUCKET=intake INTAKE_TEST_S3_ENDPOINT=http://127.0.0.1:3900 \
  INTAKE_TEST_S3_KEY_ID="$key_id" INTAKE_TEST_S3_SECRET="$secret"
cargo test --locked --test blobs_s3 -- --nocapture

[[ "${PROOF:-1}" == 0 ]] && exit 0
S3_BUCKET=intake S3_ENDPOINT=http://127.0.0.1:3900 S3_KEY_ID="$key_id" S3_SECRET="$secret" \
  SERVES=2 WORKERS=2 BLOBS=s3 COUNT=${COUNT:-8000} RATE=${RATE:-40} \
  FAULTS=${FAULTS-kill_serve,kill_worker,broker,database,cut} bench/proof.sh

# The proof's blobs must be in the bucket, not in a local folder.
objects=$(g bucket info intake | awk '/^Objects:/ {print $2}')
echo "garage: the bucket holds ${objects:-?} objects after the proof"
if [[ -z "$objects" || "$objects" -lt 100 ]]; then
  echo "garage: the proof did not keep its blobs in the bucket" >&2
  exit 1
fi
