#!/usr/bin/env bash
# run_pytest.sh BUILD_DIR: the Python package's tests, as a user gets it. Installs python/ with pip (with the
# build's libpipeline.so, into a virtual environment in BUILD_DIR that sees Debian's torch, numpy and pytest),
# checks that `import pipeline` works, then runs tests/python with pytest against the installed package.
# Fails when the Debian packages are missing, and when pytest collects no test (its exit 5).
set -uo pipefail
build=$(cd "$1" && pwd)
root=$(cd "$(dirname "$0")/../.." && pwd)
export PYTHONDONTWRITEBYTECODE=1
py=/usr/bin/python3   # Debian's Python (python3-torch, python3-numpy, python3-pytest), not a pyenv shim
if ! $py -c "import torch, numpy, pytest" 2>/dev/null; then
  echo "test_python: $py lacks torch, numpy or pytest (scripts/setup.sh installs python3-torch python3-numpy python3-pytest)" >&2
  exit 1
fi
venv=$build/python-venv
if [ ! -x "$venv/bin/python" ]; then
  $py -m venv --system-site-packages "$venv" || exit 1
fi
# pip builds from a copy, so the source tree stays clean
rm -rf "$build/python-src" && cp -r "$root/python" "$build/python-src" || exit 1
PIPELINE_LIBRARY="$build/libpipeline.so" "$venv/bin/pip" install -q --no-build-isolation --no-deps --no-index \
  --force-reinstall "$build/python-src" || { echo "test_python: pip install ./python failed" >&2; exit 1; }
(cd /tmp && "$venv/bin/python" -c "import pipeline; print('import pipeline:', pipeline.__file__, pipeline.LIBRARY_PATH)") || exit 1
cd "$build"
PIPELINE_TEST_INSTALLED=1 "$venv/bin/python" -m pytest -q -p no:cacheprovider "$root/tests/python"
rc=$?
if [ $rc -eq 5 ]; then
  echo "test_python: pytest collected no tests" >&2
  exit 1
fi
exit $rc
