#!/usr/bin/env bash
# Run HERE (a machine with PyPI), before a device call: saves into .whl/ the wheels
# that the device image lacks or may hold in an older version, for its Python 3.12
# (see /work/.library/device/KINDS.md: it has torch, numpy, scipy, tabulate, tqdm,
# joblib, threadpoolctl, narwhals, pytest, but no skorch). .whl/ is git-ignored
# locally (.git/info/exclude); carry it: run(..., carry=[".whl"]).
set -euo pipefail
cd "$(dirname "$0")/.."
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
rm -rf .whl
python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 -d .whl skorch==1.4.0 scikit-learn==1.9.1
ls -l .whl
