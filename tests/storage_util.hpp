#pragma once
// Helpers of the storage tests (storage_test.cpp, storage_engines_test.cpp): a study's
// settings, a sampling function, and workers in processes of their own.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <exception>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "sgdlab/search/sampler.hpp"
#include "sgdlab/search/storage.hpp"

namespace sgdlab::test {

inline StudyInfo info(const std::string& name) {
  return {name, "cnn", "random", 7, 20, SearchSpace::study_default().to_json()};
}

inline StudyStorage::SampleFn random_fn(uint64_t seed) {
  auto sampler = std::shared_ptr<Sampler>(make_random_sampler(seed));
  return [sampler](const std::vector<Trial>& h, int n) {
    return sampler->sample(SearchSpace::study_default(), h, n);
  };
}

// Runs body(0) ... body(workers - 1) at once, each in a forked process, and expects each
// to end without an exception (one that escapes is printed and fails the test).
inline void in_processes(int workers, const std::function<void(int)>& body) {
  std::vector<pid_t> children;
  for (int c = 0; c < workers; ++c) {
    const pid_t pid = fork();
    if (pid == 0) {
      int code = 0;
      try {
        body(c);
      } catch (const std::exception& e) {
        std::fprintf(stderr, "worker %d: %s\n", c, e.what());
        code = 1;
      }
      _exit(code);
    }
    children.push_back(pid);
  }
  for (pid_t pid : children) {
    int status = 0;
    waitpid(pid, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
}

}  // namespace sgdlab::test
