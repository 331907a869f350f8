#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Print "NAME PAGE" for every name a man page documents besides its own
# (the names before "\-" in its NAME section), so that "man NAME" finds
# the page through a one-line ".so" alias, as rdma-core installs them,
# without mandb.
#
#   man/aliases.sh PAGE.3...
set -eu
for page in "$@"; do
	base=${page##*/}
	case $base in
	*.3) ;;
	*) continue ;;
	esac
	sed -n '/^\.SH NAME/,/\\-/p' "$page" | sed '1d; s/\\-.*//; s/,/ /g' |
		tr -s ' \t' '\n\n' | while read -r name; do
			if [ -n "$name" ] && [ "$name.3" != "$base" ]; then
				echo "$name $base"
			fi
		done
done
exit 0
