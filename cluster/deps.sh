#!/usr/bin/env bash
# What `python -m cluster` needs beyond the Python packages, installed only when missing:
# ip (iproute2: netns, veth, bridge), iptables (the latency proxy's REDIRECT), faketime (libfaketime).
set -euo pipefail
missing=()
command -v ip >/dev/null || missing+=(iproute2)
command -v iptables >/dev/null || missing+=(iptables)
command -v faketime >/dev/null || missing+=(faketime)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then echo "cluster/deps.sh: root needed to install ${missing[*]}" >&2; exit 1; fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
