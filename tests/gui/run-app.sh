#!/usr/bin/env bash
# run-app.sh: run the real glimmer app under Xvfb with a test script (GLIMMER_TEST_SCRIPT) in a
# fresh data folder; optional conversation files are copied in first (as history).
# Usage: run-app.sh GLIMMER SCHEMA_DIR SCRIPT [CONVERSATION.json...]
# The script's screenshots are written where it says ($GLIMMER_OUT is exported: the build
# folder for artifacts). Exits 77 (skip) without xvfb-run.
set -euo pipefail
app=$1 schemas=$2 script=$3
shift 3
command -v xvfb-run >/dev/null || { echo "1..0 # SKIP xvfb-run is missing"; exit 77; }
data=$(mktemp -d)
trap 'rm -rf "$data"' EXIT
mkdir -p "$data/conversations"
for f in "$@"; do cp "$f" "$data/conversations/"; done
export GLIMMER_DATA_DIR=$data GSETTINGS_SCHEMA_DIR=$schemas GSETTINGS_BACKEND=memory
export GTK_A11Y=none NO_AT_BRIDGE=1 GSK_RENDERER=cairo GDK_BACKEND=x11 GDK_DEBUG=gl-disable
export GLIMMER_OUT=${GLIMMER_OUT:-$PWD} LANGUAGE=${LANGUAGE:-C}
# the script may name $GLIMMER_OUT in its screenshot paths
envsubst < "$script" > "$data/script"
export GLIMMER_TEST_SCRIPT=$data/script
xvfb-run -a -s "-screen 0 1280x1024x24" "$app"
