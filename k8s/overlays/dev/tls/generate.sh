#!/bin/sh
# DEVELOPMENT ONLY. Re-creates the committed development CA and server certificates of the dev
# overlay (k8s/overlays/dev/kustomization.yaml turns them into Secrets). The keys in this
# directory are published in git: they protect nothing and must never be used outside a local
# development cluster. The CA's own key is not kept (it signs, then is deleted), so nothing else
# can be signed with this CA; run this script again to replace all of it (`kubectl apply -k`
# then rolls every pod, since the Secrets' names carry a content hash).
#
#   sh k8s/overlays/dev/tls/generate.sh
set -eu
cd "$(dirname "$0")"
NS=portcullis-dev
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
ec="-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes"

# shellcheck disable=SC2086
openssl req -x509 $ec -keyout "$work/ca.key" -out ca.crt -days 3650 \
	-subj "/CN=Portcullis development CA (k8s dev overlay; not for production)" \
	-addext 'keyUsage=critical,keyCertSign,cRLSign' 2>/dev/null

for name in auth-issuer data-api redis postgres; do
	printf '%s\n' 'basicConstraints = critical, CA:FALSE' \
		'keyUsage = critical, digitalSignature' \
		'extendedKeyUsage = serverAuth' \
		"subjectAltName = DNS:$name, DNS:$name.$NS, DNS:$name.$NS.svc, DNS:$name.$NS.svc.cluster.local, DNS:localhost, IP:127.0.0.1" \
		>"$work/$name.ext"
	# shellcheck disable=SC2086
	openssl req -new $ec -keyout "$name.key" -out "$work/$name.csr" \
		-subj "/CN=$name (Portcullis development)" 2>/dev/null
	openssl x509 -req -in "$work/$name.csr" -CA ca.crt -CAkey "$work/ca.key" -CAcreateserial \
		-CAserial "$work/ca.srl" -days 3650 -extfile "$work/$name.ext" -out "$name.crt" 2>/dev/null
	openssl verify -CAfile ca.crt "$name.crt" >/dev/null
	chmod 0644 "$name.key" # committed to git anyway; kustomize only reads it
done
echo "development CA and certificates written to $(pwd)"
