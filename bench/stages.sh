#!/usr/bin/env bash
# What each stage sustains alone, then the whole, in one run on this machine
# (issue 16's throughput and latency targets):
#
#   1. serve alone (receive, decide, record, relay; answers mailed to
#      Postfix's `smtp-sink`, which keeps nothing), no worker: `intake load`
#      as fast as it goes, without replies (they would wait on the answers);
#      inputs/s until the last sample job is on the queue, answers/s until
#      the last is mailed;
#   2. the workers alone, on the queue stage 1 left: samples/s;
#   3. the whole (bench/proof.sh, no faults, as fast as it goes): samples
#      given findings per second, against the slowest stage of 1 and 2;
#   4. the whole at half that rate: send → findings p50/p99.
#
# Each stage also gives the CPU it costs per item: the whole machine's busy
# time (intake, PostgreSQL, RabbitMQ and the load itself) and intake's own
# processes alone.
#
#   bench/stages.sh                        # COUNT=3000 WORKERS=1 CONNECTIONS=16
set -euo pipefail
cd "$(dirname "$0")/.."

COUNT=${COUNT:-3000}
WORKERS=${WORKERS:-1}
CONNECTIONS=${CONNECTIONS:-16}
PROFILE=${PROFILE:-release}
export RUST_LOG=${RUST_LOG:-warn,lapin=off}

. bench/deployment.sh
need_services stages
build_binaries
command -v smtp-sink >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -q postfix >/dev/null
deployment_up stages
deployment_ready
q() { psql -qtA -h 127.0.0.1 -U postgres -d "$db" -c "$1"; }
ticks=$(getconf CLK_TCK)
# Busy CPU seconds of the whole machine so far.
busy() { awk -v hz="$ticks" '/^cpu / { print ($2 + $3 + $4 + $7 + $8 + $9) / hz }' /proc/stat; }
# CPU seconds a live process has used.
cpu_of() { awk -v hz="$ticks" '{ print ($14 + $15) / hz }' "/proc/$1/stat"; }
now() { date +%s.%N; }
calc() { awk "BEGIN { printf \"%.${2:-1}f\", $1 }"; }
# Polls QUERY until it prints 0, at most 30 minutes.
until_zero() {
  for _ in $(seq 18000); do [[ $(q "$1") == 0 ]] && return 0; sleep 0.1; done
  echo "stages: still not drained after 30 min: $1" >&2
  exit 1
}

# --- 1. serve alone -------------------------------------------------------
for p in 2605 2604 8100 2627; do
  port_open $p && { echo "stages: port $p is taken (another run's intake?)" >&2; exit 1; }
done
smtp-sink -u nobody 127.0.0.1:2627 256 &
owned_pids+=($!)
INTAKE_ANSWER_RELAY=127.0.0.1:2627 INTAKE_SMTP_LISTEN=127.0.0.1:2605 INTAKE_LMTP_LISTEN=127.0.0.1:2604 INTAKE_LISTEN=127.0.0.1:8100 \
  $BIN serve >"$dir/serve.log" 2>&1 &
serve_pid=$!
owned_pids+=("$serve_pid")
for _ in $(seq 300); do port_open 2605 && port_open 8100 && break; sleep 0.1; done
port_open 8100 || { echo "stages: intake serve did not start (see $dir/serve.log)" >&2; exit 1; }

echo "stage 1: serve alone, $COUNT inputs over $CONNECTIONS connections, no worker"
b0=$(busy); t0=$(now)
/usr/bin/time -f "%U %S" -o "$dir/load.cpu" \
  $BIN load --smtp 127.0.0.1:2605 --lmtp 127.0.0.1:2604 --portal http://127.0.0.1:8100 \
  --count "$COUNT" --connections "$CONNECTIONS" --mix good=55,needs_info=10,rejected=5,duplicate=5,upload=25,reply=0 \
  --logs "$dir" --ledger "$dir/stage1.jsonl" --reply-wait 0 >"$dir/load.log" 2>&1
until_zero "SELECT count(*) FROM inbound WHERE state = 'received'"
until_zero "SELECT count(*) FROM outbox WHERE published_at IS NULL AND kind = 'sample.analyse'"
until_zero "SELECT count(*) FROM outbox WHERE published_at IS NULL"
b1=$(busy)
serve_cpu=$(cpu_of "$serve_pid")
load_cpu=$(awk '{ print $1 + $2 }' "$dir/load.cpu")
inputs=$(q "SELECT count(*) FROM inbound")
jobs=$(q "SELECT count(*) FROM outbox WHERE kind = 'sample.analyse'")
answers=$(q "SELECT count(*) FROM outbox WHERE kind <> 'sample.analyse'")
relayed_at=$(q "SELECT extract(epoch FROM max(published_at)) FROM outbox WHERE kind = 'sample.analyse'")
answered_at=$(q "SELECT extract(epoch FROM max(published_at)) FROM outbox WHERE kind <> 'sample.analyse'")
serve_rate=$(calc "$inputs / ($relayed_at - $t0)")
mail_rate=$(calc "$answers / ($answered_at - $t0)")
# The machine's CPU without the load generator's own.
serve_machine_ms=$(calc "($b1 - $b0 - $load_cpu) * 1000 / $inputs" 2)
serve_own_ms=$(calc "$serve_cpu * 1000 / $inputs" 2)
kill "$serve_pid"; wait "$serve_pid" 2>/dev/null || true

