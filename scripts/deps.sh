#!/usr/bin/env bash
# Installs what Mosaic needs from Debian when it is missing:
#   scripts/deps.sh          mariadb-server, mariadb-backup, sysbench, and the
#                            Python, Perl and (with Java) JDBC drivers the
#                            driver tests run
set -euo pipefail

need=()
command -v mariadbd >/dev/null 2>&1 || [ -x /usr/sbin/mariadbd ] || need+=(mariadb-server)
command -v mariadb-backup >/dev/null 2>&1 || need+=(mariadb-backup)
command -v mariadb >/dev/null 2>&1 || need+=(mariadb-client)
command -v sysbench >/dev/null 2>&1 || need+=(sysbench)
/usr/bin/python3 -c 'import pymysql' >/dev/null 2>&1 || need+=(python3-pymysql)
/usr/bin/python3 -c 'import MySQLdb' >/dev/null 2>&1 || need+=(python3-mysqldb)
perl -MDBD::MariaDB -e 1 >/dev/null 2>&1 || need+=(libdbd-mariadb-perl)
# MariaDB Connector/J for the JDBC test, where Java is installed (the test
# skips without Java; the JDK itself is not pulled in here).
if command -v java >/dev/null 2>&1 && [ ! -e /usr/share/java/mariadb-java-client.jar ]; then
  need+=(libmariadb-java)
fi
[ ${#need[@]} -eq 0 ] && exit 0

echo "installing: ${need[*]}"
sudo=""
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "need root (or sudo) to install ${need[*]}" >&2; exit 1; }
  sudo=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
# The packaged service is not used: Mosaic runs its own mariadbd processes.
$sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
