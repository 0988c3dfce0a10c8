// The PostgreSQL engine against a real server (skipped without SGDLAB_TEST_POSTGRES):
// stale trials recovered by heartbeat age by the server's clock and never by process id,
// a recovered trial no longer its old worker's, and connection errors on one line,
// exit 2, without the password (issue #16).
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sgdlab/core/error.hpp"
#include "sgdlab/search/storage.hpp"
#include "tests/postgres_util.hpp"

namespace sgdlab::test {
namespace {

StudyInfo info(const std::string& name) {
  return {name, "cnn", "random", 7, 20, SearchSpace::study_default().to_json()};
}

ParamValues fixed_params(const std::vector<Trial>&, int number) {
  return {{"lr", 0.01 * (number + 1)}, {"batch", 32}, {"momentum", 0.9}, {"dropout", 0.2}};
}

// Makes the heartbeats of a study's RUNNING trials `seconds` old, by the server's clock.
void age_heartbeats(const std::string& url, int seconds) {
  psql(url, "UPDATE sgdlab.trials SET heartbeat = now() - interval '" + std::to_string(seconds) +
                " seconds' WHERE state = 'RUNNING'");
}

// A worker process whose pid is dead leaves trials with fresh heartbeats: they are not
// stale (the pid may be of another machine, where this one cannot look). Once their
// heartbeats are older than the grace period, they are asked again under their own
// numbers, their partial values dropped and their retries counted.
TEST(StoragePostgres, StaleTrialsAreRecoveredByHeartbeatAgeNeverByProcessId) {
  SGDLAB_SKIP_WITHOUT_POSTGRES();
  TempPostgresDb db;
  { StudyStorage(db.url()).open_study(info("a")); }
  const pid_t child = fork();
  if (child == 0) {
    StudyStorage s(db.url());
    const int64_t id = s.open_study(info("a"));
    const Trial done = s.ask(id, fixed_params);
    const Trial orphan = s.ask(id, fixed_params);
    s.finish(done.id, TrialState::Complete, 0.5, {});
    s.report({{orphan.id, 1, 0.25}});
    _exit(0);
  }
  int status = 0;
  waitpid(child, &status, 0);
  ASSERT_EQ(kill(child, 0), -1);  // the worker's pid is gone
  StudyStorage s(db.url(), StorageMode::ReadWrite, {60});
  const int64_t id = s.open_study(info("a"));
  EXPECT_EQ(s.recover_stale(id), 0);  // fresh heartbeat, dead pid: not stale
  EXPECT_EQ(s.trials(id)[1].state, TrialState::Running);
  age_heartbeats(db.url(), 59);
  EXPECT_EQ(s.recover_stale(id), 0);  // within the grace period
  age_heartbeats(db.url(), 61);
  EXPECT_EQ(s.recover_stale(id), 1);
  EXPECT_EQ(s.recover_stale(id), 0);
  auto trials = s.trials(id);
  ASSERT_EQ(trials.size(), 2u);
  EXPECT_EQ(trials[0].state, TrialState::Complete);
  EXPECT_EQ(trials[1].state, TrialState::Waiting);
  EXPECT_TRUE(trials[1].intermediate.empty());
  EXPECT_EQ(trials[1].attrs.at("retries"), "1");
  const Trial again = s.ask(id, fixed_params);
  EXPECT_EQ(again.number, 1);
  EXPECT_EQ(again.params, trials[1].params);
  // This process's own trial, however old its heartbeat looks, is not stale to it.
  age_heartbeats(db.url(), 3600);
  EXPECT_EQ(s.recover_stale(id), 0);
  // Recovered twice: the count goes on.
  const pid_t other = fork();
  if (other == 0) {
    StudyStorage o(db.url(), StorageMode::ReadWrite, {60});
    _exit(o.recover_stale(id) == 1 ? 0 : 1);
  }
  waitpid(other, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_EQ(s.trials(id)[1].attrs.at("retries"), "2");
}

// A worker cut off for longer than the grace period has lost its trial to another
// worker: its late values and result are dropped, the new holder's stand.
TEST(StoragePostgres, ARecoveredTrialIsNoLongerItsOldWorkersToFinish) {
  SGDLAB_SKIP_WITHOUT_POSTGRES();
  TempPostgresDb db;
  { StudyStorage(db.url()).open_study(info("a")); }
  int asked[2], go[2];
  ASSERT_EQ(pipe(asked), 0);
  ASSERT_EQ(pipe(go), 0);
  const pid_t slow = fork();
  if (slow == 0) {
    StudyStorage s(db.url());
    const int64_t id = s.open_study(info("a"));
    const Trial t = s.ask(id, fixed_params);
    char byte = 1;
    if (write(asked[1], &byte, 1) != 1 || read(go[0], &byte, 1) != 1) _exit(3);
    s.report({{t.id, 1, 0.125}});
    s.finish(t.id, TrialState::Complete, 0.125, {{"by", "slow"}});
    _exit(0);
  }
  char byte = 0;
  ASSERT_EQ(read(asked[0], &byte, 1), 1);
  age_heartbeats(db.url(), 600);  // as if the slow worker had been silent for 10 minutes
  StudyStorage s(db.url(), StorageMode::ReadWrite, {60});
  const int64_t id = s.open_study(info("a"));
  ASSERT_EQ(s.recover_stale(id), 1);
  const Trial t = s.ask(id, fixed_params);
  EXPECT_EQ(t.number, 0);
  ASSERT_EQ(write(go[1], &byte, 1), 1);
  int status = 0;
  waitpid(slow, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  auto trials = s.trials(id);
  EXPECT_EQ(trials[0].state, TrialState::Running);
  EXPECT_TRUE(trials[0].intermediate.empty());
  EXPECT_FALSE(trials[0].attrs.count("by"));
  s.report({{t.id, 1, 0.75}});
  s.finish(t.id, TrialState::Complete, 0.75, {{"by", "new"}});
  trials = s.trials(id);
  EXPECT_EQ(trials[0].state, TrialState::Complete);
  EXPECT_EQ(*trials[0].value, 0.75);
  EXPECT_EQ(trials[0].intermediate, std::vector<double>{0.75});
  EXPECT_EQ(trials[0].attrs.at("by"), "new");
}

// The test server's URL with the password replaced, and the server's address.
std::string with_password(const std::string& url, const std::string& password) {
  const size_t user = url.find("://") + 3, colon = url.find(':', user), at = url.find('@');
  return url.substr(0, colon) + ":" + password + url.substr(at);
}
std::string password_of(const std::string& url) {
  const size_t user = url.find("://") + 3, colon = url.find(':', user), at = url.find('@');
  return url.substr(colon + 1, at - colon - 1);
}
std::string without_password(const std::string& url) {
  const size_t user = url.find("://") + 3, colon = url.find(':', user), at = url.find('@');
  return url.substr(0, colon) + url.substr(at);
}

// `sgdlab trials` on `url`: one line, exit 2, starting with `starts`, without `secret`.
void expect_connection_error(const std::string& url, const std::string& starts,
                             const std::string& contains, const std::string& secret,
                             const std::string& env = "") {
  std::string out;
  EXPECT_EQ(
      run_command(env + sgdlab_binary() + " trials --name t --study " + shell_quote(url), &out), 2)
      << out;
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;
  EXPECT_EQ(out.rfind("sgdlab: " + starts, 0), 0u) << out;
  EXPECT_NE(out.find(contains), std::string::npos) << out;
  EXPECT_EQ(out.find(secret), std::string::npos) << "the password is in: " << out;
  try {
    StudyStorage s(url);
    ADD_FAILURE() << "connected to " << url;
  } catch (const InputError& e) {
    EXPECT_EQ(std::string(e.what()).find(secret), std::string::npos) << e.what();
  }
}

// A wrong password, an unreachable server and a missing database are each one line,
// exit 2, naming the server without the password; the right password is never shown
// either, from the URL or PGPASSWORD.
TEST(StoragePostgres, ConnectionErrorsAreOneLineWithoutThePassword) {
  SGDLAB_SKIP_WITHOUT_POSTGRES();
  const std::string url = postgres_test_url();
  const std::string secret = "wrong-Secret-4711";
  const std::string wrong = with_password(url, secret);
  expect_connection_error(wrong, without_password(url) + ": cannot connect (",
                          "password authentication failed", secret);
  // Also as ?password= in the query string.
  expect_connection_error(without_password(url) + "?password=" + secret,
                          without_password(url) + ": cannot connect (",
                          "password authentication failed", secret);
  const std::string missing = with_database(url, "no_such_db_4711");
  expect_connection_error(missing, without_password(missing) + ": cannot connect (",
                          "database \"no_such_db_4711\" does not exist", password_of(url));
  // Port 1 on the loopback: nothing listens there.
  const std::string unreachable =
      url.substr(0, url.rfind(':')) + ":1" + url.substr(url.find('/', url.rfind(':')));
  expect_connection_error(unreachable, without_password(unreachable) + ": cannot connect (",
                          "Connection refused", password_of(url));
  // The password from PGPASSWORD: connects; a wrong one is not shown.
  TempPostgresDb db;
  { StudyStorage(db.url()).open_study(info("t")); }
  std::string out;
  EXPECT_EQ(run_command("PGPASSWORD=" + shell_quote(password_of(url)) + " " + sgdlab_binary() +
                            " trials --name t --study " + shell_quote(without_password(db.url())),
                        &out),
            0)
      << out;
  expect_connection_error(
      without_password(db.url()), without_password(db.url()) + ": cannot connect (",
      "password authentication failed", secret, "PGPASSWORD=" + shell_quote(secret) + " ");
}

// Workers on a PostgreSQL study with other data are refused naming the file, without the
// password; the URL's scheme may be in capitals (issue #22).
TEST(StoragePostgres, AWorkerWithOtherDataIsRefusedNamingTheFile) {
  SGDLAB_SKIP_WITHOUT_POSTGRES();
  TempDir dir;
  write_small_usps(dir / "data", 300, 50);
  write_small_usps(dir / "other", 301, 50);
  TempPostgresDb db;
  auto sweep = [&](const std::string& url, const std::string& data, int trials) {
    std::string out;
    const int code = run_command(sgdlab_binary() + " sweep --model mlp --epochs 1 --device cpu " +
                                     "--name t --trials " + std::to_string(trials) + " --data " +
                                     data + " --study " + shell_quote(url),
                                 &out);
    return std::make_pair(code, out);
  };
  const auto first = sweep(db.url(), dir / "data", 1);
  ASSERT_EQ(first.first, 0) << first.second;
  const auto other = sweep(db.url(), dir / "other", 2);
  EXPECT_EQ(other.first, 2) << other.second;
  EXPECT_EQ(other.second.rfind("sgdlab: " + without_password(db.url()) +
                                   ": study 't' was run on other data: data file zip.train.gz",
                               0),
            0u)
      << other.second;
  EXPECT_EQ(other.second.find(password_of(db.url())), std::string::npos) << other.second;
  const std::string upper = "POSTGRESQL" + db.url().substr(db.url().find("://"));
  const auto same = sweep(upper, dir / "data/", 2);
  EXPECT_EQ(same.first, 0) << same.second;
  EXPECT_EQ(psql(db.url(), "SELECT count(*) FROM sgdlab.trials"), "2");
}

}  // namespace
}  // namespace sgdlab::test
