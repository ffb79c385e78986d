# The CMake package as an outside project sees it: install the build into a fresh prefix, then
# configure and build examples/ on its own against that prefix with find_package(holdfast).
#   cmake -D BUILD_DIR=<build> -D SOURCE_DIR=<source> -D WORK_DIR=<scratch> -P package_test.cmake
foreach(var BUILD_DIR SOURCE_DIR WORK_DIR)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "package_test: -D ${var}=... is required")
  endif()
endforeach()

set(prefix ${WORK_DIR}/prefix)
set(outside ${WORK_DIR}/outside)
file(REMOVE_RECURSE ${WORK_DIR})

function(step what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "package_test: ${what} failed (${rc}):\n${out}")
  endif()
  message(STATUS "package_test: ${what}: ok")
endfunction()

step("install to ${prefix}" ${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${prefix})
foreach(file include/holdfast/producer.h include/holdfast/pull_consumer.h include/holdfast/push_consumer.h
             include/holdfast/message.h
             include/holdfast/outcome.h lib/cmake/holdfast/holdfastConfig.cmake
             lib/cmake/holdfast/holdfastConfigVersion.cmake lib/cmake/holdfast/holdfastTargets.cmake
             lib/holdfast/libholdfast_client.a bin/holdfast)
  if(NOT EXISTS ${prefix}/${file})
    message(FATAL_ERROR "package_test: ${file} was not installed")
  endif()
endforeach()
# Only the public headers are installed.
file(GLOB_RECURSE installed_headers RELATIVE ${prefix}/include ${prefix}/include/*)
list(SORT installed_headers)
if(NOT installed_headers STREQUAL
   "holdfast/message.h;holdfast/outcome.h;holdfast/producer.h;holdfast/pull_consumer.h;holdfast/push_consumer.h;holdfast/transaction_producer.h")
  message(FATAL_ERROR "package_test: unexpected installed headers: ${installed_headers}")
endif()

step("configure examples/ against the prefix"
     ${CMAKE_COMMAND} -S ${SOURCE_DIR}/examples -B ${outside} -DCMAKE_PREFIX_PATH=${prefix} -DCMAKE_BUILD_TYPE=Release)
step("build examples/" ${CMAKE_COMMAND} --build ${outside} -j2)
foreach(example producer_example async_producer_example ordered_producer_example pull_consumer_example
                push_consumer_example transaction_producer_example)
  if(NOT EXISTS ${outside}/${example})
    message(FATAL_ERROR "package_test: ${example} was not built")
  endif()
endforeach()
file(REMOVE_RECURSE ${WORK_DIR})
message(STATUS "package_test: an outside project builds against find_package(holdfast) and holdfast::client")
