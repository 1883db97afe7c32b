# Property-based tests of the management API with Schemathesis, sourced by scripts/test and run
# after 'swift test' passed. Against the server built by 'swift build' and the throwaway database
# of the test run, on loopback only, it checks every operation of openapi/admin-v1.json for
# server errors (5xx) and for responses that do not match the document (status code, content
# type, body schema, documented headers). Any finding fails the script.
#
# Needs REPO_ROOT, log, die and free_port from common.sh, and DATABASE_URL and
# MIGRATION_DATABASE_URL as export_database_urls sets them.

# Verified with this version; newer ones may generate differently or change options.
SCHEMATHESIS_VERSION="4.32.5"
# Examples per operation and phase, and the limit of the whole step in seconds.
SCHEMATHESIS_MAX_EXAMPLES="${SCHEMATHESIS_MAX_EXAMPLES:-20}"
SCHEMATHESIS_TIMEOUT="${SCHEMATHESIS_TIMEOUT:-900}"
# Extra options for both runs, e.g. SCHEMATHESIS_ARGS="--seed 42" to replay a run.
read -r -a schemathesis_extra_args <<<"${SCHEMATHESIS_ARGS:-}"

schemathesis_server_pid=""

# Stops the server run_schemathesis started, if it is still running; for the caller's cleanup trap.
stop_schemathesis_server() {
  if [ -n "$schemathesis_server_pid" ]; then
    kill -TERM "$schemathesis_server_pid" 2>/dev/null || true
    wait "$schemathesis_server_pid" 2>/dev/null || true
    schemathesis_server_pid=""
  fi
}

# run_schemathesis WORKDIR: everything lives under WORKDIR/schemathesis (virtualenv, config,
# server log), which the caller removes.
run_schemathesis() {
  local dir="$1/schemathesis" bin="$REPO_ROOT/.build/debug/registrar" started=$SECONDS
  local argon2=(--argon2-memory-kib 1024 --argon2-iterations 1)
  mkdir -p "$dir"
  ensure_key_encryption_key
  [ -x "$bin" ] || die "$bin is missing: run 'swift build' first"

  log "schemathesis: installing schemathesis $SCHEMATHESIS_VERSION into a virtualenv"
  if ! python3 -m venv "$dir/venv" >/dev/null 2>&1; then
    [ "$(id -u)" -eq 0 ] || die "python3 -m venv does not work: install python3-venv"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
    python3 -m venv "$dir/venv"
  fi
  timeout 600 "$dir/venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION" \
    || die "could not install schemathesis $SCHEMATHESIS_VERSION"

  # Test data: tenants to aim at, and two platform keys: the second only for DELETE /keys/{id}
  # (see below).
  "$bin" migrate >/dev/null
  "$bin" tenant create st-alpha --name "Schemathesis alpha" --domain alpha.schemathesis.test --if-not-exists >/dev/null
  "$bin" tenant create st-beta --name "Schemathesis beta" --if-not-exists >/dev/null
  "$bin" tenant create st-doomed --name "Schemathesis doomed" --if-not-exists >/dev/null
  local key revoker
  key="$("$bin" key create --platform "${argon2[@]}" --label schemathesis 2>"$dir/key.log")" \
    || { cat "$dir/key.log" >&2; die "schemathesis: could not create a platform key"; }
  revoker="$("$bin" key create --platform "${argon2[@]}" --label schemathesis-revoker 2>"$dir/key.log")" \
    || { cat "$dir/key.log" >&2; die "schemathesis: could not create a platform key"; }

  local port base
  port="$(free_port)"
  base="http://localhost:$port"
  log "schemathesis: starting registrar on 127.0.0.1:$port"
  "$bin" serve --host 127.0.0.1 --port "$port" --public-base-url "$base" "${argon2[@]}" \
    --openapi-file "$REPO_ROOT/openapi/admin-v1.json" --log-level warning >"$dir/server.log" 2>&1 &
  schemathesis_server_pid=$!

  # Waits for the server, then creates what the operations on one client, token or key need and
  # writes the Schemathesis configuration that aims the generated path parameters at them.
  "$dir/venv/bin/python" - "$base" "$key" "$dir/schemathesis.toml" "$schemathesis_server_pid" <<'PY' || die "schemathesis: could not prepare the test data"
import json, os, sys, time, urllib.error, urllib.request

base, key, config_path, pid = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])

def call(method, path, body=None, admin=True):
    request = urllib.request.Request(base + path, method=method, data=None if body is None else json.dumps(body).encode())
    if body is not None:
        request.add_header("Content-Type", "application/json")
    if admin:
        request.add_header("Authorization", "Bearer " + key)
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)

deadline = time.monotonic() + 60
while True:
    try:
        os.kill(pid, 0)
    except OSError:
        sys.exit("the server stopped; see its log")
    try:
        urllib.request.urlopen(base + "/readyz", timeout=2).read()
        break
    except (urllib.error.URLError, OSError):
        if time.monotonic() > deadline:
            sys.exit("the server did not become ready within 60 s")
        time.sleep(0.25)

def register(name, method, tenant="st-alpha"):
    return call("POST", f"/t/{tenant}/register", {
        "client_name": name, "redirect_uris": ["http://127.0.0.1:8765/callback"],
        "token_endpoint_auth_method": method}, admin=False)["client_id"]

