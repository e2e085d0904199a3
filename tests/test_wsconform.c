/*
 * wsconform's parts that need no network: the JSON reader and writer, the settings file
 * (Autobahn's fuzzingclient.json / fuzzingserver.json), case patterns and selection, the
 * verdict rules, and the report writer (index.json, per-case files, index.html) -- bad input
 * included. The cases themselves run in test_conformance.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../tools/wsconform/wsconform.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- JSON ---- */

static void test_json_valid(void **state)
{
    (void)state;
    char err[160];
    static const char text[] =
        " { \"a\": [1, -2.5e3, 0, true, false, null, \"x\\\"y\\\\z\\/\\n\"],\n"
        "   \"u\": \"\\u00e9\\ud83d\\ude00\", \"e\": {}, \"l\": [], \"s\": \"\" } ";
    wc_json *j = wc_json_parse(text, strlen(text), err, sizeof err);
    assert_non_null(j);
    assert_int_equal(j->type, J_OBJ);
    const wc_json *a = wc_json_get(j, "a");
    assert_non_null(a);
    assert_int_equal(a->type, J_ARR);
    assert_int_equal(a->n, 7);
    assert_true(a->items[1].num == -2500.0);
    assert_int_equal(a->items[3].type, J_BOOL);
    assert_int_equal(a->items[3].b, 1);
    assert_int_equal(a->items[5].type, J_NULL);
    assert_string_equal(a->items[6].str, "x\"y\\z/\n");
    assert_string_equal(wc_json_get(j, "u")->str, "\xc3\xa9\xf0\x9f\x98\x80");
    assert_int_equal(wc_json_get(j, "e")->n, 0);
    assert_string_equal(wc_json_get(j, "s")->str, "");
    assert_null(wc_json_get(j, "missing"));
    assert_null(wc_json_get(a, "a")); /* not an object */
    wc_json_free(j);
}

static void test_json_invalid(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "{",
        "{\"a\" 1}",
        "{\"a\": 1,}",
        "[1, 2",
        "[1 2]",
        "{1: 2}",
        "\"unterminated",
        "\"bad \\x escape\"",
        "\"\\u12\"",
        "\"\\ud800\"",          /* lone high surrogate */
        "\"\\udc00\"",          /* lone low surrogate */
        "\"\\ud800\\u0041\"",   /* high surrogate then no low one */
        "\"\\u0000\"",          /* NUL refused (C strings) */
        "\"tab\there\"",        /* raw control character */
        "\"\xff\xfe\"",         /* not UTF-8 */
        "\"\xed\xa0\x80\"",     /* an encoded surrogate */
        "01",
        "1.",
        "1e",
        "-",
        "tru",
        "nul",
        "{} extra",
        "[1] [2]",
    };
    char err[160];
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        err[0] = '\0';
        wc_json *j = wc_json_parse(bad[i], strlen(bad[i]), err, sizeof err);
        if (j)
            fail_msg("accepted invalid JSON #%zu '%s'", i, bad[i]);
        assert_non_null(strstr(err, "at byte"));
    }
    /* nesting: 64 levels are fine, 65 are not */
    char deep[200];
    for (int depth = 64; depth <= 65; depth++) {
        int n = 0;
        for (int k = 0; k < depth; k++)
            deep[n++] = '[';
        for (int k = 0; k < depth; k++)
            deep[n++] = ']';
        wc_json *j = wc_json_parse(deep, (size_t)n, err, sizeof err);
        if (depth == 64) {
            assert_non_null(j);
            wc_json_free(j);
        } else {
            assert_null(j);
            assert_non_null(strstr(err, "deeply"));
        }
    }
    /* an embedded NUL byte in the input is not JSON */
    assert_null(wc_json_parse("[1]\0", 4, err, sizeof err));
}

/* Every prefix and every one-byte change of a valid spec: no crash, no leak (ASan/valgrind),
 * a value or an error every time. */
