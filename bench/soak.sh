# shellcheck shell=bash
# bench/soak.sh - the soak (issue 9), sourced by scripts/bench after
# lib-bench.sh:
#
#   soak   a realistic mix of member traffic on one hearthd for a while
#          (bench/tool_soak.c): sign-ins, device flows, plan listings,
#          subscribes, plan changes, playback starts, heartbeats and
#          authenticated reads; throughput, p50/p99 per operation, every
#          answer that was not a 2xx by status and code, hearthd's RSS at the
#          start and the end.  No goal ratio: it is INVALID when any request
#          failed other than the expected refusals (stream_limit_reached,
#          stream_ended).
#
# Settings (environment):
#   BENCH_SOAK_SECONDS   how long the mix runs (default 300)
#   BENCH_SOAK_CLIENTS   client threads, each one connection, no pause (default 16)
#   BENCH_SOAK_MEMBERS   members made before the clock starts (default 64)
#   BENCH_SOAK_PROGRESS  seconds between progress lines (default 30)
#
# hearthd runs as it would in production: default Argon2id parameters
# (sign-ins and sign-ups hash for real), --db-sync full, access tokens of 15
# minutes (clients refresh them), the default threads.

BENCH_SOAK_SECONDS=${BENCH_SOAK_SECONDS:-300}
BENCH_SOAK_CLIENTS=${BENCH_SOAK_CLIENTS:-16}
BENCH_SOAK_MEMBERS=${BENCH_SOAK_MEMBERS:-64}
BENCH_SOAK_PROGRESS=${BENCH_SOAK_PROGRESS:-30}

bench_register soak - "a realistic member mix for BENCH_SOAK_SECONDS (default 300): req/s, p50/p99 per operation, errors by code, RSS start/end"
bench_soak() {
	local v
	for v in BENCH_SOAK_SECONDS BENCH_SOAK_CLIENTS BENCH_SOAK_MEMBERS BENCH_SOAK_PROGRESS; do
		[[ ${!v} =~ ^[1-9][0-9]*$ ]] || bench_die "$v must be a whole number of at least 1, not '${!v}'"
	done
	local hearthd_pid url log=$BENCH_TMP/soak.log line
	bench_start_hearthd
	hearthd_pid=$SERVER_PID
	url=http://127.0.0.1:$SERVER_PORT
	local load
	read -r load _ </proc/loadavg
	printf '  %s, load %s; %d clients, %d members, %d s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$load" \
		"$BENCH_SOAK_CLIENTS" "$BENCH_SOAK_MEMBERS" "$BENCH_SOAK_SECONDS"
	local rc=0
	"$BENCH_BUILD_DIR/bench_tool_soak" --url "$url" --pid "$hearthd_pid" --seconds "$BENCH_SOAK_SECONDS" \
		--clients "$BENCH_SOAK_CLIENTS" --members "$BENCH_SOAK_MEMBERS" \
		--progress "$BENCH_SOAK_PROGRESS" >"$log" || rc=$?
	sed 's/^/  /' "$log"
	line=$(grep '^RESULT ' "$log") || bench_die "bench_tool_soak printed no RESULT (exit status $rc)"
	kill -0 "$hearthd_pid" 2>/dev/null || bench_server_died "$hearthd_pid"
	bench_stop_server "$hearthd_pid"
	local errors rss_start rss_end
	errors=$(bench_field "$line" errors)
	rss_start=$(bench_field "$line" rss_start_kb)
	rss_end=$(bench_field "$line" rss_end_kb)
	printf '  hearthd RSS %.1f MB -> %.1f MB (%+.1f MB over %s s)\n' "$(awk -v k="$rss_start" 'BEGIN { print k / 1024 }')" \
		"$(awk -v k="$rss_end" 'BEGIN { print k / 1024 }')" \
		"$(awk -v a="$rss_start" -v b="$rss_end" 'BEGIN { print (b - a) / 1024 }')" "$BENCH_SOAK_SECONDS"
	if ((rc != 0 && errors == 0)); then errors=1; fi
	bench_report_figure soak "$(bench_field "$line" rps)" req/s "" "" "$errors"
}
