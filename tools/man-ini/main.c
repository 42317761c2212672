/*
 * man-ini: the build-time generator of tsbag.ini(5). Copies a roff template line by line and
 * replaces the line "@OPTIONS@" with one entry per option of the configuration table
 * (tsb_config_option_at: section, key, default, help text), grouped by section, roff-escaped.
 * Usage: man-ini TEMPLATE OUTPUT. Exit 0, or 1 with the reason on stderr.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* Writes s as roff text: backslashes escaped, no line starting with a control character. */
static void roff_text(FILE *f, const char *s)
{
    if (*s == '.' || *s == '\'')
        fputs("\\&", f);
    for (; *s; s++) {
        if (*s == '\\')
            fputs("\\e", f);
        else if (*s == '-')
            fputs("\\-", f);
        else
            fputc(*s, f);
    }
}

static void write_options(FILE *f)
{
    struct tsb_config_option_info o;
    const char *section = NULL;
    for (size_t i = 0; tsb_config_option_at(i, &o); i++) {
        if (section == NULL || strcmp(section, o.section) != 0) {
            section = o.section;
            fprintf(f, ".SS [%s]\n", section);
        }
        fprintf(f, ".TP\n.B %s.%s\n", o.section, o.key);
        fputs("Default: ", f);
        if (o.default_value != NULL && *o.default_value != '\0') {
            fputs("\\fB", f);
            roff_text(f, o.default_value);
            fputs("\\fR", f);
        } else {
            fputs("empty", f);
        }
        fputs(".\n.br\n", f);
        roff_text(f, o.doc != NULL ? o.doc : "");
        fputc('\n', f);
    }
}

int main(int argc, char **argv)
{
    char line[4096];
    int rc = 1;
    FILE *in = NULL, *out = NULL;
    if (argc != 3) {
        fprintf(stderr, "usage: man-ini TEMPLATE OUTPUT\n");
        return 1;
    }
    if ((in = fopen(argv[1], "r")) == NULL || (out = fopen(argv[2], "w")) == NULL) {
        fprintf(stderr, "man-ini: %s: %s\n", in == NULL ? argv[1] : argv[2], strerror(errno));
        goto out;
    }
    while (fgets(line, sizeof(line), in) != NULL) {
        if (strcmp(line, "@OPTIONS@\n") == 0)
            write_options(out);
        else
            fputs(line, out);
    }
    if (ferror(in) || fclose(out) != 0) {
        out = NULL;
        fprintf(stderr, "man-ini: writing %s failed\n", argv[2]);
        goto out;
    }
    out = NULL;
    rc = 0;
out:
    if (out != NULL)
        fclose(out);
    if (in != NULL)
        fclose(in);
    return rc;
}
