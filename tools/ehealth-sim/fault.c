/*
 * fault: the simulator's fault injection knobs, set with --fault at start or POST /admin/fault at
 * run time. A knob is "NAME[=ARG][@N]": without @N it stays on until cleared, with @N it applies
 * to the next N requests of the endpoints it concerns. Each request takes a snapshot of the knobs
 * when it arrives (sim_faults_take), so a knob changed meanwhile never half-applies.
 */
#include "sim.h"

#include "err.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const struct {
    const char *name;
    bool needs_arg;
    bool tsa_only;
    int64_t def;  /* default argument */
    bool rfc3161; /* the RFC 3161 endpoint's knob, consumed there only */
} knobs[SIM_K__COUNT] = {
    [SIM_K_LATENCY] = {"latency", true, false, 0},
    [SIM_K_HTTP500] = {"http-500", false, false, 0},
    [SIM_K_HTTP503] = {"http-503", false, false, 0},
    [SIM_K_HTTP403] = {"http-403", false, false, 0},
    [SIM_K_RESET] = {"reset", false, false, 0},
    [SIM_K_TIMEOUT] = {"timeout", false, false, 600},
    [SIM_K_DROP] = {"drop-response", false, false, 0},
    [SIM_K_MALFORMED] = {"malformed-xml", false, false, 0},
    [SIM_K_WRONG_IMPRINT] = {"wrong-imprint", false, true, 0},
    [SIM_K_UNTRUSTED_TSA] = {"untrusted-tsa", false, true, 0},
    [SIM_K_LEGACY] = {"legacy-double-base64", false, true, 0},
    [SIM_K_IMPRINT_BASE64] = {"imprint-over-base64", false, true, 0},
    [SIM_K_IMPRINT_C14N] = {"imprint-over-c14n", false, true, 0},
    [SIM_K_SHA384] = {"sha384-imprint", false, true, 0},
    [SIM_K_NO_CERTS] = {"token-without-certs", false, true, 0},
    [SIM_K_PSS] = {"pss-signature", false, true, 0},
    [SIM_K_NO_REQUEST_ID] = {"no-request-id", false, true, 0},
    [SIM_K_WRONG_REQUEST_ID] = {"wrong-request-id", false, true, 0},
    [SIM_K_REQUESTER_ERROR] = {"requester-error", false, true, 0},
    [SIM_K_RESPONDER_ERROR] = {"responder-error", false, true, 0},
    [SIM_K_TSA2_DOWN] = {"tsa2-down", false, true, 0, true},
    [SIM_K_TSA2_NONCE] = {"tsa2-wrong-nonce", false, true, 0, true},
    [SIM_K_TSA2_IMPRINT] = {"tsa2-wrong-imprint", false, true, 0, true},
    [SIM_K_TSA2_UNTRUSTED] = {"tsa2-untrusted", false, true, 0, true},
    [SIM_K_TSA2_NEXT] = {"tsa2-next", false, true, 0, true},
};

void sim_faults_init(struct sim_faults *f)
{
    memset(f, 0, sizeof(*f));
    pthread_mutex_init(&f->mu, NULL);
}

void sim_faults_cleanup(struct sim_faults *f)
{
    pthread_mutex_destroy(&f->mu);
}

static int parse_int(const char *s, int64_t min, int64_t max, int64_t *out)
{
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (s[0] == '\0' || *end != '\0' || errno != 0 || v < min || v > max)
        return TSB_EINVAL;
    *out = v;
    return 0;
}

