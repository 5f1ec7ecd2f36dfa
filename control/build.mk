# SPDX-License-Identifier: MIT
# control/ is compiled into the preload; see preload/build.mk.