static void test_json_mutations(void **state)
{
    (void)state;
    static const char spec[] = "{\"servers\": [{\"agent\": \"A\", \"url\": \"ws://h:1/\"}],"
                               " \"cases\": [\"1.*\"], \"exclude-cases\": [\"9.*\"],"
                               " \"exclude-agent-cases\": {\"A*\": [\"2.1\"]},"
                               " \"options\": {\"failByDrop\": false}, \"outdir\": \"r\"}";
    size_t n = sizeof spec - 1;
    char buf[sizeof spec], err[300];
    unsigned parsed = 0, refused = 0;
    for (size_t cut = 0; cut <= n; cut++) {
        wc_spec s;
        if (wc_spec_parse(&s, spec, cut, err, sizeof err) == 0) {
            parsed++;
            wc_spec_free(&s);
        } else {
            refused++;
        }
    }
    static const char repl[] = "\"{}[],:\\0a\x80\xff ";
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < sizeof repl - 1; k++) {
            memcpy(buf, spec, n);
            buf[i] = repl[k];
            wc_spec s;
            if (wc_spec_parse(&s, buf, n, err, sizeof err) == 0) {
                parsed++;
                wc_spec_free(&s);
            } else {
                refused++;
                assert_true(strlen(err) > 0);
            }
        }
    assert_true(parsed > 0);
    assert_true(refused > n);
}

static void test_json_writer(void **state)
{
    (void)state;
    wc_buf b = {0};
    static const char in[] = "a\"b\\c\n\x01\x7f\xc3\xa9\xff\xce";
    buf_json_str(&b, in, sizeof in - 1);
    /* valid UTF-8 kept, bytes that are not as \u00XX, control characters escaped */
    assert_string_equal(b.p, "\"a\\\"b\\\\c\\n\\u0001\\u007f\xc3\xa9\\u00ff\\u00ce\"");
    char err[100];
    wc_json *j = wc_json_parse(b.p, b.n, err, sizeof err); /* what we write, we read */
    assert_non_null(j);
    assert_int_equal(j->type, J_STR);
    wc_json_free(j);
    buf_free(&b);
    buf_html(&b, "<a href=\"x\">&</a>", 17);
    assert_string_equal(b.p, "&lt;a href=&quot;x&quot;&gt;&amp;&lt;/a&gt;");
    buf_free(&b);
}

/* ---- the settings file ---- */

/* Autobahn's own example fuzzingclient.json, as its users have it. */
static const char autobahn_client_spec[] =
    "{\n"
    "   \"options\": {\"failByDrop\": false},\n"
    "   \"outdir\": \"./reports/servers\",\n"
    "\n"
    "   \"servers\": [{\"agent\": \"AutobahnServer\", \"url\": \"ws://localhost:9001\", "
    "\"options\": {\"version\": 18}}],\n"
    "\n"
    "   \"cases\": [\"*\"],\n"
    "   \"exclude-cases\": [],\n"
    "   \"exclude-agent-cases\": {}\n"
    "}\n";

