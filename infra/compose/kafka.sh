#!/bin/sh
# The broker of docker-compose.yml, secured as the local one (infra/up.sh): SASL_SSL with
# SCRAM-SHA-512 and the StandardAuthorizer, from infra/kafka/server.properties.in. The
# certificate and the users' passwords come from the kafka-secrets volume, which the
# kafka-secrets container filled (python -m casework.localkafka prepare /app/.local 9092 kafka);
# the users are created when the data is first formatted.
set -eu
SECRETS=/secrets/kafka
DATA=/var/lib/kafka/data
PROPS=/tmp/server.properties
password() { sed -n 's/.*"sasl_password": "\([^"]*\)".*/\1/p' "$1"; }
ADMIN="$(password "$SECRETS/principals/casework-admin.json")"
umask 077
sed -e "s#@DATA_DIR@#$DATA#g" -e "s#@KAFKA_PORT@#9092#g" -e "s#@CONTROLLER_PORT@#9093#g" \
    -e "s#@TLS_DIR@#$SECRETS/tls#g" -e "s#@ADMIN_PASSWORD@#$ADMIN#g" \
    -e "s#@LISTEN_HOST@#0.0.0.0#g" -e "s#@ADVERTISED_HOST@#kafka#g" \
    /casework/server.properties.in >"$PROPS"
printf '%s\n' "security.protocol=SASL_SSL" "sasl.mechanism=SCRAM-SHA-512" \
    "sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username=\"casework-admin\" password=\"$ADMIN\";" \
    "ssl.truststore.type=PEM" "ssl.truststore.location=$SECRETS/tls/ca.pem" >/tmp/admin.properties
if [ ! -f "$DATA/meta.properties" ]; then
    set --
    for file in "$SECRETS"/principals/*.json; do
        user="$(basename "$file" .json)"
        set -- "$@" --add-scram "SCRAM-SHA-512=[name=$user,password=$(password "$file")]"
    done
    /opt/kafka/bin/kafka-storage.sh format --standalone -t "$(/opt/kafka/bin/kafka-storage.sh random-uuid)" \
        -c "$PROPS" "$@"
fi
exec /opt/kafka/bin/kafka-server-start.sh "$PROPS"
