#!/bin/sh
# DEVELOPMENT ONLY. The one-shot `certs-init` service of docker-compose.yml: makes a private
# development CA and a server certificate for every TLS hop of the compose stack, into named
# volumes, and keeps them on later starts. Runs with the PostgreSQL image (it has openssl and
# knows the uid PostgreSQL runs as), as root, so that every key gets the owner that reads it.
#
#   /tls/ca/ca.pem                       the development CA (certificate only, world-readable)
#   /tls/auth-issuer/tls.{crt,key}       auth-issuer, localhost, 127.0.0.1   key: 65532, 0600
#   /tls/data-api/tls.{crt,key}          data-api, data-api-1, data-api-2, localhost, 127.0.0.1
#                                                                            key: 65532, 0600
#   /tls/redis/tls.{crt,key}             redis, localhost, 127.0.0.1         key: 0644 (below)
#   /tls/postgres/tls.{crt,key}          postgres, localhost, 127.0.0.1      key: postgres, 0600
#
# Each /tls/NAME is its own volume, mounted only into the containers that use it (every
# service mounts /tls/ca as well), so no container sees another's key. The Redis key is
# world-readable inside the volume only Redis mounts, because the official Redis image and the
# offline one (scripts/build-images.sh) run Redis under different uids (999 and 100).
#
# The CA's private key is never written to a volume: it signs the four certificates in a
# temporary directory and is thrown away. A later start keeps everything as long as every
# certificate chains to the CA, fits its key and stays valid for 30 more days; otherwise it
# makes a new CA and new certificates (then restart the stack: `docker compose up -d
# --force-recreate`, since running services hold the old CA).
#
# Environment: SERVICE_UID (default 65532, the uid of the Portcullis images).
set -eu

SERVICE_UID="${SERVICE_UID:-65532}"
TLS=/tls
RENEW_BEFORE=$((30 * 24 * 3600)) # seconds of validity left below which everything is renewed
CA_DAYS=3650
LEAF_DAYS=825

log() { printf 'certs-init: %s\n' "$*" >&2; }

# name: subject alternative names
leaves() {
	cat <<'EOF'
auth-issuer DNS:auth-issuer,DNS:localhost,IP:127.0.0.1,IP:::1
data-api DNS:data-api,DNS:data-api-1,DNS:data-api-2,DNS:localhost,IP:127.0.0.1,IP:::1
redis DNS:redis,DNS:localhost,IP:127.0.0.1,IP:::1
postgres DNS:postgres,DNS:localhost,IP:127.0.0.1,IP:::1
EOF
}

# current NAME: the certificate and key of NAME exist, fit, chain to the CA and stay valid.
current() {
	crt="$TLS/$1/tls.crt" key="$TLS/$1/tls.key"
	[ -s "$crt" ] && [ -s "$key" ] || return 1
	openssl verify -CAfile "$TLS/ca/ca.pem" "$crt" >/dev/null 2>&1 || return 1
	openssl x509 -checkend "$RENEW_BEFORE" -noout -in "$crt" >/dev/null 2>&1 || return 1
	[ "$(openssl x509 -pubkey -noout -in "$crt")" = "$(openssl pkey -pubout -in "$key")" ]
}

all_current() {
	[ -s "$TLS/ca/ca.pem" ] || return 1
	openssl x509 -checkend "$RENEW_BEFORE" -noout -in "$TLS/ca/ca.pem" >/dev/null 2>&1 || return 1
	leaves | while read -r name _; do current "$name" || exit 1; done
}

if all_current; then
	log "kept the development CA and certificates in $TLS"
	exit 0
fi

command -v openssl >/dev/null 2>&1 || { log "openssl is not in this image"; exit 1; }
postgres_uid="$(id -u postgres)" && postgres_gid="$(id -g postgres)" ||
	{ log "this image has no postgres user: run certs-init with the PostgreSQL image"; exit 1; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

cat >"$work/ca.cnf" <<'EOF'
[req]
distinguished_name = dn
prompt = no
x509_extensions = ca
[dn]
CN = Portcullis development CA (docker compose; not for production)
[ca]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
EOF
openssl req -x509 -new -config "$work/ca.cnf" -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
	-nodes -keyout "$work/ca.key" -out "$work/ca.pem" -days "$CA_DAYS" 2>/dev/null

leaves | while read -r name sans; do
	printf '[req]\ndistinguished_name = dn\nprompt = no\n[dn]\nCN = %s (Portcullis development)\n' \
		"$name" >"$work/$name.cnf"
	printf '%s\n' \
		'basicConstraints = critical, CA:FALSE' \
		'keyUsage = critical, digitalSignature' \
		'extendedKeyUsage = serverAuth' \
		'subjectKeyIdentifier = hash' \
		'authorityKeyIdentifier = keyid' \
		"subjectAltName = $sans" >"$work/$name.ext"
	openssl req -new -config "$work/$name.cnf" -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
		-nodes -keyout "$work/$name.key" -out "$work/$name.csr" 2>/dev/null
	openssl x509 -req -in "$work/$name.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" \
		-CAcreateserial -CAserial "$work/ca.srl" -days "$LEAF_DAYS" \
		-extfile "$work/$name.ext" -out "$work/$name.crt" 2>/dev/null
	openssl verify -CAfile "$work/ca.pem" "$work/$name.crt" >/dev/null
done

# install NAME OWNER MODE: the certificate (0644) and the key (OWNER, MODE) into /tls/NAME.
install_leaf() {
	mkdir -p "$TLS/$1"
	chmod 0755 "$TLS/$1"
	cp "$work/$1.crt" "$TLS/$1/tls.crt.new"
	cp "$work/$1.key" "$TLS/$1/tls.key.new"
	chmod 0644 "$TLS/$1/tls.crt.new"
	chown "$2" "$TLS/$1/tls.key.new"
	chmod "$3" "$TLS/$1/tls.key.new"
	mv -f "$TLS/$1/tls.key.new" "$TLS/$1/tls.key"
	mv -f "$TLS/$1/tls.crt.new" "$TLS/$1/tls.crt"
}

mkdir -p "$TLS/ca"
chmod 0755 "$TLS/ca"
install -m 0644 "$work/ca.pem" "$TLS/ca/ca.pem"
install_leaf auth-issuer "$SERVICE_UID:$SERVICE_UID" 0600
install_leaf data-api "$SERVICE_UID:$SERVICE_UID" 0600
install_leaf redis 0:0 0644
install_leaf postgres "$postgres_uid:$postgres_gid" 0600
log "made a new development CA and certificates in $TLS ($(openssl x509 -noout -subject -in "$TLS/ca/ca.pem"))"
