#!/bin/sh
# Installs the Debian packages that the tests and the demo run for real (pebble, haproxy, openssl,
# promtool, ...) when they are missing. Takes command names; a command that does not come from the
# package of the same name is mapped below. Needs root (or passwordless sudo) only when something is
# missing.
#
# promtool comes with the whole prometheus package. Its postinst asks invoke-rc.d to start the
# server, which does nothing in a container (no systemd, no runlevel, or a policy-rc.d that denies
# it); on a host running systemd the prometheus service is started and enabled. The tests only run
# promtool and need no Prometheus server.
#
# systemd-analyze comes with systemd; the tests only run `systemd-analyze verify` on a unit file,
# which needs no running systemd (a container has none).
#
# zookeeper is not a command: the package puts its jars in /usr/share/java and the tests start the
# server class with java (the package depends on a JRE). `zookeeperd`, which would start a system
# service, is not wanted.
set -eu

package_of() {
  case "$1" in
    promtool) echo prometheus ;;
    systemd-analyze) echo systemd ;;
    *) echo "$1" ;;
  esac
}

present() {
  case "$1" in
    zookeeper) [ -f /usr/share/java/zookeeper.jar ] && command -v java >/dev/null 2>&1 ;;
    *) command -v "$1" >/dev/null 2>&1 ;;
  esac
}

missing=""
for tool in "$@"; do
  if ! present "$tool"; then
    package=$(package_of "$tool")
    case " $missing " in
      *" $package "*) ;;
      *) missing="$missing $package" ;;
    esac
  fi
done
[ -z "$missing" ] && exit 0
echo "installing Debian packages:$missing" >&2
if [ "$(id -u)" -eq 0 ]; then
  SUDO=""
elif command -v sudo >/dev/null 2>&1; then
  SUDO="sudo"
else
  echo "error: need root to run apt-get install$missing (or install them yourself)" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq $missing >/dev/null