static void test_spec_autobahn_files(void **state)
{
    (void)state;
    wc_spec s;
    char err[200];
    assert_int_equal(wc_spec_parse(&s, autobahn_client_spec, strlen(autobahn_client_spec), err,
                                   sizeof err),
                     0);
    assert_int_equal(s.nservers, 1);
    assert_string_equal(s.servers[0].url, "ws://localhost:9001");
    assert_string_equal(s.servers[0].agent, "AutobahnServer");
    assert_int_equal(s.ncases, 1);
    assert_string_equal(s.cases[0], "*");
    assert_int_equal(s.nexclude, 0);
    assert_string_equal(s.outdir, "./reports/servers");
    assert_string_equal(s.warnings, ""); /* failByDrop and version are known */
    wc_spec_free(&s);

    static const char server_spec[] = "{\"url\": \"ws://127.0.0.1:9001\", \"options\": "
                                      "{\"failByDrop\": false, \"autoPingInterval\": 5}, "
                                      "\"outdir\": \"./reports/clients\", \"webport\": 8080, "
                                      "\"cases\": [\"1.*\", \"2.1\"], \"exclude-cases\": "
                                      "[\"1.1.8\"], \"exclude-agent-cases\": {\"Foo*\": "
                                      "[\"2.*\"]}, \"frobnicate\": 1}";
    assert_int_equal(wc_spec_parse(&s, server_spec, strlen(server_spec), err, sizeof err), 0);
    assert_string_equal(s.url, "ws://127.0.0.1:9001");
    assert_int_equal(s.ncases, 2);
    assert_int_equal(s.nexclude, 1);
    assert_int_equal(s.nxa, 1);
    /* accepted but named: an option without meaning here, webport, an unknown key */
    assert_non_null(strstr(s.warnings, "autoPingInterval"));
    assert_non_null(strstr(s.warnings, "webport"));
    assert_non_null(strstr(s.warnings, "frobnicate"));
    assert_true(wc_spec_agent_excluded(&s, "FooBar/1.0", "2.3"));
    assert_false(wc_spec_agent_excluded(&s, "FooBar/1.0", "1.1.1"));
    assert_false(wc_spec_agent_excluded(&s, "xFooBar", "2.3")); /* anchored at the start */
    wc_spec_free(&s);
}

static void test_spec_bad(void **state)
{
    (void)state;
    static const struct {
        const char *text, *why;
    } bad[] = {
        {"[]", "must be a JSON object"},
        {"{\"servers\": {}}", "servers"},
        {"{\"servers\": [{\"agent\": \"x\"}]}", "url"},
        {"{\"servers\": [{\"url\": 7}]}", "url"},
        {"{\"servers\": [{\"url\": \"ws://a/\", \"agent\": 1}]}", "agent"},
        {"{\"servers\": [\"ws://a/\"]}", "url"},
        {"{\"cases\": \"*\"}", "cases"},
        {"{\"cases\": [1]}", "cases"},
        {"{\"exclude-cases\": {}}", "exclude-cases"},
        {"{\"exclude-agent-cases\": []}", "exclude-agent-cases"},
        {"{\"exclude-agent-cases\": {\"a\": \"1.*\"}}", "exclude-agent-cases"},
        {"{\"outdir\": 3}", "outdir"},
        {"{\"url\": null}", "url"},
        {"{\"cases\": [\"1.*\"], }", "invalid JSON"},
    };
    char err[200];
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        wc_spec s;
        err[0] = '\0';
        if (wc_spec_parse(&s, bad[i].text, strlen(bad[i].text), err, sizeof err) == 0)
            fail_msg("accepted bad spec '%s'", bad[i].text);
        if (!strstr(err, bad[i].why))
            fail_msg("spec '%s': error '%s' does not name '%s'", bad[i].text, err, bad[i].why);
    }
    wc_spec s;
    assert_int_equal(wc_spec_load(&s, "/nonexistent/fuzzingclient.json", err, sizeof err), -1);
    assert_non_null(strstr(err, "/nonexistent/fuzzingclient.json"));
}

