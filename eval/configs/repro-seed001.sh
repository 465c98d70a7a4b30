#!/usr/bin/env bash
# Reproduces seed 001's tables and figures on the zoo: every seed001-*.json config into one
# results file (configs share their common cells), then the HTML report and the markdown tables
# of docs/results/seed001.md. Resumable: rerunning skips the cells already in the results file.
# The wall time of the sweeps is printed and written beside the results.
#   npm run repro:seed001              (OUT=bench/results/seed001 by default)
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-bench/results/seed001}
mkdir -p "$(dirname "$OUT")"
npx tsc -p .
# Run from a snapshot of dist/: other work rebuilding dist/ mid-run must not change the code
# that later workers import. The snapshot sits at another depth, so give the data folder explicitly.
BIN="$OUT-dist"
rm -rf "$BIN" && cp -r dist "$BIN"
export KVWIRE_DATA=${KVWIRE_DATA:-$(cd .. && pwd)/shared/data}
start=$(date +%s)
# Same-model tables first (two workers each), then the hetero pair (one worker: one fuser fit).
node "$BIN/cli/main.js" sweep \
  eval/configs/seed001-table1-ptq.json eval/configs/seed001-tables2-3-pruning.json \
  eval/configs/seed001-table4-selection.json eval/configs/seed001-table5-rd.json \
  eval/configs/seed001-table7-mixed.json eval/configs/seed001-figures1-2.json \
  eval/configs/seed001-table6-hetero.json \
  --out "$OUT.jsonl" --csv "$OUT.csv"
end=$(date +%s)
echo "seed001 sweeps: $((end - start)) s wall on $(nproc) cores" | tee "$OUT-wall.txt"
node "$BIN/cli/main.js" report "$OUT.jsonl" --out "$OUT.html" --title "kvwire: seed 001 on the zoo"
node docs/results/seed001-tables.mjs "$OUT.jsonl" > "$OUT.md"
echo "report: $OUT.html, tables: $OUT.md"
