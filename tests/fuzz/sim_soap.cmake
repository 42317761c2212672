# Fuzz target for the simulator's SOAP request parser (needs the tsbsim library).
if(TARGET tsbsim)
    tsb_add_fuzz_target(sim_soap ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/fuzz_sim_soap.c tsbsim)
endif()
