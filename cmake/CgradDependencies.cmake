# Dependencies through CMake's own find modules; nothing vendored, nothing downloaded.
if(NOT DEFINED BLA_VENDOR)
  set(BLA_VENDOR OpenBLAS CACHE STRING "BLAS vendor for FindBLAS (OpenBLAS, Generic, Intel10_64lp, ...)")
endif()
# Which of Debian's OpenBLAS builds: its OpenMP build shares cgrad's OpenMP thread pool (a GEMM
# called inside a parallel region runs on that thread alone; outside, it uses the whole pool),
# while the pthread build keeps its own threads, which fight OpenMP's spinning workers for the
# cores (measured in docs/benchmarks.md). The library gets a RUNPATH to the chosen build, since
# Debian's alternatives point libopenblas.so.0 at the pthread one.
set(CGRAD_OPENBLAS_THREADING openmp CACHE STRING "Debian OpenBLAS build to prefer: openmp, pthread or any")
set_property(CACHE CGRAD_OPENBLAS_THREADING PROPERTY STRINGS openmp pthread any)
set(CGRAD_OPENBLAS_DIR /usr/lib/${CMAKE_LIBRARY_ARCHITECTURE}/openblas-${CGRAD_OPENBLAS_THREADING})
if(BLA_VENDOR STREQUAL "OpenBLAS" AND NOT CGRAD_OPENBLAS_THREADING STREQUAL "any")
  if(EXISTS ${CGRAD_OPENBLAS_DIR}/libopenblas.so)
    list(PREPEND CMAKE_LIBRARY_PATH ${CGRAD_OPENBLAS_DIR})
  else()
    message(WARNING "OpenBLAS ${CGRAD_OPENBLAS_THREADING} build not found in ${CGRAD_OPENBLAS_DIR}: "
                    "using whichever OpenBLAS FindBLAS finds (Debian: apt-get install libopenblas-openmp-dev)")
  endif()
endif()
find_package(BLAS REQUIRED)
message(STATUS "cgrad BLAS: ${BLAS_LIBRARIES}")
find_package(OpenMP REQUIRED COMPONENTS C)
find_package(ZLIB REQUIRED)
find_package(Threads REQUIRED)

# FindBLAS gives libraries only; find the CBLAS header that goes with them.
find_path(CGRAD_CBLAS_INCLUDE_DIR cblas.h
  PATH_SUFFIXES openblas openblas-pthread openblas-openmp
  PATHS /usr/include/${CMAKE_LIBRARY_ARCHITECTURE})
if(NOT CGRAD_CBLAS_INCLUDE_DIR)
  message(FATAL_ERROR "cblas.h not found: install libopenblas-dev (Debian) or set CGRAD_CBLAS_INCLUDE_DIR")
endif()

# MPI, for the optional data-parallel library cgrad_dist (lib/dist/, include/cgrad/dist.h).
# CGRAD_WITH_MPI defaults to ON when MPI's C bindings are found; OFF builds exactly without it.
if(NOT DEFINED CGRAD_WITH_MPI OR CGRAD_WITH_MPI)
  find_package(MPI COMPONENTS C QUIET)
endif()
option(CGRAD_WITH_MPI "Build cgrad_dist and MPI support in mnist-train (needs MPI: libopenmpi-dev)" ${MPI_C_FOUND})
if(CGRAD_WITH_MPI AND NOT MPI_C_FOUND)
  message(FATAL_ERROR "CGRAD_WITH_MPI=ON but MPI was not found: install libopenmpi-dev or pass -DCGRAD_WITH_MPI=OFF")
endif()
message(STATUS "cgrad MPI (cgrad_dist): ${CGRAD_WITH_MPI}")
