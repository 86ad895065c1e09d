#!/usr/bin/env bash
# Builds the Kafka Streams peer of `weft bench` (bench/kstreams) when its sources or pom.xml are
# newer than the last build, and prints the classpath to run it with as the only line on stdout:
#
#   cp=$(bash bench/kstreams/build.sh) && java -cp "$cp" dev.weft.bench.KStreamsPeer ...
#
# The classpath is absolute (`<dir>/target/classes:<dir>/target/libs/*`; java expands the `*`, so
# pass it as one argument, unexpanded). Maven's output goes to stderr. Unit tests run with the
# build (a few seconds); WEFT_KSTREAMS_SKIP_TESTS=1 skips them. --force rebuilds anyway.
# Needs Java 17 and Maven (scripts/broker.sh install puts them there) and Maven Central.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
stamp="$here/target/.built"
cp="$here/target/classes:$here/target/libs/*"

force=0
[[ "${1:-}" == "--force" ]] && force=1

up_to_date() {
  [[ -f "$stamp" && -d "$here/target/libs" && -f "$here/target/classes/dev/weft/bench/KStreamsPeer.class" ]] || return 1
  # anything under src/ or pom.xml newer than the stamp means a rebuild
  [[ -z "$(find "$here/pom.xml" "$here/src" -newer "$stamp" -print -quit)" ]]
}

if [[ $force == 1 ]] || ! up_to_date; then
  command -v mvn >/dev/null || { echo "build.sh: mvn not found (bash scripts/broker.sh install)" >&2; exit 1; }
  tests=()
  [[ "${WEFT_KSTREAMS_SKIP_TESTS:-}" == 1 ]] && tests=(-DskipTests)
  start=$(date +%s)
  rm -rf "$here/target/libs" "$stamp"
  mvn -q -B -Dstyle.color=never -f "$here/pom.xml" "${tests[@]}" package dependency:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$here/target/libs" >&2
  touch "$stamp"
  echo "build.sh: built bench/kstreams in $(( $(date +%s) - start )) s" >&2
else
  echo "build.sh: bench/kstreams is up to date" >&2
fi
echo "$cp"
