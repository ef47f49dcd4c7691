# embed_text(<target> <input file> <C++ symbol>): makes the file's text available as
# `extern const char <symbol>[]`. The source is generated at configure time and CMake
# re-runs when the input changes (so it works from any directory, unlike a custom
# command whose output must be used in the directory that defines it).
function(embed_text target input symbol)
  set(out "${CMAKE_CURRENT_BINARY_DIR}/${symbol}.cpp")
  file(READ "${input}" text)
  set(content "// Generated from ${input}; do not edit.\nextern const char ${symbol}[];\nconst char ${symbol}[] = R\"AMI_EMBED(${text})AMI_EMBED\";\n")
  if(EXISTS "${out}")
    file(READ "${out}" old)
  endif()
  if(NOT "${old}" STREQUAL "${content}")
    file(WRITE "${out}" "${content}")
  endif()
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${input}")
  target_sources(${target} PRIVATE "${out}")
endfunction()
