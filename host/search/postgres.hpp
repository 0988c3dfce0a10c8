#pragma once
// libpq plumbing of the PostgreSQL study storage (storage_postgres*.cpp): a connection
// that says when it was lost, results freed on scope exit, parameters as text, and
// messages on one line without the password. Private to host/search.
#include <libpq-fe.h>

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace sgdlab::storage_detail {

// The server went away (restart, network): the engine reconnects and runs the whole
// transaction again.
struct ConnectionLost : std::runtime_error {
  using std::runtime_error::runtime_error;
};
// A deadlock or serialisation failure that the server resolved by aborting this
// transaction: running it again is the remedy.
struct TransactionAborted : std::runtime_error {
  using std::runtime_error::runtime_error;
};

using PgParam = std::optional<std::string>;  // nullopt: SQL NULL

inline PgParam pg_param(const std::string& v) {
  return v;
}
inline PgParam pg_param(const char* v) {
  return std::string(v);
}
inline PgParam pg_param(int64_t v) {
  return std::to_string(v);
}
inline PgParam pg_param(int v) {
  return std::to_string(v);
}
PgParam pg_param(double v);  // shortest text that reads back as the same double
inline PgParam pg_param(const PgParam& v) {
  return v;
}

class PgResult {
 public:
  explicit PgResult(PGresult* r) : r_(r) {}
  ~PgResult() { PQclear(r_); }
  PgResult(PgResult&& o) noexcept : r_(o.r_) { o.r_ = nullptr; }
  PgResult(const PgResult&) = delete;
  PgResult& operator=(const PgResult&) = delete;

  int rows() const { return PQntuples(r_); }
  bool null_at(int row, int col) const { return PQgetisnull(r_, row, col); }
  std::string text_at(int row, int col) const { return PQgetvalue(r_, row, col); }
  int64_t int_at(int row, int col) const;
  double real_at(int row, int col) const;
  const PGresult* raw() const { return r_; }

 private:
  PGresult* r_;
};

class PgConnection {
 public:
  // Connects (URL, PGPASSWORD, ~/.pgpass as libpq reads them); a server that refuses,
  // cannot be reached or has no such database is an InputError naming `shown`.
  PgConnection(const std::string& url, const std::string& shown);
  ~PgConnection();
  PgConnection(const PgConnection&) = delete;
  PgConnection& operator=(const PgConnection&) = delete;

  template <class... Args>
  PgResult exec(const std::string& sql, const Args&... args) {
    return exec_params(sql, {pg_param(args)...});
  }
  PgResult exec_params(const std::string& sql, const std::vector<PgParam>& params);
  // Several statements without parameters (the schema).
  void exec_script(const std::string& sql);
  // Session settings, made again after each reconnection.
  void set_session(const std::string& sql);
  // Ends a failed transaction, when there is a connection to end it on.
  void rollback_quietly();

  // Connects again, waiting up to `seconds` for the server to come back; an InputError
  // naming the store and `why` when it does not.
  void reconnect(double seconds, const std::string& why);

  // A libpq or server message on one line, without the password.
  std::string clean(const std::string& message) const;
  const std::string& shown() const { return shown_; }

 private:
  PGconn* connect() const;
  // Throws what the failure of `raw` is: ConnectionLost, TransactionAborted, an
  // InputError for what the user can fix, else an internal error.
  [[noreturn]] void fail(const PGresult* raw, const std::string& sql) const;
  PGconn* conn_ = nullptr;
  std::string url_, shown_, session_;
  std::vector<std::string> secrets_;  // the password as it may appear in a message
};

}  // namespace sgdlab::storage_detail
