#!/usr/bin/env bash
# The prepared GPU check (see bench/gpu_check.py): CUDA tests, the engine benchmark on CUDA,
# VGG16/ResNet18 training and center-finding throughput, one reduced Table 1 CIFAR-10 VGG16
# column; figures go into docs/benchmarks.md and docs/reproduction.md blocks named by the GPU.
# Without CUDA it prints one line and exits 0. Extra arguments go to gpu_check.py.
set -u
cd "$(dirname "$0")/.."
PY="${PYTHON:-python}"
if ! "$PY" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
    echo "gpu_check: no CUDA on this machine (torch.cuda.is_available() is False); nothing was run. Run \`bash bench/gpu_check.sh\` on a GPU machine."
    exit 0
fi
# Whatever happens, stop before 8 minutes; every part's figures are written as soon as it ends.
timeout --signal=INT --kill-after=20 "${GPU_CHECK_TIMEOUT:-460}" "$PY" bench/gpu_check.py "$@"
rc=$?
if [ -n "${OUT:-}" ] && [ -d "${OUT}" ]; then      # device runs: bring the figures back
    mkdir -p "$OUT/docs" "$OUT/results"
    cp docs/benchmarks.md docs/reproduction.md "$OUT/docs/" 2>/dev/null
    cp results/gpu_check-*.json "$OUT/results/" 2>/dev/null
fi
exit $rc
