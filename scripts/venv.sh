# Sourced by scripts: make sure .venv exists with the pinned dependencies and meshgate installed,
# then that the compiled data-plane modules match their sources (scripts/build-native.sh).
PYTHON="${PYTHON:-python3}"
stamp=".venv/.installed-$(cat requirements.txt requirements-dev.txt pyproject.toml | sha256sum | cut -c1-16)"
if [ ! -x .venv/bin/python ] || [ ! -f "$stamp" ]; then
  "$PYTHON" -m venv .venv
  .venv/bin/python -m pip install -q --disable-pip-version-check -r requirements-dev.txt
  # The editable install itself skips the compiler; build-native.sh builds in place, once.
  MESHGATE_PURE=1 .venv/bin/python -m pip install -q --disable-pip-version-check --no-deps -e .
  rm -f .venv/.installed-*
  touch "$stamp"
fi
mkdir -p build
scripts/build-native.sh
