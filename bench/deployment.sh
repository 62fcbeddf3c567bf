# Sourced by the bench scripts: a deployment of intake of their own on this
# machine (database, RabbitMQ vhost, blob store on a tmpfs when root), so a
# run never touches another's data, and everything is removed on exit
# unless KEEP=1.
#
#   deployment_up NAME    # sets id, dir, db, vhost, blobs, mounted; exports INTAKE_*
#   build_binaries        # BIN and WORKER for PROFILE (release|debug)

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# One clear line, never a stack trace, when a service is down.
need_services() {
  port_open 5432 || { echo "$1: PostgreSQL is not running on 127.0.0.1:5432 (pg_ctlcluster --skip-systemctl-redirect \$(ls /etc/postgresql) main start)" >&2; exit 2; }
  port_open 5672 || { echo "$1: RabbitMQ is not running on 127.0.0.1:5672 (rabbitmq-server -detached; rabbitmqctl await_startup)" >&2; exit 2; }
}

build_binaries() {
  local flag=""
  [[ "${PROFILE:-release}" == release ]] && flag="--release"
  cargo build $flag -p intake --bin intake --quiet
  cargo build $flag -p intake-worker --quiet
  BIN=target/${PROFILE:-release}/intake
  WORKER=target/${PROFILE:-release}/intake-worker
}

# Pids the cleanup stops (TERM, then waits).
owned_pids=()

deployment_down() {
  set +e
  for p in "${owned_pids[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${owned_pids[@]}"; do wait "$p" 2>/dev/null; done
  [[ -n "$mounted" ]] && umount "$blobs"
  rm -f "$dir/blobs.img"
  if [[ -z "${KEEP:-}" ]]; then
    psql -q -h 127.0.0.1 -U postgres -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null 2>&1
    rabbitmqctl -q delete_vhost "$vhost" >/dev/null 2>&1
  fi
}

deployment_up() {
  id="$1_$(date +%s)_$$"
  dir="target/proof/$id"
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  db="intake_$id"
  vhost="$id"
  blobs="$dir/blobs"
  mkdir -p "$blobs"
  mounted=""
  trap deployment_down EXIT
  # The blob store's own file system, so `blob_full` fills it and nothing
  # else: a tmpfs (BLOB_FS=tmpfs, the default), or an ext4 image on the disk
  # (BLOB_FS=loop: durable, and room for more than memory holds); BLOB_FS=none
  # keeps the blobs in a folder beside the database, for a fair durable
  # comparison with an MTA.
  if [[ $(id -u) -eq 0 ]]; then
    case "${BLOB_FS:-tmpfs}" in
      tmpfs) mount -t tmpfs -o "size=${BLOB_FS_SIZE:-2g},mode=0700" tmpfs "$blobs" && mounted=1 ;;
      loop)
        truncate -s "${BLOB_FS_SIZE:-2g}" "$dir/blobs.img"
        mkfs.ext4 -q -F "$dir/blobs.img"
        mount -o loop "$dir/blobs.img" "$blobs" && chmod 0700 "$blobs" && mounted=1 ;;
    esac
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
  # The load is one customer sending thousands: no upload quota.
  cat >"$dir/intake.toml" <<EOF
[uploads.quota]
uploads_per_hour = 0
uploads_per_day = 0
bytes_per_hour = 0
bytes_per_day = 0
EOF
  export INTAKE_CONFIG="$dir/intake.toml"
}

# After the config is complete: the schema and the grants the load's
# customers quote.
deployment_ready() {
  $BIN migrate >/dev/null
  $BIN grants import samples/grants.csv >/dev/null
}
