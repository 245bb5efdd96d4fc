# SPDX-License-Identifier: MIT
# Included by tests/CMakeLists.txt. End-to-end checks of the MNIST programs on a tiny synthetic
# MNIST-format set (tests/mnist/gen_data.py), each in its own temporary directory:
#   mnist_e2e          mnist-train 2 epochs: output format, falling loss, metrics CSV; mnist-eval
#   mnist_resume       --resume gives byte-identical tensors to an uninterrupted run
#   mnist_cli_errors   bad flags exit 2 with one line naming the flag; bad files exit 1, named
#   mnist_plot         scripts/plot-metrics writes a PNG (skipped without gnuplot)
#   mnist_resume_strict  tampered checkpoints are refused naming the key; --lr on --resume applies
#   mnist_resume_hostile issue 24: tampered run state (clip, warmup, decay, v2 keys) refused naming key, value, file;
#                        reserved layer names; recipe flags on resume; --momentum with adam
#   mnist_outputs      --save/--metrics checked before training; write errors; NaN loss/outputs
#   mnist_data         3-channel 32x32 float IDX through the four paths; --normalize auto; shape checks
#   mnist_npy          scripts/npy-to-idx: byte-exact round trips, training on converted data, errors,
#                      hostile paths (planted links, FIFOs, devices, header bombs, a failed second write)
#   mnist_loss         --loss: auto (a net that ends in linear trains), nll on logits refused
#   mnist_optim        --optimizer, --schedule, --warmup, --clip-grad-norm; an exact resume of onecycle
#   mnist_torch_interop  cgrad <-> PyTorch checkpoints (skipped without /usr/bin/python3 + torch)
find_program(CGRAD_BASH bash)
find_program(CGRAD_PYTHON3 NAMES python3)
if(NOT CGRAD_BASH OR NOT CGRAD_PYTHON3)
  message(WARNING "mnist tests skipped: need bash and python3 (scripts/deps installs python3)")
  return()
endif()

add_executable(st_compare ${CMAKE_CURRENT_SOURCE_DIR}/mnist/st_compare.c)
target_link_libraries(st_compare PRIVATE cgrad_static)
set_target_properties(st_compare PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)

set(_cgrad_mnist_args ${CMAKE_BINARY_DIR}/bin ${PROJECT_SOURCE_DIR} ${CGRAD_PYTHON3})
# The timeout catches a hang. A Debug build under ASan+UBSan with libFuzzer's coverage runs the
# same programs 10-20x slower, and on a loaded 2-core machine mnist_optim took 282 s there
# (2026-12-07): give the sanitizer build three times the time.
set(_cgrad_mnist_timeout 300)
if(CGRAD_SANITIZE)
  set(_cgrad_mnist_timeout 900)
endif()
foreach(t e2e resume cli_errors plot resume_strict resume_hostile outputs data npy optim nets loss progress npy_direct
          predict messages)
  add_test(NAME mnist_${t}
           COMMAND ${CGRAD_BASH} ${CMAKE_CURRENT_SOURCE_DIR}/mnist/${t}.sh ${_cgrad_mnist_args} $<TARGET_FILE:st_compare>)
  set_tests_properties(mnist_${t} PROPERTIES LABELS mnist ENVIRONMENT "OMP_NUM_THREADS=2"
                       TIMEOUT ${_cgrad_mnist_timeout} SKIP_RETURN_CODE 77)
endforeach()

# PyTorch is Debian's, under /usr/bin/python3 (not the python3 on PATH); the script exits 77
# (skipped) when it cannot import torch and numpy. It checks numbers, not memory: the sanitizer
# build leaves it out (its four nets take minutes there; the other mnist tests run the same
# programs under ASan).
if(NOT EXISTS /usr/bin/python3)
  message(STATUS "mnist_torch_interop skipped: no /usr/bin/python3")
  return()
endif()
if(CGRAD_SANITIZE)
  return()
endif()
add_test(NAME mnist_torch_interop
         COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/torch_interop.py
                 ${CMAKE_BINARY_DIR}/bin ${PROJECT_SOURCE_DIR})
set_tests_properties(mnist_torch_interop PROPERTIES LABELS "mnist;torch" ENVIRONMENT "OMP_NUM_THREADS=2"
                     TIMEOUT 900 SKIP_RETURN_CODE 77)
unset(_cgrad_mnist_args)
