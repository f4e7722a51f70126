#!/usr/bin/env bash
# Prints the path of a working Python 3.10 (TFX 1.16's newest fully installable Python):
# $PYTHON if set, else python3.10 on PATH, else the newest pyenv 3.10.x. Fails with advice.
set -u
for candidate in "${PYTHON:-}" "$(command -v python3.10 2>/dev/null)" \
    $(ls -d "$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")"/versions/3.10.*/bin/python 2>/dev/null | sort -V -r); do
  [ -n "$candidate" ] || continue
  if "$candidate" -c 'import sys, venv; sys.exit(sys.version_info[:2] != (3, 10))' 2>/dev/null; then
    echo "$candidate"
    exit 0
  fi
done
cat >&2 <<'MSG'
lmpipe needs Python 3.10 (TFX 1.16, the newest TFX whose whole stack installs from PyPI,
supports no newer Python), and none was found.
Install one, then run make again:
  - with pyenv:          pyenv install 3.10
  - on Debian/Ubuntu:    sudo apt-get install python3.10 python3.10-venv
  - or point to one:     make PYTHON=/path/to/python3.10 demo
MSG
exit 1
