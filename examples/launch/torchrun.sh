#!/bin/bash
# Curriculum training with torchrun, without a scheduler. Run the same command on every node,
# with NODE_RANK 0..NNODES-1 and MAIN_ADDR the address of node 0:
#   NNODES=2 NODE_RANK=0 MAIN_ADDR=10.0.0.1 bash examples/launch/torchrun.sh configs/seed.yaml runs/seed
# One node: bash examples/launch/torchrun.sh configs/seed.yaml runs/seed
# CPU processes work too (gloo): GPUS_PER_NODE=2 — the 2-process tests run exactly this.
set -euo pipefail
CONFIG=${1:?usage: torchrun.sh CONFIG RUN_DIR [--resume]}
RUN_DIR=${2:?usage: torchrun.sh CONFIG RUN_DIR [--resume]}
shift 2
NNODES=${NNODES:-1}
GPUS_PER_NODE=${GPUS_PER_NODE:-$(nvidia-smi -L 2>/dev/null | wc -l)}
if [ "$NNODES" = 1 ]; then
  RDZV=(--standalone)
else
  RDZV=(--nnodes "$NNODES" --node_rank "${NODE_RANK:?set NODE_RANK}" --rdzv_backend c10d
        --rdzv_endpoint "${MAIN_ADDR:?set MAIN_ADDR}:${MAIN_PORT:-29500}" --rdzv_id "${RDZV_ID:-emergent}")
fi
exec torchrun "${RDZV[@]}" --nproc_per_node "$GPUS_PER_NODE" "$(which emergent)" train "$CONFIG" \
  --data "$RUN_DIR/data" -o "$RUN_DIR/train" "$@"
