# Fuzz target for the TSA SignResponse / SOAP Fault parser and token decoding
# (corpus: tests/fuzz/corpus/dss_response).
tsb_add_fuzz_target(dss_response ${CMAKE_CURRENT_LIST_DIR}/fuzz_dss_response.c tsbcore)
