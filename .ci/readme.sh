#!/usr/bin/env bash
# Runs the README's quick start as a user would: `serve --demo` in a fresh directory, then the
# "API in one example" block exactly as written, checking every answer; then a restart,
# which must print the same demo keys. `cargo run --release --` is replaced by the binary in
# $TUNGGAL (default: the debug build `cargo test` made) so CI needs no second, optimised
# build; nothing else in the commands is changed.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${TUNGGAL:-$root/target/debug/tunggal}
readme="$root/README.md"
work=$(mktemp -d)
cd "$work"
pid=

stop() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    wait "$pid" || true
  fi
  pid=
}
fail() {
  echo "readme check FAILED: $*" >&2
  echo "--- serve stdout" >&2; cat serve.log >&2 || true
  echo "--- serve stderr (tail)" >&2; tail -n 20 serve.err >&2 || true
  stop
  exit 1
}
trap 'stop; rm -rf "$work"' EXIT

# The server command as the README's quick start gives it.
grep -q '^cargo run --release -- serve --demo$' "$readme" || fail "README has no 'cargo run --release -- serve --demo' line"
start_server() {
  : >serve.log
  "$bin" serve --demo >>serve.log 2>serve.err &
  pid=$!
  for _ in $(seq 1 1200); do
    grep -q '^tunggal: listening on ' serve.log && return 0
    kill -0 "$pid" 2>/dev/null || fail "serve --demo exited"
    sleep 1
  done
  fail "serve --demo was not listening after 20 minutes"
}

echo "== serve --demo (fresh data directory)"
start_server
grep -q '^tunggal: demo service-point key for district 317101, service point demo-1: tgl_' serve.log \
  || fail "the demo-1 service-point key line is missing"
keys_first=$(grep '^tunggal: demo [a-z -]*key' serve.log)

echo "== the README's API example"
block=$(awk '/<!-- readme-check: api-example -->/{m=1; next} m && /^```sh/{b=1; next} b && /^```/{exit} b{print}' "$readme")
[ -n "$block" ] || fail "no api-example block in README"
script=${block//cargo run --release --/$bin}
out=$(bash -euo pipefail -c "$script") || fail "the example exited non-zero: $out"
echo "$out"
mapfile -t lines < <(printf '%s\n' "$out" | grep -v '^wrote ')
[ "${#lines[@]}" -eq 4 ] || fail "expected 4 answers, got ${#lines[@]}"
for i in 0 1; do
  case "${lines[$i]}" in
    *'"request_id":"gen-7-000001"'*'"status":"print_ready"'*'"verdict":"single"'*) ;;
    *) fail "answer $((i + 1)) is not a single: ${lines[$i]}" ;;
  esac
done
[ "${lines[0]}" = "${lines[1]}" ] || fail "the read-back differs from the answer"
case "${lines[2]}" in
  *'"request_id":"demo-probe-00000"'*'"verdict":"duplicate"'*|*'"verdict":"duplicate"'*'"request_id":"demo-probe-00000"'*) ;;
  *) fail "demo probe 0 is not a duplicate readable by the demo-1 key: ${lines[2]}" ;;
esac
case "${lines[3]}" in
  'gen-7-000001: single, print_ready, reference P'*) ;;
  *) fail "tunggal enrol did not print the one-line summary: ${lines[3]}" ;;
esac

echo "== restart: the same demo keys, no new ones"
stop
start_server
keys_again=$(grep '^tunggal: demo [a-z -]*key' serve.log)
[ "$keys_first" = "$keys_again" ] || fail "the demo keys changed at a restart"
stop
echo "== README quick start: OK"
