/* Unit tests for config: defaults, file parsing with precise errors, overrides, derived paths,
 * and that docs/configuration.md documents every option with its real default. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "config.h"
#include "err.h"
#include "testlib.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *write_tmp(const char *dir, const char *text)
{
    char *p = tsb_test_path(dir, "tsbag.ini");
    assert_int_equal(tsb_test_write_file(p, text, strlen(text)), 0);
    return p;
}

static void test_defaults(void **state)
{
    struct tsb_config c;
    tsb_config_defaults(&c);
    assert_string_equal(c.general.state_dir, "state");
    assert_int_equal(c.sealer.interval_s, 300);
    assert_int_equal(c.sealer.max_entries, 100000);
    assert_int_equal(c.sealer.hash_encoding, TSB_HASH_HEX);
    assert_int_equal(c.sealer.bag_namespace, TSB_BAG_NS_V2);
    assert_int_equal(c.ingest.max_frame, 1048576);
    assert_int_equal(c.ingest.unix_mode, 0660);
    assert_false(c.store.store_content);
    assert_string_equal(c.tsa.profile, "urn:ehealth:profiles:timestamping:2.1-cert");
    assert_int_equal(tsb_config_finish(&c), 0);
    assert_string_equal(c.store.path, "state/archive.db");
    assert_string_equal(c.ingest.unix_socket, "state/tsbagd.sock");
    assert_string_equal(c.tsa.keystore, "state/pki/hospital.p12");
    tsb_config_cleanup(&c);
}

static void test_file_values_and_errors(void **state)
{
    char *dir = tsb_test_tmpdir();
    struct tsb_config c;
    tsb_config_defaults(&c);
    char *p = write_tmp(dir, "; comment\n[general]\nstate_dir = /var/lib/tsbag\n"
                             "[sealer]\ninterval_s = 60\nhash_encoding = base64\n"
                             "[store]\nstore_content = yes\n[ingest]\nunix_mode = 0600\n");
    assert_int_equal(tsb_config_load_file(&c, p), 0);
    assert_string_equal(c.general.state_dir, "/var/lib/tsbag");
    assert_int_equal(c.sealer.interval_s, 60);
    assert_int_equal(c.sealer.hash_encoding, TSB_HASH_BASE64);
    assert_true(c.store.store_content);
    assert_int_equal(c.ingest.unix_mode, 0600);
    free(p);

    static const struct {
        const char *text;
        const char *expect; /* substring of the detail */
    } bad[] = {
        {"[general]\nstate_dirr = x\n", ":2: unknown key 'state_dirr' in section [general]"},
        {"[nope]\nx = 1\n", ":2: unknown section [nope]"},
        {"[sealer]\n\ninterval_s = often\n", ":3: sealer.interval_s: expected an integer"},
        {"[sealer]\ninterval_s = 0\n", "sealer.interval_s: 0 is outside [1, 86400]"},
        {"[store]\nstore_content = maybe\n", "store.store_content: expected true or false"},
        {"[sealer]\nbag_namespace = v3\n", "expected v2 or v1"},
        {"[general]\nthis line has no equals\n", ":2: syntax error"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        p = write_tmp(dir, bad[i].text);
        assert_int_equal(tsb_config_load_file(&c, p), TSB_ECONFIG);
        if (strstr(tsb_err_detail(), bad[i].expect) == NULL)
            fail_msg("case %zu: '%s' lacks '%s'", i, tsb_err_detail(), bad[i].expect);
        assert_non_null(strstr(tsb_err_detail(), p)); /* the file is named */
        free(p);
    }
    assert_int_equal(tsb_config_load_file(&c, "/nonexistent/tsbag.ini"), TSB_ECONFIG);
    assert_non_null(strstr(tsb_err_detail(), "cannot open"));
    tsb_config_cleanup(&c);
    tsb_test_rmtree(dir);
    free(dir);
}

