#pragma once
// The study's figures: tools/figures.py (matplotlib) run on a study folder. Started by
// the CLI, not the library, with its arguments passed to the program directly (no
// shell in between).
#include <ostream>
#include <string>

namespace sgdlab::cli {

// Draws the figures of the study in `study_dir` with `python` (a path, or a name looked
// up on PATH); with `python` empty, with the first python3 on PATH that has matplotlib.
// Returns whether the figures were made; otherwise says on `log` why not and how to
// make them later.
bool make_figures(const std::string& python, const std::string& study_dir, std::ostream& log);

}  // namespace sgdlab::cli
