# Fuzz target for the TimeStampBag parser and writer round trip (corpus: tests/fuzz/corpus/bag).
tsb_add_fuzz_target(bag ${CMAKE_CURRENT_LIST_DIR}/fuzz_bag.c tsbcore)
