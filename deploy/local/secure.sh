# Sourced by kafka.sh for the *-secure commands: a throw-away CA, the broker's certificate and
# the SCRAM users' passwords, made once per broker directory (git-ignored, under .kafka/).
#
#   <tls>/ca.pem             the CA clients trust (BORDER_SURGE_SSL_CAFILE)
#   <tls>/broker.p12         the broker's key and certificate (SAN IP:127.0.0.1, DNS:localhost)
#   <tls>/border.password    the service user's password (SCRAM-SHA-512 and PLAIN)
#   <tls>/admin.password     the broker's own user (inter-broker, kafka.sh's readiness check)
#   <tls>/admin.properties   Kafka tool client settings for the admin user
# Random passwords: nothing secret is in the repository.

secure_prepare() {
  local dir=$1
  if [ -f "$dir/.complete" ]; then return 0; fi
  command -v openssl >/dev/null || { log "openssl is needed to make the broker's certificate"; exit 1; }
  log "making a throw-away CA, broker certificate and SCRAM passwords in $dir"
  # New passwords mean new SCRAM users, which are written only when the storage is formatted.
  rm -rf "$dir" "$(dirname "$dir")/data" && mkdir -p "$dir" "$(dirname "$dir")/data" && chmod 700 "$dir"
  (
    cd "$dir"
    umask 077
    openssl rand -hex 16 > admin.password
    openssl rand -hex 16 > border.password
    openssl rand -hex 16 > keystore.password
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -keyout ca.key -out ca.pem \
      -subj "/CN=border-surge local test CA" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -keyout broker.key -out broker.csr \
      -subj "/CN=localhost" 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' > san.ext
    openssl x509 -req -in broker.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 825 \
      -extfile san.ext -out broker.pem 2>/dev/null
    openssl pkcs12 -export -in broker.pem -inkey broker.key -certfile ca.pem -name broker \
      -out broker.p12 -passout "file:keystore.password"
    rm -f ca.key broker.key broker.csr ca.srl san.ext
    chmod 644 ca.pem
    cat > admin.properties <<PROPS
security.protocol=SASL_SSL
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="$(cat admin.password)";
ssl.truststore.type=PEM
ssl.truststore.location=$dir/ca.pem
PROPS
  )
  touch "$dir/.complete"
}

# Puts the passwords into the broker's properties (written with mode 600). Bash builtins
# only: a password in the arguments of sed would show in the process list.
secure_fill() {
  local dir=$1 props=$2 text
  chmod 600 "$props"
  text=$(<"$props")
  text=${text//@ADMIN_PASSWORD@/$(<"$dir/admin.password")}
  text=${text//@BORDER_PASSWORD@/$(<"$dir/border.password")}
  text=${text//@KEYSTORE_PASSWORD@/$(<"$dir/keystore.password")}
  printf '%s\n' "$text" > "$props"
}

# The storage tool's arguments that create the SCRAM users, one a line, in a mode-600 file.
secure_scram_argfile() {
  local dir=$1 file=$2
  (umask 077; printf -- '--add-scram\nSCRAM-SHA-512=[name=admin,password=%s]\n--add-scram\nSCRAM-SHA-512=[name=border,password=%s]\n' \
    "$(<"$dir/admin.password")" "$(<"$dir/border.password")" > "$file")
}
