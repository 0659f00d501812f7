#!/usr/bin/env bash
# Start the local PostgreSQL and MariaDB the tests use, when installed but stopped, and
# install OpenSSH's sshd (SFTP tests) and age (encrypted bundles) when missing.
# (This machine kind runs both at 127.0.0.1:5432 and :3306; elsewhere set HUB_TEST_PG_URL
# and HUB_TEST_MARIADB_URL.) Never fails the build by itself: the tests say what is missing.
set -u
if command -v pg_isready >/dev/null 2>&1 && ! pg_isready -h 127.0.0.1 -p 5432 -q; then
  if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
    echo "starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
  fi
fi
if [ -x /usr/sbin/mariadbd ] && ! (exec 3<>/dev/tcp/127.0.0.1/3306) 2>/dev/null; then
  echo "starting MariaDB"
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd || true
  for _ in $(seq 1 30); do (exec 3<>/dev/tcp/127.0.0.1/3306) 2>/dev/null && break; sleep 1; done
fi
# OpenSSH's sshd: the SFTP tests run a real one on a loopback port (not as a system service).
# The age tool: the tests decrypt encrypted bundles with it, as an office would.
missing=""
[ -x /usr/sbin/sshd ] || missing="$missing openssh-server"
command -v age >/dev/null 2>&1 || missing="$missing age"
if [ -n "$missing" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing$missing (for the tests)"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null || true
fi
"$(dirname "$0")/ensure-fonts.sh"
exit 0
