# Fuzz target for token verification on arbitrary DER (corpus: tests/fuzz/corpus/token, tokens
# without certificates made by openssl ts -reply and the token table's CMS re-signer).
tsb_add_fuzz_target(token ${CMAKE_CURRENT_LIST_DIR}/fuzz_token.c tsbfuzzanchor tsbcore
                    PkgConfig::OPENSSL)
