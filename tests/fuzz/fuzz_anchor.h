/*
 * fuzz_anchor: the token verifier of the fuzz targets that verify tokens (fuzz_token, fuzz_ers):
 * trust in a throw-away self-signed P-256 certificate made at the first call (no key is committed),
 * with the given policies. Aborts when it cannot be made: a fuzz run without it would test nothing.
 */
#ifndef TSB_FUZZ_ANCHOR_H
#define TSB_FUZZ_ANCHOR_H

struct tsb_token_verifier;

/* policy_oids as tsb_token_verifier_from_files takes them (NULL: any). Lives for the process. */
struct tsb_token_verifier *tsb_fuzz_anchor_verifier(const char *policy_oids);

#endif