static void test_overrides_and_cross_checks(void **state)
{
    struct tsb_config c;
    tsb_config_defaults(&c);
    assert_int_equal(tsb_config_set_override(&c, "writer.batch_max=17"), 0);
    assert_int_equal(c.writer.batch_max, 17);
    assert_int_equal(tsb_config_set_override(&c, "writer.batch_max"), TSB_ECONFIG);
    assert_int_equal(tsb_config_set_override(&c, "nodot=1"), TSB_ECONFIG);
    assert_int_equal(tsb_config_set_override(&c, "writer.nokey=1"), TSB_ECONFIG);
    assert_non_null(strstr(tsb_err_detail(), "command line"));
    assert_int_equal(tsb_config_set_override(&c, "tsa.retry_min_ms=5000"), 0);
    assert_int_equal(tsb_config_set_override(&c, "tsa.retry_max_ms=1000"), 0);
    assert_int_equal(tsb_config_finish(&c), TSB_ECONFIG);
    assert_non_null(strstr(tsb_err_detail(), "retry_min_ms"));
    tsb_config_cleanup(&c);

    tsb_config_defaults(&c);
    assert_int_equal(tsb_config_set_override(&c, "sealer.bag_root=ts:Bag"), 0);
    assert_int_equal(tsb_config_finish(&c), TSB_ECONFIG);
    assert_non_null(strstr(tsb_err_detail(), "sealer.bag_root: bag root element name 'ts:Bag'"));
    tsb_config_cleanup(&c);

    /* [tsa2]: its own anchors, https for credentials, its own retry bounds */
    static const struct {
        const char *set[3];
        const char *why; /* NULL: accepted */
    } tsa2[] = {
        {{"tsa2.url=", NULL}, NULL},
        {{"tsa2.url=ftp://tsa.example", NULL}, "must start with http:// or https://"},
        {{"tsa2.url=https://tsa.example", NULL}, "tsa2.trust_anchors is empty"},
        {{"tsa2.url=http://tsa.example", "tsa2.trust_anchors=a.pem", NULL}, NULL},
        {{"tsa2.url=http://tsa.example", "tsa2.trust_anchors=a.pem", "tsa2.credentials_file=c"},
         "send the password in clear"},
        {{"tsa2.url=https://tsa.example", "tsa2.trust_anchors=a.pem", "tsa2.retry_min_ms=9000"},
         "tsa2.retry_min_ms (9000) exceeds tsa2.retry_max_ms"},
    };
    for (size_t i = 0; i < sizeof(tsa2) / sizeof(tsa2[0]); i++) {
        tsb_config_defaults(&c);
        assert_int_equal(tsb_config_set_override(&c, "tsa2.retry_max_ms=1000"), 0);
        for (int k = 0; k < 3 && tsa2[i].set[k] != NULL; k++)
            assert_int_equal(tsb_config_set_override(&c, tsa2[i].set[k]), 0);
        int r = tsb_config_finish(&c);
        if (tsa2[i].why == NULL) {
            assert_int_equal(r, 0);
            if (c.tsa2.url[0] != '\0')
                assert_string_equal(c.tsa2.ca_file, c.tsa.ca_file); /* tsa.ca_file by default */
        } else {
            assert_int_equal(r, TSB_ECONFIG);
            if (strstr(tsb_err_detail(), tsa2[i].why) == NULL)
                fail_msg("case %zu: '%s' lacks '%s'", i, tsb_err_detail(), tsa2[i].why);
        }
        tsb_config_cleanup(&c);
    }

    tsb_config_defaults(&c);
    assert_int_equal(tsb_config_set_override(&c, "ingest.tcp_listen=127.0.0.1:0"), 0);
    assert_int_equal(tsb_config_finish(&c), TSB_ECONFIG);
    assert_non_null(strstr(tsb_err_detail(), "tls_cert"));
    tsb_config_cleanup(&c);
}

/* general.environment picks the eHealth URLs unless they are set; outside the simulator the
 * IDHospital must be explicit, well-formed and not the demo hospital. */
