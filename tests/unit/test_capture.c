/* Unit tests for capture: the request/answer files of tsa.capture_dir in a temporary folder. Names
 * pair by SequenceNumber, attempt and RequestID, and a RequestID cannot leave the folder; the
 * answer body keeps its bytes and gets its extension from the Content-Type; the metadata is one
 * key=value per line whatever the peer sent (stock sha256sum is the witness of answer_sha256); no
 * answer gives answer=none and no body file; nothing temporary is left; an unwritable folder is
 * an error that names the path. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "capture.h"
#include "err.h"
#include "testlib.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *dir;

static int setup(void **state)
{
    (void)state;
    dir = tsb_test_tmpdir();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tsb_test_rmtree(dir);
    free(dir);
    return 0;
}

static char *slurp(const char *name, size_t *len)
{
    char *p = tsb_test_path(dir, name);
    uint8_t *b = tsb_test_read_file(p, len);
    free(p);
    return (char *)b;
}

/* Exit status of a shell command run in the capture folder. */
static int in_dir(const char *cmd)
{
    return tsb_test_sh("cd '%s' && %s", dir, cmd);
}

static void test_request_named_and_kept(void **state)
{
    (void)state;
    static const char msg[] = "<soapenv:Envelope>signed</soapenv:Envelope>";
    assert_int_equal(tsb_capture_request(dir, 12, 3, "TSB-tsa_0123456749_01-12-ab",
                                         (const uint8_t *)msg, strlen(msg)),
                     0);
    size_t n = 0;
    char *got = slurp("bag-12-attempt-3-TSB-tsa_0123456749_01-12-ab.request.xml", &n);
    assert_non_null(got);
    assert_int_equal(n, strlen(msg));
    assert_memory_equal(got, msg, n);
    free(got);
    /* a RequestID is peer-influenced text in the end: it never names another folder */
    assert_int_equal(tsb_capture_request(dir, 1, 1, "../x/y z", (const uint8_t *)"a", 1), 0);
    got = slurp("bag-1-attempt-1-.._x_y_z.request.xml", &n);
    assert_non_null(got);
    free(got);
    assert_int_equal(in_dir("test \"$(ls -A | wc -l)\" = 2"), 0);
}

static void test_answer_body_and_metadata(void **state)
{
    (void)state;
    static const char body[] = "<?xml version=\"1.0\"?><Envelope>\nanswer\n</Envelope>";
    struct tsb_capture_answer a = {.seq = 7,
                                   .attempt = 2,
                                   .request_id = "TSB-h-7-01",
                                   .transport = "ok",
                                   .error = "",
                                   .http_status = 200,
                                   .content_type = "text/xml; charset=utf-8",
                                   .body = (const uint8_t *)body,
                                   .body_len = strlen(body),
                                   .verdict = "rejected",
                                   .reason = "token rejected\nsecond line\r\nthird",
                                   .finding = "imprint:sha256:base64-text",
                                   .failure_key =
                                       "token:messageImprint:imprint:sha256:base64-text"};
    assert_int_equal(tsb_capture_answer(dir, &a), 0);
    size_t n = 0;
    char *got = slurp("bag-7-attempt-2-TSB-h-7-01.answer.xml", &n);
    assert_non_null(got);
    assert_int_equal(n, strlen(body));
    assert_memory_equal(got, body, n);
    free(got);
    char *meta = slurp("bag-7-attempt-2-TSB-h-7-01.answer.txt", &n);
    assert_non_null(meta);
    static const char *const lines[] = {
        "seq=7\n",
        "attempt=2\n",
        "request_id=TSB-h-7-01\n",
        "request=bag-7-attempt-2-TSB-h-7-01.request.xml\n",
        "transport=ok\n",
        "transport_error=\n",
        "http_status=200\n",
        "content_type=text/xml; charset=utf-8\n",
        "answer=bag-7-attempt-2-TSB-h-7-01.answer.xml\n",
        "verdict=rejected\n",
        "reason=token rejected second line  third\n",
        "finding=imprint:sha256:base64-text\n",
        "failure_key=token:messageImprint:imprint:sha256:base64-text\n",
    };
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
        if (strstr(meta, lines[i]) == NULL)
            fail_msg("metadata lacks %s in:\n%s", lines[i], meta);
    char bytes_line[64];
    snprintf(bytes_line, sizeof(bytes_line), "\nanswer_bytes=%zu\n", strlen(body));
    assert_non_null(strstr(meta, bytes_line));
    free(meta);
    assert_int_equal(
        in_dir("test \"$(sed -n 's/^answer_sha256=//p' bag-7-attempt-2-TSB-h-7-01.answer.txt)\" = "
               "\"$(sha256sum bag-7-attempt-2-TSB-h-7-01.answer.xml | cut -d' ' -f1)\""),
        0);
    /* every line is key=value: the reason's line breaks did not make lines of their own */
    assert_int_equal(
        in_dir("test \"$(grep -vc '^[a-z_0-9]*=' bag-7-attempt-2-TSB-h-7-01.answer.txt)\" = 0"), 0);
    assert_int_equal(in_dir("test \"$(ls -A | grep -c tmp)\" = 0"), 0);
}

