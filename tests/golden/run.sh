#!/bin/sh
# SPDX-License-Identifier: MIT
# Golden tests of build/leakscope-translate (see run.py).
exec python3 "$(dirname "$0")/run.py" "$@"
