#!/usr/bin/env bash
# Fetch the wheels a bare GPU machine lacks into .whl/ (ignored by git), for scripts/gpu_check.sh to install
# offline. The machine (the `device` tool's nvidia-h200: Python 3.12, manylinux x86-64, torch 2.11 + CUDA) has
# numpy, scipy, pandas, matplotlib, h5py, networkx, tqdm, filelock, numba, scikit-learn, joblib, msgpack,
# lazy-loader, requests, packaging, pyyaml and typing-extensions already (/work/.library/device/KINDS.md), but
# not these. The pins are the versions this project is tested with; keep exactly one version of each.
#   usage: scripts/fetch_gpu_wheels.sh [DEST]   (default DEST: .whl in the repository root)
set -euo pipefail
cd "$(dirname "$0")/.."
dest="${1:-.whl}"
mkdir -p "$dest"
BINARY=(  # name==version: wheels for cp312 / manylinux x86-64 (pure-Python ones are py3-none-any)
  hydra-core==1.3.8
  omegaconf==2.3.1
  librosa==0.11.0
  soundfile==0.14.0
  soxr==1.1.0
  audioread==3.1.0
  pooch==1.9.0
  platformdirs==4.14.8
  decorator==5.2.1
  cffi==2.0.0
  pycparser==3.0
)
SDIST_ONLY=(antlr4-python3-runtime==4.9.3)  # omegaconf's pinned parser runtime: PyPI has no wheel of it
platforms=()
for p in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64 \
  manylinux1_x86_64 manylinux_2_24_x86_64 manylinux_2_31_x86_64; do
  platforms+=(--platform "$p")
done
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  "${platforms[@]}" -d "$dest" "${BINARY[@]}"
python3 -m pip wheel -q --no-deps --no-build-isolation -w "$dest" "${SDIST_ONLY[@]}"  # pure Python: any CPU
ls -l "$dest"
du -sh "$dest"
