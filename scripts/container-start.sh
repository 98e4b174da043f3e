#!/bin/sh
# The image's ENTRYPOINT, also what test/integration/container.test.ts starts. The arguments are
# marathon-acme's own; the image's CMD is the storage directory.
#
# MARATHON_ACME_USER (user, uid, user:group or uid:gid), as in the original image, drops root and runs
# the daemon as that user; the storage directory must be writable by it. Without a group, the user's
# primary group is used, or group 0 for a uid with no passwd entry (as su-exec and Docker's USER do).
set -eu
app=$(cd "$(dirname "$0")/.." && pwd)
if [ -n "${MARATHON_ACME_USER:-}" ]; then
  user=${MARATHON_ACME_USER%%:*}
  case $MARATHON_ACME_USER in
    *:*) group=${MARATHON_ACME_USER#*:} ;;
    *) group=$(id -g "$user" 2>/dev/null || echo 0) ;;
  esac
  # setpriv (util-linux, in every Debian image) also sets the saved ids and drops all supplementary groups.
  exec setpriv --reuid="$user" --regid="$group" --clear-groups "$app/bin/marathon-acme" "$@"
fi
exec "$app/bin/marathon-acme" "$@"
