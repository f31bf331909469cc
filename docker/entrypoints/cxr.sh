#!/bin/sh
# The project's CLI inside an image: `cxr.sh <command> [options]` = `deno task cxr <command> [options]`, offline.
set -eu
exec deno run --allow-all --cached-only /app/lib/cli/main.ts "$@"
