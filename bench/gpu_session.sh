#!/usr/bin/env bash
# One prepared GPU session (device machine, H100/H200): kernel and engine checks, a profile of the 8B step
# eager vs compiled, then the 8B (and with RUN_1B=1 the 1B) throughput benchmarks, each lever its own side;
# `generation`: the evaluation's generator on CUDA (merged adapter, weights restored) and its speed.
# Logs go to $OUT (or ./gpu-logs). Packages the machine lacks travel in .whl/ (list: bench/RESULTS.md).
#   bash bench/gpu_session.sh [checks|profile|bench|generation|all]   (default all; one device call runs at most 600 s,
#   so run "checks profile" in one call and "bench" in the next while the machine is warm)
set -uo pipefail
PARTS=" ${*:-all} "
want() { [[ "$PARTS" == *" $1 "* || "$PARTS" == *" all "* ]]; }
OUT=${OUT:-gpu-logs}; mkdir -p "$OUT"
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site
fi
# DeepSpeed travels as its source archive and builds against the machine's torch (no ops compiled ahead).
if ls .whl/deepspeed-*.tar.gz >/dev/null 2>&1; then
  DS_BUILD_OPS=0 python3 -m pip install -q --no-index --no-deps --no-build-isolation --no-cache-dir --target /tmp/site \
    .whl/deepspeed-*.tar.gz 2>&1 | tail -3 | tee "$OUT/deepspeed-install.log"
fi
export PYTHONPATH=${PYTHONPATH:+$PYTHONPATH:}$PWD/src PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/env.log"
python3 - <<'PY' 2>&1 | tee -a "$OUT/env.log"
import inspect, torch, transformers, peft
print("torch", torch.__version__, "transformers", transformers.__version__, "peft", peft.__version__)
from torch.nn.attention.varlen import varlen_attn
print("varlen_attn", inspect.signature(varlen_attn))
PY
# Kernels, then the shipped FSDP / DeepSpeed configs through accelerate launch on the GPU (tests/gpu).
if want checks; then
  timeout ${TCHECK:-240} python3 -m pytest -q -p no:cacheprovider tests/gpu 2>&1 | tail -25 | tee "$OUT/check.log"
fi
# The 1B goal is met (session 2); run it again only when asked: RUN_1B=1.
if [ "${RUN_1B:-0}" = 1 ]; then
  timeout ${T1B:-200} python3 bench/train_throughput.py --gpu --shape 1b --examples 256 \
    --variants baseline,ours+sdpa,ours,ours+rows=8,ours+compile,ours+compile+rows=8,ours+compile+liger 2>&1 \
    | grep -v "Loading weights" | tee "$OUT/1b.log"
fi
# 8B: where the time goes, eager vs compiled (compiled was 5x slower in session 2), then the levers.
if want profile; then
  timeout ${TPROF:-200} python3 bench/train_throughput.py --gpu --shape 8b --examples 24 --profile 2 \
    --variants ours+nockpt+rows=2,ours+nockpt+compile+rows=2 2>&1 | grep -v "Loading weights" | tee "$OUT/8b-profile.log"
fi
if want bench; then
  timeout ${T8B:-420} python3 bench/train_throughput.py --gpu --shape 8b --examples 96 --gradient-checkpointing \
    --variants baseline,ours+nockpt+rows=2,ours+nockpt+rows=2+peftforward,ours+nockpt+rows=2+modelnorm,ours+nockpt+rows=2+liger,ours+nockpt+rows=3 2>&1 \
    | grep -v "Loading weights" | tee "$OUT/8b.log"
fi
# Evaluation generation on CUDA: the generator's checks, then base vs adapter (merged / unmerged) speed on
# random-init SmolLM2-135M and Llama-3.2-1B shapes (fixed lengths: no end token).
if want generation; then
  timeout ${TGENCHECK:-180} python3 -m pytest -q -p no:cacheprovider tests/gpu/test_cuda_generation.py 2>&1 | tail -15 \
    | tee "$OUT/generation-check.log"
  for shape in smollm2-135m 1b; do
    timeout ${TGEN:-150} python3 bench/eval_adapter_generation.py --device cuda --random-init $shape --prompts 64 --batch 32 \
      --max-new-tokens 128 --rounds 2 2>&1 | grep -v "Loading weights" | tee "$OUT/generation-$shape.log"
  done
fi
