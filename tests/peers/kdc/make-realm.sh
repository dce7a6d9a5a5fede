#!/usr/bin/env bash
# Creates a throwaway MIT Kerberos realm in DIR for a KDC listening on 127.0.0.1:PORT.
#   make-realm.sh DIR PORT
# Writes DIR/krb5.conf (KRB5_CONFIG), DIR/kdc.conf (KRB5_KDC_PROFILE), the database, and:
#   alice@HVCTL.TEST   password "alice-Pass-1"        (for kinit / password credentials)
#   bob@HVCTL.TEST     random key in DIR/client.keytab (client keytab credentials)
#   HTTP/localhost     random key in DIR/http.keytab   (the acceptor's keytab)
# Start the KDC afterwards with:
#   KRB5_CONFIG=DIR/krb5.conf KRB5_KDC_PROFILE=DIR/kdc.conf krb5kdc -n -r HVCTL.TEST -P DIR/kdc.pid
# Nothing outside DIR is touched. Needs krb5-kdc, krb5-admin-server and krb5-user
# (scripts/install-peers.sh installs them).
set -euo pipefail
dir=$1
port=$2
realm=HVCTL.TEST
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
for tool in kdb5_util kadmin.local krb5kdc; do
  command -v "$tool" >/dev/null 2>&1 || PATH="$PATH:/usr/sbin:/sbin"
  command -v "$tool" >/dev/null 2>&1 || {
    echo "make-realm: $tool not found; run scripts/install-peers.sh (apt: krb5-kdc krb5-admin-server krb5-user)" >&2
    exit 3
  }
done
cat >"$dir/krb5.conf" <<CONF
[libdefaults]
    default_realm = $realm
    dns_lookup_kdc = false
    dns_lookup_realm = false
    dns_canonicalize_hostname = false
    rdns = false
    udp_preference_limit = 1
    ticket_lifetime = 1h
    forwardable = true
    default_ccache_name = FILE:$dir/default.ccache
    kdc_timesync = 0

[realms]
    $realm = {
        kdc = 127.0.0.1:$port
    }

[domain_realm]
    localhost = $realm
    .localhost = $realm
    .hvctl.test = $realm
CONF
cat >"$dir/kdc.conf" <<CONF
[kdcdefaults]
    kdc_listen = 127.0.0.1:$port
    kdc_tcp_listen = 127.0.0.1:$port

[realms]
    $realm = {
        database_name = $dir/principal
        key_stash_file = $dir/stash
        acl_file = $dir/kadm5.acl
        max_life = 10h
        max_renewable_life = 1d
        supported_enctypes = aes256-cts-hmac-sha1-96:normal aes128-cts-hmac-sha1-96:normal
        kdc_listen = 127.0.0.1:$port
        kdc_tcp_listen = 127.0.0.1:$port
    }

[logging]
    kdc = FILE:$dir/kdc.log
    default = FILE:$dir/kdc.log
CONF
: >"$dir/kadm5.acl"
export KRB5_CONFIG=$dir/krb5.conf KRB5_KDC_PROFILE=$dir/kdc.conf
kdb5_util -r "$realm" create -s -P "master-$RANDOM-$RANDOM" >/dev/null
kadmin.local -r "$realm" -q "addprinc -pw alice-Pass-1 alice" >/dev/null 2>&1
kadmin.local -r "$realm" -q "addprinc -randkey bob" >/dev/null 2>&1
kadmin.local -r "$realm" -q "addprinc -randkey HTTP/localhost" >/dev/null 2>&1
kadmin.local -r "$realm" -q "ktadd -k $dir/http.keytab HTTP/localhost" >/dev/null 2>&1
kadmin.local -r "$realm" -q "ktadd -k $dir/client.keytab bob" >/dev/null 2>&1
test -s "$dir/http.keytab" && test -s "$dir/client.keytab"
