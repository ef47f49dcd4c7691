#!/bin/sh
# Every plugin built in this tree exports exactly the two Boost.DLL aliases
# (plugins/plugin_exports.map) and no GNU unique symbol. Usage: check_exports.sh <dir>
set -eu
dir="$1"
found=0
for so in "$dir"/*.so; do
  found=1
  names=$(nm -D --defined-only "$so" | awk '{print $NF}' | sort | tr '\n' ' ')
  if [ "$names" != "ami_plugin_abi_version ami_plugin_factory " ]; then
    echo "$so exports more than the two plugin aliases: $names" | cut -c1-600
    exit 1
  fi
  if nm -D --defined-only "$so" | grep -q ' u '; then
    echo "$so has GNU unique symbols (it could never be unloaded)"
    exit 1
  fi
done
[ "$found" = 1 ] || { echo "no plugins in $dir"; exit 1; }
echo "every plugin in $dir exports only the two aliases"
