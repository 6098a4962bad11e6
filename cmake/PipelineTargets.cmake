# Every library is built twice from the same sources:
#   NAME      real = float, with the CUDA sources when the CUDA backend is on (what the CLI uses);
#   NAME_f64  real = double, CPU only (what the gradient tests use: finite differences need the precision).
# Dependencies named in DEPS get the same suffix, so a double library links double libraries only.
#
#   pl_add_library(NAME SOURCES a.c b.c CUDA_SOURCES a_cuda.cu DEPS core PUBLIC_LIBS m)
function(pl_add_library name)
  cmake_parse_arguments(A "" "" "SOURCES;CUDA_SOURCES;DEPS;PUBLIC_LIBS" ${ARGN})
  foreach(variant "" "_f64")
    set(t ${name}${variant})
    set(srcs ${A_SOURCES})
    if(variant STREQUAL "" AND PL_HAVE_CUDA)
      list(APPEND srcs ${A_CUDA_SOURCES})
    endif()
    add_library(${t} STATIC ${srcs})
    pl_symbol_variant(${t} "${variant}")   # PipelineShared.cmake: the _f64 symbols get their own names
    target_include_directories(${t} PUBLIC ${PROJECT_SOURCE_DIR})
    target_compile_options(${t} PRIVATE $<$<COMPILE_LANGUAGE:C>:${PL_C_WARNINGS}>
                                        $<$<COMPILE_LANGUAGE:CUDA>:${PL_CUDA_FLAGS}>)
    if(variant STREQUAL "_f64")
      target_compile_definitions(${t} PUBLIC PL_REAL_DOUBLE=1)
    elseif(PL_HAVE_CUDA)
      target_compile_definitions(${t} PUBLIC PL_HAVE_CUDA=1)
      set_target_properties(${t} PROPERTIES CUDA_SEPARABLE_COMPILATION OFF
                                            CUDA_RESOLVE_DEVICE_SYMBOLS ON)
      target_link_libraries(${t} PUBLIC CUDA::cudart)
    endif()
    foreach(d ${A_DEPS})
      target_link_libraries(${t} PUBLIC ${d}${variant})
    endforeach()
    target_link_libraries(${t} PUBLIC ${A_PUBLIC_LIBS} ${PL_OPENMP_TARGET} m)
  endforeach()
endfunction()

# An executable in the float variant; with F64 also NAME-f64 linked against the double libraries.
#   pl_add_executable(NAME SOURCES main.c DEPS pipeline_lib [F64])
function(pl_add_executable name)
  cmake_parse_arguments(A "F64" "OUTPUT_NAME" "SOURCES;DEPS" ${ARGN})
  set(variants "")
  if(A_F64)
    list(APPEND variants "_f64")
  endif()
  foreach(variant "" ${variants})
    set(t ${name}${variant})
    add_executable(${t} ${A_SOURCES})
    target_compile_options(${t} PRIVATE $<$<COMPILE_LANGUAGE:C>:${PL_C_WARNINGS}>)
    foreach(d ${A_DEPS})
      target_link_libraries(${t} PRIVATE ${d}${variant})
    endforeach()
  endforeach()
endfunction()
