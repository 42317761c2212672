# Fuzz target for the second TSA's reply check (corpus: tests/fuzz/corpus/tsq, TimeStampResps made
# by openssl ts -reply without certificates: granted with and without a nonce, and a rejection).
tsb_add_fuzz_target(tsq ${CMAKE_CURRENT_LIST_DIR}/fuzz_tsq.c tsbcore PkgConfig::OPENSSL)
