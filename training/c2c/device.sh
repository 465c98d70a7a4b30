#!/usr/bin/env bash
# Trains C2C fusers on the GPU machine through the `run` tool (docs/fuse.md, "The trained C2C
# fuser"). The carried folder .devdata/c2c holds data/<sharer>--<receiver>/ (src/fuse/c2c-data.ts)
# and models/<name>/ (only the zoo folders this call needs: the working tree that travels is
# capped at 64 MiB, so one pair's models per call). Runs go to the background (setsid) so that
# consecutive calls on the warm machine train pairs side by side; `wait` collects them.
#
#   bash training/c2c/device.sh start PAIR SECONDS [smoke]   copy models/data to /tmp/c2c, optionally a
#                                                           15 s smoke run in the foreground, then
#                                                           train PAIR for SECONDS in the background
#   bash training/c2c/device.sh wait LIMIT                  wait (at most LIMIT s) for the runs, pack
#                                                           every finished run and the logs to $OUT
set -o pipefail
export PYTHONUNBUFFERED=1
W=/tmp/c2c
OUT=${OUT:-$W/out}
mkdir -p "$OUT" "$W/models" "$W/runs" "$W/logs" "$W/code"
cd "$(dirname "$0")/../.."
mode=$1; shift

case $mode in
start)
  PAIR=$1; SECS=$2; SMOKE=${3:-}
  S=${PAIR%%--*}; R=${PAIR##*--}
  cp -r .devdata/c2c/models/. "$W/models/"
  cp -r .devdata/c2c/data "$W/"
  cp training/c2c/train_c2c.py "$W/code/"
  ls "$W/models" "$W/data"
  if [ -n "$SMOKE" ]; then
    nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
    python3 -c 'import torch, transformers, safetensors; print("torch", torch.__version__, "transformers", transformers.__version__, "safetensors", safetensors.__version__)'
    python3 "$W/code/train_c2c.py" --data "$W/data/$PAIR" --sharer "$W/models/$S" --receiver "$W/models/$R" --out "$W/smoke" \
      --seconds 15 --eval-every 25 2>&1 | tee "$OUT/smoke.log" || exit 1
    ls -la "$W/smoke"
  fi
  setsid nohup python3 "$W/code/train_c2c.py" --data "$W/data/$PAIR" --sharer "$W/models/$S" --receiver "$W/models/$R" \
    --out "$W/runs/$PAIR" --seconds "$SECS" > "$W/logs/$PAIR.log" 2>&1 < /dev/null &
  echo $! > "$W/logs/$PAIR.pid"
  sleep 20
  tail -n 20 "$W/logs/$PAIR.log" ;;
wait)
  LIMIT=$1
  T0=$(date +%s)
  running() { for f in "$W"/logs/*.pid; do kill -0 "$(cat "$f")" 2>/dev/null && return 0; done; return 1; }
  while running && [ $(( $(date +%s) - T0 )) -lt "$LIMIT" ]; do sleep 5; done
  for f in "$W"/logs/*.log; do echo "== $f"; tail -n 6 "$f"; done
  nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader
  tar -C "$W" -czf "$OUT/c2c-runs.tar.gz" runs logs
  ls -la "$OUT" ;;
*)
  echo "usage: device.sh start PAIR SECONDS [smoke] | wait LIMIT"; exit 2 ;;
esac
