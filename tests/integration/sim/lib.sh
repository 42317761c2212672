# Helpers of the simulator integration tests (sourced), on top of tests/lib/harness.sh ($T,
# start_sim/stop_sim, fault, wait_until ...): signed requests, SOAP posts, XPath and schema
# checks. Environment from ctest: TSB_SOURCE_DIR, TSB_SHARED_DIR, TSB_SIM (the ehealth-sim
# binary), TSB_SIM_PKI (a dev-pki folder made by the fixture).
SUITE=sim
. "$(dirname "${BASH_SOURCE[0]}")/../../lib/harness.sh"

SRC=${TSB_SOURCE_DIR:?}
SHARED=${TSB_SHARED_DIR:-$SRC/../shared}
XSD=$SHARED/reference/xsd
SIGN="$SRC/tools/sim-sign-request"
ACTION='SOAPAction: "urn:be:fgov:ehealth:timestamping:protocol:v2:stamp"'
ID_HOSPITAL=tsa_0406798006_01
NS=urn:be:fgov:ehealth:timestamping:protocol:v2

# after each start_sim: the first stdout line is the listening address
sim_started() {
    grep -qx "ehealth-sim listening on https://127.0.0.1:$PORT" "$T/sim.out" ||
        fail "first stdout line is not the listening address: $(head -1 "$T/sim.out")"
}

sign() { "$SIGN" --pki "$PKI" "$@" || fail "sim-sign-request $* failed"; }

# post PATH FILE [CURL ARGS...]: POSTs FILE, the answer goes to $T/resp.xml; prints the HTTP code.
post() {
    local path=$1 file=$2
    shift 2
    curl -s --cacert "$PKI/tls-ca.pem" -H 'Content-Type: text/xml; charset=utf-8' -H "$ACTION" \
        --data-binary "@$file" -o "$T/resp.xml" -w '%{http_code}' "$@" "$URL$path"
}
tsa() { post /TimestampAuthority/v2 "$@"; }
consult() { post /TimestampConsult/v2 "$@"; }

sim_clock() { curl -s --cacert "$PKI/tls-ca.pem" "$URL/admin/clock"; }

# xp XPATH [FILE]: the string value of XPATH in FILE (default $T/resp.xml); local names only.
xp() { xmllint --xpath "string($1)" "${2:-$T/resp.xml}" 2>/dev/null; }
count() { xmllint --xpath "count($1)" "${2:-$T/resp.xml}" 2>/dev/null; }

# body_of [FILE]: the Body's payload element (it declares all its namespaces itself).
body_of() {
    xmllint --xpath '/*[local-name()="Envelope"]/*[local-name()="Body"]/*' "${1:-$T/resp.xml}"
}
validate_dss() {
    body_of "${1:-$T/resp.xml}" >"$T/payload.xml" || fail "no Body payload"
    xmllint --noout --nonet --schema "$XSD/external/oasis-dss-core-schema-v1.0-os.xsd" \
        "$T/payload.xml" 2>"$T/xsd.err" || fail "SignResponse is not schema-valid: $(cat "$T/xsd.err")"
}
validate_consult() {
    body_of "${1:-$T/resp.xml}" >"$T/payload.xml" || fail "no Body payload"
    xmllint --noout --nonet --schema "$XSD/ehealth-timestamping/ehealth-profiles-timestamping-2_0.xsd" \
        "$T/payload.xml" 2>"$T/xsd.err" || fail "consult response is not schema-valid: $(cat "$T/xsd.err")"
}
# The response also carries a wsse:Security/wsu:Timestamp header.
check_resp_timestamp() {
    [ -n "$(xp '//*[local-name()="Header"]/*[local-name()="Security"]/*[local-name()="Timestamp"]/*[local-name()="Created"]')" ] ||
        fail "response has no wsse:Security/wsu:Timestamp header"
}

# assert_fault CODE TEXT: HTTP 500 with a SOAP 1.1 Fault whose faultcode is CODE and whose
# faultstring contains TEXT.
assert_fault() {
    local http=$1 code=$2 text=$3 fc fs
    [ "$http" = 500 ] || fail "expected HTTP 500 with fault $code, got $http: $(head -c 600 "$T/resp.xml")"
    fc=$(xp '//*[local-name()="Fault"]/faultcode')
    fs=$(xp '//*[local-name()="Fault"]/faultstring')
    [ "$fc" = "$code" ] || fail "expected faultcode $code, got '$fc' ($fs)"
    grep -qF -- "$text" <<<"$fs" || fail "faultstring '$fs' does not mention '$text'"
    check_resp_timestamp
}

