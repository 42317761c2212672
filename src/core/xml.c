/*
 * xml: hardened parsing and one-time library initialisation. libxml2's global error handler is
 * replaced so that parse errors go to the thread's error detail instead of stderr.
 */
#include "xml.h"

#include "err.h"
#include "log.h"

#include <libxml/c14n.h>
#include <libxml/parser.h>
#include <libxml/xmlerror.h>
#include <pthread.h>
#include <string.h>
#include <xmlsec/crypto.h>
#include <xmlsec/xmlsec.h>

static pthread_once_t once = PTHREAD_ONCE_INIT;

static void quiet(void *ctx, const char *msg, ...)
{
    (void)ctx;
    (void)msg;
}

static void init_once(void)
{
    xmlInitParser();
    xmlSetGenericErrorFunc(NULL, quiet);
    if (xmlSecInit() < 0 || xmlSecCryptoAppInit(NULL) < 0 || xmlSecCryptoInit() < 0)
        tsb_fatal("xmlsec1 (OpenSSL backend) failed to initialise");
}

void tsb_xml_init(void)
{
    pthread_once(&once, init_once);
}

int tsb_xml_parse(const uint8_t *p, size_t len, size_t max_len, xmlDocPtr *out)
{
    tsb_xml_init();
    if (len > max_len)
        return tsb_err(TSB_ETOOBIG, "XML document of %zu bytes exceeds the limit of %zu bytes", len,
                       max_len);
    if (len > (size_t)INT32_MAX)
        return tsb_err(TSB_ETOOBIG, "XML document of %zu bytes is too large", len);

    xmlParserCtxtPtr ctxt = xmlNewParserCtxt();
    if (ctxt == NULL)
        return tsb_err(TSB_ENOMEM, "cannot allocate an XML parser");
    int opts = XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING | XML_PARSE_NOCDATA;
    xmlDocPtr doc = xmlCtxtReadMemory(ctxt, (const char *)p, (int)len, NULL, NULL, opts);
    if (doc == NULL) {
        xmlErrorPtr e = xmlCtxtGetLastError(ctxt);
        int r = tsb_err(TSB_EFORMAT, "XML not well-formed at line %d: %s", e ? e->line : 0,
                        e && e->message ? e->message : "unknown error");
        /* libxml2 messages end with a newline; keep the detail on one line */
        char *nl = strchr(tsb_err_detail(), '\n');
        if (nl)
            *nl = '\0';
        xmlFreeParserCtxt(ctxt);
        return r;
    }
    xmlFreeParserCtxt(ctxt);
    if (doc->intSubset != NULL || doc->extSubset != NULL) {
        xmlFreeDoc(doc);
        return tsb_err(TSB_EFORMAT, "XML document carries a DOCTYPE, which is not accepted");
    }
    if (xmlDocGetRootElement(doc) == NULL) {
        xmlFreeDoc(doc);
        return tsb_err(TSB_EFORMAT, "XML document has no root element");
    }
    *out = doc;
    return 0;
}

int tsb_xml_serialise(xmlDocPtr doc, struct tsb_buf *out)
{
    xmlChar *mem = NULL;
    int size = 0;
    xmlDocDumpMemoryEnc(doc, &mem, &size, "UTF-8");
    if (mem == NULL || size <= 0) {
        xmlFree(mem);
        return tsb_err(TSB_EINTERNAL, "cannot serialise the XML document");
    }
    int r = tsb_buf_append(out, mem, (size_t)size);
    xmlFree(mem);
    return r;
}

/* Visible to the canonicaliser: n (or, for a namespace node, its element) lies inside root. */
static int in_subtree(void *root, xmlNodePtr n, xmlNodePtr parent)
{
    xmlNodePtr at = (n == NULL || n->type == XML_NAMESPACE_DECL) ? parent : n;
    for (; at != NULL; at = at->parent)
        if (at == (xmlNodePtr)root)
            return 1;
    return 0;
}

int tsb_xml_exc_c14n(xmlDocPtr doc, xmlNodePtr node, struct tsb_buf *out)
{
    xmlOutputBufferPtr ob = xmlAllocOutputBuffer(NULL);
    if (ob == NULL)
        return tsb_err(TSB_EINTERNAL, "cannot allocate a canonicalisation buffer");
    int n =
        xmlC14NExecute(doc, node ? in_subtree : NULL, node, XML_C14N_EXCLUSIVE_1_0, NULL, 0, ob);
    int r = n < 0 ? tsb_err(TSB_EINTERNAL, "libxml2 cannot canonicalise the document")
                  : tsb_buf_append(out, xmlOutputBufferGetContent(ob), xmlOutputBufferGetSize(ob));
    xmlOutputBufferClose(ob);
    return r;
}

xmlNodePtr tsb_xml_first_elem(xmlNodePtr n)
{
    for (xmlNodePtr c = n ? n->children : NULL; c; c = c->next)
        if (c->type == XML_ELEMENT_NODE)
            return c;
    return NULL;
}

xmlNodePtr tsb_xml_next_elem(xmlNodePtr n)
{
    for (xmlNodePtr c = n ? n->next : NULL; c; c = c->next)
        if (c->type == XML_ELEMENT_NODE)
            return c;
    return NULL;
}

int tsb_xml_is(xmlNodePtr n, const char *ns, const char *local)
{
    if (n == NULL || n->type != XML_ELEMENT_NODE || strcmp((const char *)n->name, local) != 0)
        return 0;
    if (ns == NULL)
        return n->ns == NULL;
    return n->ns != NULL && n->ns->href != NULL && strcmp((const char *)n->ns->href, ns) == 0;
}
