# PipelineShared.cmake: distinct symbol names for the double-precision libraries, and the public shared library.
#
# 1. Distinct names. Every library is built twice (PipelineTargets.cmake); the double variants (*_f64) would define
#    the same symbols as the float ones (raster_forward in libraster.a and libraster_f64.a), so the two could not
#    share a process. After the float libraries are built, cmake/gen_f64_names.cmake reads their global symbols
#    (nm) and writes pl_f64_names.h (`#define raster_forward raster_forward_f64`, ...); every *_f64 library and
#    whatever compiles against one includes it first. Sources stay unchanged and new functions are picked up by
#    the next build. tests/python checks that no unrenamed symbol is left in the double libraries.
# 2. libpipeline (pl_add_shared_library, called once at the end of the top-level CMakeLists.txt): the C API of
#    capi/ in both precisions (plapi_* for float, plapi_*_f64 for double), every other symbol hidden; install()
#    rules for it, the public headers, the static libraries and a pkg-config file (pipeline.pc).

set(CMAKE_POSITION_INDEPENDENT_CODE ON)   # the static libraries go into libpipeline.so as well
set(PL_F64_NAMES_H ${PROJECT_BINARY_DIR}/generated/pl_f64_names.h)
set_property(GLOBAL PROPERTY PL_FLOAT_LIBRARIES "")

# Called by pl_add_library for each library variant.
function(pl_symbol_variant target variant)
  if(variant STREQUAL "_f64")
    add_dependencies(${target} pl_f64_names)
    target_compile_options(${target} PUBLIC $<$<COMPILE_LANGUAGE:C,CXX>:SHELL:-include ${PL_F64_NAMES_H}>)
  else()
    set_property(GLOBAL APPEND PROPERTY PL_FLOAT_LIBRARIES ${target})
  endif()
endfunction()

function(pl_add_shared_library)
  get_property(libs GLOBAL PROPERTY PL_FLOAT_LIBRARIES)
  set(files "")
  foreach(l ${libs})
    list(APPEND files $<TARGET_FILE:${l}>)
  endforeach()
  string(JOIN "\\;" files_arg ${files})
  add_custom_target(pl_f64_names
    COMMAND ${CMAKE_COMMAND} -DNM=${CMAKE_NM} -DOUT=${PL_F64_NAMES_H} "-DLIBS=${files_arg}"
            -P ${PROJECT_SOURCE_DIR}/cmake/gen_f64_names.cmake
    COMMENT "Symbol names of the double-precision libraries (pl_f64_names.h)" VERBATIM)
  add_dependencies(pl_f64_names ${libs})

  # libpipeline.so: the capi module of both precisions, whole; the rest pulled in by reference, all hidden.
  add_library(pipeline_shared SHARED ${PROJECT_SOURCE_DIR}/capi/capi_so.c)
  set_target_properties(pipeline_shared PROPERTIES OUTPUT_NAME pipeline VERSION ${PROJECT_VERSION}
                        SOVERSION ${PROJECT_VERSION_MAJOR} LINKER_LANGUAGE CXX)
  target_link_libraries(pipeline_shared PRIVATE "$<LINK_LIBRARY:WHOLE_ARCHIVE,capi>"
                        "$<LINK_LIBRARY:WHOLE_ARCHIVE,capi_f64>" pipeline_lib pipeline_lib_f64)
  target_link_options(pipeline_shared PRIVATE "LINKER:--version-script=${PROJECT_SOURCE_DIR}/capi/libpipeline.map"
                      "LINKER:--no-undefined")

  include(GNUInstallDirs)
  install(TARGETS pipeline_shared LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
  install(FILES ${PROJECT_SOURCE_DIR}/capi/pipeline_api.h DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/pipeline)
  foreach(l ${libs})
    install(TARGETS ${l} ${l}_f64 ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}/pipeline)
  endforeach()
  configure_file(${PROJECT_SOURCE_DIR}/capi/pipeline.pc.in ${PROJECT_BINARY_DIR}/pipeline.pc @ONLY)
  install(FILES ${PROJECT_BINARY_DIR}/pipeline.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
endfunction()
