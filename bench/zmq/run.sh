#!/usr/bin/env bash
# Build and run the ZeroMQ loopback comparison benchmark.
# Usage: bench/zmq/run.sh [--rtt-samples N] [--stream-messages N] [--bulk-messages N] [--port P]
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

if [ ! -f /usr/include/zmq.h ]; then
    echo "run.sh: /usr/include/zmq.h missing, installing libzmq3-dev" >&2
    apt-get update
    apt-get install -y libzmq3-dev
fi

mkdir -p "$here/bin"
cc -O2 -o "$here/bin/zmq_bench" "$here/zmq_bench.c" -lzmq

"$here/bin/zmq_bench" "$@"
