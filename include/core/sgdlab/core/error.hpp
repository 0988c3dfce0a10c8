#pragma once
// Errors are exceptions that carry where they were raised and what was expected.
#include <sstream>
#include <stdexcept>
#include <string>

namespace sgdlab {

class Error : public std::runtime_error {
 public:
  Error(const char* file, int line, const std::string& what)
      : std::runtime_error(what), file_(file), line_(line) {}
  const char* file() const noexcept { return file_; }
  int line() const noexcept { return line_; }

 private:
  const char* file_;
  int line_;
};

// Bad user input (data files, flags, space files): the CLI prints only the message.
class InputError : public Error {
 public:
  using Error::Error;
};

// Memory ran out where a size was not known before (the checks of memory.hpp refuse
// the ones that are): the run asks more than the machine has. Like InputError, the CLI
// prints only the message, in one line.
class OutOfMemory : public InputError {
 public:
  using InputError::InputError;
};

namespace detail {
template <class... Args>
std::string concat(const Args&... args) {
  std::ostringstream out;
  (out << ... << args);
  return out.str();
}
}  // namespace detail

}  // namespace sgdlab

#define SGDLAB_THROW(...) \
  throw ::sgdlab::Error(__FILE__, __LINE__, ::sgdlab::detail::concat(__VA_ARGS__))
#define SGDLAB_INPUT_ERROR(...) \
  throw ::sgdlab::InputError(__FILE__, __LINE__, ::sgdlab::detail::concat(__VA_ARGS__))
#define SGDLAB_OUT_OF_MEMORY(...) \
  throw ::sgdlab::OutOfMemory(__FILE__, __LINE__, ::sgdlab::detail::concat(__VA_ARGS__))
// An internal invariant: the message says what was expected.
#define SGDLAB_CHECK(cond, ...)                                                                 \
  do {                                                                                          \
    if (!(cond)) SGDLAB_THROW("expected ", #cond, ": ", ::sgdlab::detail::concat(__VA_ARGS__)); \
  } while (0)
