/*
 * mkarchive: builds the archive the verify/export integration tests audit, with the store API and
 * real RFC 3161 tokens made by `openssl ts -reply` over each bag's exact bytes with the development
 * PKI's TSA key:
 *   Refs 1-3  documents doc1..doc3 (doc3 with its content stored), bag 1, stamped
 *   Ref 4     doc4, bag 2, sent once and failed with a network error: not yet stamped
 *   Ref 5     doc5, staged (in no bag yet)
 * usage: mkarchive ARCHIVE PKI_DIR WORK_DIR  (documents are written to WORK_DIR/docN.txt)
 * The SignResponse column gets a minimal DSS envelope holding the token: verification never
 * reads it (only the token and the bag bytes are evidence).
 */
#include "codec.h"
#include "err.h"
#include "store.h"
#include "testlib.h"
#include "token.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T0 1772355600000LL /* 2026-03-01T09:00:00Z */

static const char *const docs[] = {
    "1|71000436|2026-03-01T09:00:00Z|12345678901|10987654321|0012345|NEW|amoxicillin 500 mg",
    "2|71000436|2026-03-01T09:01:00Z|12345678901|10987654321|0012346|NEW|paracetamol 1 g",
    "3|71000436|2026-03-01T09:02:00Z|12345678901|10987654321|0012347|NEW|ibuprofen 400 mg",
    "4|71000436|2026-03-01T09:10:00Z|12345678901|10987654321|0012348|NEW|omeprazole 20 mg",
    "5|71000436|2026-03-01T09:15:00Z|12345678901|10987654321|0012349|NEW|metformin 850 mg",
};

static int die(const char *what)
{
    fprintf(stderr, "mkarchive: %s: %s\n", what, tsb_err_detail());
    return 1;
}

static int append(struct tsb_store *s, int i, const char *work, bool content)
{
    char path[4096];
    struct tsb_entry_in e = {.source = "pharmacy", .received_ms = T0 + i * 60000LL};
    snprintf(path, sizeof(path), "%s/doc%d.txt", work, i + 1);
    if (tsb_test_write_file(path, docs[i], strlen(docs[i])) != 0)
        return -1;
    tsb_sha256((const uint8_t *)docs[i], strlen(docs[i]), e.digest);
    if (content) {
        e.content = (const uint8_t *)docs[i];
        e.content_len = strlen(docs[i]);
    }
    int64_t ref;
    return tsb_store_append(s, &e, 1, &ref);
}

static int stamp(struct tsb_store *s, int64_t seq, const char *pki, const char *work)
{
    struct tsb_bag_rec b;
    char path[4096];
    int r;
    if ((r = tsb_store_bag_get(s, seq, &b)) != 0)
        return r;
    snprintf(path, sizeof(path), "%s/bag.xml", work);
    if (tsb_test_write_file(path, b.bytes, b.bytes_len) != 0)
        return -1;
    if (tsb_test_sh("cd '%s' && printf '%%s\\n' '[tsa]' 'default_tsa = t' '[t]' "
                    "'serial = tsaserial' 'crypto_device = builtin' 'signer_digest = sha256' "
                    "'default_policy = 2.999.7355.1.1' 'digests = sha256' 'accuracy = secs:1' "
                    "'ess_cert_id_alg = sha256' >ts.cnf && echo 0100 >tsaserial && "
                    "openssl ts -query -data bag.xml -sha256 -cert -no_nonce -out q.tsq "
                    "2>/dev/null && openssl ts -reply -config ts.cnf -queryfile q.tsq "
                    "-signer '%s/tsa.pem' -inkey '%s/tsa.key' -token_out -out token.der "
                    "2>/dev/null",
                    work, pki, pki) != 0)
        return -1;
    size_t tlen;
    snprintf(path, sizeof(path), "%s/token.der", work);
    uint8_t *tok = tsb_test_read_file(path, &tlen);
    struct tsb_token_verifier *v = NULL;
    struct tsb_token_result res;
    struct tsb_token_verify_opts o = {0};
    snprintf(path, sizeof(path), "%s/tsa-ca.pem", pki);
    if (tok == NULL || tsb_token_verifier_new(path, &v) != 0 ||
        tsb_token_verify(v, tok, tlen, b.digest, &o, &res) != 0)
        return -1;
    struct tsb_buf env;
    tsb_buf_init(&env, 1 << 20);
    tsb_buf_append_str(&env, "<SignResponse xmlns=\"urn:oasis:names:tc:dss:1.0:core:schema\">"
                             "<SignatureObject><Timestamp><RFC3161TimeStampToken>");
    tsb_b64_encode_buf(tok, tlen, &env);
    tsb_buf_append_str(&env, "</RFC3161TimeStampToken></Timestamp></SignatureObject>"
                             "</SignResponse>");
    struct tsb_stamp st = {.sign_response = env.p,
                           .sign_response_len = env.len,
                           .token = tok,
                           .token_len = tlen,
                           .tsa_serial = res.serial,
                           .gen_time_ms = res.gen_time_ms};
    if ((r = tsb_store_bag_mark_sent(s, seq, "req-1", "urn:ehealth:profiles:timestamping:2.1-cert",
                                     T0 + 600000)) == 0)
        r = tsb_store_bag_record_stamp(s, seq, &st, T0 + 601000);
    tsb_buf_cleanup(&env);
    tsb_token_verifier_free(v);
    free(tok);
    tsb_bag_rec_cleanup(&b);
    return r;
}

int main(int argc, char **argv)
{
    struct tsb_store *s = NULL;
    struct tsb_seal_result sr;
    struct tsb_seal_opts so = {.now_ms = T0 + 300000};
    if (argc != 4) {
        fprintf(stderr, "usage: mkarchive ARCHIVE PKI_DIR WORK_DIR\n");
        return 2;
    }
    if (tsb_store_open(argv[1], NULL, &s) != 0)
        return die("open");
    for (int i = 0; i < 3; i++)
        if (append(s, i, argv[3], i == 2) != 0)
            return die("append");
    if (tsb_store_seal(s, &so, &sr) != 0 || sr.first_seq != 1)
        return die("seal 1");
    if (stamp(s, 1, argv[2], argv[3]) != 0)
        return die("stamp 1");
    if (append(s, 3, argv[3], false) != 0)
        return die("append 4");
    so.now_ms = T0 + 900000;
    if (tsb_store_seal(s, &so, &sr) != 0 || sr.first_seq != 2)
        return die("seal 2");
    if (tsb_store_bag_mark_sent(s, 2, "req-2", "urn:ehealth:profiles:timestamping:2.1-cert",
                                T0 + 901000) != 0 ||
        tsb_store_bag_record_failure(s, 2, "connection refused by the TSA", false, T0 + 902000) !=
            0)
        return die("send 2");
    if (append(s, 4, argv[3], false) != 0)
        return die("append 5");
    tsb_store_close(s);
    return 0;
}