int sim_faults_apply(struct sim_faults *f, struct sim_archive *a, const char *spec_in)
{
    char spec[256];
    snprintf(spec, sizeof(spec), "%s", spec_in);
    size_t n = strlen(spec);
    while (n > 0 && strchr(" \t\r\n", spec[n - 1]))
        spec[--n] = '\0';
    if (strcmp(spec, "clear") == 0 || strcmp(spec, "none") == 0) {
        pthread_mutex_lock(&f->mu);
        memset(f->left, 0, sizeof(f->left));
        f->clock_offset_ms = 0;
        pthread_mutex_unlock(&f->mu);
        return 0;
    }
    int64_t count = -1;
    char *at = strchr(spec, '@');
    if (at) {
        *at = '\0';
        if (parse_int(at + 1, 1, 1000000, &count) != 0)
            return tsb_err(TSB_EINVAL, "fault \"%s\": @N needs a count from 1 to 1000000", spec_in);
    }
    char *arg = strchr(spec, '=');
    if (arg)
        *arg++ = '\0';
    if (strcmp(spec, "clock-offset") == 0) {
        int64_t s;
        if (arg == NULL || parse_int(arg, -10LL * 365 * 86400, 10LL * 365 * 86400, &s) != 0)
            return tsb_err(TSB_EINVAL, "fault \"%s\": clock-offset=[+-]SECONDS", spec_in);
        pthread_mutex_lock(&f->mu);
        f->clock_offset_ms = s * 1000;
        pthread_mutex_unlock(&f->mu);
        return 0;
    }
    if (strcmp(spec, "forget-bag") == 0) {
        int64_t serial = 0;
        if (arg == NULL || (strcmp(arg, "last") != 0 && parse_int(arg, 1, INT64_MAX, &serial)))
            return tsb_err(TSB_EINVAL, "fault \"%s\": forget-bag=SERIAL or forget-bag=last",
                           spec_in);
        if (a == NULL)
            return 0;
        int64_t bag;
        return sim_archive_forget(a, serial, &bag);
    }
    for (int k = 0; k < SIM_K__COUNT; k++) {
        if (strcmp(spec, knobs[k].name) != 0)
            continue;
        int64_t v = knobs[k].def;
        if (knobs[k].needs_arg && arg == NULL)
            return tsb_err(TSB_EINVAL, "fault \"%s\" needs =ARG", spec_in);
        if (arg && !knobs[k].needs_arg && k != SIM_K_TIMEOUT)
            return tsb_err(TSB_EINVAL, "fault \"%s\" takes no argument", spec_in);
        if (arg && parse_int(arg, 0, 3600 * 1000, &v) != 0)
            return tsb_err(TSB_EINVAL, "fault \"%s\": the argument must be a number", spec_in);
        pthread_mutex_lock(&f->mu);
        f->arg[k] = v;
        f->left[k] = count;
        pthread_mutex_unlock(&f->mu);
        return 0;
    }
    char list[1024] = "";
    for (int k = 0; k < SIM_K__COUNT; k++) {
        size_t used = strlen(list);
        snprintf(list + used, sizeof(list) - used, "%s%s, ", knobs[k].name,
                 knobs[k].needs_arg ? "=MS" : (k == SIM_K_TIMEOUT ? "[=S]" : ""));
    }
    return tsb_err(TSB_EINVAL,
                   "unknown fault \"%s\" (%sclock-offset=S, forget-bag=SERIAL|last, clear)",
                   spec_in, list);
}

/* Takes the knobs of one endpoint: the eHealth TSA (tsa), TSConsult, or the RFC 3161 one. */
static void take(struct sim_faults *f, bool tsa, bool rfc3161, struct sim_fault_set *out)
{
    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&f->mu);
    for (int k = 0; k < SIM_K__COUNT; k++) {
        if (f->left[k] == 0 || knobs[k].rfc3161 != rfc3161 || (knobs[k].tsa_only && !tsa))
            continue;
        out->on[k] = true;
        out->arg[k] = f->arg[k];
        if (f->left[k] > 0)
            f->left[k]--;
    }
    pthread_mutex_unlock(&f->mu);
}

void sim_faults_take(struct sim_faults *f, bool tsa, struct sim_fault_set *out)
{
    take(f, tsa, false, out);
}

void sim_faults_take_rfc3161(struct sim_faults *f, struct sim_fault_set *out)
{
    take(f, true, true, out);
}

int sim_faults_list(struct sim_faults *f, struct tsb_buf *out)
{
    int r = 0;
    pthread_mutex_lock(&f->mu);
    for (int k = 0; k < SIM_K__COUNT && r == 0; k++) {
        if (f->left[k] == 0)
            continue;
        r = tsb_buf_append_str(out, knobs[k].name);
        if (r == 0 && (knobs[k].needs_arg || k == SIM_K_TIMEOUT))
            r = tsb_buf_appendf(out, "=%" PRId64, f->arg[k]);
        if (r == 0 && f->left[k] > 0)
            r = tsb_buf_appendf(out, "@%" PRId64, f->left[k]);
        if (r == 0)
            r = tsb_buf_append_str(out, "\n");
    }
    if (r == 0 && f->clock_offset_ms != 0)
        r = tsb_buf_appendf(out, "clock-offset=%" PRId64 "\n", f->clock_offset_ms / 1000);
    pthread_mutex_unlock(&f->mu);
    return r;
}

int64_t sim_now_ms(struct sim_faults *f)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    pthread_mutex_lock(&f->mu);
    int64_t off = f->clock_offset_ms;
    pthread_mutex_unlock(&f->mu);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + off;
}