static void test_environment_and_id_hospital(void **state)
{
    static const struct {
        const char *env;
        const char *tsa, *consult;
    } envs[] = {
        {"simulator", "https://localhost:8443/TimestampAuthority/v2",
         "https://localhost:8443/TimestampConsult/v2"},
        {"acceptance", "https://services-acpt.ehealth.fgov.be/TimestampAuthority/v2",
         "https://services-acpt.ehealth.fgov.be/TimestampConsult/v2"},
        {"production", "https://services.ehealth.fgov.be/TimestampAuthority/v2",
         "https://services.ehealth.fgov.be/TimestampConsult/v2"},
    };
    struct tsb_config c;
    char set[128];
    for (size_t i = 0; i < sizeof(envs) / sizeof(envs[0]); i++) {
        tsb_config_defaults(&c);
        snprintf(set, sizeof(set), "general.environment=%s", envs[i].env);
        assert_int_equal(tsb_config_set_override(&c, set), 0);
        assert_int_equal(tsb_config_finish(&c), 0);
        assert_string_equal(c.tsa.url, envs[i].tsa);
        assert_string_equal(c.consult.url, envs[i].consult);
        if (i == 0) {
            assert_string_equal(c.general.id_hospital, "tsa_0406798006_01");
            assert_int_equal(tsb_config_check_endpoint(&c), 0);
        } else {
            /* no IDHospital: refused, naming both options */
            assert_string_equal(c.general.id_hospital, "");
            assert_int_equal(tsb_config_check_endpoint(&c), TSB_ECONFIG);
            snprintf(set, sizeof(set), "general.environment=%s needs general.id_hospital",
                     envs[i].env);
            assert_non_null(strstr(tsb_err_detail(), set));
        }
        tsb_config_cleanup(&c);
    }

    /* the demo hospital never reaches eHealth, even when written out */
    tsb_config_defaults(&c);
    assert_int_equal(tsb_config_set_override(&c, "general.environment=acceptance"), 0);
    assert_int_equal(tsb_config_set_override(&c, "general.id_hospital=tsa_0406798006_01"), 0);
    assert_int_equal(tsb_config_finish(&c), 0);
    assert_int_equal(tsb_config_check_endpoint(&c), TSB_ECONFIG);
    assert_non_null(strstr(tsb_err_detail(), "general.id_hospital=tsa_0406798006_01 is the"));
    tsb_config_cleanup(&c);

    /* an explicit IDHospital and explicit URLs win */
    tsb_config_defaults(&c);
    assert_int_equal(tsb_config_set_override(&c, "general.environment=production"), 0);
    assert_int_equal(tsb_config_set_override(&c, "general.id_hospital=tsa_0123456749_02"), 0);
    assert_int_equal(tsb_config_set_override(&c, "tsa.url=https://127.0.0.1:1/tsa"), 0);
    assert_int_equal(tsb_config_finish(&c), 0);
    assert_int_equal(tsb_config_check_endpoint(&c), 0);
    assert_string_equal(c.tsa.url, "https://127.0.0.1:1/tsa");
    assert_string_equal(c.consult.url, "https://services.ehealth.fgov.be/TimestampConsult/v2");
    tsb_config_cleanup(&c);

    static const char *const bad_ids[] = {
        "tsa_406798006_01",   "tsa_04067980060_01", "tsa_0406798006_1",  "tsa_0406798006_001",
        "TSA_0406798006_01",  "tsa-0406798006-01",  "tsa_04067980x6_01", "tsa_0406798006_0a",
        "tsa_0406798006_01 ", "0406798006",         "tsa__01",
    };
    for (size_t i = 0; i < sizeof(bad_ids) / sizeof(bad_ids[0]); i++) {
        tsb_config_defaults(&c);
        snprintf(set, sizeof(set), "general.id_hospital=%s", bad_ids[i]);
        assert_int_equal(tsb_config_set_override(&c, set), TSB_ECONFIG);
        if (strstr(tsb_err_detail(), "general.id_hospital: expected tsa_<KBO>_<NN>") == NULL)
            fail_msg("'%s': %s", bad_ids[i], tsb_err_detail());
        assert_false(tsb_config_id_hospital_valid(bad_ids[i]));
        tsb_config_cleanup(&c);
    }
    tsb_config_defaults(&c);
    assert_int_equal(tsb_config_set_override(&c, "general.environment=staging"), TSB_ECONFIG);
    assert_non_null(strstr(tsb_err_detail(), "expected simulator, acceptance or production"));
    assert_int_equal(tsb_config_set_override(&c, "sealer.first_sequence=0"), TSB_ECONFIG);
    assert_int_equal(tsb_config_set_override(&c, "sealer.max_bag_bytes=4095"), TSB_ECONFIG);
    assert_non_null(strstr(tsb_err_detail(), "sealer.max_bag_bytes: 4095 is outside"));
    assert_int_equal(c.sealer.first_sequence, 1);
    assert_int_equal(c.sealer.max_bag_bytes, 4 * 1024 * 1024);
    tsb_config_cleanup(&c);
}

