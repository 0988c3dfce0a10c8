#pragma once
// Helpers of the tests that need a PostgreSQL server: its URL (SGDLAB_TEST_POSTGRES, set
// by tools/test_postgres.sh and .ci/run; the tests skip without it), a fresh database
// per test, and psql for what the tests do behind sgdlab's back.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "tests/test_util.hpp"

namespace sgdlab::test {

// postgresql://USER:PASS@HOST:PORT/DB of the test server, or "".
inline std::string postgres_test_url() {
  const char* url = std::getenv("SGDLAB_TEST_POSTGRES");
  return url ? url : "";
}

#define SGDLAB_SKIP_WITHOUT_POSTGRES()                                                    \
  do {                                                                                    \
    if (::sgdlab::test::postgres_test_url().empty())                                      \
      GTEST_SKIP() << "SGDLAB_TEST_POSTGRES is not set (tools/test_postgres.sh sets it)"; \
  } while (0)

inline std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// The URL with another database ("postgresql://u:p@h:port/DB").
inline std::string with_database(const std::string& url, const std::string& db) {
  const size_t slash = url.find('/', url.find("://") + 3);
  return url.substr(0, slash) + "/" + db;
}

// Runs SQL with psql; returns its output, trimmed (rows "a|b", one a line). A server that
// is restarting (the restart test runs beside the others) is asked again.
inline std::string psql(const std::string& url, const std::string& sql, int* code = nullptr) {
  std::string out;
  int rc = 0;
  for (int attempt = 0; attempt < 20; ++attempt) {
    rc = run_command(
        "psql " + shell_quote(url) + " -qAtX -v ON_ERROR_STOP=1 -c " + shell_quote(sql), &out);
    if (rc != 2) break;  // psql's code for a connection that failed
    usleep(500000);
  }
  if (code)
    *code = rc;
  else
    EXPECT_EQ(rc, 0) << sql << "\n" << out;
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

// A database of its own for one test, dropped when the test ends.
class TempPostgresDb {
 public:
  TempPostgresDb() {
    static int counter = 0;
    name_ = "sgdlab_t" + std::to_string(getpid()) + "_" + std::to_string(counter++);
    psql(postgres_test_url(), "CREATE DATABASE " + name_);
    url_ = with_database(postgres_test_url(), name_);
  }
  ~TempPostgresDb() {
    int code = 0;
    psql(postgres_test_url(), "DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)", &code);
  }
  TempPostgresDb(const TempPostgresDb&) = delete;
  TempPostgresDb& operator=(const TempPostgresDb&) = delete;
  const std::string& url() const { return url_; }
  const std::string& name() const { return name_; }

 private:
  std::string name_, url_;
};

}  // namespace sgdlab::test
