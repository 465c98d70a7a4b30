#!/usr/bin/env bash
# The "binding" continuation of the eval-grade models, in ONE call of the `run` tool (see
# training/README.md, "Binding continuation"): take the token caches cut by bind_cache.py (else
# tokenize the bundle), continue each model from its
# shipped folder (models/NAME, --init) with training/configs/bind/NAME.json, all at once on the
# one GPU under a deadline that fits the call, export (fp16 + reference), pack the folders into
# $OUT (xz, 15 MiB pieces) BEFORE evaluating, then evaluate (evaluate.py --limit N) into $OUT.
#
#   bash training/bind.sh [TOTAL_SECONDS] [EVAL_LIMIT] [MODELS]
#   carry: [".devdata/bind/tok/<tokenizer>", ".devdata/bind/init", ".devdata/bind/test.jsonl.xz"]
#   defaults: 555 s in all, 200 test examples a group, "kvw-llama-17m"
# CONFDIR=configs/fresh DATA=.devdata/fresh runs the same with fresh task data (training/fresh.py):
# $DATA/tasks.jsonl.xz tokenized here and merged with $DATA/base/<tokenizer>; carry [".devdata/fresh"].
# The starting weights are .devdata/bind/init/NAME.tar.xz (bind_cache.py --init NAME packs
# models/NAME) if present, else models/NAME. The working tree that travels is capped at 64 MiB and the
# tracked zoo alone is ~107 MB, so models/ cannot travel: see training/README.md for the call.
# CONFDIR=configs/grow: a config with "grow": {"from": SRC, ...} starts from models/SRC (or
# $DATA/init/SRC.tar.xz) made deeper and narrower by grow.py; DATA may be an absolute path, W the work folder.
# Back here: cat bind.tar.xz.part* | xz -d | tar -xf - -C models
set -o pipefail
export PYTHONUNBUFFERED=1
T0=$(date +%s)
TOTAL=${1:-555}
LIMIT=${2:-200}
MODELS=${3:-"kvw-llama-17m"}
RESERVE=${RESERVE:-135}   # seconds kept for startup, save, export, pack and evaluation
CONFDIR=${CONFDIR:-configs/bind}
DATA=${DATA:-.devdata/bind}
TAG=$(basename "$CONFDIR")
W=${W:-/tmp/kvw}
OUT=${OUT:-$W/out}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
case "$DATA" in /*) DATADIR=$DATA ;; *) DATADIR=$ROOT/$DATA ;; esac
mkdir -p "$OUT" "$W/data" "$W/tok" "$W/run" "$W/models" "$W/logs"
el() { echo $(( $(date +%s) - T0 )); }
tk_of() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['tokenizer'])" "$ROOT/training/$CONFDIR/$1.json"; }
src_of() { python3 -c "import json,sys; print(json.load(open(sys.argv[1])).get('grow', {}).get('from', sys.argv[2]))" "$ROOT/training/$CONFDIR/$1.json" "$1"; }

nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
# (1) token caches: the pre-cut ones (training/bind_cache.py, carried in .devdata/bind/tok/<tk>),
#     else the bundle tokenized here once per tokenizer (in parallel; ~1 min)
TKS=$(for m in $MODELS; do tk_of "$m"; done | sort -u)
for tk in $TKS; do
  if [ -s "$DATADIR/tasks.jsonl.xz" ]; then
    (cd "$ROOT/training" && python3 fresh.py cache --tasks "$DATADIR/tasks.jsonl.xz" --base "$DATADIR/base/$tk" \
       --out "$W/tok/$tk") > "$W/logs/tokenize-$tk.log" 2>&1 &
    continue
  fi
  if [ -s "$DATADIR/tok/$tk/tasks_train.npz" ]; then
    ln -sfn "$DATADIR/tok/$tk" "$W/tok/$tk"; continue
  fi
  [ -s "$W/data/bundle.tar.xz" ] || cp "$ROOT/.devdata/bundle.tar.xz" "$W/data/"
  mkdir -p "$W/tok/$tk"; cp "$ROOT/training/tokenizers/$tk.json" "$W/tok/$tk/tokenizer.json"
  (cd "$ROOT/training" && python3 data.py tokenize --bundle "$W/data/bundle.tar.xz" \
     --tokenizer "$W/tok/$tk/tokenizer.json" --out "$W/tok/$tk") > "$W/logs/tokenize-$tk.log" 2>&1 &
done
wait
TESTS="$DATADIR/test.jsonl.xz"   # the bundle's tasks/test.jsonl (what the zoo's evaluations read)
[ -s "$TESTS" ] || TESTS=""
DEADLINE=$(( TOTAL - $(el) - RESERVE ))
echo "data ready at $(el)s; training deadline ${DEADLINE}s"
# (2) continue every model at once from its shipped folder
for m in $MODELS; do
  tk=$(tk_of "$m")
  src=$(src_of "$m")
  INIT="$ROOT/models/$src"
  if [ -s "$DATADIR/init/$src.tar.xz" ]; then
    mkdir -p "$W/init"; tar -xJf "$DATADIR/init/$src.tar.xz" -C "$W/init"; INIT="$W/init/$src"
  fi
  (cd "$ROOT/training" && if [ "$src" != "$m" ]; then
     python3 grow.py --src "$INIT" --config "$CONFDIR/$m.json" --cache "$W/tok/$tk" --out "$W/grown/$m" || exit 1
     INIT="$W/grown/$m"; fi
   python3 train.py --config "$CONFDIR/$m.json" --cache "$W/tok/$tk" --out "$W/run/$m" \
     --init "$INIT" --deadline "$DEADLINE") > "$W/logs/$m.log" 2>&1 &
done
wait
echo "trained at $(el)s"; for m in $MODELS; do grep -E "done|Error" "$W/logs/$m.log" | tail -n 2; done
# (3) export (the earlier run is the card's run 1)
for m in $MODELS; do
  tk=$(tk_of "$m")
  python3 -c "import json,sys; s=json.load(open(sys.argv[1])); s['config_note']='configs/'+sys.argv[2]+'.json (zoo recipe, from scratch)'; json.dump(s,open(sys.argv[3],'w'),indent=1)" \
    "$ROOT/training/runs/$(src_of "$m")/train.json" "$(src_of "$m")" "$W/run/$m/prior.train.json"
  (cd "$ROOT/training" && python3 export.py --run "$W/run/$m" --config "$CONFDIR/$m.json" \
     --tokenizer "tokenizers/$tk.json" --out "$W/models/$m" --prior "$W/run/$m/prior.train.json") >> "$W/logs/$m.log" 2>&1 &
done
wait
echo "exported at $(el)s"
DONE=$(for m in $MODELS; do [ -f "$W/models/$m/reference.safetensors" ] && echo "$m"; done)
tar -C "$W/models" -cf - $DONE | xz -T0 -1 | split -b 15M -d - "$OUT/$TAG.tar.xz.part"
echo "packed $DONE at $(el)s"; ls -la "$OUT"
# (4) evaluate what is left of the call
LEFT=$(( TOTAL - $(el) - 8 )); [ "$LEFT" -lt 30 ] && LEFT=30
for m in $DONE; do
  (cd "$ROOT/training" && timeout "$LEFT" python3 evaluate.py --model "$W/models/$m" --bundle "$ROOT/.devdata/bundle.tar.xz" \
     ${TESTS:+--tests "$TESTS"} --limit "$LIMIT" --out "$W/logs/$m.eval.json") >> "$W/logs/$m.log" 2>&1 &
done
wait
echo "evaluated at $(el)s"
for m in $MODELS; do cp "$W/run/$m/train.json" "$W/logs/$m.train.json" 2>/dev/null; grep -E "^  [a-z]" "$W/logs/$m.log"; done
tar -C "$W" -cf "$OUT/logs.tar" logs
echo "all done at $(el)s"
