#!/usr/bin/env bash
# Runs the zoo on the GPU machine through the `run` tool (see training/README.md), whose calls
# last at most 10 minutes and return at most 64 MiB: training runs in the background (setsid) and
# later calls wait for it and fetch the packed folders in pieces.
#
#   bash training/device.sh smoke MODELS                  20 steps, export, 4 evals a group (foreground)
#   bash training/device.sh start MODELS DEADLINE WAIT [INIT]
#        copy .devdata to /tmp/kvw/data, start zoo.py in the background (train.py --deadline
#        DEADLINE), return after WAIT seconds with the logs
#   bash training/device.sh wait SECONDS PART...          wait for the background run (at most
#        SECONDS), then copy the logs and the named pack pieces (zoo.tar.partNN) to $OUT
#   bash training/device.sh fetch PART...                 copy pack pieces to $OUT
# Pieces join with: cat zoo.tar.part* | tar -xf - -C models
set -o pipefail
export PYTHONUNBUFFERED=1
W=/tmp/kvw
OUT=${OUT:-$W/out}
mkdir -p "$OUT" "$W/logs" "$W/pack" "$W/data"
cd "$(dirname "$0")/.."
mode=$1; shift

logs() {
  cp training/tokenizers/*.json "$W/logs/" 2>/dev/null
  cp "$W/zoo.log" "$W/logs/" 2>/dev/null
  tar -C "$W" -cf "$OUT/logs.tar" logs
}
progress() {
  nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader
  for f in "$W"/logs/*.log; do echo "== $f"; grep -E "step|done|deadline|Error|error" "$f" | tail -n 3; done
  tail -n 15 "$W/zoo.log" 2>/dev/null
}

case $mode in
smoke)
  python3 training/zoo.py --models "$1" --smoke all --work "$W" --out "$W/smoke" --logs "$W/logs/smoke" \
    --bundle .devdata/bundle.tar.xz 2>&1 | tee "$OUT/zoo.log"
  rc=$?; logs; exit $rc ;;
start)
  MODELS=$1; DEADLINE=$2; WAIT=$3; INIT=${4:-}
  nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
  python3 -c 'import torch, transformers, tokenizers; print("torch", torch.__version__, "transformers", transformers.__version__, "tokenizers", tokenizers.__version__)'
  cp .devdata/bundle.tar.xz "$W/data/"
  setsid nohup python3 training/zoo.py --models "$MODELS" --work "$W" --out "$W/models" --logs "$W/logs" \
    --deadline "$DEADLINE" --bundle "$W/data/bundle.tar.xz" --pack "$W/pack" ${INIT:+--init "$INIT"} \
    > "$W/zoo.log" 2>&1 < /dev/null &
  echo $! > "$W/zoo.pid"
  sleep "$WAIT"
  progress; logs ;;
wait)
  LIMIT=$1; shift
  T0=$(date +%s)
  for f in .devdata/test-*.jsonl.xz; do [ -s "$f" ] && cp "$f" "$W/data/"; done  # tokenizer-exact test sets
  while kill -0 "$(cat "$W/zoo.pid")" 2>/dev/null && [ $(( $(date +%s) - T0 )) -lt "$LIMIT" ]; do sleep 5; done
  progress; logs
  for p in "$@"; do cp "$W/pack/zoo.tar.part$p" "$OUT/" 2>/dev/null || echo "no piece $p"; done
  ls -la "$W/pack" ;;
fetch)
  for p in "$@"; do cp "$W/pack/zoo.tar.part$p" "$OUT/" || echo "no piece $p"; done ;;
*)
  echo "usage: device.sh smoke|start|wait|fetch ..."; exit 2 ;;
esac
