# embed_text(<target> <input file> <C++ symbol>): makes the file's text available as
# `extern const char <symbol>[]` through a generated source added to <target>.
function(embed_text target input symbol)
  set(out "${CMAKE_CURRENT_BINARY_DIR}/${symbol}.cpp")
  add_custom_command(OUTPUT "${out}"
    COMMAND ${CMAKE_COMMAND} -DINPUT=${input} -DOUTPUT=${out} -DSYMBOL=${symbol}
            -P "${PROJECT_SOURCE_DIR}/cmake/EmbedTextRun.cmake"
    DEPENDS "${input}" "${PROJECT_SOURCE_DIR}/cmake/EmbedTextRun.cmake"
    COMMENT "Embedding ${input}")
  target_sources(${target} PRIVATE "${out}")
endfunction()
