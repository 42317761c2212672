# Fuzz target for the ingest frame decoder and body parsers (corpus: tests/fuzz/corpus/frame).
tsb_add_fuzz_target(frame ${CMAKE_CURRENT_LIST_DIR}/fuzz_frame.c tsbcore)
