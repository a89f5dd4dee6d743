# shellcheck shell=bash disable=SC2034  # the variables set here are read by scripts/bench
# lib-bench.sh - the helpers scripts/bench's benchmarks share.  Sourced, not run.
#
# A benchmark is a bash function that starts the servers it needs with
# bench_start_floor / bench_start_hearthd (or bench_start_server for any
# other binary that takes --port-file), measures with bench_wrk or
# bench_compare_http, and ends with one bench_report line.  Servers are
# stopped by bench_stop_server, and whatever is still running when the
# script exits (error, Ctrl-C) is stopped by the EXIT trap; temporary files
# live in one directory that the trap removes.
#
# Settings, all from the environment:
#   BENCH_SECONDS      measured seconds per wrk run (default 10)
#   BENCH_CONNECTIONS  open connections wrk keeps (default 64)
#   BENCH_ROUNDS       floor/subject pairs measured alternately; the best of
#                      each is kept (default 2)
#   BENCH_WARMUP       seconds of unmeasured load on each server first (default 2)
#   BENCH_BUILD_DIR    where Release is built (default build-bench)
#   BENCH_STRICT       1: exit 1 when a figure is below its goal (default 0)
#   BENCH_KEEP_TMP     1: keep the temporary directory (logs, databases)
#   BENCH_SIGNIN_ACCOUNTS    members signed in in rotation by signin and
#                            healthz-under-signin (default 16; sign-up hashes
#                            with the default Argon2id parameters, ~0.3 s each
#                            per core here)
#   BENCH_ME_TOKENS          distinct tokens the me benchmark rotates (default 1000)
#   BENCH_SUBSCRIBERS        members who subscribe once each per round (default 1000)
#   BENCH_HEALTHZ_CONNECTIONS, BENCH_HEALTHZ_DELAY_MS  healthz-under-signin's
#                            probe: connections, pause between a connection's
#                            requests (defaults 4 and 10: <= 400 req/s)

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

BENCH_ROOT=$HEARTH_ROOT
BENCH_SECONDS=${BENCH_SECONDS:-10}
BENCH_CONNECTIONS=${BENCH_CONNECTIONS:-64}
BENCH_ROUNDS=${BENCH_ROUNDS:-2}
BENCH_WARMUP=${BENCH_WARMUP:-2}
BENCH_BUILD_DIR=${BENCH_BUILD_DIR:-$BENCH_ROOT/build-bench}
BENCH_STRICT=${BENCH_STRICT:-0}
BENCH_KEEP_TMP=${BENCH_KEEP_TMP:-0}
BENCH_SIGNIN_ACCOUNTS=${BENCH_SIGNIN_ACCOUNTS:-16}
BENCH_ME_TOKENS=${BENCH_ME_TOKENS:-1000}
BENCH_SUBSCRIBERS=${BENCH_SUBSCRIBERS:-1000}
BENCH_HEALTHZ_CONNECTIONS=${BENCH_HEALTHZ_CONNECTIONS:-4}
BENCH_HEALTHZ_DELAY_MS=${BENCH_HEALTHZ_DELAY_MS:-10}
readonly BENCH_WRK_THREADS=2
readonly BENCH_WRK_SCRIPT=$BENCH_ROOT/bench/wrk_report.lua
# The wrk scripts find wrk_report.lua (their RESULT line) here.
export BENCH_LUA_DIR=$BENCH_ROOT/bench
# Cheap Argon2id parameters (what the API tests use) for benchmarks that need
# many members but do not measure hashing: making 1000 members with the
# default parameters would take minutes on 2 cores.
readonly BENCH_CHEAP_PWHASH=(--pwhash-opslimit 1 --pwhash-memlimit 8192)
# What the benchmarks need beyond the project's HEARTH_PACKAGES (scripts/lib.sh);
# the build's own list is repeated so the bench still has it if that list shrinks.
readonly BENCH_PACKAGES=(build-essential cmake pkg-config libsqlite3-dev libsodium-dev
	libmicrohttpd-dev libjansson-dev check libsubunit-dev libcurl4-openssl-dev wrk)

BENCH_TMP=""
BENCH_SERVERS=0        # servers started so far: numbers their directories
BENCH_PIDS=()          # servers still running, stopped by the EXIT trap
declare -A BENCH_LOG_OF=() BENCH_LABEL_OF=() # server pid -> its log, its label
BENCH_REPORTS=()       # one summary line per bench_report
BENCH_STATUS=0         # 1 once any benchmark failed to give a valid figure

