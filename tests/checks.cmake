# SPDX-License-Identifier: MIT
# Source checks (shell scripts over the tree; no build needed):
#   check_layers:   no file in a lower lib/ folder includes one from a higher folder;
#   check_includes: bench/, apps/ and examples/ include cgrad's public headers only.
foreach(check check_layers check_includes)
  add_test(NAME ${check} COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/${check}.sh ${PROJECT_SOURCE_DIR})
endforeach()
