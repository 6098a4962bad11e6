#!/usr/bin/env bash
# demo.sh [SCENE] [pipeline options]: set up (packages, configure, build) and run the main job on a scene
# (default: scenes/jelly.cfg).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh build
scene="${1:-scenes/jelly.cfg}"
shift || true
build/pipeline/pipeline check "$scene" "$@"