# The benchmark registry: bench_register adds a name; its function is
# bench_<name> with any '-' read as '_'.
BENCH_NAMES=()
declare -A BENCH_GOAL=() BENCH_DESC=()

bench_log() { printf '%s\n' "bench: $*" >&2; }
bench_die() { printf '%s\n' "bench: $*" >&2; exit 1; }

# bench_register NAME GOAL DESCRIPTION: a benchmark named NAME, run by the
# function bench_NAME ('-' in NAME is '_' in the function's name).  GOAL is
# one of:
#   0.80       it passes when its figure is at least 0.80 x its floor (bench_report)
#   p99<50     it passes when its p99 latency is under 50 ms (bench_report_latency)
#   -          no goal: the figure is printed (bench_report_figure)
bench_register() {
	local name=$1 goal=$2 desc=$3
	[[ $name =~ ^[a-z0-9][a-z0-9_-]*$ ]] || bench_die "benchmark name '$name' must be [a-z0-9_-]+"
	local goal_form='^([0-9]+(\.[0-9]+)?|p99<[0-9]+|-)$'
	[[ $goal =~ $goal_form ]] || bench_die "benchmark $name: goal '$goal' is not a ratio, p99<MS or -"
	BENCH_NAMES+=("$name")
	BENCH_GOAL[$name]=$goal
	BENCH_DESC[$name]=$desc
}

# bench_goal_text NAME: the goal as people read it ("goal >= 0.80").
bench_goal_text() {
	local goal=${BENCH_GOAL[$1]}
	case $goal in
	-) printf 'no goal' ;;
	p99\<*) printf 'goal p99 < %s ms' "${goal#p99<}" ;;
	*) printf 'goal >= %s' "$goal" ;;
	esac
}

bench_check_settings() {
	local v
	for v in BENCH_SECONDS BENCH_CONNECTIONS BENCH_ROUNDS BENCH_SIGNIN_ACCOUNTS BENCH_ME_TOKENS \
		BENCH_SUBSCRIBERS BENCH_HEALTHZ_CONNECTIONS BENCH_HEALTHZ_DELAY_MS; do
		[[ ${!v} =~ ^[1-9][0-9]*$ ]] || bench_die "$v must be a whole number of at least 1, not '${!v}'"
	done
	[[ $BENCH_WARMUP =~ ^[0-9]+$ ]] || bench_die "BENCH_WARMUP must be a whole number, not '$BENCH_WARMUP'"
	((BENCH_CONNECTIONS >= BENCH_WRK_THREADS)) ||
		bench_die "BENCH_CONNECTIONS must be at least $BENCH_WRK_THREADS (wrk's thread count)"
}

# Install what is missing the way scripts/run and scripts/test do
# (scripts/lib.sh: dpkg -s each, one apt-get update, one apt-get install -y
# of the missing ones), with wrk added to the project's list.
bench_ensure_packages() {
	local -A seen=()
	local all=() p
	for p in "${HEARTH_PACKAGES[@]}" "${BENCH_PACKAGES[@]}"; do
		[[ -n ${seen[$p]+x} ]] || all+=("$p")
		seen[$p]=1
	done
	hearth_ensure_packages "${all[@]}"
}

# Configure and build Release (no test suites) into BENCH_BUILD_DIR; the
# compiler's output goes to a log that is shown only when the build fails.
bench_build() {
	local log=$BENCH_BUILD_DIR/bench-build.log
	mkdir -p "$BENCH_BUILD_DIR"
	if ! hearth_build "$BENCH_BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DHEARTH_TESTS=OFF >"$log" 2>&1; then
		tail -n 40 "$log" >&2
		bench_die "the build failed (full log: $log)"
	fi
}

