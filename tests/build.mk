# SPDX-License-Identifier: MIT
# tests/: unit tests, victims and integration tests.
.PHONY: tests
tests:
