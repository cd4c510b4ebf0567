#!/usr/bin/env bash
# Everything GPU-related in one device call (issue 8): the card and versions, the
# CUDA tests, then the throughput benchmark on CUDA (with torch.compile) and on
# the CPU. Each step has its own time limit so the whole stays under ~9.5 min;
# the benchmark's JSON is rewritten after every measurement, so a step cut off
# keeps what it measured.
#
#   here:   bash benchmarks/gpu_wheels.sh        # skorch + scikit-learn wheels into .whl/
#   device: run(command="bash benchmarks/gpu_check.sh", carry=[".whl"], timeout_s=590)
#           -> $OUT/pytest_gpu.txt, $OUT/cuda/gpu.json, $OUT/cpu/gpu.json, $OUT/cpu_cnn/gpu.json, $OUT/log.txt
#   anywhere with CUDA and the package installed: OUT=/some/dir bash benchmarks/gpu_check.sh
#   a smoke run of the plumbing: BENCH_ARGS="--rows 20000 --epochs 1" bash benchmarks/gpu_check.sh
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-benchmarks/results/gpu_check}"
mkdir -p "$OUT"
exec > >(tee "$OUT/log.txt") 2>&1
export PYTHONUNBUFFERED=1
if compgen -G ".whl/*.whl" > /dev/null; then
    # the device image's own packages stay; these shadow them (PYTHONPATH comes first)
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl || exit 1
    export PYTHONPATH="/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || true
python3 -c "import sys, torch, sklearn, skorch; print('python', sys.version.split()[0], \
'torch', torch.__version__, 'sklearn', sklearn.__version__, 'skorch', skorch.__version__, \
'cuda', torch.cuda.is_available())" || exit 1
timeout 150 python3 -m pytest tests/test_gpu.py -m gpu -q -rs -p no:logging \
    | tee "$OUT/pytest_gpu.txt"
tests=${PIPESTATUS[0]}
timeout 240 python3 -m benchmarks.gpu --devices cuda --compile default reduce-overhead \
    --out "$OUT/cuda" ${BENCH_ARGS:-}
cuda=$?
# the CPU baseline: the MLP at both sizes, the CNN (about 50x slower per row) at 100k
timeout 100 python3 -m benchmarks.gpu --devices cpu --students mlp --out "$OUT/cpu" \
    ${BENCH_ARGS:-}
cpu=$?
timeout 70 python3 -m benchmarks.gpu --devices cpu --students cnn --rows 100000 \
    --out "$OUT/cpu_cnn" ${BENCH_ARGS:-}
cpu=$(( cpu || $? ))
echo "exit codes: tests $tests, cuda benchmark $cuda, cpu benchmark $cpu (124: time limit)"
exit $(( tests || cuda || cpu ))