# --- 2. the workers alone -------------------------------------------------
echo "stage 2: $WORKERS worker(s) alone on the $jobs jobs stage 1 queued"
b0=$(busy); t0=$(now)
worker_pids=()
for n in $(seq "$WORKERS"); do
  INTAKE_WORKER_LISTEN=127.0.0.1:91${n}1 $WORKER >"$dir/worker-$n.log" 2>&1 &
  worker_pids+=($!)
  owned_pids+=($!)
done
until_zero "SELECT $jobs - count(*) FROM analysis_jobs WHERE state IN ('done', 'dead')"
b1=$(busy)
worker_cpu=0
for p in "${worker_pids[@]}"; do worker_cpu=$(calc "$worker_cpu + $(cpu_of "$p")" 3); done
done_at=$(q "SELECT extract(epoch FROM max(updated_at)) FROM analysis_jobs")
analyse_rate=$(calc "$jobs / ($done_at - $t0)")
analyse_machine_ms=$(calc "($b1 - $b0) * 1000 / $jobs" 2)
analyse_own_ms=$(calc "$worker_cpu * 1000 / $jobs" 2)
for p in "${worker_pids[@]}"; do kill "$p"; wait "$p" 2>/dev/null || true; done

# Each stage in inputs/s, for the slowest.
per_input=$(calc "$jobs / $inputs" 3)
answers_per_input=$(calc "$answers / $inputs" 3)
as_inputs_mail=$(calc "$mail_rate / $answers_per_input")
as_inputs_analyse=$(calc "$analyse_rate / $per_input")
slowest=$(printf '%s serve\n%s mailer\n%s analysis\n' "$serve_rate" "$as_inputs_mail" "$as_inputs_analyse" | sort -n | head -1)

# --- 3 and 4. the whole -----------------------------------------------------
echo "stage 3: the whole, as fast as it goes, no faults"
FAULTS= COUNT=$COUNT CONNECTIONS=$CONNECTIONS WORKERS=$WORKERS PROFILE=$PROFILE \
  bench/proof.sh >"$dir/whole.log" 2>&1 || { echo "stages: the whole run's audit failed (see $dir/whole.log)" >&2; tail -30 "$dir/whole.log" >&2; exit 1; }
whole_decided=$(sed -n 's/^throughput: \([0-9.]*\) inputs.*/\1/p' "$dir/whole.log")
whole_analysed=$(sed -n 's/^analysed: \([0-9.]*\) samples.*/\1/p' "$dir/whole.log")
whole_findings=$(sed -n 's/^send → findings: //p' "$dir/whole.log")
whole_inputs=$(calc "$whole_analysed / $per_input")
half=$(calc "$whole_inputs / 2" 0)
echo "stage 4: the whole at half that rate ($half inputs/s), no faults"
FAULTS= COUNT=$COUNT RATE=$half CONNECTIONS=$CONNECTIONS WORKERS=$WORKERS PROFILE=$PROFILE \
  bench/proof.sh >"$dir/half.log" 2>&1 || { echo "stages: the half-rate run's audit failed (see $dir/half.log)" >&2; tail -30 "$dir/half.log" >&2; exit 1; }
half_decision=$(sed -n 's/^send → decision: //p' "$dir/half.log")
half_findings=$(sed -n 's/^send → findings: //p' "$dir/half.log")

cat <<EOF

stage                                    rate               as inputs/s   CPU ms per item (machine / intake's own)
1. serve: receive, decide, record, relay $serve_rate inputs/s   $serve_rate         $serve_machine_ms / $serve_own_ms per input
1. serve: answers mailed                 $mail_rate answers/s  $as_inputs_mail         (in the line above)
2. analysis, $WORKERS worker(s)                $analyse_rate samples/s  $as_inputs_analyse         $analyse_machine_ms / $analyse_own_ms per sample
   ($inputs inputs gave $jobs samples to analyse: $per_input per input; $answers answers: $answers_per_input per input)
slowest stage: ${slowest#* } at ${slowest%% *} inputs/s
3. the whole, as fast as it goes: decided $whole_decided inputs/s; analysed $whole_analysed samples/s = $whole_inputs inputs/s = $(calc "100 * $whole_inputs / ${slowest%% *}" 0) % of the slowest stage
   send → findings: $whole_findings
4. the whole at $half inputs/s: send → decision: $half_decision
   send → findings: $half_findings
EOF
