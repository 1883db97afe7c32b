# Issue 11's end-to-end acceptance harnesses (tests/e2e), sourced by scripts/test and run after
# 'swift test' passed: the official MCP Python SDK through discovery, registration, sign-in,
# consent, code, token, a call, a refresh and a second call against a small MCP resource server;
# and headless Chromium through the real sign-in and consent pages to a loopback redirect.
# Against the server built by 'swift build' and the throwaway database of the test run, on
# loopback only. Screenshots go to .build/test-output/e2e/. REGISTRAR_SKIP_E2E=1 skips it.
#
# Needs REPO_ROOT, log, die, free_port and ensure_key_encryption_key from common.sh, and DATABASE_URL and
# MIGRATION_DATABASE_URL as export_database_urls sets them.

E2E_TIMEOUT="${E2E_TIMEOUT:-600}"
E2E_OUTPUT="${E2E_OUTPUT:-$REPO_ROOT/.build/test-output/e2e}"

e2e_server_pid=""

# Installs Debian's chromium and chromium-driver when they are missing (root only): the harness
# drives the distribution's browser, never one downloaded by a driver manager.
ensure_e2e_browser() {
  local missing=()
  command -v chromium >/dev/null 2>&1 || missing+=(chromium)
  command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
  python3 -m venv --help >/dev/null 2>&1 || missing+=(python3-venv)
  [ ${#missing[@]} -eq 0 ] && return 0
  [ "$(id -u)" -eq 0 ] || die "missing packages: ${missing[*]} (install them with apt-get, or run as root)"
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# Stops the server run_e2e started, if it is still running; for the caller's cleanup trap.
stop_e2e_server() {
  if [ -n "$e2e_server_pid" ]; then
    kill -TERM "$e2e_server_pid" 2>/dev/null || true
    wait "$e2e_server_pid" 2>/dev/null || true
    e2e_server_pid=""
  fi
}

# run_e2e WORKDIR: the virtualenv and the server log live under WORKDIR/e2e, which the caller removes.
run_e2e() {
  local dir="$1/e2e" bin="$REPO_ROOT/.build/debug/registrar"
  local argon2=(--argon2-memory-kib 1024 --argon2-iterations 1)
  mkdir -p "$dir" "$E2E_OUTPUT"
  [ -x "$bin" ] || die "$bin is missing: run 'swift build' first"
  ensure_e2e_browser

  log "e2e: installing the harnesses' packages (tests/e2e/requirements.txt) into a virtualenv"
  python3 -m venv "$dir/venv"
  timeout 600 "$dir/venv/bin/pip" install --quiet --disable-pip-version-check -r "$REPO_ROOT/tests/e2e/requirements.txt" \
    || die "e2e: could not install tests/e2e/requirements.txt"

  # The metadata document harness's TLS server: a CA made for the run, which only this server trusts.
  "$dir/venv/bin/python" "$REPO_ROOT/tests/e2e/document_server.py" --make-certificate "$dir/tls" \
    || die "e2e: could not make the document server's certificate"

  ensure_key_encryption_key
  "$bin" migrate >/dev/null
  local key
  key="$("$bin" key create --platform "${argon2[@]}" --label e2e 2>"$dir/key.log")" \
    || { cat "$dir/key.log" >&2; die "e2e: could not create a platform key"; }

  local port base status=0
  port="$(free_port)"
  base="http://localhost:$port"
  log "e2e: starting registrar on 127.0.0.1:$port"
  "$bin" serve --host 127.0.0.1 --port "$port" --public-base-url "$base" "${argon2[@]}" \
    --outbound-allow 127.0.0.1/32 --outbound-allow ::1/128 --outbound-ca-file "$dir/tls/ca.pem" \
    --log-level warning >"$dir/server.log" 2>&1 &
  e2e_server_pid=$!
  local ready=0
  for _ in $(seq 1 240); do
    kill -0 "$e2e_server_pid" 2>/dev/null || break
    if curl -sf "$base/readyz" >/dev/null 2>&1; then ready=1; break; fi
    sleep 0.25
  done
  if [ "$ready" -ne 1 ]; then
    tail -n 30 "$dir/server.log" >&2
    die "e2e: the server did not become ready"
  fi

  log "e2e: MCP Python SDK and headless Chromium against $base (screenshots in $E2E_OUTPUT)"
  (cd "$REPO_ROOT/tests/e2e" && timeout --kill-after=30 "$E2E_TIMEOUT" "$dir/venv/bin/python" run.py \
    --base-url "$base" --platform-key "$key" --output "$E2E_OUTPUT" --certificates "$dir/tls") || status=$?
  if [ "$status" -ne 0 ]; then
    [ "$status" -eq 124 ] && log "e2e: stopped after ${E2E_TIMEOUT}s (E2E_TIMEOUT)"
    log "e2e: the server's last log lines:"
    tail -n 40 "$dir/server.log" >&2
  fi
  stop_e2e_server
  return "$status"
}
