#!/usr/bin/env bash
# Installs the PyTorch reference's runtime: Debian's python3-torch plus OpenBLAS.
# Without libopenblas0-openmp, Debian's torch falls back to the reference BLAS and runs ~5x slower,
# which would make the comparison flatter us. Idempotent: does nothing when both are present.
set -euo pipefail

PACKAGES=(python3-torch libopenblas0-openmp)

is_installed() {
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q '^install ok installed$'
}

missing=()
for package in "${PACKAGES[@]}"; do
  is_installed "$package" || missing+=("$package")
done

if ((${#missing[@]} > 0)); then
  if ! command -v apt-get >/dev/null; then
    echo "setup-python: missing ${missing[*]} and apt-get is not available; install them with your package manager" >&2
    exit 1
  fi
  sudo_cmd=()
  if [[ $(id -u) -ne 0 ]]; then
    if ! command -v sudo >/dev/null; then
      echo "setup-python: missing ${missing[*]}; run as root or install sudo" >&2
      exit 1
    fi
    sudo_cmd=(sudo)
  fi
  echo "setup-python: installing ${missing[*]} with apt-get" >&2
  # Another apt run (e.g. a CI step) may hold the dpkg lock: wait for it rather than fail.
  apt_options=(-o DPkg::Lock::Timeout=600)
  "${sudo_cmd[@]}" apt-get "${apt_options[@]}" update -qq
  "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get "${apt_options[@]}" install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

# Debian's torch lives in the system interpreter's dist-packages; a pyenv/venv python3 earlier on PATH cannot see it.
/usr/bin/python3 -c 'import torch' || {
  echo "setup-python: /usr/bin/python3 cannot import torch after installing ${PACKAGES[*]}" >&2
  exit 1
}
