# SPDX-License-Identifier: MIT
# Included by tests/CMakeLists.txt. Data parallelism over MPI (only when cgrad_dist is built):
#   mpi_equiv_np1/np2/np4  tests/mpi/dist_equiv.c under mpirun: K ranks with a global batch of 64
#                          reach the parameters of 1 rank with batch 64 (20 steps, 1e-5 relative)
#   mpi_rank_dies          a rank that exits mid-training ends the job (no hang) with a message
#   mpi_mnist_train        mnist-train under mpirun on a tiny IDX set: a rank dies in epoch 2, the
#                          epoch-1 checkpoint resumes under 1 and 2 ranks, and both agree
#   mpi_disagree           ranks given different options, data or resume points stop at startup
#                          with a message naming the difference (they hung before)
# Label "mpi". Under CGRAD_SANITIZE they run with ASan and UBSan but without LeakSanitizer:
# Open MPI itself leaks ~50 KB at MPI_Finalize (reported as leaks inside libmpi/libopen-pal).
if(CGRAD_WITH_MPI)
  find_program(CGRAD_MPIEXEC NAMES ${MPIEXEC_EXECUTABLE} mpirun mpiexec)
  find_program(CGRAD_BASH bash)
  add_executable(dist_equiv ${CMAKE_CURRENT_SOURCE_DIR}/mpi/dist_equiv.c)
  set_target_properties(dist_equiv PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
  target_link_libraries(dist_equiv PRIVATE cgrad_dist m)
  # Root in containers and CI, more ranks than cores: allowed explicitly.
  set(CGRAD_MPIRUN ${CGRAD_MPIEXEC} --allow-run-as-root --oversubscribe)
  set(_env "OMP_NUM_THREADS=1;OMPI_MCA_rmaps_base_oversubscribe=1")
  if(CGRAD_SANITIZE)
    list(APPEND _env "ASAN_OPTIONS=detect_leaks=0")
  endif()
  foreach(np 1 2 4)
    add_test(NAME mpi_equiv_np${np} COMMAND ${CGRAD_MPIRUN} -np ${np} $<TARGET_FILE:dist_equiv> 20)
    set_tests_properties(mpi_equiv_np${np} PROPERTIES LABELS mpi TIMEOUT 120 ENVIRONMENT "${_env}")
  endforeach()
  add_test(NAME mpi_rank_dies
           COMMAND ${CGRAD_BASH} ${CMAKE_CURRENT_SOURCE_DIR}/mpi/rank_dies.sh "${CGRAD_MPIEXEC}" $<TARGET_FILE:dist_equiv>)
  set_tests_properties(mpi_rank_dies PROPERTIES LABELS mpi TIMEOUT 120 ENVIRONMENT "${_env}")
  if(TARGET mnist-train)
    add_test(NAME mpi_mnist_train
             COMMAND ${CGRAD_BASH} ${CMAKE_CURRENT_SOURCE_DIR}/mpi/mnist_train.sh "${CGRAD_MPIEXEC}"
                     $<TARGET_FILE:dist_equiv> $<TARGET_FILE:mnist-train> ${CMAKE_BINARY_DIR}/mpi-mnist-train)
    set_tests_properties(mpi_mnist_train PROPERTIES LABELS mpi TIMEOUT 300 ENVIRONMENT "${_env}")
    add_test(NAME mpi_disagree
             COMMAND ${CGRAD_BASH} ${CMAKE_CURRENT_SOURCE_DIR}/mpi/disagree.sh "${CGRAD_MPIEXEC}"
                     $<TARGET_FILE:dist_equiv> $<TARGET_FILE:mnist-train> ${CMAKE_BINARY_DIR}/mpi-disagree)
    set_tests_properties(mpi_disagree PROPERTIES LABELS mpi TIMEOUT 600 ENVIRONMENT "${_env}")
  endif()
  unset(_env)
endif()
