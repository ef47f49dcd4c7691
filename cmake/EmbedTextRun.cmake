# Script mode helper for embed_text(): writes the input as a raw string literal.
file(READ "${INPUT}" text)
file(WRITE "${OUTPUT}" "// Generated from ${INPUT}; do not edit.\nextern const char ${SYMBOL}[];\nconst char ${SYMBOL}[] = R\"AMI_EMBED(${text})AMI_EMBED\";\n")
