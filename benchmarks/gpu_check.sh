#!/usr/bin/env bash
# Everything GPU-related in one call, for a machine with CUDA (issue 8):
# the card, the CUDA tests, then the throughput benchmark (a few minutes on an H100).
#   bash benchmarks/gpu_check.sh            # results in benchmarks/results/gpu.json
#   OUT=/some/dir bash benchmarks/gpu_check.sh
set -uo pipefail
cd "$(dirname "$0")/.."
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || true
python -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"
python -m pytest -m gpu -q -p no:logging -rs
status=$?
python -m benchmarks.gpu --out "${OUT:-benchmarks/results}"
exit $(( status || $? ))
