#!/bin/bash
# Tap filter: print each client-to-server line starting with $1 (text protocols).
while IFS= read -r -N 64 h && set -- "${1-GET}" $h && IFS= read -r -N "$7" p; do
	[ "$3 $6" = "data c2s" ] && printf '%s\n' "$p" | grep -a -- "^$1"; set -- "$1"
done
