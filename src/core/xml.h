/*
 * xml: the one door through which peer XML enters tsbag. Documents are parsed by libxml2 with
 * XML_PARSE_NONET, without entity substitution (no XML_PARSE_NOENT), without XML_PARSE_HUGE, with
 * DTDs neither loaded nor validated, and only after a size check. Also initialises libxml2 and
 * xmlsec1 once per process (thread-safe).
 */
#ifndef TSB_XML_H
#define TSB_XML_H

#include "mem.h"

#include <libxml/tree.h>
#include <stddef.h>
#include <stdint.h>

/* Initialises libxml2 and xmlsec1 (OpenSSL backend) once; later calls do nothing. Aborts if
 * xmlsec cannot start (a broken install). Safe to call from any thread. */
void tsb_xml_init(void);

/* Parses p[0..len) as a standalone document. TSB_ETOOBIG above max_len, TSB_EFORMAT when not
 * well-formed or when it carries a DOCTYPE (never needed by any eHealth message; refusing it
 * closes the entity-expansion door). The detail names line and reason. *out: xmlFreeDoc(). */
int tsb_xml_parse(const uint8_t *p, size_t len, size_t max_len, xmlDocPtr *out);

/* Appends the UTF-8 serialisation of doc (with its XML declaration) to out. TSB_ETOOBIG past the
 * buffer's cap, TSB_EINTERNAL if libxml2 cannot serialise. */
int tsb_xml_serialise(xmlDocPtr doc, struct tsb_buf *out);

/* Appends the exclusive XML canonicalisation (exc-c14n 1.0, no comments) of node and its subtree,
 * or of the whole document when node is NULL, to out. */
int tsb_xml_exc_c14n(xmlDocPtr doc, xmlNodePtr node, struct tsb_buf *out);

/* The first element child of n (skipping text/comments), or NULL. */
xmlNodePtr tsb_xml_first_elem(xmlNodePtr n);
/* The next element sibling of n, or NULL. */
xmlNodePtr tsb_xml_next_elem(xmlNodePtr n);
/* True when n is an element named local in namespace ns (ns NULL: no namespace). */
int tsb_xml_is(xmlNodePtr n, const char *ns, const char *local);

#endif
