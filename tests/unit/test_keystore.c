/* Unit tests for keystore: the hospital PKCS#12 loads from a password file or variable, the key
 * type is reported, keystores with the legacy PBEs of older Java tools (made at test time with
 * `openssl pkcs12 -export -legacy` and friends) load like the default ones, every refusal
 * (wrong password, missing variable, unreadable file, not a PKCS#12, expired certificate) names the
 * problem without ever showing the password, a file open to others is warned about or refused, and
 * a password variable is wiped from the environment. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "err.h"
#include "keystore.h"
#include "testlib.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static char *dir;
static char p12[4200], passf[4200], ec_p12[4200], ec_pass[4200];
static char password[256];

static int setup(void **state)
{
    dir = tsb_test_tmpdir();
    if (tsb_test_sh("'%s/tests/lib/test-pki.sh' '%s' rsa && '%s/tests/lib/test-pki.sh' '%s/ec' ec",
                    tsb_test_source_dir(), dir, tsb_test_source_dir(), dir) != 0)
        return -1;
    snprintf(p12, sizeof(p12), "%s/hospital.p12", dir);
    snprintf(passf, sizeof(passf), "%s/hospital.pass", dir);
    snprintf(ec_p12, sizeof(ec_p12), "%s/ec/hospital.p12", dir);
    snprintf(ec_pass, sizeof(ec_pass), "%s/ec/hospital.pass", dir);
    size_t n;
    char *p = (char *)tsb_test_read_file(passf, &n);
    if (p == NULL)
        return -1;
    snprintf(password, sizeof(password), "%.*s", (int)strcspn(p, "\n"), p);
    free(p);
    /* the PBE choices of older tools: RC2-40 certificates with 3DES keys (-legacy, as Java's
     * keytool and the eHealth certificate tools wrote them), RC2-40 certificates with an AES key,
     * 3DES everywhere; and the EC keystore made -legacy */
    if (tsb_test_sh("cd '%s' && "
                    "openssl pkcs12 -export -legacy -inkey hospital.key -in hospital.pem "
                    "-certfile hospital-ca.pem -name authentication -passout file:hospital.pass "
                    "-out legacy.p12 && "
                    "openssl pkcs12 -export -legacy -keypbe AES-256-CBC -inkey hospital.key "
                    "-in hospital.pem -certfile hospital-ca.pem -name authentication "
                    "-passout file:hospital.pass -out legacy-rc2-aes.p12 && "
                    "openssl pkcs12 -export -certpbe PBE-SHA1-3DES -keypbe PBE-SHA1-3DES "
                    "-macalg sha1 -inkey hospital.key -in hospital.pem -certfile hospital-ca.pem "
                    "-name authentication -passout file:hospital.pass -out legacy-3des.p12 && "
                    "cd ec && openssl pkcs12 -export -legacy -inkey hospital.key -in hospital.pem "
                    "-certfile hospital-ca.pem -name authentication -passout file:hospital.pass "
                    "-out legacy.p12",
                    dir) != 0)
        return -1;
    return 0;
}

static int teardown(void **state)
{
    tsb_test_rmtree(dir);
    free(dir);
    return 0;
}

static int64_t now_ms(void)
{
    return (int64_t)time(NULL) * 1000;
}

static void test_loads_from_file(void **state)
{
    struct tsb_keystore_source src = {.path = p12, .password_file = passf};
    struct tsb_keystore *ks = NULL;
    assert_int_equal(tsb_keystore_load(&src, now_ms(), &ks), 0);
    assert_int_equal(tsb_keystore_key_type(ks), TSB_KEY_RSA);
    assert_non_null(strstr(tsb_keystore_describe(ks), "CN=tsa_0406798006_01"));
    assert_int_equal(tsb_keystore_ca_count(ks), 1); /* the hospital CA */
    assert_int_equal(tsb_keystore_check_chain(ks), 0);
    assert_true(tsb_keystore_not_after_ms(ks) > now_ms());
    assert_non_null(strstr(tsb_keystore_describe(ks), "RSA key"));
    assert_null(strstr(tsb_keystore_describe(ks), password));
    tsb_keystore_free(ks);

    src.path = ec_p12;
    src.password_file = ec_pass;
    assert_int_equal(tsb_keystore_load(&src, now_ms(), &ks), 0);
    assert_int_equal(tsb_keystore_key_type(ks), TSB_KEY_EC);
    tsb_keystore_free(ks);
}