static void test_patterns_and_selection(void **state)
{
    (void)state;
    assert_true(wc_pattern_match("*", "1.1.1"));
    assert_true(wc_pattern_match("1.*", "1.2.8"));
    assert_false(wc_pattern_match("1.*", "10.1.1")); /* '.' is literal */
    assert_false(wc_pattern_match("1.*", "12.1.1"));
    assert_true(wc_pattern_match("6.4.*", "6.4.3"));
    assert_false(wc_pattern_match("6.4.*", "6.14.1"));
    assert_true(wc_pattern_match("1.1.1", "1.1.1"));
    assert_false(wc_pattern_match("1.1.1", "1.1.10")); /* no '*': exact */
    assert_true(wc_pattern_match("13.*.1", "13.7.1"));
    assert_true(wc_pattern_match("13.*.1", "13.1.18")); /* re.match: a prefix match */
    assert_true(wc_pattern_match("*.2", "1.2.3"));
    assert_false(wc_pattern_match("9.*", "1.9.1"));
    assert_true(wc_id_cmp("6.9.1", "6.10.1") < 0);
    assert_true(wc_id_cmp("10.1.1", "9.8.6") > 0);
    assert_true(wc_id_cmp("2.10", "2.9") > 0);
    assert_int_equal(wc_id_cmp("7.13.2", "7.13.2"), 0);
    assert_true(wc_id_cmp("5.1", "5.1.1") < 0);

    wc_opts o;
    wc_opts_autobahn(&o);
    conf_case *all;
    size_t n = conf_cases(&all, &o);
    size_t *sel = malloc(n * sizeof *sel);
    assert_non_null(sel);
    wc_spec s;
    memset(&s, 0, sizeof s);
    wc_spec_add_patterns(&s.cases, &s.ncases, "*");
    size_t k = wc_spec_select(&s, all, n, sel);
    /* Autobahn's 517 cases of groups 1-7, 9, 10, 12, 13 (216 of them need zlib); the
     * extensions only when named */
    assert_int_equal(k, conf_have_zlib() ? 517 : 301);
    for (size_t i = 1; i < k; i++)
        assert_true(wc_id_cmp(all[sel[i - 1]].id, all[sel[i]].id) < 0);
    assert_string_equal(all[sel[0]].id, "1.1.1");
    wc_spec_add_patterns(&s.cases, &s.ncases, " 20.* ,");
    wc_spec_add_patterns(&s.exclude, &s.nexclude, "9.*,12.*,13.*,6.2*");
    k = wc_spec_select(&s, all, n, sel);
    /* less 12, 13, 9 (54) and 6.2* -- 6.2.x (4) and 6.20 .. 6.23 (7 + 8 + 34 + 7) -- plus the
     * two extensions: the same with or without zlib */
    assert_int_equal(k, 517 - 216 - 54 - 60 + 2);
    wc_spec_free(&s);
    free(sel);
    conf_cases_free(all, n);
}

/* Group sizes follow the settings (Autobahn's defaults, smaller for CI). */
static void test_profiles(void **state)
{
    (void)state;
    wc_opts o;
    conf_case *all;
    assert_int_equal(wc_opts_profile(&o, "nonsense"), -1);
    assert_int_equal(wc_opts_profile(&o, "autobahn"), 0);
    size_t n = conf_cases(&all, &o);
    unsigned rtt = 0, pmd_max = 0;
    long big = 0;
    for (size_t i = 0; i < n; i++) {
        if (!strncmp(all[i].id, "9.7.", 4))
            rtt = all[i].count;
        if (!strncmp(all[i].id, "12.", 3) && all[i].count > pmd_max)
            pmd_max = all[i].count;
        if (!strcmp(all[i].id, "9.1.6"))
            big = all[i].a;
    }
    assert_int_equal(rtt, 1000);
    assert_int_equal(big, 16 << 20);
    if (conf_have_zlib())
        assert_int_equal(pmd_max, 1000);
    conf_cases_free(all, n);
    assert_int_equal(wc_opts_profile(&o, "quick"), 0);
    n = conf_cases(&all, &o);
    for (size_t i = 0; i < n; i++) {
        if (!strcmp(all[i].id, "9.1.6"))
            assert_int_equal(all[i].a, 1 << 20);
        if (!strncmp(all[i].id, "9.8.", 4))
            assert_int_equal(all[i].count, 100);
        if (!strcmp(all[i].id, "12.1.1")) /* 16-byte messages: the count cap */
            assert_int_equal(all[i].count, 20);
        if (!strcmp(all[i].id, "12.1.10")) /* 128 KiB messages: the byte cap, at least 4 */
            assert_int_equal(all[i].count, 4);
    }
    conf_cases_free(all, n);
}

