// libpq plumbing of the PostgreSQL study storage: connecting and reconnecting, running
// statements with text parameters, and messages that never show the password.
#include "postgres.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <iostream>
#include <sstream>
#include <thread>

#include "sgdlab/core/error.hpp"
#include "storage_engine.hpp"

namespace sgdlab {

std::string postgres_url_shown(const std::string& url) {
  const size_t scheme_end = url.find("://");
  if (scheme_end == std::string::npos) return url;
  size_t p = scheme_end + 3;
  std::string out = url.substr(0, p);
  // libpq reads the user (and password) up to the first '@' that comes before any '/'.
  const size_t stop = url.find_first_of("@/", p);
  if (stop != std::string::npos && url[stop] == '@') {
    const std::string user = url.substr(p, stop - p);
    out += user.substr(0, user.find(':')) + "@";
    p = stop + 1;
  }
  const size_t query = url.find('?', p);
  out += url.substr(p, query == std::string::npos ? std::string::npos : query - p);
  if (query != std::string::npos) {
    std::string kept;
    std::istringstream params(url.substr(query + 1));
    for (std::string kv; std::getline(params, kv, '&');)
      if (kv.rfind("password=", 0) != 0) kept += (kept.empty() ? "" : "&") + kv;
    if (!kept.empty()) out += "?" + kept;
  }
  return out;
}

namespace storage_detail {
namespace {

// The password as a message could quote it: as libpq decodes it from the URL, as
// written there (percent-encoded), and PGPASSWORD. Shorter than 3 characters, it is
// left alone: blanking every "a" would garble the message more than it could hide.
std::vector<std::string> secrets_of(const std::string& url) {
  std::vector<std::string> found;
  char* err = nullptr;
  if (PQconninfoOption* options = PQconninfoParse(url.c_str(), &err)) {
    for (PQconninfoOption* o = options; o->keyword; ++o)
      if (std::string(o->keyword) == "password" && o->val) found.push_back(o->val);
    PQconninfoFree(options);
  }
  if (err) PQfreemem(err);
  const size_t start = url.find("://") + 3;
  const size_t at = url.find_first_of("@/", start);
  if (at != std::string::npos && url[at] == '@') {
    const size_t colon = url.find(':', start);
    if (colon < at) found.push_back(url.substr(colon + 1, at - colon - 1));
  }
  const size_t pw = url.find("password=");
  if (pw != std::string::npos) found.push_back(url.substr(pw + 9, url.find('&', pw) - pw - 9));
  if (const char* env = std::getenv("PGPASSWORD")) found.push_back(env);
  std::vector<std::string> out;
  for (auto& s : found)
    if (s.size() >= 3) out.push_back(s);
  return out;
}

bool starts_with(const char* s, const char* prefix) {
  return s && std::string(s).rfind(prefix, 0) == 0;
}

}  // namespace

PgParam pg_param(double v) {
  if (std::isnan(v)) return std::string("NaN");
  if (std::isinf(v)) return std::string(v > 0 ? "Infinity" : "-Infinity");
  std::array<char, 64> buf;
  const auto end = std::to_chars(buf.data(), buf.data() + buf.size(), v).ptr;
  return std::string(buf.data(), end);
}

int64_t PgResult::int_at(int row, int col) const {
  return std::strtoll(PQgetvalue(r_, row, col), nullptr, 10);
}

// PostgreSQL writes the shortest text that reads back exactly, and Infinity and NaN as
// strtod reads them.
double PgResult::real_at(int row, int col) const {
  return std::strtod(PQgetvalue(r_, row, col), nullptr);
}

PgConnection::PgConnection(const std::string& url, const std::string& shown)
    : url_(url), shown_(shown), secrets_(secrets_of(url)) {
  conn_ = connect();
  if (PQstatus(conn_) != CONNECTION_OK) {
    const std::string why = clean(PQerrorMessage(conn_));
    PQfinish(conn_);
    conn_ = nullptr;
    SGDLAB_INPUT_ERROR(shown_, ": cannot connect (", why, ")");
  }
  // The notices of the server (a schema that exists already, say) are not for the user.
  PQsetNoticeProcessor(
      conn_, [](void*, const char*) {}, nullptr);
}

PgConnection::~PgConnection() {
  PQfinish(conn_);
}

// The URL's own settings come last, so that they override these defaults: a server that
// does not answer fails in 10 s rather than the system's minutes, and one that vanishes
// mid-run is noticed by the keepalives.
PGconn* PgConnection::connect() const {
  const char* keys[] = {"connect_timeout",
                        "keepalives_idle",
                        "keepalives_interval",
                        "keepalives_count",
                        "fallback_application_name",
                        "dbname",
                        nullptr};
  const char* values[] = {"10", "30", "10", "3", "sgdlab", url_.c_str(), nullptr};
  return PQconnectdbParams(keys, values, 1);
}

std::string PgConnection::clean(const std::string& message) const {
  std::string m = message;
  for (const auto& s : secrets_)
    for (size_t p = m.find(s); p != std::string::npos; p = m.find(s, p + 3))
      m.replace(p, s.size(), "***");
  std::string out;
  for (char c : m) {
    const bool space = c == '\n' || c == '\t' || c == '\r' || c == ' ';
    if (space && (out.empty() || out.back() == ' ')) continue;
    out += space ? ' ' : c;
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

PgResult PgConnection::exec_params(const std::string& sql, const std::vector<PgParam>& params) {
  std::vector<const char*> values;
  for (const auto& p : params) values.push_back(p ? p->c_str() : nullptr);
  PgResult r(PQexecParams(conn_, sql.c_str(), int(values.size()), nullptr, values.data(), nullptr,
                          nullptr, 0));
  const ExecStatusType status = r.raw() ? PQresultStatus(r.raw()) : PGRES_FATAL_ERROR;
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) fail(r.raw(), sql);
  return r;
}

void PgConnection::exec_script(const std::string& sql) {
  PgResult r(PQexec(conn_, sql.c_str()));
  if (!r.raw() || PQresultStatus(r.raw()) != PGRES_COMMAND_OK) fail(r.raw(), sql);
}

void PgConnection::fail(const PGresult* raw, const std::string& sql) const {
  const std::string why = clean(raw ? PQresultErrorMessage(raw) : PQerrorMessage(conn_));
  const char* state = raw ? PQresultErrorField(raw, PG_DIAG_SQLSTATE) : nullptr;
  // Class 08 and 57P0x: the connection or the server went away (a restart, say).
  if (PQstatus(conn_) != CONNECTION_OK || starts_with(state, "08") || starts_with(state, "57P0"))
    throw ConnectionLost(why);
  if (starts_with(state, "40001") || starts_with(state, "40P01")) throw TransactionAborted(why);
  // What the server refuses this user (privileges, a read-only server) is theirs to fix.
  if (starts_with(state, "42501") || starts_with(state, "25006"))
    SGDLAB_INPUT_ERROR(shown_, ": ", why);
  SGDLAB_THROW("PostgreSQL: ", why, " (in: ", sql.substr(0, 200), ")");
}

void PgConnection::rollback_quietly() {
  if (PQstatus(conn_) == CONNECTION_OK && PQtransactionStatus(conn_) != PQTRANS_IDLE)
    PQclear(PQexec(conn_, "ROLLBACK"));
}

void PgConnection::reconnect(double seconds, const std::string& why) {
  using clock = std::chrono::steady_clock;
  const auto give_up = clock::now() + std::chrono::duration<double>(seconds);
  double wait = 0.25;
  for (;;) {
    PQreset(conn_);
    if (PQstatus(conn_) == CONNECTION_OK) {
      if (!session_.empty()) exec_script(session_);
      // Said once per reconnection: a worker that lived through a restart says so.
      std::cerr << "sgdlab: reconnected to " << shown_ << " (" << why << ")" << std::endl;
      return;
    }
    if (clock::now() >= give_up) break;
    std::this_thread::sleep_for(std::chrono::duration<double>(wait));
    wait = std::min(wait * 2, 5.0);
  }
  SGDLAB_INPUT_ERROR(shown_, ": lost the connection to the server (", why,
                     ") and could not reconnect within ", seconds, " s (",
                     clean(PQerrorMessage(conn_)), ")");
}

void PgConnection::set_session(const std::string& sql) {
  session_ = sql;
  exec_script(sql);
}

}  // namespace storage_detail
}  // namespace sgdlab
