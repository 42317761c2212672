# Fuzz target for the RFC 4998 EvidenceRecord decoder and verifier (corpus: tests/fuzz/corpus/ers,
# records made by unit.ers's construction with tokens without certificates: one group, a timestamp
# renewal chain, a SHA-256 chain followed by a SHA-512 hash-tree renewal chain).
tsb_add_fuzz_target(ers ${CMAKE_CURRENT_LIST_DIR}/fuzz_ers.c tsbfuzzanchor tsbcore
                    PkgConfig::OPENSSL)
