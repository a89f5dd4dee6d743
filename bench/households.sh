# shellcheck shell=bash
# bench/households.sh - the households benchmarks (issue 8), sourced by
# scripts/bench after lib-bench.sh:
#
#   playback   POST /v1/playback/sessions (decision + stream slot) on hearthd
#              vs the bare libmicrohttpd floor; goal >= 0.40
#   sightings  an authenticated GET (/v1/me) with sighting recording on vs
#              the same GET on a hearthd started with --sightings-off, both
#              in the same run on the same database; goal >= 0.85
#
# bench/tool_households_setup prepares the member: premium plan, a TV that
# set the household, a phone at home whose token the requests carry.  The
# same phone starts a stream again and again: each start replaces its own
# slot, so every answer is a 201 and each request is a whole decision
# (entitlements, household, trust, the stream count and insert in one
# BEGIN IMMEDIATE transaction, the decision row and its event).

# hh_prepare LABEL [HEARTHD_ARG...]: start hearthd on a fresh database in
# $BENCH_TMP/LABEL and run the setup tool; sets SERVER_PID, SERVER_PORT,
# HH_DB, HH_TOKEN, HH_BODY.
hh_prepare() {
	local label=$1
	shift
	local dir=$BENCH_TMP/$label
	mkdir -p "$dir"
	HH_DB=$dir/hearth.db
	bench_start_server "$label" "$BENCH_BUILD_DIR/hearthd" --listen 127.0.0.1:0 \
		--db "$HH_DB" --key-file "$dir/hearth.keys" --log-level warn \
		--max-connections-per-ip 1024 --access-ttl 7200 "$@"
	local out k v
	out=$("$BENCH_BUILD_DIR/bench_tool_households_setup" --url "http://127.0.0.1:$SERVER_PORT" \
		--db "$HH_DB") || bench_die "the households setup failed against $label"
	while IFS='=' read -r k v; do
		case $k in
		HH_TOKEN) HH_TOKEN=$v ;;
		HH_BODY) HH_BODY=$v ;;
		esac
	done <<<"$out"
	[[ -n ${HH_TOKEN:-} && -n ${HH_BODY:-} ]] || bench_die "the households setup printed no token"
	export HH_TOKEN HH_BODY
	export HH_WRK_REPORT=$BENCH_WRK_SCRIPT
}

bench_register playback 0.40 "POST /v1/playback/sessions (decision + slot) on hearthd vs the bare floor (requests/s)"
bench_playback() {
	local floor_pid hearthd_pid
	bench_start_floor --threads 0
	floor_pid=$SERVER_PID
	local floor_url=http://127.0.0.1:$SERVER_PORT/v1/playback/sessions
	hh_prepare hearthd_playback --threads 0
	hearthd_pid=$SERVER_PID
	local subject_url=http://127.0.0.1:$SERVER_PORT/v1/playback/sessions
	bench_compare_http "$floor_pid" "$floor_url" "$hearthd_pid" "$subject_url" -s "$BENCH_ROOT/bench/wrk_post.lua"
	bench_stop_server "$hearthd_pid"
	bench_stop_server "$floor_pid"
	printf '  best    floor   %10.1f req/s  p50 %7.3f ms  p99 %7.3f ms  cpu %6.2f us/req\n' \
		"$FLOOR_RPS" "$FLOOR_P50" "$FLOOR_P99" "$FLOOR_CPU_US"
	printf '  best    hearthd %10.1f req/s  p50 %7.3f ms  p99 %7.3f ms  cpu %6.2f us/req\n' \
		"$SUBJECT_RPS" "$SUBJECT_P50" "$SUBJECT_P99" "$SUBJECT_CPU_US"
	bench_report playback "$SUBJECT_RPS" "$FLOOR_RPS" req/s $((SUBJECT_ERRORS + FLOOR_ERRORS))
}

bench_register sightings 0.85 "GET /v1/me with sighting recording on vs the same hearthd with --sightings-off (requests/s)"
bench_sightings() {
	local off_pid on_pid
	# One database and key file for both servers, so the token works on each.
	hh_prepare hearthd_sightings_on --threads 0
	on_pid=$SERVER_PID
	local on_url=http://127.0.0.1:$SERVER_PORT/v1/me
	local dir=$BENCH_TMP/hearthd_sightings_on
	bench_start_server hearthd_sightings_off "$BENCH_BUILD_DIR/hearthd" --listen 127.0.0.1:0 \
		--db "$dir/hearth.db" --key-file "$dir/hearth.keys" --log-level warn \
		--max-connections-per-ip 1024 --access-ttl 7200 --threads 0 --sightings-off
	off_pid=$SERVER_PID
	local off_url=http://127.0.0.1:$SERVER_PORT/v1/me
	bench_compare_http "$off_pid" "$off_url" "$on_pid" "$on_url" -H "Authorization: Bearer $HH_TOKEN"
	bench_stop_server "$on_pid"
	bench_stop_server "$off_pid"
	printf '  best    off     %10.1f req/s  p50 %7.3f ms  p99 %7.3f ms  cpu %6.2f us/req\n' \
		"$FLOOR_RPS" "$FLOOR_P50" "$FLOOR_P99" "$FLOOR_CPU_US"
	printf '  best    on      %10.1f req/s  p50 %7.3f ms  p99 %7.3f ms  cpu %6.2f us/req\n' \
		"$SUBJECT_RPS" "$SUBJECT_P50" "$SUBJECT_P99" "$SUBJECT_CPU_US"
	local rows
	rows=$(sqlite3 "$dir/hearth.db" 'SELECT COALESCE(SUM(requests), 0) FROM device_sightings' 2>/dev/null || echo "?")
	printf '  sightings counted in the database: %s requests\n' "$rows"
	bench_report sightings "$SUBJECT_RPS" "$FLOOR_RPS" req/s $((SUBJECT_ERRORS + FLOOR_ERRORS))
}
