#!/usr/bin/env bash
# One call on the GPU machine (the `run` tool; see training/README.md): optionally smoke-test
# models first (20 steps, export, a few evaluations: a failure stops here, cheaply), then train
# MODELS at once, export, evaluate and pack them into $OUT, all within BUDGET seconds.
#
#   bash training/device.sh MODELS BUDGET [SMOKE_MODELS] [INIT]
#     MODELS        comma-separated config names (training/configs/*.json)
#     BUDGET        seconds this call may take in all (training gets what the rest leaves)
#     SMOKE_MODELS  comma-separated names to smoke-test first, or "" for none
#     INIT          name=folder,... to continue from exported folders (zoo.py --init)
# Needs .devdata/bundle.tar.xz (carry .devdata). Writes to $OUT: zoo.log, logs.tar (per-model
# logs, train/eval json, tokenizers) and zoo.tar.partNN (the exported folders, 15 MiB pieces).
set -o pipefail
export PYTHONUNBUFFERED=1
T0=$(date +%s)
MODELS=$1; BUDGET=${2:-580}; SMOKE=${3:-}; INIT=${4:-}
OUT=${OUT:-/tmp/kvw/out}
W=/tmp/kvw
mkdir -p "$OUT" "$W/logs"
cd "$(dirname "$0")/.."
finish() {
  cp training/tokenizers/*.json "$W/logs/" 2>/dev/null
  tar -C "$W" -cf "$OUT/logs.tar" logs
}
trap finish EXIT
nvidia-smi --query-gpu=name,memory.total,memory.used --format=csv,noheader
python3 -c 'import torch, transformers, tokenizers, safetensors; print("torch", torch.__version__, "transformers", transformers.__version__, "tokenizers", tokenizers.__version__)'
if [ -n "$SMOKE" ]; then
  python3 training/zoo.py --models "$SMOKE" --smoke all --work "$W" --out "$W/smoke" --logs "$W/logs/smoke" \
    --bundle .devdata/bundle.tar.xz 2>&1 | tee -a "$OUT/zoo.log" || { echo "SMOKE FAILED"; tail -n 40 "$W"/logs/smoke/*.log; exit 1; }
  for m in ${SMOKE//,/ }; do python3 - "$W/smoke/$m" <<'EOF'
import json, sys, transformers
d = sys.argv[1]
c = json.load(open(d + "/config.json"))
m = transformers.AutoModelForCausalLM.from_pretrained(d)
print(d.split("/")[-1], type(m).__name__, m.dtype, {k: c.get(k) for k in ("model_type", "head_dim", "tie_word_embeddings", "rope_parameters", "rope_theta", "torch_dtype", "dtype", "attention_bias", "use_sliding_window", "layer_types")})
EOF
  done
  tail -n 12 "$W"/logs/smoke/*.log
fi
EL=$(( $(date +%s) - T0 ))
DEADLINE=$(( BUDGET - EL - 120 ))
echo "training for at most ${DEADLINE}s (elapsed ${EL}s)"
if [ "$DEADLINE" -lt 60 ]; then echo "no time left to train"; exit 1; fi
python3 training/zoo.py --models "$MODELS" --work "$W" --out "$W/models" --logs "$W/logs" --deadline "$DEADLINE" \
  --bundle .devdata/bundle.tar.xz --pack "$OUT" ${INIT:+--init "$INIT"} 2>&1 | tee -a "$OUT/zoo.log"
RC=$?
grep -h "done:" "$W"/logs/*.log
for f in "$W"/logs/*.eval.json; do python3 -c "
import json,sys; r=json.load(open(sys.argv[1])); print(sys.argv[1].split('/')[-1], {g: round(v['accuracy'],3) for g,v in r['tasks'].items()})" "$f"; done
echo "device.sh finished in $(( $(date +%s) - T0 ))s rc=$RC"
exit $RC
