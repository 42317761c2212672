# Fuzz target for the TimeStampConsult answer parsers (corpus: tests/fuzz/corpus/consult).
tsb_add_fuzz_target(consult ${CMAKE_CURRENT_LIST_DIR}/fuzz_consult.c tsbcore)