/* ---- verdicts ---- */

static void test_verdicts(void **state)
{
    (void)state;
    assert_int_equal(wc_overall(V_OK, V_OK), V_OK);
    assert_int_equal(wc_overall(V_OK, V_WRONG_CODE), V_FAILED);
    assert_int_equal(wc_overall(V_OK, V_UNCLEAN), V_FAILED);
    assert_int_equal(wc_overall(V_NON_STRICT, V_OK), V_NON_STRICT);
    assert_int_equal(wc_overall(V_OK, V_FAILED_BY_CLIENT), V_NON_STRICT);
    assert_int_equal(wc_overall(V_INFORMATIONAL, V_INFORMATIONAL), V_INFORMATIONAL);
    assert_int_equal(wc_overall(V_UNIMPLEMENTED, V_OK), V_UNIMPLEMENTED);
    assert_int_equal(wc_overall(V_FAILED, V_OK), V_FAILED);
    assert_false(wc_fails(V_NON_STRICT, 0));
    assert_true(wc_fails(V_NON_STRICT, 1));
    assert_false(wc_fails(V_UNIMPLEMENTED, 0));
    assert_true(wc_fails(V_UNIMPLEMENTED, 1));
    assert_false(wc_fails(V_INFORMATIONAL, 1));
    assert_true(wc_fails(V_FAILED, 0));
    assert_string_equal(wc_verdict_name(V_FAILED_BY_CLIENT), "FAILED BY CLIENT");
    assert_string_equal(wc_verdict_name((wc_verdict)99), "?");
}

/* ---- reports ---- */

static void test_report_filename(void **state)
{
    (void)state;
    char f[256];
    wc_report_filename("AutobahnPython/0.6.0", "1.1.1", "json", f, sizeof f);
    assert_string_equal(f, "autobahnpython_0_6_0_case_1_1_1.json");
    wc_report_filename("  echo-epoll  ", "12.5.18", "html", f, sizeof f);
    assert_string_equal(f, "echo_epoll_case_12_5_18.html");
    wc_report_filename("../../etc/passwd", "6.4.1", "json", f, sizeof f);
    assert_string_equal(f, "etc_passwd_case_6_4_1.json"); /* no path can come out of it */
}

static char *slurp(const char *dir, const char *name)
{
    char path[600];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    wc_buf b = {0};
    char chunk[4096];
    size_t k;
    while ((k = fread(chunk, 1, sizeof chunk, f)) > 0)
        buf_put(&b, chunk, k);
    fclose(f);
    return b.p;
}

static void add_result(wc_report *rep, const char *agent, const char *id, wc_verdict b,
                       wc_verdict bc, int code)
{
    wc_result r;
    memset(&r, 0, sizeof r);
    snprintf(r.agent, sizeof r.agent, "%s", agent);
    snprintf(r.id, sizeof r.id, "%s", id);
    snprintf(r.started, sizeof r.started, "2026-01-01T00:00:00.000Z");
    r.behavior = b;
    r.behavior_close = bc;
    r.remote_code = code;
    r.duration_ms = 7;
    char *json = malloc(64);
    assert_non_null(json);
    snprintf(json, 64, "{\"id\": \"%s\", \"agent\": \"x\"}\n", id);
    r.json = json;
    assert_int_equal(wc_report_add(rep, &r), 0);
    assert_null(r.json); /* taken */
}

