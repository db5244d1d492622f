# Sourced by .ci/test: make sure PostgreSQL (127.0.0.1:5432, trust auth, database `test`) and
# Redis (127.0.0.1:6379) answer; start them when down, install them with apt-get when missing;
# install Debian's chromium for the browser tests.

pg_answers() {
    psql -h 127.0.0.1 -p 5432 -U postgres -d postgres -tAc 'select 1' >/dev/null 2>&1
}

ensure_postgres() {
    if pg_answers; then
        :
    else
        if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
            echo "ci: installing PostgreSQL" >&2
            apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
        fi
        local version
        version=$(ls /etc/postgresql | sort -V | tail -n 1)
        local hba="/etc/postgresql/$version/main/pg_hba.conf"
        # Tests connect as postgres over TCP without a password, as on the project's machines.
        if ! grep -q '^host all all 127.0.0.1/32 trust' "$hba"; then
            sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$hba"
        fi
        echo "ci: starting PostgreSQL $version" >&2
        pg_ctlcluster --skip-systemctl-redirect "$version" main start || pg_ctlcluster --skip-systemctl-redirect "$version" main reload
        for _ in $(seq 1 30); do pg_answers && break; sleep 1; done
        pg_answers || { echo "ci: PostgreSQL does not answer on 127.0.0.1:5432" >&2; return 1; }
    fi
    if ! psql -h 127.0.0.1 -U postgres -d postgres -tAc "select 1 from pg_database where datname = 'test'" | grep -q 1; then
        psql -h 127.0.0.1 -U postgres -d postgres -qc 'create database test' >/dev/null
    fi
}

redis_answers() {
    [ "$(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null)" = "PONG" ]
}

ensure_redis() {
    redis_answers && return 0
    if ! command -v redis-server >/dev/null 2>&1; then
        echo "ci: installing Redis" >&2
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
    fi
    echo "ci: starting Redis" >&2
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no >/dev/null
    for _ in $(seq 1 20); do redis_answers && break; sleep 0.5; done
    redis_answers || { echo "ci: Redis does not answer on 127.0.0.1:6379" >&2; return 1; }
}

ensure_chromium() {
    command -v chromium >/dev/null 2>&1 && return 0
    echo "ci: installing Debian's chromium for the browser tests" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
}

# The real Segment and PostHog SDKs (Python and Node) that tests/api/sdk_clients.rs sends with,
# at the versions pinned beside that test, installed from PyPI and npm into target/sdk-clients.
ensure_sdk_clients() {
    local src=crates/footprint/tests/api/sdk_clients dir=target/sdk-clients
    local stamp
    stamp="$dir/.installed-$(cat "$src/requirements.txt" "$src/package.json" | sha256sum | cut -c1-16)"
    [ -f "$stamp" ] && return 0
    echo "ci: installing the Segment and PostHog SDKs for the SDK tests" >&2
    if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
    fi
    rm -rf "$dir" && mkdir -p "$dir"
    if ! python3 -m venv "$dir/venv" >/dev/null 2>&1; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
        python3 -m venv "$dir/venv"
    fi
    "$dir/venv/bin/pip" install -q --disable-pip-version-check -r "$src/requirements.txt"
    cp "$src/package.json" "$dir/package.json"
    npm install --prefix "$dir" --no-audit --no-fund --silent >/dev/null
    touch "$stamp"
}
