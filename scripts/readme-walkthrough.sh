#!/usr/bin/env bash
# Runs the README's five-minute walkthrough as written: the first sh block
# after "## Five-minute walkthrough", one command after the other, in the
# repository root. Each command must exit 0, or the status its comment
# announces with "exits N:" (status exits 1 while a node is down). A
# command that exits otherwise stops the run and says which line it was. The lab it makes (.lab/try) is taken down and
# removed at the end, whatever happened, so a rerun starts afresh.
set -euo pipefail
cd "$(dirname "$0")/.."

readme=README.md
mapfile -t lines < <(awk '
  /^## Five-minute walkthrough/ { section = 1; next }
  section && /^```sh/ { block = 1; next }
  block && /^```/ { exit }
  block { print }
' "$readme")
if [ "${#lines[@]}" -eq 0 ]; then
  echo "readme-walkthrough: no sh block after '## Five-minute walkthrough' in $readme" >&2
  exit 1
fi

lab=.lab/try
cleanup() {
  if [ -x bin/jumeau ] && [ -d "$lab" ]; then
    bin/jumeau lab down --dir "$lab" >/dev/null 2>&1 || true
  fi
  rm -rf "$lab"
}
trap cleanup EXIT
cleanup # a lab left by an earlier run would change what the commands see

n=0
for line in "${lines[@]}"; do
  cmd=${line%%#*} # the README's comments explain; they are not run
  cmd=${cmd%"${cmd##*[![:space:]]}"}
  [ -z "$cmd" ] && continue
  want=0
  if [[ $line =~ \#.*exits\ ([0-9]+): ]]; then
    want=${BASH_REMATCH[1]}
  fi
  n=$((n + 1))
  echo "== readme-walkthrough $n: $cmd"
  status=0
  # The commands are the README's own, run by the shell as a reader's
  # shell would run them.
  bash -c "$cmd" || status=$?
  if [ "$status" -ne "$want" ]; then
    echo "readme-walkthrough: step $n exited $status, the README says $want: $cmd" >&2
    exit 1
  fi
done
echo "readme-walkthrough: $n commands of $readme ran as written"