static void test_report_files(void **state)
{
    (void)state;
    char dir[] = "/tmp/test_wsconform.XXXXXX";
    assert_non_null(mkdtemp(dir));
    char out[700];
    snprintf(out, sizeof out, "%s/reports/servers", dir); /* created, parents too */
    wc_opts o;
    wc_opts_autobahn(&o);
    conf_case *all;
    size_t n = conf_cases(&all, &o);
    wc_report rep;
    memset(&rep, 0, sizeof rep);
    rep.outdir = out;
    rep.cases = all;
    rep.ncases = n;
    add_result(&rep, "zeta/1.0", "1.1.1", V_OK, V_OK, 1000);
    add_result(&rep, "alpha \"q\"", "10.1.1", V_FAILED, V_WRONG_CODE, 1002);
    add_result(&rep, "alpha \"q\"", "2.1", V_NON_STRICT, V_FAILED_BY_CLIENT, -1);
    add_result(&rep, "alpha \"q\"", "2.1", V_OK, V_OK, 1000); /* again: the latest counts */
    assert_int_equal(rep.n, 3);
    assert_int_equal(wc_report_write_index(&rep), 0);

    char *idx = slurp(out, "index.json");
    assert_non_null(idx);
    char err[160];
    wc_json *j = wc_json_parse(idx, strlen(idx), err, sizeof err);
    assert_non_null(j);
    assert_int_equal(j->n, 2);
    assert_string_equal(j->keys[0], "alpha \"q\""); /* agents sorted */
    const wc_json *a = wc_json_get(j, "alpha \"q\"");
    assert_int_equal(a->n, 2);
    assert_string_equal(a->keys[0], "10.1.1"); /* Python's sort_keys order: strings */
    const wc_json *c = wc_json_get(a, "10.1.1");
    assert_string_equal(wc_json_get(c, "behavior")->str, "FAILED");
    assert_string_equal(wc_json_get(c, "behaviorClose")->str, "WRONG CODE");
    assert_true(wc_json_get(c, "duration")->num == 7);
    assert_true(wc_json_get(c, "remoteCloseCode")->num == 1002);
    assert_string_equal(wc_json_get(c, "reportfile")->str, "alpha_q_case_10_1_1.json");
    c = wc_json_get(a, "2.1");
    assert_string_equal(wc_json_get(c, "behavior")->str, "OK");
    c = wc_json_get(wc_json_get(j, "zeta/1.0"), "1.1.1");
    assert_non_null(c);
    wc_json_free(j);
    free(idx);

    char *one = slurp(out, "alpha_q_case_10_1_1.json");
    assert_non_null(one);
    assert_non_null(strstr(one, "\"10.1.1\""));
    free(one);
    char *html = slurp(out, "index.html");
    assert_non_null(html);
    assert_non_null(strstr(html, "alpha &quot;q&quot;")); /* escaped */
    assert_non_null(strstr(html, "href=\"zeta_1_0_case_1_1_1.json\""));
    assert_non_null(strstr(html, "Missing")); /* zeta has no 2.1 */
    free(html);

    /* a report directory that cannot be made: -1, nothing crashes */
    char blocked[700];
    snprintf(blocked, sizeof blocked, "%s/file", dir);
    FILE *f = fopen(blocked, "w");
    assert_non_null(f);
    fclose(f);
    char under[760];
    snprintf(under, sizeof under, "%s/sub", blocked);
    wc_report rep2;
    memset(&rep2, 0, sizeof rep2);
    rep2.outdir = under;
    assert_int_equal(wc_report_write_index(&rep2), -1);
    wc_result r;
    memset(&r, 0, sizeof r);
    snprintf(r.agent, sizeof r.agent, "a");
    snprintf(r.id, sizeof r.id, "1.1.1");
    assert_int_equal(wc_report_add(&rep2, &r), -1);
    wc_report_free(&rep2);

    wc_report_free(&rep);
    conf_cases_free(all, n);
    char cmd[800];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_valid),
        cmocka_unit_test(test_json_invalid),
        cmocka_unit_test(test_json_mutations),
        cmocka_unit_test(test_json_writer),
        cmocka_unit_test(test_spec_autobahn_files),
        cmocka_unit_test(test_spec_bad),
        cmocka_unit_test(test_patterns_and_selection),
        cmocka_unit_test(test_profiles),
        cmocka_unit_test(test_verdicts),
        cmocka_unit_test(test_report_filename),
        cmocka_unit_test(test_report_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
