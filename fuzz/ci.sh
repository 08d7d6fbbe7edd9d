#!/usr/bin/env bash
# Bounded libFuzzer run of every fuzz target with the stable toolchain, for CI.
#
# `cargo fuzz build -s none` needs no nightly feature: it only sets the SanitizerCoverage
# RUSTFLAGS below (the same ones, without a sanitizer) and builds with --target, so build
# scripts and proc macros are not instrumented. This script does that with plain cargo,
# then runs each target binary for FUZZ_SECONDS (default 30) from the committed seeds
# (fuzz/seeds/, written by seeds.py; the image targets' seeds are written at run time) and
# the hostile request corpus. A crash, panic,
# timeout (> 5 s for one input) or RSS over 2 GiB fails the step and leaves the input in
# $FUZZ_WORK/artifacts/<target>/.
set -euo pipefail
cd "$(dirname "$0")"

seconds="${FUZZ_SECONDS:-30}"
work="${FUZZ_WORK:-$(mktemp -d)}"
triple="$(rustc -vV | sed -n 's/^host: //p')"
targets=(iso_decode ansi_decode detect enrolment_json image_wsq image_png image_jpeg image_tiff image_jp2 image_iso19794_4 image_iso19794_6 image_bmp)

export RUSTFLAGS="-Cpasses=sancov-module \
 -Cllvm-args=-sanitizer-coverage-level=4 \
 -Cllvm-args=-sanitizer-coverage-inline-8bit-counters \
 -Cllvm-args=-sanitizer-coverage-pc-table \
 -Cllvm-args=-sanitizer-coverage-trace-compares \
 -Cllvm-args=-simplifycfg-branch-fold-threshold=0 \
 -Cllvm-args=-sanitizer-coverage-stack-depth \
 --cfg fuzzing"
# CI_FUZZ_PROFILE=release matches `cargo fuzz build --release`; the default profile builds faster.
profile="${CI_FUZZ_PROFILE:-ci-fuzz}"
cargo build --locked --profile "$profile" --target "$triple" --bins
# The image targets' seeds wrap the synthetic images make_fixtures.py writes (NBIS WSQ,
# OpenJPEG and libjpeg through the `wsq` Python package and Pillow), and synthetic TIFF, BMP
# and raw records built by seeds.py: they are written here, never kept in git. Without the
# Python modules the encoded seeds are left out (seeds.py says so) and those targets start
# from the rest or from nothing.
python3 seeds.py --out "$work/seeds" --no-shared >/dev/null

for t in "${targets[@]}"; do
  corpus="$work/corpus/$t"
  mkdir -p "$corpus" "$work/artifacts/$t"
  case "$t" in
    image_*) cp "$work/seeds/$t"/* "$corpus"/ 2>/dev/null || true ;;
    *) cp seeds/"$t"/* "$corpus"/ ;;
  esac
  if [ "$t" = enrolment_json ]; then
    cp ../tests/corpus/hostile/* "$corpus"/
    rm -f "$corpus"/README.md
  fi
  dict=()
  [ -f "$t.dict" ] && dict=("-dict=$t.dict")
  bin="${CARGO_TARGET_DIR:-target}/$triple/$profile/$t"
  echo "== fuzz $t for ${seconds}s"
  "$bin" "$corpus" "${dict[@]}" \
    -max_total_time="$seconds" -timeout=5 -rss_limit_mb=2048 \
    -artifact_prefix="$work/artifacts/$t/" -print_final_stats=1 2>"$work/$t.log" \
    || { tail -n 60 "$work/$t.log"; echo "== fuzz $t: FINDING, input in $work/artifacts/$t/"; exit 1; }
  grep -E '^stat::number_of_executed_units|^#[0-9]+ +DONE' "$work/$t.log" || true
done
