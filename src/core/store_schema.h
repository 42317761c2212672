/*
 * store_schema: the schema migrations embedded at build time (cmake/EmbedSchema.cmake turns
 * schema/NNNN_<change>.sql into generated/schema_migrations.c). Private to store.c.
 */
#ifndef TSB_STORE_SCHEMA_H
#define TSB_STORE_SCHEMA_H

struct tsb_schema_migration {
    int version;      /* NNNN: the user_version the archive has once it is applied */
    const char *file; /* "NNNN_<change>.sql", for error messages */
    const char *sql;  /* NUL-terminated; no BEGIN/COMMIT of its own */
};

/* In version order, versions 1..tsb_schema_migrations_n without gaps. */
extern const struct tsb_schema_migration tsb_schema_migrations[];
extern const int tsb_schema_migrations_n;

#endif
