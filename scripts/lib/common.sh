# Shared by scripts/run, scripts/test and scripts/bench: install what is missing and manage a
# local PostgreSQL cluster. PostgreSQL refuses to run as root, so as root the cluster belongs to
# the 'postgres' system user.

set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Installs libargon2-dev and PostgreSQL from Debian when they are missing (root only).
ensure_dependencies() {
  local missing=()
  pkg-config --exists libargon2 2>/dev/null || missing+=(libargon2-dev pkg-config)
  pkg-config --exists libsodium 2>/dev/null || missing+=(libsodium-dev pkg-config)
  pg_bindir >/dev/null 2>&1 || missing+=(postgresql postgresql-contrib)
  command -v python3 >/dev/null 2>&1 || missing+=(python3)
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -ne 0 ]; then
    die "missing packages: ${missing[*]} (install them with apt-get, or run this script as root)"
  fi
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# The directory of initdb / pg_ctl (Debian keeps them out of PATH).
pg_bindir() {
  local dir
  if command -v pg_config >/dev/null 2>&1; then
    dir="$(pg_config --bindir)"
    [ -x "$dir/initdb" ] && { echo "$dir"; return 0; }
  fi
  for dir in /usr/lib/postgresql/*/bin; do
    [ -x "$dir/initdb" ] && { echo "$dir"; return 0; }
  done
  return 1
}

# A TCP port nobody listens on.
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# Runs a command as the cluster's owner: 'postgres' when we are root, ourselves otherwise.
as_pg_owner() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# start_cluster DIR PORT: initialises DIR if empty and starts PostgreSQL on 127.0.0.1:PORT,
# with the roles and database Registrar expects (owner role for migrations, application role
# for serving; the application role is no superuser and cannot bypass row-level security).
start_cluster() {
  local dir="$1" port="$2" bin
  bin="$(pg_bindir)" || die "PostgreSQL server binaries not found"
  if [ "$(id -u)" -eq 0 ]; then
    install -d -o postgres -g postgres -m 700 "$dir"
  else
    install -d -m 700 "$dir"
  fi
  if [ ! -f "$dir/PG_VERSION" ]; then
    as_pg_owner "$bin/initdb" -D "$dir" -U postgres --auth=trust -E UTF8 --no-instructions >/dev/null
  fi
  as_pg_owner "$bin/pg_ctl" -D "$dir" -l "$dir/server.log" -w -t 60 \
    -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=400 -c fsync=off -c synchronous_commit=off" \
    start >/dev/null || { cat "$dir/server.log" >&2 || true; die "PostgreSQL did not start"; }
  psql_super "$port" -v ON_ERROR_STOP=1 -q <<'SQL'
SELECT 'CREATE ROLE registrar_owner LOGIN' WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'registrar_owner') \gexec
SELECT 'CREATE ROLE registrar_app LOGIN NOSUPERUSER NOBYPASSRLS' WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'registrar_app') \gexec
SELECT 'CREATE DATABASE registrar OWNER registrar_owner' WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'registrar') \gexec
SQL
}

stop_cluster() {
  local dir="$1" bin
  bin="$(pg_bindir)" || return 0
  [ -f "$dir/postmaster.pid" ] && as_pg_owner "$bin/pg_ctl" -D "$dir" -m immediate -w stop >/dev/null 2>&1 || true
}

psql_super() {
  local port="$1"; shift
  psql -h 127.0.0.1 -p "$port" -U postgres -d postgres -X "$@"
}

# ensure_key_encryption_key [FILE]: exports REGISTRAR_KEY_ENCRYPTION_KEY when none is set, for
# a local server: the key kept in FILE (written there, readable by us only, on first use, so
# that signing keys sealed by an earlier run still open), or without FILE a new key for this
# run only. A real deployment sets its own and gives every instance the same one.
ensure_key_encryption_key() {
  [ -n "${REGISTRAR_KEY_ENCRYPTION_KEY:-}" ] && return 0
  local file="${1:-}" key=""
  [ -n "$file" ] && [ -s "$file" ] && key="$(tr -d '[:space:]' <"$file")"
  if [ -z "$key" ]; then
    key="$(python3 -c 'import base64, os; print(base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode())')"
    if [ -n "$file" ]; then
      mkdir -p "$(dirname "$file")"
      (umask 077; printf '%s\n' "$key" >"$file")
      log "generated a key-encryption key for local use in $file"
    fi
  fi
  export REGISTRAR_KEY_ENCRYPTION_KEY="$key"
}

# export_database_urls PORT [SOCKET_DIRECTORY]: the two connection URLs for a cluster started by
# start_cluster, over TCP, or through its Unix socket when the directory is given (cheaper per
# statement on one machine).
export_database_urls() {
  local port="$1" socket_directory="${2:-}"
  if [ -n "$socket_directory" ]; then
    export DATABASE_URL="postgres://registrar_app@:$port/registrar?host=$socket_directory"
    export MIGRATION_DATABASE_URL="postgres://registrar_owner@:$port/registrar?host=$socket_directory"
  else
    export DATABASE_URL="postgres://registrar_app@127.0.0.1:$port/registrar?sslmode=disable"
    export MIGRATION_DATABASE_URL="postgres://registrar_owner@127.0.0.1:$port/registrar?sslmode=disable"
  fi
}
