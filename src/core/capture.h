/*
 * capture: tsa.capture_dir, the evidence of one exchange with the TSA for eHealth acceptance.
 * Each attempt leaves files named by the bag's SequenceNumber, the attempt number and the
 * RequestID, so that a request and its answer pair up: <stem>.request.xml (the signed request
 * exactly as sent), <stem>.answer.txt (HTTP status, content type, transport outcome, the sender's
 * verdict; "answer=none" when no answer arrived) and <stem>.answer.xml|.html|.bin (the body as
 * received, at most tsa.max_response bytes). Every file is written to a temporary name and
 * renamed, so a reader never sees half a file. Nothing here sees the keystore: a request is
 * signed XML. Blocking file I/O: the sender calls it from libuv's thread pool only.
 */
#ifndef TSB_CAPTURE_H
#define TSB_CAPTURE_H

#include <stddef.h>
#include <stdint.h>

/* What the sender knows about one answer when it has checked it. Strings may be NULL or "". */
struct tsb_capture_answer {
    int64_t seq, attempt;
    const char *request_id;
    const char *transport;    /* tsb_fetch_class_name: "ok", "http", "network" ... */
    const char *error;        /* the transport's error line */
    long http_status;         /* 0: no HTTP answer arrived (no body file is written) */
    const char *content_type; /* of the answer */
    const uint8_t *body;      /* the body as received */
    size_t body_len;
    const char *verdict; /* "verified" or the failure's class (tsb_dss_class_name) */
    const char *reason, *finding, *failure_key;
};

/* Writes <dir>/<stem>.request.xml. 0, or TSB_EIO with the path in the detail. */
int tsb_capture_request(const char *dir, int64_t seq, int64_t attempt, const char *request_id,
                        const uint8_t *msg, size_t len);

/* Writes the answer's body file (when an HTTP answer arrived) and then <stem>.answer.txt, which
 * names it. 0, or TSB_EIO with the path in the detail. */
int tsb_capture_answer(const char *dir, const struct tsb_capture_answer *a);

#endif