# assert_dss_error MAJOR MINOR TEXT
assert_dss_error() {
    local http=$1
    [ "$http" = 200 ] || fail "expected HTTP 200 with a DSS error, got $http"
    [ "$(xp '//*[local-name()="ResultMajor"]')" = "urn:oasis:names:tc:dss:1.0:resultmajor:$2" ] ||
        fail "ResultMajor is $(xp '//*[local-name()="ResultMajor"]'), expected $2"
    [ "$(xp '//*[local-name()="ResultMinor"]')" = "urn:oasis:names:tc:dss:1.0:resultminor:$3" ] ||
        fail "ResultMinor is $(xp '//*[local-name()="ResultMinor"]'), expected $3"
    grep -qF -- "$4" <<<"$(xp '//*[local-name()="ResultMessage"]')" ||
        fail "ResultMessage '$(xp '//*[local-name()="ResultMessage"]')' does not mention '$4'"
    validate_dss
}

# make_bag FILE SEQ: a TimeStampBag with one entry whose hash depends on SEQ.
make_bag() {
    local h
    h=$(printf 'entry %s %s' "$2" "$T" | sha256sum | cut -c1-64)
    printf '<?xml version="1.0" encoding="UTF-8"?>\n<TimeStampBag xmlns="%s" Hash="SHA-256" SequenceNumber="%s"><JournalEntry><Hash>%s</Hash><Ref>%s</Ref></JournalEntry></TimeStampBag>' \
        "$NS" "$2" "$h" "$2" >"$1"
}

# token_of [RESP] OUT: decodes the RFC3161TimeStampToken of a SignResponse into OUT (DER).
token_of() {
    local resp=$1 out=$2
    xp '//*[local-name()="RFC3161TimeStampToken"]' "$resp" | base64 -d >"$out" 2>/dev/null ||
        fail "RFC3161TimeStampToken is not base64"
    [ -s "$out" ] || fail "no RFC3161TimeStampToken in $resp"
}

# token_id TOKEN: prints "SERIAL GENTIME_MS" of a DER TimeStampToken (read with openssl ts).
token_id() {
    local txt serial t frac secs
    txt=$(openssl ts -reply -in "$1" -token_in -token_out -text 2>/dev/null) ||
        fail "openssl cannot read the token $1"
    serial=$(sed -n 's/^Serial number: //p' <<<"$txt")
    t=$(sed -n 's/^Time stamp: //p' <<<"$txt")
    frac=0
    if [[ $t =~ ^(.*:[0-9][0-9])\.([0-9]+)\ (.*)$ ]]; then
        frac=${BASH_REMATCH[2]}000
        frac=$((10#${frac:0:3}))
        t="${BASH_REMATCH[1]} ${BASH_REMATCH[3]}"
    fi
    secs=$(date -u -d "${t% GMT}" +%s) || fail "cannot read genTime '$t'"
    echo "$((serial)) $((secs * 1000 + frac))"
}

# stamp BAG [SIGN ARGS...]: stamps BAG (Base64XML), asserts success, leaves the answer in
# $T/resp.xml and the token in $T/tok.der, and prints "SERIAL GENTIME_MS".
stamp() {
    local bag=$1 http
    shift
    sign --bag "$bag" "$@" >"$T/req.xml"
    http=$(tsa "$T/req.xml")
    [ "$http" = 200 ] || fail "stamp: HTTP $http: $(head -c 800 "$T/resp.xml")"
    [ "$(xp '//*[local-name()="ResultMajor"]')" = urn:oasis:names:tc:dss:1.0:resultmajor:Success ] ||
        fail "stamp: not Success: $(xp '//*[local-name()="ResultMessage"]')"
    token_of "$T/resp.xml" "$T/tok.der"
    token_id "$T/tok.der"
}

# consult bodies
tsid() { printf '<TSList><sequenceNumber>%s</sequenceNumber><dateTime>%s</dateTime></TSList>' "$1" "$2"; }
check_body() { # ID START END TSLIST-XML
    printf '<TSConsultRequest xmlns="%s"><IDHospital>%s</IDHospital><Period><Start>%s</Start><End>%s</End></Period>%s</TSConsultRequest>' \
        "$NS" "$1" "$2" "$3" "$4"
}
get_body() { # ID TSLIST-XML
    printf '<TSConsultTSBagRequest xmlns="%s"><IDHospital>%s</IDHospital>%s</TSConsultTSBagRequest>' "$NS" "$1" "$2"
}
# The response TSList as "serial:ms" lines, in order.
resp_tslist() {
    local n i
    n=$(count '//*[local-name()="TSConsultResponse"]/*[local-name()="TSList"]')
    for ((i = 1; i <= n; i++)); do
        echo "$(xp "(//*[local-name()='TSList'])[$i]/*[local-name()='sequenceNumber']"):$(xp "(//*[local-name()='TSList'])[$i]/*[local-name()='dateTime']")"
    done
}