static void test_body_extension_from_content_type(void **state)
{
    (void)state;
    static const struct {
        const char *content_type, *file;
    } t[] = {
        {"application/soap+xml; charset=utf-8", "bag-1-attempt-1-r.answer.xml"},
        {"TEXT/XML", "bag-1-attempt-2-r.answer.xml"},
        {"text/html; charset=iso-8859-1", "bag-1-attempt-3-r.answer.html"},
        {"application/octet-stream", "bag-1-attempt-4-r.answer.bin"},
        {"", "bag-1-attempt-5-r.answer.bin"},
        {"text/plain; note=xml", "bag-1-attempt-6-r.answer.bin"}, /* parameters do not count */
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        struct tsb_capture_answer a = {.seq = 1,
                                       .attempt = (int64_t)i + 1,
                                       .request_id = "r",
                                       .transport = "http",
                                       .http_status = 503,
                                       .content_type = t[i].content_type,
                                       .body = (const uint8_t *)"x",
                                       .body_len = 1,
                                       .verdict = "transient"};
        assert_int_equal(tsb_capture_answer(dir, &a), 0);
        size_t n = 0;
        char *got = slurp(t[i].file, &n);
        if (got == NULL)
            fail_msg("content type '%s': no %s", t[i].content_type, t[i].file);
        free(got);
    }
}

static void test_no_answer(void **state)
{
    (void)state;
    struct tsb_capture_answer a = {.seq = 4,
                                   .attempt = 1,
                                   .request_id = "r",
                                   .transport = "network",
                                   .error = "Connection reset by peer",
                                   .http_status = 0,
                                   .verdict = "transient",
                                   .reason = "network: Connection reset by peer",
                                   .failure_key = "fetch:network"};
    assert_int_equal(tsb_capture_answer(dir, &a), 0);
    size_t n = 0;
    char *meta = slurp("bag-4-attempt-1-r.answer.txt", &n);
    assert_non_null(meta);
    assert_non_null(strstr(meta, "\nanswer=none\n"));
    assert_non_null(strstr(meta, "\nhttp_status=0\n"));
    assert_non_null(strstr(meta, "\ntransport_error=Connection reset by peer\n"));
    assert_null(strstr(meta, "answer_bytes="));
    free(meta);
    assert_int_equal(in_dir("test \"$(ls | grep -c '^bag-4-attempt-1-r\\.answer\\.')\" = 1"), 0);
}

static void test_unwritable_folder(void **state)
{
    (void)state;
    char *missing = tsb_test_path(dir, "no/such/folder");
    assert_int_equal(tsb_capture_request(missing, 1, 1, "r", (const uint8_t *)"a", 1), TSB_EIO);
    assert_non_null(strstr(tsb_err_detail(), "no/such/folder/.bag-1-attempt-1-r.request.xml.tmp"));
    struct tsb_capture_answer a = {.seq = 1, .attempt = 1, .request_id = "r", .http_status = 0};
    assert_int_equal(tsb_capture_answer(missing, &a), TSB_EIO);
    assert_non_null(strstr(tsb_err_detail(), "no/such/folder"));
    free(missing);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_request_named_and_kept, setup, teardown),
        cmocka_unit_test_setup_teardown(test_answer_body_and_metadata, setup, teardown),
        cmocka_unit_test_setup_teardown(test_body_extension_from_content_type, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_answer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unwritable_folder, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
