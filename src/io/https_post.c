/*
 * https_post: a blocking SOAP POST with libcurl's easy interface. Each call uses its own easy
 * handle (the CLI makes a handful of calls per run), so no state survives between calls and no
 * handle is shared between threads. The write callback refuses bytes past max_response, which
 * aborts the transfer instead of buffering a hostile answer.
 */
#include "https_post.h"

#include "err.h"

#include <curl/curl.h>
#include <pthread.h>
#include <string.h>

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

struct sink {
    struct tsb_buf *b;
    size_t max;
    size_t start;
    int overflow;
};

static size_t on_data(char *p, size_t size, size_t n, void *arg)
{
    struct sink *k = arg;
    size_t len = size * n;
    if (k->b->len - k->start + len > k->max || tsb_buf_append(k->b, p, len) != 0) {
        k->overflow = 1;
        return 0; /* aborts the transfer: CURLE_WRITE_ERROR */
    }
    return len;
}

int tsb_https_post(const char *url, const struct tsb_https_opts *o, const uint8_t *body, size_t len,
                   struct tsb_buf *resp, long *status)
{
    int r = TSB_EINTERNAL;
    CURL *c = NULL;
    struct curl_slist *hdr = NULL;
    char action[600], errbuf[CURL_ERROR_SIZE] = "";
    struct sink k = {.b = resp, .max = o->max_response, .start = resp->len};

    if (url == NULL || strncmp(url, "https://", 8) != 0)
        return tsb_err(TSB_EINVAL, "URL \"%s\" is not https://", url ? url : "");
    pthread_once(&curl_once, curl_init);
    if (curl_init_rc != CURLE_OK)
        return tsb_err(TSB_EINTERNAL, "libcurl initialisation failed: %s",
                       curl_easy_strerror(curl_init_rc));
    if ((c = curl_easy_init()) == NULL)
        return tsb_err(TSB_EINTERNAL, "curl_easy_init failed");
    hdr = curl_slist_append(hdr, "Content-Type: text/xml; charset=utf-8");
    hdr = curl_slist_append(hdr, "Expect:");
    if (o->soap_action != NULL) {
        snprintf(action, sizeof(action), "SOAPAction: \"%s\"", o->soap_action);
        hdr = curl_slist_append(hdr, action);
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
    if (o->ca_file != NULL && *o->ca_file != '\0')
        curl_easy_setopt(c, CURLOPT_CAINFO, o->ca_file);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)o->connect_timeout_ms);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)o->timeout_ms);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, (const char *)body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &k);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "tsbag/" TSB_VERSION);

    CURLcode rc = curl_easy_perform(c);
    if (k.overflow) {
        r = tsb_err(TSB_ETOOBIG, "answer from %s is larger than %zu bytes", url, o->max_response);
    } else if (rc == CURLE_OPERATION_TIMEDOUT) {
        r = tsb_err(TSB_ETIMEOUT, "%s: %s", url, errbuf[0] ? errbuf : curl_easy_strerror(rc));
    } else if (rc != CURLE_OK) {
        r = tsb_err(TSB_ENET, "%s: %s", url, errbuf[0] ? errbuf : curl_easy_strerror(rc));
    } else {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
        r = 0;
    }
    curl_slist_free_all(hdr);
    curl_easy_cleanup(c);
    return r;
}
