#!/usr/bin/env bash
# The step the dbops GitHub Action (action.yml) runs: one dbops command with --format github, which
# writes annotations to the log, the result as Markdown to $GITHUB_STEP_SUMMARY and `clean`/`count`
# to $GITHUB_OUTPUT; this script adds `exit-code` and exits with dbops's code.
# Inputs come as environment variables: INPUT_COMMAND, INPUT_ARGS, INPUT_DATABASE_URL;
# DBOPS (default: dbops on PATH) names the executable.
set -uo pipefail

command="${INPUT_COMMAND:-}"
case "$command" in
  check-drift|lint|verify|upgrade|current|heads) ;;
  *)
    echo "::error title=dbops::The action runs one of check-drift, lint, verify, upgrade, current, heads; got '${command}'."
    echo "exit-code=2" >> "${GITHUB_OUTPUT:-/dev/null}"
    exit 2 ;;
esac
if [ -n "${INPUT_DATABASE_URL:-}" ]; then
  export DBOPS_DATABASE_URL="$INPUT_DATABASE_URL"
fi
read -r -a extra <<< "${INPUT_ARGS:-}"

"${DBOPS:-dbops}" "$command" "${extra[@]}" --format github
code=$?
echo "exit-code=${code}" >> "${GITHUB_OUTPUT:-/dev/null}"
exit "$code"