clients = [register("Schemathesis confidential", "client_secret_basic"), register("Schemathesis public", "none")]
doomed_client = register("Schemathesis doomed", "client_secret_post")
register("Schemathesis", "none", tenant="st-doomed")  # so that DELETE without cascade is a 409
token = call("POST", "/admin/v1/tenants/st-alpha/initial-access-tokens", {"label": "schemathesis", "max_uses": 5})["id"]
victims = [call("POST", "/admin/v1/keys", {"role": "platform", "label": "victim"})["id"],
           call("POST", "/admin/v1/tenants/st-beta/keys", {"role": "viewer", "label": "victim"})["id"]]

values = lambda items: "[" + ", ".join(json.dumps(item) for item in items) + "]"
with open(config_path, "w") as handle:
    handle.write(f"""\
# Generated by scripts/lib/schemathesis.sh: generated path parameters name these (most of the time).
[dictionaries.tenant]
values = ["st-alpha", "st-beta"]
[dictionaries.doomed_tenant]
values = ["st-doomed"]
[dictionaries.client]
values = {values(clients)}
[dictionaries.public_client]
values = [{json.dumps(clients[1])}]
[dictionaries.doomed_client]
values = [{json.dumps(doomed_client)}]
[dictionaries.token]
values = [{json.dumps(token)}]
[dictionaries.domain]
values = ["alpha.schemathesis.test"]
[dictionaries.victim_key]
values = {values(victims)}

[parameters]
"path.tenant" = {{ dictionary = "tenant", probability = 0.9 }}
"path.client_id" = {{ dictionary = "client", probability = 0.8 }}

[[operations]]
include-name = "DELETE /tenants/{{tenant}}"
parameters = {{ "path.tenant" = {{ dictionary = "doomed_tenant", probability = 0.9 }} }}

[[operations]]
include-name = "DELETE /tenants/{{tenant}}/clients/{{client_id}}"
parameters = {{ "path.client_id" = {{ dictionary = "doomed_client", probability = 0.9 }} }}

[[operations]]
include-name = "POST /tenants/{{tenant}}/clients/authenticate"
parameters = {{ "body.client_id" = {{ dictionary = "public_client", probability = 0.8 }} }}

[[operations]]
include-name = "DELETE /tenants/{{tenant}}/domains/{{host}}"
parameters = {{ "path.host" = {{ dictionary = "domain", probability = 0.8 }} }}

[[operations]]
include-name = "DELETE /tenants/{{tenant}}/initial-access-tokens/{{id}}"
parameters = {{ "path.id" = {{ dictionary = "token", probability = 0.8 }} }}

[[operations]]
include-name = "DELETE /keys/{{id}}"
parameters = {{ "path.id" = {{ dictionary = "victim_key", probability = 0.8 }} }}
""")
PY

  # Schemathesis sends only the Authorization header given here (no generated credentials, so no
  # failed authentications that would get 127.0.0.1 rate-limited), at most 15 requests a second
  # (the API allows a key 1200 a minute in bursts of 200).
  local common=(
    --config-file "$dir/schemathesis.toml" run "$base/admin/v1/openapi.json"
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance
    --max-examples "$SCHEMATHESIS_MAX_EXAMPLES" --generation-with-security-parameters false
    --rate-limit 15/s --request-timeout 30 --generation-database none --no-color
    ${schemathesis_extra_args[@]+"${schemathesis_extra_args[@]}"}
  )
  local remaining status=0
  # DELETE /keys/{id} runs first and alone, authenticated with the second key and aimed at two
  # victim keys: a platform key may revoke any key, and in the main run it could revoke the key
  # that run authenticates with (key ids appear in GET /keys responses, which Schemathesis reuses
  # as inputs), turning every later request into a 401. This run never sees that key's id.
  remaining=$((SCHEMATHESIS_TIMEOUT - (SECONDS - started)))
  [ "$remaining" -gt 60 ] || die "schemathesis: no time left (SCHEMATHESIS_TIMEOUT=$SCHEMATHESIS_TIMEOUT)"
  log "schemathesis: DELETE /keys/{id} alone, with a key of its own"
  (cd "$dir" && timeout --kill-after=30 "$remaining" "$dir/venv/bin/schemathesis" "${common[@]}" \
    -H "Authorization: Bearer $revoker" --include-name 'DELETE /keys/{id}') || status=$?
  if [ "$status" -eq 0 ]; then
    remaining=$((SCHEMATHESIS_TIMEOUT - (SECONDS - started)))
    [ "$remaining" -gt 60 ] || die "schemathesis: no time left (SCHEMATHESIS_TIMEOUT=$SCHEMATHESIS_TIMEOUT)"
    log "schemathesis: every other operation, $SCHEMATHESIS_MAX_EXAMPLES examples each"
    (cd "$dir" && timeout --kill-after=30 "$remaining" "$dir/venv/bin/schemathesis" "${common[@]}" \
      -H "Authorization: Bearer $key" --exclude-name 'DELETE /keys/{id}') || status=$?
  fi
  if [ "$status" -ne 0 ]; then
    [ "$status" -eq 124 ] && log "schemathesis: stopped after ${SCHEMATHESIS_TIMEOUT}s (SCHEMATHESIS_TIMEOUT)"
    if grep -q '"level":"error"' "$dir/server.log"; then
      log "schemathesis: errors the server logged:"
      grep '"level":"error"' "$dir/server.log" | tail -n 20 >&2
    fi
  fi
  stop_schemathesis_server
  return "$status"
}