bench_cleanup() {
	local pid
	for pid in "${BENCH_PIDS[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	for pid in "${BENCH_PIDS[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	BENCH_PIDS=()
	if [[ -n $BENCH_TMP && -d $BENCH_TMP ]]; then
		if [[ $BENCH_KEEP_TMP == 1 ]]; then
			bench_log "kept $BENCH_TMP"
		else
			rm -rf "$BENCH_TMP"
		fi
	fi
}

bench_init() {
	BENCH_TMP=$(mktemp -d "${TMPDIR:-/tmp}/hearth-bench.XXXXXX")
	trap bench_cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
}

# bench_start_server LABEL CMD [ARG...]: run CMD ARG... --port-file FILE in
# the background, in the directory $BENCH_TMP/LABEL (its log is server.log
# there), wait until it has written its port, and set SERVER_PID and
# SERVER_PORT.  Give each server its own LABEL.
bench_start_server() {
	local label=$1
	shift
	local dir=$BENCH_TMP/$label
	mkdir -p "$dir"
	local pf=$dir/port log=$dir/server.log
	rm -f "$pf"
	(cd "$dir" && exec "$@" --port-file "$pf") >"$log" 2>&1 &
	SERVER_PID=$!
	BENCH_PIDS+=("$SERVER_PID")
	BENCH_LOG_OF[$SERVER_PID]=$log
	BENCH_LABEL_OF[$SERVER_PID]=$label
	local i
	for ((i = 0; i < 200; i++)); do
		if [[ -s $pf ]]; then
			SERVER_PORT=$(<"$pf")
			[[ $SERVER_PORT =~ ^[0-9]+$ ]] || bench_die "$label wrote '$SERVER_PORT' as its port"
			return 0
		fi
		if ! kill -0 "$SERVER_PID" 2>/dev/null; then
			tail -n 20 "$log" >&2 || true
			bench_die "$label exited before it listened (log above)"
		fi
		sleep 0.05
	done
	tail -n 20 "$log" >&2 || true
	bench_die "$label did not write its port within 10 s"
}

# bench_start_floor [ARG...]: the bare libmicrohttpd responder on an
# ephemeral loopback port, with the same per-IP limit hearthd is given.
bench_start_floor() {
	bench_start_server "floor.$((++BENCH_SERVERS))" "$BENCH_BUILD_DIR/bench_floor" \
		--listen 127.0.0.1:0 --per-ip 1024 "$@"
}

# bench_start_hearthd [ARG...]: hearthd on an ephemeral loopback port with a
# fresh temporary database and key file (new ones for every start), logging warnings and errors only
# (access logs would measure the terminal), per-IP limit raised so wrk's
# connections all come in.
bench_start_hearthd() {
	local label=hearthd.$((++BENCH_SERVERS))
	local dir=$BENCH_TMP/$label
	mkdir -p "$dir"
	bench_start_server "$label" "$BENCH_BUILD_DIR/hearthd" --listen 127.0.0.1:0 \
		--db "$dir/hearth.db" --key-file "$dir/hearth.keys" --log-level warn \
		--max-connections-per-ip 1024 "$@"
}

# bench_stop_server PID: SIGTERM, wait up to 15 s, then SIGKILL.  A server
# that had already died or does not exit 0 marks the run failed (BENCH_STATUS).
bench_stop_server() {
	local pid=$1 i rc=0
	local keep=() p
	for p in "${BENCH_PIDS[@]}"; do
		[[ $p == "$pid" ]] || keep+=("$p")
	done
	BENCH_PIDS=("${keep[@]}")
	if ! kill -TERM "$pid" 2>/dev/null; then
		wait "$pid" 2>/dev/null || rc=$?
		tail -n 20 "${BENCH_LOG_OF[$pid]:-/dev/null}" >&2 || true
		bench_log "${BENCH_LABEL_OF[$pid]:-server} (pid $pid) had died before it was stopped, exit status $rc"
		BENCH_STATUS=1
		return 0
	fi
	for ((i = 0; i < 300; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	if kill -0 "$pid" 2>/dev/null; then
		bench_log "${BENCH_LABEL_OF[$pid]:-server} (pid $pid) ignored SIGTERM for 15 s; killing it"
		kill -KILL "$pid" 2>/dev/null || true
	fi
	wait "$pid" 2>/dev/null || rc=$?
	if ((rc != 0)); then
		tail -n 20 "${BENCH_LOG_OF[$pid]:-/dev/null}" >&2 || true
		bench_log "${BENCH_LABEL_OF[$pid]:-server} (pid $pid) exited with status $rc on SIGTERM"
		BENCH_STATUS=1
	fi
}

# bench_wrk SECONDS URL [WRK_ARG...]: load URL for SECONDS with
# BENCH_CONNECTIONS connections on 2 wrk threads, and set WRK_RPS,
# WRK_REQUESTS, WRK_P50 and WRK_P99 (ms), WRK_ERRORS, WRK_NON2XX and WRK_SOCKET_ERRORS from the
# RESULT line of bench/wrk_report.lua.  wrk's full output goes to WRK_LOG.
# A benchmark changes how wrk runs by setting, with `local` before the call
# (bash's dynamic scope hands them down) or as `name=value bench_wrk ...`
# for one call: wrk_lua (a script that ends with
# wrk_report.lua's RESULT line; default wrk_report.lua itself), wrk_conns,
# wrk_threads, wrk_timeout (wrk's per-request timeout, default 2s).
bench_wrk() {
	bench_wrk_start "$@"
	bench_wrk_finish "$WRK_PID" "$WRK_LOG" "$2"
}

# bench_wrk_start SECONDS URL [WRK_ARG...]: bench_wrk's wrk in the
# background: sets WRK_PID and WRK_LOG for bench_wrk_finish.
bench_wrk_start() {
	local secs=$1 url=$2
	shift 2
	WRK_LOG=$BENCH_TMP/wrk.$((++BENCH_WRK_RUNS)).log
	wrk -t"${wrk_threads:-$BENCH_WRK_THREADS}" -c"${wrk_conns:-$BENCH_CONNECTIONS}" -d"${secs}s" \
		--timeout "${wrk_timeout:-2s}" -s "${wrk_lua:-$BENCH_WRK_SCRIPT}" "$@" "$url" >"$WRK_LOG" 2>&1 &
	WRK_PID=$!
}

# bench_wrk_finish PID LOG URL: wait for a bench_wrk_start and set the WRK_*
# figures from its LOG.
bench_wrk_finish() {
	local pid=$1 log=$2 url=$3
	if ! wait "$pid"; then
		cat "$log" >&2
		bench_die "wrk failed against $url"
	fi
	WRK_LOG=$log
	local line
	line=$(grep '^RESULT ' "$WRK_LOG" | tail -n 1) || bench_die "wrk printed no RESULT line (see $WRK_LOG)"
	WRK_RPS=$(bench_field "$line" rps)
	WRK_REQUESTS=$(bench_field "$line" requests)
	WRK_P50=$(bench_field "$line" p50_ms)
	WRK_P99=$(bench_field "$line" p99_ms)
	WRK_ERRORS=$(bench_field "$line" errors)
	WRK_NON2XX=$(bench_field "$line" non2xx)
	WRK_SOCKET_ERRORS=$(bench_field "$line" socket_errors)
}
BENCH_WRK_RUNS=0

# bench_field "RESULT a=1 b=2" b -> 2
bench_field() {
	local kv
	for kv in $1; do
		if [[ $kv == "$2="* ]]; then
			printf '%s\n' "${kv#*=}"
			return 0
		fi
	done
	bench_die "no $2= in: $1"
}

# bench_server_died PID: say how a server that should be running ended,
# show the end of its log, and stop the script.
bench_server_died() {
	local pid=$1 rc=0
	wait "$pid" 2>/dev/null || rc=$?
	tail -n 20 "${BENCH_LOG_OF[$pid]:-/dev/null}" >&2 || true
	bench_die "${BENCH_LABEL_OF[$pid]:-server} (pid $pid) died during the benchmark, exit status $rc (log above)"
}

# bench_cpu_ticks PID: user + system CPU the process has used, in clock ticks.
bench_cpu_ticks() {
	local stat
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	stat=${stat##*) } # fields after "pid (comm) "; comm may hold spaces
	local -a f
	read -r -a f <<<"$stat"
	echo $((f[11] + f[12])) # utime and stime: fields 14 and 15 of stat(5)
}
BENCH_CLK_TCK=$(getconf CLK_TCK)

# bench_compare_http FLOOR_PID FLOOR_URL SUBJECT_PID SUBJECT_URL [WRK_ARG...]:
# warm both servers, then measure floor, subject, floor, subject...
# (BENCH_ROUNDS pairs) so that drift on this shared machine hits both alike,
# and keep the best run of each.  Sets FLOOR_RPS/P50/P99/ERRORS and
# SUBJECT_RPS/P50/P99/ERRORS, and FLOOR_CPU_US/SUBJECT_CPU_US: the least
# server CPU (user + system) per request of any run, a figure that load
# from other processes disturbs less than the rate.  Prints every run.
bench_compare_http() {
	local floor_pid=$1 floor_url=$2 subject_pid=$3 subject_url=$4
	shift 4
	FLOOR_RPS=0 SUBJECT_RPS=0 FLOOR_ERRORS=0 SUBJECT_ERRORS=0 FLOOR_CPU_US=0 SUBJECT_CPU_US=0
	if ((BENCH_WARMUP > 0)); then
		bench_wrk "$BENCH_WARMUP" "$floor_url" "$@"
		bench_wrk "$BENCH_WARMUP" "$subject_url" "$@"
	fi
	local round who url pid t0 t1 cpu_us var
	for ((round = 1; round <= BENCH_ROUNDS; round++)); do
		for who in FLOOR SUBJECT; do
			if [[ $who == FLOOR ]]; then
				url=$floor_url pid=$floor_pid
			else
				url=$subject_url pid=$subject_pid
			fi
			t0=$(bench_cpu_ticks "$pid") || bench_server_died "$pid"
			bench_wrk "$BENCH_SECONDS" "$url" "$@"
			t1=$(bench_cpu_ticks "$pid") || bench_server_died "$pid"
			cpu_us=$(awk -v t=$((t1 - t0)) -v hz="$BENCH_CLK_TCK" -v n="$WRK_REQUESTS" \
				'BEGIN { printf "%.2f", (n > 0 ? t * 1e6 / hz / n : 0) }')
			printf '  round %d %-7s %10.1f req/s  p50 %7.3f ms  p99 %7.3f ms  cpu %6.2f us/req  errors %s\n' \
				"$round" "${who,,}" "$WRK_RPS" "$WRK_P50" "$WRK_P99" "$cpu_us" "$WRK_ERRORS"
			var=${who}_ERRORS
			printf -v "$var" '%s' $((${!var} + WRK_ERRORS))
			var=${who}_CPU_US
			if [[ ${!var} == 0 ]] || bench_gt "${!var}" "$cpu_us"; then
				printf -v "$var" '%s' "$cpu_us"
			fi
			var=${who}_RPS
			if bench_gt "$WRK_RPS" "${!var}"; then
				printf -v "${who}_RPS" '%s' "$WRK_RPS"
				printf -v "${who}_P50" '%s' "$WRK_P50"
				printf -v "${who}_P99" '%s' "$WRK_P99"
			fi
		done
	done
}

# bench_print_best LABEL: after bench_compare_http, print the best run of
# the floor and of the subject (named LABEL), and the subject's server CPU
# per request as a multiple of the floor's.
bench_print_best() {
	printf '  best    %-7s %10.1f req/s  p50 %7.3f ms  p99 %7.3f ms  cpu %6.2f us/req\n' \
		floor "$FLOOR_RPS" "$FLOOR_P50" "$FLOOR_P99" "$FLOOR_CPU_US"
	printf '  best    %-7s %10.1f req/s  p50 %7.3f ms  p99 %7.3f ms  cpu %6.2f us/req (%s x the floor)\n' \
		"$1" "$SUBJECT_RPS" "$SUBJECT_P50" "$SUBJECT_P99" "$SUBJECT_CPU_US" \
		"$(awk -v a="$SUBJECT_CPU_US" -v b="$FLOOR_CPU_US" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')"
	if ((FLOOR_ERRORS > 0)); then
		bench_log "the floor answered $FLOOR_ERRORS requests with errors"
	fi
}

bench_gt() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a + 0 > b + 0) }'; }

# bench_wait_idle PID: wait (at most 30 s) until PID has used no CPU for
# 0.3 s: a server still finishing the requests wrk abandoned at its deadline
# (queued sign-ins) must not steal CPU from the next measurement.
bench_wait_idle() {
	local pid=$1 i t0 t1
	t0=$(bench_cpu_ticks "$pid") || bench_server_died "$pid"
	for ((i = 0; i < 100; i++)); do
		sleep 0.3
		t1=$(bench_cpu_ticks "$pid") || bench_server_died "$pid"
		((t1 > t0)) || return 0
		t0=$t1
	done
	bench_log "${BENCH_LABEL_OF[$pid]:-server} (pid $pid) still busy after 30 s"
}

# bench_peak_kib PID: the process's peak resident memory so far (VmHWM), in KiB.
bench_peak_kib() {
	awk '/^VmHWM:/ { print $2; found = 1 } END { exit !found }' "/proc/$1/status" 2>/dev/null ||
		bench_server_died "$1"
}

# bench_members URL COUNT FILE [ARG...]: make COUNT members in the hearthd at
# URL with bench_tool_members create (ARG: --payment-method, --threads N)
# and write them to FILE (email, password, access token a line).  Prints
# how long it took.
bench_members() {
	local url=$1 count=$2 file=$3
	shift 3
	local log=$BENCH_TMP/members.$((++BENCH_MEMBER_RUNS)).log line
	if ! "$BENCH_BUILD_DIR/bench_tool_members" create --url "$url" --count "$count" --out "$file" \
		"$@" >"$log" 2>&1; then
		cat "$log" >&2
		bench_die "could not make $count members at $url"
	fi
	line=$(grep '^RESULT ' "$log" | tail -n 1) || bench_die "bench_tool_members printed no RESULT (see $log)"
	printf '  made %d members in %.1f s (%.1f/s)%s\n' "$count" "$(bench_field "$line" seconds)" \
		"$(bench_field "$line" rps)" "$( (($# > 0)) && printf ' with: %s' "$*")"
}
BENCH_MEMBER_RUNS=0

# bench_report NAME FIGURE FLOOR UNIT [ERRORS [NOTE]]: print the benchmark's line:
# figure, floor, ratio, goal (from bench_register) and PASS or BELOW; any
# ERRORS (failed or non-2xx requests) make it INVALID instead.  NOTE is
# appended in parentheses (a second figure worth keeping in the summary).
bench_report() {
	local name=$1 figure=$2 floor=$3 unit=$4 errors=${5:-0} note=${6:-}
	local goal=${BENCH_GOAL[$name]}
	local ratio verdict
	ratio=$(awk -v f="$figure" -v b="$floor" 'BEGIN { if (b > 0) printf "%.3f", f / b; else print "nan" }')
	if ((errors > 0)) || [[ $ratio == nan ]]; then
		verdict=INVALID
		BENCH_STATUS=1
	elif awk -v r="$ratio" -v g="$goal" 'BEGIN { exit !(r + 0 >= g + 0) }'; then
		verdict=PASS
	else
		verdict=BELOW
		if [[ $BENCH_STRICT == 1 ]]; then BENCH_STATUS=1; fi
	fi
	local line
	line=$(printf '%-20s figure %10.1f %s  floor %10.1f %s  ratio %s  goal >= %s  %s' \
		"$name" "$figure" "$unit" "$floor" "$unit" "$ratio" "$goal" "$verdict")
	if ((errors > 0)); then line+="  ($errors failed or non-2xx requests)"; fi
	if [[ -n $note ]]; then line+="  ($note)"; fi
	bench_report_line "$line"
}

bench_report_line() {
	printf 'REPORT %s\n' "$1"
	BENCH_REPORTS+=("$1")
}

# bench_report_latency NAME P50 P99 [ERRORS]: the line of a benchmark whose
# goal is p99<MS: both latencies (ms), and PASS when P99 is under MS.
bench_report_latency() {
	local name=$1 p50=$2 p99=$3 errors=${4:-0}
	local limit=${BENCH_GOAL[$name]#p99<} verdict
	if ((errors > 0)); then
		verdict=INVALID
		BENCH_STATUS=1
	elif awk -v p="$p99" -v l="$limit" 'BEGIN { exit !(p + 0 < l + 0) }'; then
		verdict=PASS
	else
		verdict=BELOW
		if [[ $BENCH_STRICT == 1 ]]; then BENCH_STATUS=1; fi
	fi
	local line
	line=$(printf '%-20s p50 %8.3f ms  p99 %8.3f ms  goal p99 < %s ms  %s' "$name" "$p50" "$p99" "$limit" "$verdict")
	if ((errors > 0)); then line+="  ($errors failed or non-2xx requests)"; fi
	bench_report_line "$line"
}

# bench_report_figure NAME FIGURE UNIT [FLOOR FLOOR_UNIT] [ERRORS]: the line
# of a benchmark without a goal: its figure, and beside it a floor (not a
# ratio goal: what the figure is bounded by) when one was measured.
bench_report_figure() {
	local name=$1 figure=$2 unit=$3 floor=${4:-} floor_unit=${5:-} errors=${6:-0}
	local line verdict=INFO
	if ((errors > 0)); then
		verdict=INVALID
		BENCH_STATUS=1
	fi
	line=$(printf '%-20s figure %10.1f %s' "$name" "$figure" "$unit")
	if [[ -n $floor ]]; then
		line+=$(printf '  floor %10.1f %s  ratio %s' "$floor" "$floor_unit" \
			"$(awk -v f="$figure" -v b="$floor" 'BEGIN { if (b > 0) printf "%.3f", f / b; else print "nan" }')")
	fi
	line+="  no goal  $verdict"
	if ((errors > 0)); then line+="  ($errors failed requests)"; fi
	bench_report_line "$line"
}