static void test_dump_round_trips(void **state)
{
    char *dir = tsb_test_tmpdir();
    char *p = tsb_test_path(dir, "dump.ini");
    struct tsb_config a, b;
    tsb_config_defaults(&a);
    assert_int_equal(tsb_config_set_override(&a, "sealer.hash_encoding=base64"), 0);
    assert_int_equal(tsb_config_set_override(&a, "ingest.unix_mode=0640"), 0);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    tsb_config_dump(&a, f);
    fclose(f);
    tsb_config_defaults(&b);
    assert_int_equal(tsb_config_load_file(&b, p), 0);
    assert_int_equal(b.sealer.hash_encoding, TSB_HASH_BASE64);
    assert_int_equal(b.ingest.unix_mode, 0640);
    tsb_config_cleanup(&a);
    tsb_config_cleanup(&b);
    tsb_test_rmtree(dir);
    free(p);
    free(dir);
}

/* Index of section.key in the option table. */
static size_t option_index(const char *section, const char *key)
{
    struct tsb_config_option_info info;
    for (size_t i = 0; tsb_config_option_at(i, &info); i++)
        if (strcmp(info.section, section) == 0 && strcmp(info.key, key) == 0)
            return i;
    fail_msg("no option %s.%s", section, key);
    return 0;
}

/* The reload's diff: exactly the options set differently compare unequal, and taking one moves
 * its value (a string's ownership) into the running configuration. */
static void test_option_equal_and_take(void **state)
{
    struct tsb_config run, next;
    tsb_config_defaults(&run);
    tsb_config_defaults(&next);
    assert_int_equal(tsb_config_set_override(&next, "tsa.url=https://127.0.0.1:1/x"), 0);
    assert_int_equal(tsb_config_set_override(&next, "sealer.unstamped_alarm_s=60"), 0);
    assert_int_equal(tsb_config_set_override(&next, "general.log_level=debug"), 0);
    assert_int_equal(tsb_config_set_override(&next, "ingest.unix_mode=0600"), 0);
    size_t url = option_index("tsa", "url"), alarm = option_index("sealer", "unstamped_alarm_s");
    size_t level = option_index("general", "log_level"), mode = option_index("ingest", "unix_mode");
    struct tsb_config_option_info info;
    size_t differ = 0;
    for (size_t i = 0; tsb_config_option_at(i, &info); i++)
        if (!tsb_config_option_equal(&run, &next, i)) {
            assert_true(i == url || i == alarm || i == level || i == mode);
            differ++;
        }
    assert_int_equal(differ, 4);
    tsb_config_option_take(&run, &next, url);
    tsb_config_option_take(&run, &next, alarm);
    tsb_config_option_take(&run, &next, level);
    assert_string_equal(run.tsa.url, "https://127.0.0.1:1/x");
    assert_string_equal(next.tsa.url, "");
    assert_int_equal(run.sealer.unstamped_alarm_s, 60);
    assert_int_equal(run.general.log_level, TSB_LOG_DEBUG);
    assert_int_equal(run.ingest.unix_mode, 0660); /* not taken */
    assert_true(tsb_config_option_equal(&run, &next, alarm));
    tsb_config_cleanup(&run);
    tsb_config_cleanup(&next);
}

static void test_every_option_documented(void **state)
{
    char *doc_path = tsb_test_path(tsb_test_source_dir(), "docs/configuration.md");
    size_t len;
    char *doc = (char *)tsb_test_read_file(doc_path, &len);
    assert_non_null(doc);
    struct tsb_config_option_info o;
    for (size_t i = 0; tsb_config_option_at(i, &o); i++) {
        char row[512];
        snprintf(row, sizeof(row), "| `%s.%s` | `%s` |", o.section, o.key, o.default_value);
        if (strstr(doc, row) == NULL)
            fail_msg("docs/configuration.md lacks the row starting '%s'", row);
    }
    free(doc);
    free(doc_path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_file_values_and_errors),
        cmocka_unit_test(test_overrides_and_cross_checks),
        cmocka_unit_test(test_environment_and_id_hospital),
        cmocka_unit_test(test_dump_round_trips),
        cmocka_unit_test(test_option_equal_and_take),
        cmocka_unit_test(test_every_option_documented),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
