# SPDX-License-Identifier: MIT
# Dependencies through CMake's own find modules; nothing vendored, nothing downloaded.
#
# The CBLAS: CGRAD_BLAS=openblas (the default), blis or generic. Every BLAS call of the library goes
# through one entry (lib/core/blas.c), so the choice is this option alone. Each ends up as the
# target BLAS::BLAS and CGRAD_BLAS_LIBRARIES (full paths, recorded in cgradConfig.cmake and
# cgrad.pc so that a static link gets the same build).
#   openblas  Debian's OpenMP build of OpenBLAS: it shares cgrad's OpenMP thread pool (a GEMM called
#             inside a parallel region runs on that thread alone; outside, it uses the whole pool),
#             while the pthread build keeps its own threads, which fight OpenMP's spinning workers
#             for the cores (measured in docs/benchmarks.md). The library gets a RUNPATH to the
#             chosen build, since Debian's alternatives point libopenblas.so.0 at the pthread one.
#   blis      Debian's OpenMP build of BLIS (libblis-openmp-dev), with its CBLAS layer.
#   generic   the reference BLAS and CBLAS (libblas-dev's /usr/lib/<arch>/blas/libblas.so): slow,
#             single-threaded; for checking that nothing depends on OpenBLAS.
set(CGRAD_BLAS openblas CACHE STRING "The CBLAS to link: openblas, blis or generic")
set_property(CACHE CGRAD_BLAS PROPERTY STRINGS openblas blis generic)
set(_cgrad_arch_lib /usr/lib/${CMAKE_LIBRARY_ARCHITECTURE})
set(_cgrad_arch_inc /usr/include/${CMAKE_LIBRARY_ARCHITECTURE})
if(CGRAD_BLAS STREQUAL "openblas")
  if(NOT DEFINED BLA_VENDOR)
    set(BLA_VENDOR OpenBLAS CACHE STRING "BLAS vendor for FindBLAS (OpenBLAS, Generic, Intel10_64lp, ...)")
  endif()
  set(CGRAD_OPENBLAS_THREADING openmp CACHE STRING "Debian OpenBLAS build to prefer: openmp, pthread or any")
  set_property(CACHE CGRAD_OPENBLAS_THREADING PROPERTY STRINGS openmp pthread any)
  set(CGRAD_OPENBLAS_DIR ${_cgrad_arch_lib}/openblas-${CGRAD_OPENBLAS_THREADING})
  if(BLA_VENDOR STREQUAL "OpenBLAS" AND NOT CGRAD_OPENBLAS_THREADING STREQUAL "any")
    if(EXISTS ${CGRAD_OPENBLAS_DIR}/libopenblas.so)
      list(PREPEND CMAKE_LIBRARY_PATH ${CGRAD_OPENBLAS_DIR})
    else()
      message(WARNING "OpenBLAS ${CGRAD_OPENBLAS_THREADING} build not found in ${CGRAD_OPENBLAS_DIR}: "
                      "using whichever OpenBLAS FindBLAS finds (Debian: apt-get install libopenblas-openmp-dev)")
    endif()
  endif()
  find_package(BLAS REQUIRED)
  set(CGRAD_BLAS_LIBRARIES ${BLAS_LIBRARIES})
  set(_cgrad_cblas_suffixes openblas-${CGRAD_OPENBLAS_THREADING} openblas openblas-openmp openblas-pthread)
elseif(CGRAD_BLAS STREQUAL "blis" OR CGRAD_BLAS STREQUAL "generic")
  if(CGRAD_BLAS STREQUAL "blis")
    find_library(CGRAD_BLAS_LIBRARY NAMES blis PATHS ${_cgrad_arch_lib}/blis-openmp NO_DEFAULT_PATH)
    find_library(CGRAD_BLAS_LIBRARY NAMES blis)
    set(_cgrad_cblas_suffixes blis-openmp blis)
    set(_cgrad_hint "apt-get install libblis-openmp-dev")
  else()
    find_library(CGRAD_BLAS_LIBRARY NAMES blas PATHS ${_cgrad_arch_lib}/blas NO_DEFAULT_PATH)
    set(_cgrad_cblas_suffixes "")
    set(_cgrad_hint "apt-get install libblas-dev")
  endif()
  if(NOT CGRAD_BLAS_LIBRARY)
    message(FATAL_ERROR "CGRAD_BLAS=${CGRAD_BLAS}: the library was not found (Debian: ${_cgrad_hint})")
  endif()
  set(CGRAD_BLAS_LIBRARIES ${CGRAD_BLAS_LIBRARY})
  set(BLAS_LIBRARIES ${CGRAD_BLAS_LIBRARY})
  add_library(BLAS::BLAS INTERFACE IMPORTED)
  set_target_properties(BLAS::BLAS PROPERTIES INTERFACE_LINK_LIBRARIES "${CGRAD_BLAS_LIBRARY}")
else()
  message(FATAL_ERROR "CGRAD_BLAS must be openblas, blis or generic, not '${CGRAD_BLAS}'")
endif()
message(STATUS "cgrad BLAS (${CGRAD_BLAS}): ${CGRAD_BLAS_LIBRARIES}")
find_package(OpenMP REQUIRED COMPONENTS C)
find_package(ZLIB REQUIRED)
find_package(Threads REQUIRED)

# FindBLAS gives libraries only; find the CBLAS header that goes with them.
find_path(CGRAD_CBLAS_INCLUDE_DIR cblas.h
  PATH_SUFFIXES ${_cgrad_cblas_suffixes}
  PATHS ${_cgrad_arch_inc} NO_CACHE)
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

# LIBXSMM, the GEMM engine behind cg_gemm (lib/core/blas.c): JIT kernels chosen from CPUID,
# independent of OpenBLAS's kernel choice. Debian's libxsmm-dev is a static, position-independent
# archive: it links into libcgrad.so with its symbols hidden there (lib/CMakeLists.txt), and its
# fallback BLAS calls (sgemm_) resolve to the CBLAS above. CGRAD_XSMM defaults to ON where it is
# found; OFF builds without it (every GEMM by the CBLAS), and the build says so.
find_path(CGRAD_XSMM_INCLUDE_DIR libxsmm.h)
find_library(CGRAD_XSMM_LIBRARY NAMES libxsmm.a xsmm)
if(CGRAD_XSMM_INCLUDE_DIR AND CGRAD_XSMM_LIBRARY)
  set(_cgrad_xsmm_found ON)
else()
  set(_cgrad_xsmm_found OFF)
endif()
option(CGRAD_XSMM "Run the GEMMs with LIBXSMM's JIT kernels (needs libxsmm-dev)" ${_cgrad_xsmm_found})
if(CGRAD_XSMM AND NOT _cgrad_xsmm_found)
  message(FATAL_ERROR "CGRAD_XSMM=ON but LIBXSMM was not found: apt-get install libxsmm-dev, or pass -DCGRAD_XSMM=OFF")
endif()
if(CGRAD_XSMM)
  message(STATUS "cgrad small-GEMM engine: LIBXSMM (${CGRAD_XSMM_LIBRARY})")
else()
  message(STATUS "cgrad small-GEMM engine: OFF (every GEMM by the CBLAS; Debian: apt-get install libxsmm-dev)")
endif()