/* name: file under dir; pbe: what `openssl pkcs12 -info` must report for it (proves the file
 * really uses the old algorithm, whatever the local openssl defaults are). */
static void test_loads_legacy_keystores(void **state)
{
    static const struct {
        const char *name, *pass, *pbe;
        enum tsb_key_type type;
    } cases[] = {
        {"legacy.p12", "hospital.pass", "pbeWithSHA1And40BitRC2-CBC", TSB_KEY_RSA},
        {"legacy-rc2-aes.p12", "hospital.pass", "pbeWithSHA1And40BitRC2-CBC", TSB_KEY_RSA},
        {"legacy-3des.p12", "hospital.pass", "pbeWithSHA1And3-KeyTripleDES-CBC", TSB_KEY_RSA},
        {"ec/legacy.p12", "ec/hospital.pass", "pbeWithSHA1And40BitRC2-CBC", TSB_KEY_EC},
        {"hospital.p12", "hospital.pass", "AES-256-CBC", TSB_KEY_RSA}, /* today's default */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char path[4300], pass[4300];
        snprintf(path, sizeof(path), "%s/%s", dir, cases[i].name);
        snprintf(pass, sizeof(pass), "%s/%s", dir, cases[i].pass);
        if (tsb_test_sh("openssl pkcs12 -legacy -info -noout -in '%s' -passin 'file:%s' 2>&1 | "
                        "grep -q '%s'",
                        path, pass, cases[i].pbe) != 0)
            fail_msg("%s does not use %s", cases[i].name, cases[i].pbe);
        struct tsb_keystore_source src = {.path = path, .password_file = pass};
        struct tsb_keystore *ks = NULL;
        if (tsb_keystore_load(&src, now_ms(), &ks) != 0)
            fail_msg("%s: %s", cases[i].name, tsb_err_detail());
        assert_int_equal(tsb_keystore_key_type(ks), cases[i].type);
        assert_int_equal(tsb_keystore_ca_count(ks), 1); /* the hospital CA */
        assert_non_null(strstr(tsb_keystore_describe(ks), "CN=tsa_0406798006_01"));
        tsb_keystore_free(ks);
    }

    /* the retry keeps the checks: a wrong password still says so */
    char path[4300], wrong[4300];
    snprintf(path, sizeof(path), "%s/legacy.p12", dir);
    snprintf(wrong, sizeof(wrong), "%s/wrong-legacy.pass", dir);
    assert_int_equal(tsb_test_write_file(wrong, "nope\n", 5), 0);
    struct tsb_keystore_source src = {.path = path, .password_file = wrong};
    struct tsb_keystore *ks = NULL;
    assert_int_equal(tsb_keystore_load(&src, now_ms(), &ks), TSB_ECONFIG);
    assert_null(ks);
    assert_non_null(strstr(tsb_err_detail(), "wrong password"));
}

static void test_loads_from_environment(void **state)
{
    setenv("TSB_TEST_KS_PASS", password, 1);
    /* the variable wins over a (wrong) file */
    struct tsb_keystore_source src = {
        .path = p12, .password_file = "/nonexistent", .password_env = "TSB_TEST_KS_PASS"};
    struct tsb_keystore *ks = NULL;
    assert_int_equal(tsb_keystore_load(&src, now_ms(), &ks), 0);
    tsb_keystore_free(ks);
    unsetenv("TSB_TEST_KS_PASS");
    ks = NULL;
    assert_int_equal(tsb_keystore_load(&src, now_ms(), &ks), TSB_ECONFIG);
    assert_null(ks);
    assert_non_null(strstr(tsb_err_detail(), "TSB_TEST_KS_PASS is not set"));
}

static void test_refusals(void **state)
{
    char wrong[4200], garbage[4200];
    snprintf(wrong, sizeof(wrong), "%s/wrong.pass", dir);
    snprintf(garbage, sizeof(garbage), "%s/garbage.p12", dir);
    assert_int_equal(tsb_test_write_file(wrong, "not-the-password\n", 17), 0);
    assert_int_equal(tsb_test_write_file(garbage, "hello", 5), 0);
    static const char *none = "";
    const struct {
        const char *path, *pass;
        int64_t now;
        const char *detail;
    } cases[] = {
        {p12, wrong, 0, "wrong password"},
        {"/nonexistent/h.p12", passf, 0, "cannot open keystore"},
        {garbage, passf, 0, "not a PKCS#12"},
        {p12, "/nonexistent/pass", 0, "cannot open keystore password file"},
        {p12, none, 0, "no keystore password source"},
        /* year 2100: the certificate has expired */
        {p12, passf, INT64_C(4102444800000), "has expired"},
        /* 1990: not valid yet */
        {p12, passf, INT64_C(631152000000), "not valid yet"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct tsb_keystore_source src = {.path = cases[i].path, .password_file = cases[i].pass};
        struct tsb_keystore *ks = NULL;
        assert_int_equal(tsb_keystore_load(&src, cases[i].now ? cases[i].now : now_ms(), &ks),
                         TSB_ECONFIG);
        assert_null(ks);
        if (strstr(tsb_err_detail(), cases[i].detail) == NULL)
            fail_msg("case %zu: '%s' lacks '%s'", i, tsb_err_detail(), cases[i].detail);
        assert_null(strstr(tsb_err_detail(), password));
        assert_null(strstr(tsb_err_detail(), "not-the-password"));
    }
}

/* The bytes of the entry itself are wiped, not only unlinked from environ: that is what
 * /proc/<pid>/environ reads for a variable the process was started with. */
static void test_forget_env(void **state)
{
    static char entry[] = "TSB_TEST_KS_FORGET=s3cret-value";
    static char other[] = "TSB_TEST_KS_FORGETX=stays";
    assert_int_equal(putenv(entry), 0); /* environ now points at entry itself */
    assert_int_equal(putenv(other), 0);
    assert_string_equal(getenv("TSB_TEST_KS_FORGET"), "s3cret-value");
    tsb_keystore_forget_env("TSB_TEST_KS_FORGET");
    assert_null(getenv("TSB_TEST_KS_FORGET"));
    for (size_t i = 0; i < sizeof(entry) - 1; i++)
        assert_int_equal(entry[i], 0);
    assert_string_equal(getenv("TSB_TEST_KS_FORGETX"), "stays"); /* a longer name is another */
    tsb_keystore_forget_env(NULL);
    tsb_keystore_forget_env("");
    tsb_keystore_forget_env("TSB_TEST_KS_NEVER_SET");
    unsetenv("TSB_TEST_KS_FORGETX");
}

/* A keystore or password file open to group or others: a warning (0) by default, TSB_ECONFIG
 * naming the file and its mode with refuse; 0600 passes; the password file is not looked at when
 * the password comes from a variable. */
static void test_check_private(void **state)
{
    char ks[4200], pass[4200];
    snprintf(ks, sizeof(ks), "%s/private.p12", dir);
    snprintf(pass, sizeof(pass), "%s/private.pass", dir);
    assert_int_equal(tsb_test_write_file(ks, "x", 1), 0);
    assert_int_equal(tsb_test_write_file(pass, "x", 1), 0);
    assert_int_equal(chmod(ks, 0600), 0);
    assert_int_equal(chmod(pass, 0600), 0);
    struct tsb_keystore_source src = {.path = ks, .password_file = pass};
    assert_int_equal(tsb_keystore_check_private(&src, true), 0);

    const struct {
        mode_t ks, pass;
        const char *detail; /* NULL: accepted even with refuse */
    } cases[] = {
        {0644, 0600, "private.p12 is accessible by group or others (mode 0644)"},
        {0640, 0600, "(mode 0640)"},
        {0602, 0600, "(mode 0602)"},
        {0600, 0604, "keystore password file"},
        {0400, 0400, NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(chmod(ks, cases[i].ks), 0);
        assert_int_equal(chmod(pass, cases[i].pass), 0);
        assert_int_equal(tsb_keystore_check_private(&src, false), 0);
        int r = tsb_keystore_check_private(&src, true);
        if (cases[i].detail == NULL) {
            assert_int_equal(r, 0);
            continue;
        }
        assert_int_equal(r, TSB_ECONFIG);
        if (strstr(tsb_err_detail(), cases[i].detail) == NULL)
            fail_msg("case %zu: '%s' lacks '%s'", i, tsb_err_detail(), cases[i].detail);
    }
    assert_int_equal(chmod(ks, 0600), 0);
    assert_int_equal(chmod(pass, 0644), 0);
    src.password_env = "TSB_TEST_KS_PASS";
    assert_int_equal(tsb_keystore_check_private(&src, true), 0);
    src.path = "/nonexistent/h.p12"; /* left to the loader */
    assert_int_equal(tsb_keystore_check_private(&src, true), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_loads_from_file),
        cmocka_unit_test(test_loads_legacy_keystores),
        cmocka_unit_test(test_loads_from_environment),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_forget_env),
        cmocka_unit_test(test_check_private),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
